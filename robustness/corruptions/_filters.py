"""Kernels and filters shared by the blur and weather corruptions, cached per parameters.

Everything here is deterministic; random draws stay in the corruptions' ``make_params``.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import cv2
import numpy as np
from threadpoolctl import ThreadpoolController


def gaussian_ksize(sigma: float, truncate: float = 4.0) -> int:
    """Kernel size of scikit-image's / scipy's Gaussian filter: radius ``int(truncate * sigma + 0.5)``."""
    return 2 * int(truncate * sigma + 0.5) + 1


def gaussian_blur(image: np.ndarray, sigma: float, *, truncate: float = 4.0) -> np.ndarray:
    """Gaussian blur matching ``skimage.filters.gaussian`` (mode ``nearest``, ``truncate`` sigmas)."""
    ksize = gaussian_ksize(sigma, truncate)
    if ksize == 1:
        return image.copy()
    out = cv2.GaussianBlur(image, (ksize, ksize), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REPLICATE)
    return out.reshape(image.shape)


@lru_cache(maxsize=64)
def disk_kernel(radius: float, alias_blur: float) -> np.ndarray:
    """ImageNet-C's anti-aliased disk: a normalised disk of ``radius``, Gaussian-blurred by ``alias_blur``."""
    half = 8 if radius <= 8 else math.ceil(radius)
    ksize = 3 if radius <= 8 else 5
    grid = np.arange(-half, half + 1, dtype=np.float32)
    x, y = np.meshgrid(grid, grid)
    disk = (x**2 + y**2 <= radius**2).astype(np.float32)
    disk /= disk.sum()
    kernel = cv2.GaussianBlur(disk, (ksize, ksize), sigmaX=alias_blur)
    # a small alias_blur leaves subnormal taps (down to 1e-45): they add nothing representable to the
    # result but make every multiply take the CPU's slow path (radius 3: 13 ms instead of 0.2 ms at 224 px)
    kernel[kernel < np.finfo(np.float32).tiny] = 0.0
    # drop all-zero border rings (a small disk in ImageNet-C's fixed 17 x 17 frame): same result, faster filter
    support = np.flatnonzero(kernel.any(axis=0))
    ring = min(int(support[0]), half) if support.size else 0
    kernel = np.ascontiguousarray(kernel[ring : kernel.shape[0] - ring, ring : kernel.shape[1] - ring])
    kernel.setflags(write=False)
    return kernel


@lru_cache(maxsize=4096)
def motion_taps(radius: int, sigma: float, angle: float) -> tuple[tuple[int, int, float], ...]:
    """ImageMagick-style one-sided motion-blur taps ``(dy, dx, weight)``, duplicates merged.

    ``2 * radius + 1`` samples along ``angle`` (degrees) weighted by a half Gaussian of
    ``sigma``, as ImageNet-C's ``MagickMotionBlurImage`` and imagecorruptions' port of it.
    """
    width = 2 * radius + 1
    weights = np.exp(-(np.arange(width) ** 2) / (2.0 * sigma**2))
    weights /= weights.sum()
    rad = math.radians(angle)
    taps: dict[tuple[int, int], float] = {}
    for i, weight in enumerate(weights):
        dy = math.ceil(i * math.sin(rad) - 0.5)
        dx = math.ceil(i * math.cos(rad) - 0.5)
        taps[(dy, dx)] = taps.get((dy, dx), 0.0) + float(weight)
    return tuple((dy, dx, w) for (dy, dx), w in taps.items())


def motion_blur(image: np.ndarray, taps: tuple[tuple[int, int, float], ...]) -> np.ndarray:
    """Sum of edge-replicated shifted copies: ``out[y, x] = sum w * image[y + dy, x + dx]``."""
    h, w = image.shape[:2]
    pad_y = min(max(abs(t[0]) for t in taps), h - 1)
    pad_x = min(max(abs(t[1]) for t in taps), w - 1)
    padded = cv2.copyMakeBorder(image, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_REPLICATE)
    padded = padded.reshape(padded.shape[:2] + image.shape[2:])
    out = np.zeros(image.shape, dtype=np.float32)
    for dy, dx, weight in taps:
        dy = max(-pad_y, min(pad_y, dy))
        dx = max(-pad_x, min(pad_x, dx))
        # one fused multiply-add pass per tap (numpy's `out += w * view` makes and reads a temporary: 2.6x slower)
        cv2.scaleAdd(padded[pad_y + dy : pad_y + dy + h, pad_x + dx : pad_x + dx + w], weight, out, dst=out)
    return out


