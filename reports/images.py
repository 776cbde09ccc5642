"""Small images for reports: uint8 arrays -> PNG bytes, upscaled with nearest neighbour.

Test images are often 32 px or less; a browser would blur them, so they are enlarged here
(pixel for pixel) until their longer side reaches ``min_side``.

>>> png = to_png(np.zeros((8, 8), dtype=np.uint8), min_side=32)
>>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
True
"""

from __future__ import annotations

import base64
from io import BytesIO

import numpy as np
from PIL import Image


def as_hwc_uint8(image: np.ndarray) -> np.ndarray:
    """``H x W``, ``H x W x C`` or ``C x H x W`` (C in 1, 3), uint8 or float in [0, 1] -> ``H x W x C`` uint8."""
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
        arr = np.moveaxis(arr, 0, -1)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[-1] not in (1, 3):
        raise ValueError(f"image should be H x W, H x W x C or C x H x W with C in (1, 3), but got shape {arr.shape}.")
    if arr.dtype != np.uint8:
        arr = np.clip(np.nan_to_num(arr.astype(np.float64)) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return arr


def upscale(image: np.ndarray, min_side: int = 96) -> np.ndarray:
    """Repeat pixels (nearest neighbour) by the smallest integer factor giving ``min_side`` px."""
    arr = as_hwc_uint8(image)
    factor = max(1, -(-min_side // max(arr.shape[0], arr.shape[1])))
    return arr.repeat(factor, axis=0).repeat(factor, axis=1) if factor > 1 else arr


def to_png(image: np.ndarray, min_side: int = 96) -> bytes:
    """PNG bytes of ``image`` (grayscale or RGB), upscaled to at least ``min_side`` px."""
    arr = upscale(image, min_side)
    pil = Image.fromarray(arr[..., 0], mode="L") if arr.shape[-1] == 1 else Image.fromarray(arr, mode="RGB")
    buf = BytesIO()
    pil.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def data_uri(png: bytes) -> str:
    """A ``data:`` URI for PNG bytes, to embed in self-contained HTML."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def image_uri(image: np.ndarray, min_side: int = 96) -> str:
    return data_uri(to_png(image, min_side))


def amplified_difference(
    original: np.ndarray, perturbed: np.ndarray, delta: np.ndarray | None = None
) -> tuple[np.ndarray, float]:
    """The perturbation scaled so its largest absolute value maps to full range, around mid-gray.

    Returns the visualisation (uint8, H x W x C) and the amplification factor. ``delta``
    (float, pixel units) is used when given, else the difference of the two images.
    """
    if delta is None:
        d = as_hwc_uint8(perturbed).astype(np.float64) / 255.0 - as_hwc_uint8(original).astype(np.float64) / 255.0
    else:
        d = np.asarray(delta, dtype=np.float64)
        if d.ndim == 3 and d.shape[0] in (1, 3) and d.shape[-1] not in (1, 3):
            d = np.moveaxis(d, 0, -1)
        if d.ndim == 2:
            d = d[..., None]
    peak = float(np.abs(d).max()) if d.size else 0.0
    factor = 0.5 / peak if peak > 0 else 1.0
    vis = np.clip(0.5 + d * factor, 0.0, 1.0)
    return as_hwc_uint8(vis), 2 * factor


__all__ = ["amplified_difference", "as_hwc_uint8", "data_uri", "image_uri", "to_png", "upscale"]
