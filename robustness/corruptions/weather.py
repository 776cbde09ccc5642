"""Weather: ImageNet-C's snow, frost, fog and spatter."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from robustness.corruptions import _filters, _textures
from robustness.corruptions.base import (
    HENDRYCKS,
    BatchCorruption,
    Corruption,
    Params,
    is_small,
    luma,
    register,
    stacked,
)


@register
class Snow(Corruption):
    """Falling snow: a thresholded, zoomed noise layer streaked by motion blur, over a whitened image."""

    name = "snow"
    family = "weather"
    source = HENDRYCKS
    imagenet_c = "benchmark"
    parameter_doc = "(flake mean, flake std, zoom, threshold, streak radius, streak sigma, image weight)"
    implementation = (
        "own: ImageNet-C's snow layer with the suite's motion kernel "
        "(albumentations RandomSnow bleaches or textures instead)"
    )
    table_small = (
        (0.1, 0.2, 1, 0.6, 8, 3, 0.95),
        (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
        (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
        (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
        (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
    )
    table_large = (
        (0.1, 0.3, 3, 0.5, 10, 4, 0.8),
        (0.2, 0.3, 2, 0.5, 12, 4, 0.7),
        (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
        (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
        (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55),
    )

    def make_params(self, image: np.ndarray, severity: int, rng: np.random.Generator) -> Params:
        loc, scale, zoom, threshold, radius, sigma, blend = self.parameter(severity, image.shape)
        # the same bits as rng.normal(loc, scale) (loc + scale * z in float64) without its per-value broadcasting
        flakes = rng.standard_normal(image.shape[:2])
        flakes *= scale
        flakes += loc
        flakes = flakes.astype(np.float32)
        angle = round(float(rng.uniform(-135.0, -45.0)) * 2.0) / 2.0
        layer = _filters.central_zoom(flakes[..., None], float(zoom))[..., 0]
        layer = np.minimum(np.where(layer < np.float32(threshold), np.float32(0.0), layer), np.float32(1.0))
        layer = _filters.motion_blur(layer, _filters.motion_taps(int(radius), float(sigma), angle))
        layer = np.round(np.clip(layer, 0.0, 1.0) * 255.0) / np.float32(255.0)
        return {"layer": layer, "blend": np.float32(blend)}

    def apply(self, image: np.ndarray, params: Params) -> np.ndarray:
        # blend * image + (1 - blend) * max(image, 1.5 * gray + 0.5) + layer + flipped layer, the same float32
        # operations in place, on same-shape operands: numpy broadcasting H x W x 1 over 3 channels is ~8x slower
        blend, layer = params["blend"], params["layer"]
        rgb = image.shape[2] == 3
        bright = luma(image)[..., 0] if rgb else image[..., 0]
        bright = bright * np.float32(1.5)
        bright += np.float32(0.5)
        flakes = layer + layer[::-1, ::-1]
        if rgb:
            bright, flakes = cv2.cvtColor(bright, cv2.COLOR_GRAY2RGB), cv2.cvtColor(flakes, cv2.COLOR_GRAY2RGB)
        else:
            bright, flakes = bright[..., None], flakes[..., None]
        whitened = np.maximum(image, bright)
        whitened *= 1 - blend
        out = image * blend
        out += whitened
        out += flakes
        return out


@register
class Frost(BatchCorruption):
    """Frost on the lens: the image dimmed and a crop of a frost texture added."""

    name = "frost"
    family = "weather"
    source = HENDRYCKS
    imagenet_c = "benchmark"
    rgb_only = True
    parameter_doc = "(image weight, frost weight); texture crop drawn per image"
    implementation = (
        "own: procedural frost textures matched to the mean/std of ImageNet-C's frost photos "
        "(albumentations has no frost; photos cannot be shipped)"
    )
    table_small = ((1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45))
    table_large = ((1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75))

    def make_params(self, image: np.ndarray, severity: int, rng: np.random.Generator) -> Params:
        image_weight, frost_weight = self.parameter(severity, image.shape)
        h, w = image.shape[:2]
        choice = int(rng.integers(len(_textures.FROST_PHOTO_STATS)))
        texture = _textures.scaled_frost(choice, h, w, is_small(image.shape))
        top = int(rng.integers(0, texture.shape[0] - h))
        left = int(rng.integers(0, texture.shape[1] - w))
        return {
            "frost": texture[top : top + h, left : left + w],
            "image_weight": image_weight,
            "frost_weight": frost_weight,
        }

    def apply_batch(self, images: np.ndarray, params: Sequence[Params]) -> np.ndarray:
        frost = np.stack([p["frost"] for p in params])
        return stacked(params, "image_weight") * images + stacked(params, "frost_weight") * frost


def _next_power_of_two(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


@register
class Fog(BatchCorruption):
    """Fog: a plasma-fractal haze added, then the range renormalised."""

    name = "fog"
    family = "weather"
    source = HENDRYCKS
    imagenet_c = "benchmark"
    parameter_doc = "(haze strength, fractal wibble decay; smaller decay, rougher fog)"
    implementation = (
        "own: ImageNet-C's diamond-square plasma fractal on the sample's generator "
        "(albumentations RandomFog draws circles; its plasma pattern is normalised differently)"
    )
    table_small = ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75))
    table_large = ((1.5, 2), (2, 2), (2.5, 1.7), (2.5, 1.5), (3, 1.4))

    def make_params(self, image: np.ndarray, severity: int, rng: np.random.Generator) -> Params:
        strength, decay = self.parameter(severity, image.shape)
        mapsize = _next_power_of_two(max(image.shape[:2]))
        noise = rng.uniform(-1.0, 1.0, size=_textures.plasma_noise_size(mapsize))
        return {"noise": noise, "mapsize": mapsize, "strength": strength, "decay": float(decay)}

    def apply_batch(self, images: np.ndarray, params: Sequence[Params]) -> np.ndarray:
        _, h, w, _ = images.shape
        first = params[0]
        plasma = _textures.plasma_fractal(first["mapsize"], first["decay"], np.stack([p["noise"] for p in params]))
        strength = stacked(params, "strength")
        peak = images.max(axis=(1, 2, 3), keepdims=True)
        return (images + plasma[:, :h, :w, None] * strength) * (peak / (peak + strength))


_WATER = np.array([175, 238, 238], dtype=np.float32) / 255.0
_MUD = np.array([63, 42, 20], dtype=np.float32) / 255.0
_EMBOSS = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], dtype=np.float32)


def _rain_mask(liquid: np.ndarray, intensity: float) -> np.ndarray:
    """ImageNet-C's water-drop mask: liquid edges, distance-transformed, equalised and embossed."""
    layer = np.clip(liquid * 255.0, 0, 255).astype(np.uint8)
    dist = cv2.distanceTransform(255 - cv2.Canny(layer, 50, 150), cv2.DIST_L2, 5)
    _, dist = cv2.threshold(dist, 20, 20, cv2.THRESH_TRUNC)
    dist = cv2.equalizeHist(cv2.blur(dist, (3, 3)).astype(np.uint8))
    dist = cv2.blur(cv2.filter2D(dist, cv2.CV_8U, _EMBOSS), (3, 3)).astype(np.float32)
    mask = layer.astype(np.float32) * dist
    peak = float(mask.max())
    return mask * np.float32(intensity / peak) if peak > 0 else np.zeros_like(mask)