def central_zoom(image: np.ndarray, zoom: float) -> np.ndarray:
    """Crop the centre ``ceil(side / zoom)``, scale it by ``zoom`` (bilinear) and trim the centre.

    The same steps as albumentations' ``central_zoom`` (ImageNet-C's ``clipped_zoom`` with
    OpenCV resizing), for any number of channels OpenCV accepts.
    """
    h, w = image.shape[:2]
    ch, cw = math.ceil(h / zoom), math.ceil(w / zoom)
    top, left = (h - ch) // 2, (w - cw) // 2
    crop = image[top : top + ch, left : left + cw]
    zh, zw = max(h, int(ch * zoom)), max(w, int(cw * zoom))
    zoomed = cv2.resize(crop, (zw, zh), interpolation=cv2.INTER_LINEAR).reshape((zh, zw) + image.shape[2:])
    trim_top, trim_left = (zh - h) // 2, (zw - w) // 2
    return zoomed[trim_top : trim_top + h, trim_left : trim_left + w]


@lru_cache(maxsize=128)
def reflect_smoothing_matrix(n: int, sigma: float, truncate: float) -> np.ndarray:
    """``n x n`` matrix of a 1-D Gaussian filter with scipy's ``mode='reflect'``, for any sigma.

    Rows are the truncated, normalised kernel folded onto the reflected axis, so even kernels
    longer than the axis (ImageNet-C's elastic sigmas reach 170 px) are exact.
    """
    radius = int(truncate * sigma + 0.5)
    taps = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (taps / sigma) ** 2)
    kernel /= kernel.sum()
    period = 2 * n
    matrix = np.zeros((n, n), dtype=np.float64)
    rows = np.arange(n)[:, None]
    pos = np.mod(rows + taps[None, :], period)
    cols = np.where(pos < n, pos, period - 1 - pos)
    np.add.at(matrix, (np.broadcast_to(rows, cols.shape), cols), np.broadcast_to(kernel, cols.shape))
    matrix = matrix.astype(np.float32)
    matrix.setflags(write=False)
    return matrix


@lru_cache(maxsize=128)
def gaussian_taps(sigma: float, truncate: float) -> np.ndarray:
    """The normalised 1-D Gaussian kernel of scipy's ``gaussian_filter`` (radius ``int(truncate*sigma+0.5)``)."""
    radius = int(truncate * sigma + 0.5)
    taps = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (taps / sigma) ** 2)
    kernel = (kernel / kernel.sum()).astype(np.float32)
    kernel.setflags(write=False)
    return kernel


def smooth_reflect(field: np.ndarray, sigma: float, *, truncate: float) -> np.ndarray:
    """2-D Gaussian smoothing of ``field`` with scipy's ``mode='reflect'`` (exact for any sigma).

    Kernels shorter than the field run as an OpenCV separable filter; longer ones (ImageNet-C's
    elastic sigmas reach 170 px) as products with the folded smoothing matrices.
    """
    h, w = field.shape
    kernel = gaussian_taps(float(sigma), truncate)
    if len(kernel) // 2 < min(h, w):
        return cv2.sepFilter2D(field, -1, kernel, kernel, borderType=cv2.BORDER_REFLECT)
    rows = reflect_smoothing_matrix(h, float(sigma), truncate)
    cols = reflect_smoothing_matrix(w, float(sigma), truncate)
    with _single_threaded_blas():
        return rows @ field @ cols.T


@lru_cache(maxsize=1)
def _blas_controller() -> ThreadpoolController:
    return ThreadpoolController()


def _single_threaded_blas() -> Any:
    """Small products run faster on one BLAS thread, and far faster when the cores are busy."""
    return _blas_controller().limit(limits=1, user_api="blas")
