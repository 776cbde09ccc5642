"""Lighting: brighter, darker, flatter, gamma-shifted, shadowed and colour-cast scenes."""

from __future__ import annotations

import albucore
import numpy as np
from albumentations.augmentations.pixel import functional as albu_pixel

from robustness.corruptions.base import Corruption, Params, register


@register
class Brighten(Corruption):
    """Additive brightness increase (fraction of the pixel range)."""

    name = "brighten"
    family = "lighting"
    parameter_doc = "added brightness (pixel range 1)"
    implementation = "albucore multiply_add (albumentations RandomBrightnessContrast's kernel)"
    random = False
    table_small = (0.1, 0.2, 0.3, 0.4, 0.5)
    table_large = table_small

    def apply(self, image: np.ndarray, params: Params) -> np.ndarray:
        return albucore.multiply_add(image, 1.0, float(params["c"])).reshape(image.shape)


@register
class Darken(Corruption):
    """Low light: exposure scaled down by a factor (shadows crushed towards black)."""

    name = "darken"
    family = "lighting"
    parameter_doc = "exposure factor (1 = unchanged)"
    implementation = "albucore multiply_add (albumentations RandomBrightnessContrast's kernel)"
    random = False
    table_small = (0.7, 0.5, 0.35, 0.25, 0.15)
    table_large = table_small

    def apply(self, image: np.ndarray, params: Params) -> np.ndarray:
        return albucore.multiply_add(image, float(params["c"]), 0.0).reshape(image.shape)


@register
class ContrastLoss(Corruption):
    """Flat light: contrast scaled towards the image's overall mean grey level."""

    name = "contrast_loss"
    family = "lighting"
    parameter_doc = "contrast factor towards the global mean (1 = unchanged)"
    implementation = "albucore multiply_add with offset (1 - c) * mean"
    random = False
    table_small = (0.75, 0.5, 0.4, 0.3, 0.15)
    table_large = table_small

    def apply(self, image: np.ndarray, params: Params) -> np.ndarray:
        c = float(params["c"])
        mean = float(image.mean(dtype=np.float64))
        return albucore.multiply_add(image, c, (1.0 - c) * mean).reshape(image.shape)


@register
class Gamma(Corruption):
    """Gamma curve ``x ** g`` with ``g`` the table value or its inverse (drawn per image)."""

    name = "gamma"
    family = "lighting"
    parameter_doc = "gamma g; each image gets g (darker mid-tones) or 1/g (brighter), at random"
    implementation = "albumentations gamma_transform"
    table_small = (1.3, 1.6, 2.0, 2.5, 3.0)
    table_large = table_small

    def make_params(self, image: np.ndarray, severity: int, rng: np.random.Generator) -> Params:
        gamma = float(self.parameter(severity, image.shape))
        return {"gamma": gamma if rng.random() < 0.5 else 1.0 / gamma}

    def apply(self, image: np.ndarray, params: Params) -> np.ndarray:
        return albu_pixel.gamma_transform(image, params["gamma"]).reshape(image.shape)


@register
class CastShadow(Corruption):
    """A straight-edged shadow over a fixed fraction of the image, soft edge, random direction."""

    name = "cast_shadow"
    family = "lighting"
    parameter_doc = "(shadowed area fraction, darkening: shadowed pixels keep 1 - darkening)"
    implementation = (
        "own numpy half-plane mask with exact area (albumentations RandomShadow draws random polygons, uint8 only)"
    )
    table_small = ((0.2, 0.3), (0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (0.5, 0.75))
    table_large = table_small

    def make_params(self, image: np.ndarray, severity: int, rng: np.random.Generator) -> Params:
        area, darkening = self.parameter(severity, image.shape)
        h, w = image.shape[:2]
        theta = rng.uniform(0.0, 2.0 * np.pi)
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        projection = xs * np.float32(np.cos(theta)) + ys * np.float32(np.sin(theta))
        edge = float(np.quantile(projection, area))
        softness = max(1.0, 0.02 * max(h, w))
        mask = np.clip((edge - projection) / softness + 0.5, 0.0, 1.0)
        return {"gain": (1.0 - darkening * mask)[..., None].astype(np.float32)}

    def apply(self, image: np.ndarray, params: Params) -> np.ndarray:
        return image * params["gain"]


def _planck_gains(temperature: float) -> np.ndarray:
    """RGB gains of a black-body illuminant at ``temperature`` K relative to 6500 K (green fixed)."""
    table = albu_pixel.PLANCKIAN_COEFFS["blackbody"]
    kelvins = sorted(table)

    def coeffs(t: float) -> np.ndarray:
        rgb = np.array([np.interp(t, kelvins, [table[k][i] for k in kelvins]) for i in range(3)])
        return rgb / rgb[1]

    return (coeffs(temperature) / coeffs(6500.0)).astype(np.float32)


@register
class ColourTemperature(Corruption):
    """White balance off: a warm (tungsten) or cool (shade) colour cast, drawn per image."""

    name = "colour_temperature"
    family = "lighting"
    rgb_only = True
    parameter_doc = "(warm K, cool K) black-body illuminant; each image gets one of the two"
    implementation = "albumentations PLANCKIAN_COEFFS (PlanckianJitter's table) as channel gains normalised to 6500 K"
    table_small = ((5500, 8000), (5000, 9500), (4500, 11000), (4000, 13000), (3500, 15000))
    table_large = table_small

    def make_params(self, image: np.ndarray, severity: int, rng: np.random.Generator) -> Params:
        warm, cool = self.parameter(severity, image.shape)
        return {"gains": _planck_gains(warm if rng.random() < 0.5 else cool)}

    def apply(self, image: np.ndarray, params: Params) -> np.ndarray:
        return image * params["gains"]

