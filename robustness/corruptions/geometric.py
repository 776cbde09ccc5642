"""Geometric: rotation, translation, scale, shear and perspective.

All warps use bilinear interpolation and fill the uncovered border with black, as
torchvision's ``RandomAffine`` / ``RandomPerspective`` and the spatial-robustness literature
(Engstrom et al. 2019) do; mirroring the image into the border instead would duplicate
objects (two pairs of eyes when zooming out).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from albumentations.augmentations.geometric import functional as albu_geometric

from robustness.corruptions.base import Corruption, Params, register

_BORDER = cv2.BORDER_CONSTANT


def _centre(shape: tuple[int, ...]) -> tuple[float, float]:
    return (shape[1] - 1) / 2.0, (shape[0] - 1) / 2.0


def _homogeneous(matrix: np.ndarray) -> np.ndarray:
    """A 2x3 affine matrix as the 3x3 matrix albumentations' ``warp_affine`` expects."""
    return np.vstack([np.asarray(matrix, dtype=np.float64), [0.0, 0.0, 1.0]])


class _Affine(Corruption):
    """An affine warp whose 2x3 matrix (output <- input) is drawn in ``make_params``."""

    family = "geometric"

    def apply(self, image: np.ndarray, params: Params) -> np.ndarray:
        h, w = image.shape[:2]
        matrix = _homogeneous(params["matrix"])
        out = albu_geometric.warp_affine(image, matrix, cv2.INTER_LINEAR, 0.0, _BORDER, (h, w))
        return out.reshape(image.shape)


@register
class Rotation(_Affine):
    """In-plane rotation about the centre by +/- the table angle, sign drawn per image."""

    name = "rotation"
    parameter_doc = "rotation angle in degrees; sign drawn per image"
    implementation = "albumentations warp_affine"
    table_small = (10, 20, 30, 45, 60)
    table_large = table_small

    def make_params(self, image: np.ndarray, severity: int, rng: np.random.Generator) -> Params:
        sign = 1.0 if rng.random() < 0.5 else -1.0
        angle = sign * float(self.parameter(severity, image.shape))
        return {"angle": angle, "matrix": cv2.getRotationMatrix2D(_centre(image.shape), angle, 1.0)}


@register
class Translation(_Affine):
    """Shift by a fraction of the image size in a random direction."""

    name = "translation"
    parameter_doc = "shift as a fraction of the image side; direction drawn per image"
    implementation = "albumentations warp_affine"
    table_small = (0.05, 0.1, 0.15, 0.2, 0.25)
    table_large = table_small

    def make_params(self, image: np.ndarray, severity: int, rng: np.random.Generator) -> Params:
        fraction = float(self.parameter(severity, image.shape))
        direction = rng.uniform(0.0, 2.0 * math.pi)
        h, w = image.shape[:2]
        shift = (fraction * w * math.cos(direction), fraction * h * math.sin(direction))
        return {"shift": shift, "matrix": np.float64([[1, 0, shift[0]], [0, 1, shift[1]]])}


@register
class Scale(_Affine):
    """Zoom out by the table factor or in by its inverse (drawn per image), about the centre."""

    name = "scale"
    parameter_doc = "scale factor s; each image is zoomed by s (out) or 1/s (in)"
    implementation = "albumentations warp_affine"
    table_small = (0.9, 0.8, 0.7, 0.6, 0.5)
    table_large = table_small

    def make_params(self, image: np.ndarray, severity: int, rng: np.random.Generator) -> Params:
        factor = float(self.parameter(severity, image.shape))
        zoom = factor if rng.random() < 0.5 else 1.0 / factor
        return {"zoom": zoom, "matrix": cv2.getRotationMatrix2D(_centre(image.shape), 0.0, zoom)}


@register
class Shear(_Affine):
    """Horizontal or vertical shear about the centre by +/- the table angle."""

    name = "shear"
    parameter_doc = "shear angle in degrees; axis and sign drawn per image"
    implementation = "albumentations warp_affine"
    table_small = (5, 10, 15, 20, 30)
    table_large = table_small

    def make_params(self, image: np.ndarray, severity: int, rng: np.random.Generator) -> Params:
        angle = float(self.parameter(severity, image.shape)) * (1.0 if rng.random() < 0.5 else -1.0)
        horizontal = bool(rng.random() < 0.5)
        cx, cy = _centre(image.shape)
        k = math.tan(math.radians(angle))
        if horizontal:
            matrix = np.float64([[1, k, -k * cy], [0, 1, 0]])
        else:
            matrix = np.float64([[1, 0, 0], [k, 1, -k * cx]])
        return {"angle": angle, "horizontal": horizontal, "matrix": matrix}


@register
class Perspective(Corruption):
    """Perspective tilt: each corner pulled inwards by up to the table fraction of the side."""

    name = "perspective"
    family = "geometric"
    parameter_doc = "largest corner displacement as a fraction of the side (each corner U(0.5, 1) of it)"
    implementation = "albumentations perspective"
    table_small = (0.05, 0.1, 0.15, 0.2, 0.25)
    table_large = table_small

    def make_params(self, image: np.ndarray, severity: int, rng: np.random.Generator) -> Params:
        fraction = float(self.parameter(severity, image.shape))
        h, w = image.shape[:2]
        corners = np.float32([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]])
        inward = np.float32([[1, 1], [-1, 1], [-1, -1], [1, -1]])
        pull = rng.uniform(0.5, 1.0, size=(4, 2)).astype(np.float32) * np.float32([w * fraction, h * fraction])
        matrix = cv2.getPerspectiveTransform(corners, corners + inward * pull)
        return {"matrix": matrix}

    def apply(self, image: np.ndarray, params: Params) -> np.ndarray:
        h, w = image.shape[:2]
        out = albu_geometric.perspective(image, params["matrix"], w, h, 0.0, _BORDER, True, cv2.INTER_LINEAR)
        return out.reshape(image.shape)
