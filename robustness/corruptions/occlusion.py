"""Occlusion: one patch of growing area, several patches, grid dropout; black, mean or noise fill.

Holes are ``[x1, y1, x2, y2]`` boxes filled by albumentations' ``cutout``. The table gives
the occluded fraction of the image area; patch sides are rounded to whole pixels, so the
measured fraction is within a pixel row or column of the table value.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from typing import ClassVar, Literal

import numpy as np
from albumentations.augmentations.dropout import functional as albu_dropout

from robustness.corruptions.base import Corruption, Params, register

Fill = Literal["black", "mean", "noise"]


class _Occlusion(Corruption):
    """Boxes drawn in ``make_params`` (key ``holes``) and filled according to ``fill``."""

    family = "occlusion"
    fill: ClassVar[Fill] = "black"

    def apply(self, image: np.ndarray, params: Params) -> np.ndarray:
        holes = params["holes"]
        rng = np.random.default_rng(params["fill_seed"])
        if self.fill == "noise":
            return albu_dropout.cutout(image, holes, "random", rng)
        if self.fill == "mean":
            means = image.mean(axis=(0, 1), dtype=np.float64)
            value: float | tuple[float, ...] = float(means[0]) if means.size == 1 else tuple(means.tolist())
            return albu_dropout.cutout(image, holes, value, rng)
        return albu_dropout.cutout(image, holes, 0.0, rng)

    def make_params(self, image: np.ndarray, severity: int, rng: np.random.Generator) -> Params:
        return {"holes": self.holes(image.shape, severity, rng), "fill_seed": int(rng.integers(2**32))}

    @abstractmethod
    def holes(self, shape: tuple[int, ...], severity: int, rng: np.random.Generator) -> np.ndarray:
        """The ``[x1, y1, x2, y2]`` boxes to occlude in an image of ``shape``."""


def _square_side(area: float, h: int, w: int) -> tuple[int, int]:
    return max(1, round(h * math.sqrt(area))), max(1, round(w * math.sqrt(area)))


@register
class OcclusionPatch(_Occlusion):
    """One rectangle (the image's aspect) covering the table's fraction of the image, filled black."""

    name = "occlusion_patch"
    parameter_doc = "occluded fraction of the image area (one patch at a random position)"
    implementation = "albumentations cutout"
    table_small = (0.05, 0.10, 0.20, 0.30, 0.40)
    table_large = table_small

    def holes(self, shape: tuple[int, ...], severity: int, rng: np.random.Generator) -> np.ndarray:
        h, w = shape[:2]
        side_h, side_w = _square_side(float(self.parameter(severity, shape)), h, w)
        y = int(rng.integers(0, h - side_h + 1))
        x = int(rng.integers(0, w - side_w + 1))
        return np.array([[x, y, x + side_w, y + side_h]], dtype=np.int64)


@register
class OcclusionPatchMean(OcclusionPatch):
    """One patch filled with the image's mean colour."""

    name = "occlusion_patch_mean"
    fill = "mean"


@register
class OcclusionPatchNoise(OcclusionPatch):
    """One patch filled with uniform noise."""

    name = "occlusion_patch_noise"
    fill = "noise"


@register
class OcclusionPatches(_Occlusion):
    """Several equal patches, one per cell of a 2x2 or 3x3 grid, together covering the table's area."""

    name = "occlusion_patches"
    parameter_doc = "(occluded fraction of the area, number of patches); patches never overlap"
    implementation = "albumentations cutout"
    table_small = ((0.05, 2), (0.10, 3), (0.20, 4), (0.30, 5), (0.40, 6))
    table_large = table_small

    def holes(self, shape: tuple[int, ...], severity: int, rng: np.random.Generator) -> np.ndarray:
        h, w = shape[:2]
        area, count = self.parameter(severity, shape)
        grid = math.ceil(math.sqrt(count))
        cell_h, cell_w = h // grid, w // grid
        side_h, side_w = _square_side(area / count, h, w)
        side_h, side_w = min(side_h, cell_h), min(side_w, cell_w)
        cells = rng.choice(grid * grid, size=count, replace=False)
        boxes = []
        for cell in cells:
            top, left = (cell // grid) * cell_h, (cell % grid) * cell_w
            y = top + int(rng.integers(0, cell_h - side_h + 1))
            x = left + int(rng.integers(0, cell_w - side_w + 1))
            boxes.append([x, y, x + side_w, y + side_h])
        return np.array(boxes, dtype=np.int64)


@register
class GridDropout(_Occlusion):
    """A regular 4x4 grid of square holes, randomly shifted, covering the table's fraction."""

    name = "grid_dropout"
    parameter_doc = "occluded fraction of the area (4x4 grid of holes, common random shift)"
    implementation = "albumentations cutout on a GridDropout-style grid"
    table_small = (0.1, 0.2, 0.3, 0.4, 0.5)
    table_large = table_small
    units: ClassVar[int] = 4

    def holes(self, shape: tuple[int, ...], severity: int, rng: np.random.Generator) -> np.ndarray:
        h, w = shape[:2]
        unit_h, unit_w = h / self.units, w / self.units
        ratio = math.sqrt(float(self.parameter(severity, shape)))
        side_h, side_w = max(1, round(unit_h * ratio)), max(1, round(unit_w * ratio))
        shift_y = int(rng.integers(0, max(1, int(unit_h) - side_h + 1)))
        shift_x = int(rng.integers(0, max(1, int(unit_w) - side_w + 1)))
        boxes = []
        for row in range(self.units):
            for col in range(self.units):
                y = min(h - side_h, round(row * unit_h) + shift_y)
                x = min(w - side_w, round(col * unit_w) + shift_x)
                boxes.append([x, y, x + side_w, y + side_h])
        return np.array(boxes, dtype=np.int64)
