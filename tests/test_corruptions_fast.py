"""Faster implementations reproduce the ones they replaced: within 1/255 per pixel for deterministic
corruptions, the same bits for random ones (the former code is kept here as the reference)."""

from __future__ import annotations

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
