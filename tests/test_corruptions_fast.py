"""Faster implementations reproduce the ones they replaced: within 1/255 per pixel for deterministic
corruptions, the same bits for random ones (the former code is kept here as the reference)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from albumentations.augmentations.pixel import functional as albu_pixel

import robustness.corruptions as rc
from robustness.corruptions.base import to_float, to_uint8


def _images(n: int, size: int, channels: int) -> np.ndarray:
    rng = np.random.default_rng([size, channels])
    yy, xx = np.mgrid[0:size, 0:size] / size
    smooth = 0.5 + 0.4 * np.sin(6 * xx + 3 * yy)[None, ..., None] * rng.uniform(0.2, 1.0, (n, 1, 1, channels))
    return np.round(np.clip(smooth + 0.05 * rng.standard_normal((n, size, size, channels)), 0, 1) * 255).astype(np.uint8)


def _former_contrast(images: np.ndarray, factor: float) -> np.ndarray:
    work = to_float(images)
    means = work.mean(axis=(1, 2), keepdims=True, dtype=np.float64).astype(np.float32)
    return np.clip(work * np.float32(factor) + means * np.float32(1 - factor), 0, 1)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [32, 224])
def test_contrast_matches_the_former_numpy_formula(size: int, channels: int) -> None:
    images = _images(3, size, channels)
    corruption = rc.get("contrast")
    for severity in rc.SEVERITIES:
        factor = corruption.parameter(severity, images.shape[1:])
        expected = _former_contrast(images, factor)
        as_uint8 = rc.corrupt_array(corruption, images, severity, np.arange(3))
        as_float = rc.corrupt_array(corruption, to_float(images), severity, np.arange(3))
        assert as_uint8.dtype == np.uint8 and as_float.dtype == np.float32
        assert np.abs(as_uint8.astype(int) - to_uint8(expected).astype(int)).max() <= 1
        assert np.abs(as_float - expected).max() <= 1e-5


def _former_impulse(images: np.ndarray, amount: float, draws: list[np.ndarray]) -> np.ndarray:
    n, h, w, c = images.shape
    amount32 = np.float32(amount)
    salt = np.stack([(u >= amount32 / 2) & (u < amount32) for u in draws]).reshape(n * h, w * c)
    pepper = np.stack([u < amount32 / 2 for u in draws]).reshape(n * h, w * c)
    return albu_pixel.apply_salt_and_pepper(images.reshape(n * h, w * c), salt, pepper).reshape(images.shape)


@pytest.mark.parametrize("size", [32, 224])
def test_impulse_noise_gives_the_former_bits(size: int) -> None:
    images, indices = to_float(_images(3, size, 3)), np.array([4, 9, 17])
    corruption = rc.get("impulse_noise")
    for severity in (1, 5):
        amount = corruption.parameter(severity, images.shape[1:])
        draws = [rc.sample_rng(7, int(i), "impulse_noise", severity).random(images.shape[1:], dtype=np.float32) for i in indices]
        expected = _former_impulse(images, amount, draws)
        assert np.array_equal(rc.corrupt_array(corruption, images, severity, indices, seed=7), expected)


def test_defocus_kernels_hold_no_subnormal_taps() -> None:
    from robustness.corruptions import _filters

    corruption = rc.get("defocus_blur")
    for table in (corruption.table_small, corruption.table_large):
        for radius, alias_blur in table:
            kernel = _filters.disk_kernel(float(radius), float(alias_blur))
            nonzero = kernel[kernel != 0]
            assert nonzero.min() >= np.finfo(np.float32).tiny, "subnormal taps make the convolution ~50x slower"


def _former_motion_blur(image: np.ndarray, taps: tuple[tuple[int, int, float], ...]) -> np.ndarray:
    h, w = image.shape[:2]
    pad_y = min(max(abs(t[0]) for t in taps), h - 1)
    pad_x = min(max(abs(t[1]) for t in taps), w - 1)
    pad = ((pad_y, pad_y), (pad_x, pad_x)) + ((0, 0),) * (image.ndim - 2)
    padded = np.pad(image, pad, mode="edge")
    out = np.zeros(image.shape, dtype=np.float32)
    for dy, dx, weight in taps:
        dy, dx = max(-pad_y, min(pad_y, dy)), max(-pad_x, min(pad_x, dx))
        out += np.float32(weight) * padded[pad_y + dy : pad_y + dy + h, pad_x + dx : pad_x + dx + w]
    return out


@pytest.mark.parametrize("channels", [1, 3])
def test_motion_blur_matches_the_former_numpy_sum(channels: int) -> None:
    """One fused multiply-add per tap (OpenCV scaleAdd) instead of numpy's product then sum: the same
    kernel, float32 results within a few ulps, so uint8 outputs differ only on rounding ties."""
    from robustness.corruptions import _filters

    image = to_float(_images(1, 224, channels))[0]
    for radius, sigma, angle in ((10, 3.0, 0.0), (15, 8.0, -37.5), (20, 15.0, 45.0), (3, 1.0, 12.0)):
        taps = _filters.motion_taps(radius, sigma, angle)
        ours, former = _filters.motion_blur(image, taps), _former_motion_blur(image, taps)
        assert ours.shape == former.shape == image.shape
        assert np.abs(ours - former).max() <= 1e-6
        assert np.abs(to_uint8(np.clip(ours, 0, 1)).astype(int) - to_uint8(np.clip(former, 0, 1)).astype(int)).max() <= 1


def _former_snow(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    from robustness.corruptions import _filters
    from robustness.corruptions.base import luma

    corruption = rc.get("snow")
    loc, scale, zoom, threshold, radius, sigma, blend = corruption.parameter(severity, image.shape)
    flakes = rng.normal(loc, scale, size=image.shape[:2]).astype(np.float32)
    angle = round(float(rng.uniform(-135.0, -45.0)) * 2.0) / 2.0
    layer = _filters.central_zoom(flakes[..., None], float(zoom))[..., 0]
    layer = np.clip(np.where(layer < threshold, 0.0, layer), 0.0, 1.0).astype(np.float32)
    layer = _filters.motion_blur(layer, _filters.motion_taps(int(radius), float(sigma), angle))
    layer = np.round(np.clip(layer, 0.0, 1.0) * 255.0) / np.float32(255.0)
    gray = image if image.shape[2] == 1 else luma(image)
    blend = np.float32(blend)
    whitened = blend * image + (1 - blend) * np.maximum(image, gray * np.float32(1.5) + np.float32(0.5))
    return np.clip(whitened + (layer + layer[::-1, ::-1])[..., None], 0, 1)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [32, 224])
def test_snow_gives_the_former_bits(size: int, channels: int) -> None:
    images, indices = to_float(_images(2, size, channels)), np.array([3, 11])
    for severity in (1, 3, 5):
        expected = np.stack(
            [_former_snow(image, severity, rc.sample_rng(2, int(i), "snow", severity)) for image, i in zip(images, indices)]
        )
        assert np.array_equal(rc.corrupt_array("snow", images, severity, indices, seed=2), expected)


@pytest.mark.parametrize("channels", [1, 3])
def test_jpeg_and_pixelate_give_the_former_albumentations_bits(channels: int) -> None:
    from albumentations.augmentations.geometric import functional as albu_geometric

    images = _images(2, 224, channels)
    for severity in rc.SEVERITIES:
        quality = rc.get("jpeg_compression").parameter(severity, images.shape[1:])
        former = np.stack(
            [albu_pixel.image_compression(np.ascontiguousarray(im[..., ::-1]), quality, ".jpg").reshape(im.shape)[..., ::-1] for im in images]
        )
        assert np.array_equal(rc.corrupt_array("jpeg_compression", images, severity, np.arange(2)), former)
        fraction = rc.get("pixelate").parameter(severity, images.shape[1:])
        side = int(224 * fraction)
        small = [albu_geometric.resize(im, (side, side), cv2.INTER_AREA) for im in images]
        former = np.stack([albu_geometric.resize(s, (224, 224), cv2.INTER_NEAREST_EXACT).reshape(im.shape) for s, im in zip(small, images)])
        assert np.array_equal(rc.corrupt_array("pixelate", images, severity, np.arange(2)), former)
