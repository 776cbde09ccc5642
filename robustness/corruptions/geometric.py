"""Geometric: rotation and friends."""

from __future__ import annotations

import albumentations as A
import cv2
import numpy as np

from robustness.corruptions.base import Corruption, Params, register


@register
class Rotation(Corruption):
    """In-plane rotation by +/- the table angle (degrees), sign drawn per image; borders reflect."""

    name = "rotation"
    family = "geometric"
    source = "suite: angle in degrees, albumentations Rotate"
    table_small = (10, 20, 30, 45, 60)
    table_large = table_small

    def make_params(self, image: np.ndarray, severity: int, rng: np.random.Generator) -> Params:
        sign = 1.0 if rng.random() < 0.5 else -1.0
        return {"angle": sign * float(self.parameter(severity, image.shape))}

    def apply(self, image: np.ndarray, params: Params) -> np.ndarray:
        angle = params["angle"]
        op = A.Rotate(limit=(angle, angle), border_mode=cv2.BORDER_REFLECT_101, p=1)
        out = op(image=image)["image"]
        return out.reshape(image.shape)
