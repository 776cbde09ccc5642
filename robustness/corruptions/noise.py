"""Noise: ImageNet-C's Gaussian, shot (Poisson), impulse (salt and pepper) and speckle noise.

Every corruption draws its noise per sample in ``make_params`` and applies it vectorised
over the batch, so a sample's result is the same in any batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from robustness.corruptions.base import HENDRYCKS, BatchCorruption, Corruption, Params, register


def standard_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal float32 draws by the Box-Muller transform (twice numpy's float32 ziggurat).

    Exact in distribution up to float32 resolution (tails beyond 5.8 sigma are cut).
    """
    size = int(np.prod(shape))
    half = (size + 1) // 2
    u = rng.random(2 * half, dtype=np.float32)
    radius = np.sqrt(np.float32(-2.0) * np.log1p(-u[:half]))
    angle = u[half:] * np.float32(2.0 * np.pi)
    out = np.empty(2 * half, dtype=np.float32)
    np.multiply(radius, np.cos(angle), out=out[:half])
    np.multiply(radius, np.sin(angle), out=out[half:])
    return out[:size].reshape(shape)


def scaled_normal(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Gaussian noise of standard deviation ``sigma`` (float32), drawn from the sample's generator."""
    noise = standard_normal(rng, shape)
    noise *= np.float32(sigma)
    return noise


@register
class GaussianNoise(Corruption):
    """Additive zero-mean Gaussian noise, independent per pixel and channel."""

    name = "gaussian_noise"
    family = "noise"
    source = HENDRYCKS
    imagenet_c = "benchmark"
    parameter_doc = "sigma of the additive Gaussian noise (pixel range 1)"
    implementation = (
        "own: Box-Muller noise from the sample's generator, added in place "
        "(albumentations GaussNoise draws float64 noise from an unseeded-per-sample generator, 3x slower)"
    )
    table_small = (0.04, 0.06, 0.08, 0.09, 0.10)
    table_large = (0.08, 0.12, 0.18, 0.26, 0.38)

    def make_params(self, image: np.ndarray, severity: int, rng: np.random.Generator) -> Params:
        return {"noise": scaled_normal(rng, image.shape, self.parameter(severity, image.shape))}

    def apply(self, image: np.ndarray, params: Params) -> np.ndarray:
        return np.add(image, params["noise"], out=params["noise"])


@register
class ShotNoise(Corruption):
    """Poisson (photon) noise: ``Poisson(x * c) / c``; fewer photons, more noise."""

    name = "shot_noise"
    family = "noise"
    source = HENDRYCKS
    imagenet_c = "benchmark"
    parameter_doc = "photon count c at full intensity (Poisson(x*c)/c; smaller is noisier)"
    implementation = "own numpy (albumentations ShotNoise works in gamma-2.2 linear space, not ImageNet-C's)"
    table_small = (500, 250, 100, 75, 50)
    table_large = (60, 25, 12, 5, 3)

    def make_params(self, image: np.ndarray, severity: int, rng: np.random.Generator) -> Params:
        photons = float(self.parameter(severity, image.shape))
        counts = rng.poisson(image * np.float32(photons)).astype(np.float32)
        return {"counts": counts, "photons": np.float32(photons)}

    def apply(self, image: np.ndarray, params: Params) -> np.ndarray:
        return np.divide(params["counts"], params["photons"], out=params["counts"])


@register
class ImpulseNoise(BatchCorruption):
    """Salt and pepper noise: each pixel value (per channel) becomes 0 or 1 with probability ``amount``."""

    name = "impulse_noise"
    family = "noise"
    source = HENDRYCKS
    imagenet_c = "benchmark"
    parameter_doc = "fraction of pixel values replaced, half by 0 and half by 1 (skimage s&p amount)"
    implementation = (
        "own: one uniform draw per value from the sample's generator, u < amount/2 -> 0, "
        "amount/2 <= u < amount -> 1 (albumentations apply_salt_and_pepper's masks, without its fancy indexing)"
    )
    table_small = (0.01, 0.02, 0.03, 0.05, 0.07)
    table_large = (0.03, 0.06, 0.09, 0.17, 0.27)

    def make_params(self, image: np.ndarray, severity: int, rng: np.random.Generator) -> Params:
        amount = np.float32(self.parameter(severity, image.shape))
        return {"u": rng.random(image.shape, dtype=np.float32), "amount": amount}

    def apply_batch(self, images: np.ndarray, params: Sequence[Params]) -> np.ndarray:
        out = images.copy()
        for image, p in zip(out, params):
            u, amount = p["u"], p["amount"]
            np.copyto(image, np.float32(1.0), where=u < amount)  # salt where amount/2 <= u < amount ...
            np.copyto(image, np.float32(0.0), where=u < amount / 2)  # ... pepper below amount/2
        return out


@register
class SpeckleNoise(Corruption):
    """Multiplicative Gaussian noise: ``x + x * N(0, sigma)``."""

    name = "speckle_noise"
    family = "noise"
    source = HENDRYCKS
    imagenet_c = "heldout"
    parameter_doc = "sigma of the multiplicative Gaussian noise"
    implementation = "own numpy (albumentations MultiplicativeNoise draws uniform factors, not ImageNet-C's Gaussian)"
    table_small = (0.06, 0.10, 0.12, 0.16, 0.20)
    table_large = (0.15, 0.20, 0.35, 0.45, 0.60)

    def make_params(self, image: np.ndarray, severity: int, rng: np.random.Generator) -> Params:
        return {"noise": scaled_normal(rng, image.shape, self.parameter(severity, image.shape))}

    def apply(self, image: np.ndarray, params: Params) -> np.ndarray:
        factor = np.add(params["noise"], np.float32(1.0), out=params["noise"])
        return np.multiply(image, factor, out=factor)