@register
class Spatter(Corruption):
    """Spatter on the lens: water drops (severities 1-3) or mud (4-5)."""

    name = "spatter"
    family = "weather"
    source = HENDRYCKS
    imagenet_c = "heldout"
    rgb_only = True
    parameter_doc = "(liquid mean, liquid std, blur sigma, threshold, intensity or mud sigma, 0 water / 1 mud)"
    implementation = (
        "own: ImageNet-C's steps with OpenCV (albumentations Spatter is a loose port with other blurs and scaling)"
    )
    table_small = (
        (0.62, 0.1, 0.7, 0.7, 0.5, 0),
        (0.65, 0.1, 0.8, 0.7, 0.5, 0),
        (0.65, 0.3, 1, 0.69, 0.5, 0),
        (0.65, 0.1, 0.7, 0.69, 0.6, 1),
        (0.65, 0.1, 0.5, 0.68, 0.6, 1),
    )
    table_large = (
        (0.65, 0.3, 4, 0.69, 0.6, 0),
        (0.65, 0.3, 3, 0.68, 0.6, 0),
        (0.65, 0.3, 2, 0.68, 0.5, 0),
        (0.65, 0.3, 1, 0.65, 1.5, 1),
        (0.67, 0.4, 1, 0.65, 1.5, 1),
    )

    def make_params(self, image: np.ndarray, severity: int, rng: np.random.Generator) -> Params:
        loc, scale, sigma, threshold, intensity, mud = self.parameter(severity, image.shape)
        liquid = rng.normal(loc, scale, size=image.shape[:2]).astype(np.float32)
        liquid = _filters.gaussian_blur(liquid, float(sigma))
        liquid[liquid < threshold] = 0
        if not mud:
            return {"add": _rain_mask(liquid, float(intensity))[..., None] * _WATER, "keep": None}
        mask = _filters.gaussian_blur((liquid > threshold).astype(np.float32), float(intensity))
        mask[mask < 0.8] = 0
        return {"add": mask[..., None] * _MUD, "keep": 1.0 - mask[..., None]}

    def apply(self, image: np.ndarray, params: Params) -> np.ndarray:
        keep = params["keep"]
        return (image if keep is None else image * keep) + params["add"]
