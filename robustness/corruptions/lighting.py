"""Lighting: brighter, darker, flatter scenes."""

from __future__ import annotations

import albumentations as A
import numpy as np

from robustness.corruptions.base import Corruption, Params, register


@register
class Brighten(Corruption):
    """Additive brightness increase (fraction of the pixel range)."""

    name = "brighten"
    family = "lighting"
    source = "suite: additive shift, albumentations RandomBrightnessContrast"
    table_small = (0.1, 0.2, 0.3, 0.4, 0.5)
    table_large = table_small

    def apply(self, image: np.ndarray, params: Params) -> np.ndarray:
        c = params["c"]
        op = A.RandomBrightnessContrast(brightness_limit=(c, c), contrast_limit=(0, 0), brightness_by_max=True, p=1)
        return op(image=image)["image"]


@register
class Darken(Brighten):
    """Additive brightness decrease (low light)."""

    name = "darken"
    source = "suite: additive shift, albumentations RandomBrightnessContrast"
    table_small = (-0.1, -0.2, -0.3, -0.4, -0.5)
    table_large = table_small


@register
class ContrastLoss(Corruption):
    """Contrast scaled towards the image mean by a factor (1 = unchanged)."""

    name = "contrast_loss"
    family = "lighting"
    source = "suite: contrast factor, albumentations RandomBrightnessContrast"
    table_small = (0.75, 0.5, 0.4, 0.3, 0.15)
    table_large = table_small

    def apply(self, image: np.ndarray, params: Params) -> np.ndarray:
        delta = params["c"] - 1.0
        op = A.RandomBrightnessContrast(brightness_limit=(0, 0), contrast_limit=(delta, delta), p=1)
        return op(image=image)["image"]
