"""Occlusion: patches that hide part of the object."""

from __future__ import annotations

import numpy as np
from albumentations.augmentations.dropout import functional as dropout

from robustness.corruptions.base import Corruption, Params, register


@register
class OcclusionPatch(Corruption):
    """One square patch covering the table's fraction of the image area, filled black."""

    name = "occlusion_patch"
    family = "occlusion"
    source = "suite: occluded area fraction, albumentations cutout"
    table_small = (0.05, 0.10, 0.20, 0.30, 0.40)
    table_large = table_small

    def make_params(self, image: np.ndarray, severity: int, rng: np.random.Generator) -> Params:
        h, w = image.shape[:2]
        area = float(self.parameter(severity, image.shape))
        side_h = max(1, round(h * np.sqrt(area)))
        side_w = max(1, round(w * np.sqrt(area)))
        y = int(rng.integers(0, h - side_h + 1))
        x = int(rng.integers(0, w - side_w + 1))
        return {"holes": np.array([[x, y, x + side_w, y + side_h]], dtype=np.int64)}

    def apply(self, image: np.ndarray, params: Params) -> np.ndarray:
        return dropout.cutout(image, params["holes"], 0.0, np.random.default_rng(0))
