"""Measured corruption strength matches the severity tables (and CORRUPTIONS.md is current)."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import robustness.corruptions as rc
from robustness.corruptions import catalog

SMALL, LARGE = 64, 96  # <= 64 px uses the CIFAR-10-C table, larger the ImageNet-C table
SIZES = [pytest.param(SMALL, id="small"), pytest.param(LARGE, id="large")]


def _flat(size: int, value: float = 0.5) -> np.ndarray:
    return np.full((size, size, 3), value, dtype=np.float32)


def _table(name: str, size: int) -> tuple:
    corruption = rc.get(name)
    return tuple(corruption.parameter(s, (size, size, 3)) for s in rc.SEVERITIES)


def test_small_and_large_tables_switch_at_64_px() -> None:
    noise = rc.get("gaussian_noise")
    assert noise.parameter(1, (64, 64, 3)) == noise.table_small[0]
    assert noise.parameter(1, (65, 40, 3)) == noise.table_large[0]


@pytest.mark.parametrize("size", SIZES)
def test_gaussian_noise_sigma(size: int) -> None:
    reference = np.random.default_rng(0).standard_normal(200_000)
    for severity, sigma in zip(rc.SEVERITIES, _table("gaussian_noise", size)):
        out = rc.corrupt_array("gaussian_noise", _flat(size)[None].repeat(8, 0), severity, range(8))
        expected = np.clip(0.5 + sigma * reference, 0, 1).std()  # clipping at 0 and 1 included
        assert out.std() == pytest.approx(expected, rel=0.03), f"severity {severity}"


@pytest.mark.parametrize("size", SIZES)
def test_shot_noise_photon_count(size: int) -> None:
    reference = np.random.default_rng(0)
    for severity, photons in zip(rc.SEVERITIES, _table("shot_noise", size)):
        out = rc.corrupt_array("shot_noise", _flat(size, 0.3)[None].repeat(8, 0), severity, range(8))
        expected = np.clip(reference.poisson(0.3 * photons, 200_000) / photons, 0, 1)  # Poisson(x c) / c, clipped
        assert out.mean() == pytest.approx(expected.mean(), abs=0.01)
        assert out.var() == pytest.approx(expected.var(), rel=0.08), f"severity {severity}"
        assert expected.var() == pytest.approx(0.3 / photons, rel=0.1 if photons > 3 else 0.15)


@pytest.mark.parametrize("size", SIZES)
def test_impulse_noise_amount(size: int) -> None:
    for severity, amount in zip(rc.SEVERITIES, _table("impulse_noise", size)):
        out = rc.corrupt_array("impulse_noise", _flat(size)[None].repeat(8, 0), severity, range(8))
        assert np.mean((out == 0) | (out == 1)) == pytest.approx(amount, rel=0.1)
        assert np.mean(out == 0) == pytest.approx(np.mean(out == 1), rel=0.25)


@pytest.mark.parametrize("size", SIZES)
def test_speckle_noise_sigma(size: int) -> None:
    for severity, sigma in zip(rc.SEVERITIES, _table("speckle_noise", size)):
        out = rc.corrupt_array("speckle_noise", _flat(size, 0.4)[None].repeat(8, 0), severity, range(8))
        assert out.std() == pytest.approx(0.4 * sigma, rel=0.05), f"severity {severity}"


def _impulse_response(name: str, size: int, severity: int) -> np.ndarray:
    image = np.zeros((size, size, 1), dtype=np.float32)
    image[size // 2, size // 2] = 1.0
    return rc.corrupt_array(name, image[None], severity, [0])[0, :, :, 0]


def _second_moment(response: np.ndarray) -> float:
    size = response.shape[0]
    offsets = np.arange(size) - size // 2
    weights = response.sum(axis=0)
    return float((weights * offsets**2).sum() / weights.sum())


@pytest.mark.parametrize("size", SIZES)
def test_gaussian_blur_sigma(size: int) -> None:
    for severity, sigma in zip(rc.SEVERITIES, _table("gaussian_blur", size)):
        taps = np.arange(-int(4 * sigma + 0.5), int(4 * sigma + 0.5) + 1)  # scikit-image's 4-sigma kernel
        weights = np.exp(-(taps**2) / (2 * sigma**2))
        sampled = np.sqrt((weights * taps**2).sum() / weights.sum())  # sigma of the sampled kernel
        measured = np.sqrt(_second_moment(_impulse_response("gaussian_blur", size, severity)))
        assert measured == pytest.approx(sampled, rel=0.02), f"severity {severity}"
        assert sampled == pytest.approx(sigma, rel=0.3 if sigma < 0.5 else 0.05)


def test_defocus_blur_disk_radius() -> None:
    for severity, (radius, alias) in zip(rc.SEVERITIES, _table("defocus_blur", LARGE)):
        variance = _second_moment(_impulse_response("defocus_blur", LARGE, severity))
        measured = np.sqrt(4 * (variance - alias**2))  # a disk of radius r has variance r^2 / 4 per axis
        assert measured == pytest.approx(radius, rel=0.15), f"severity {severity}"


def _pil_jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer)).astype(np.float32)


@pytest.mark.parametrize("size", SIZES)
def test_jpeg_quality_recovered(size: int) -> None:
    rng = np.random.default_rng(3)
    smooth = cv2.GaussianBlur(rng.random((size, size, 3)).astype(np.float32), (0, 0), 2.0)
    image = np.round(np.clip((smooth - smooth.min()) / np.ptp(smooth), 0, 1) * 255).astype(np.uint8)
    for severity, quality in zip(rc.SEVERITIES, _table("jpeg_compression", size)):
        ours = rc.get("jpeg_compression")(image, severity).astype(np.float32)
        candidates = range(max(1, quality - 15), min(100, quality + 15))
        recovered = min(candidates, key=lambda q: float(np.mean((_pil_jpeg(image, q) - ours) ** 2)))
        assert abs(recovered - quality) <= 1, f"severity {severity}: table {quality}, recovered {recovered}"


def _orientation(image: np.ndarray) -> float:
    m = cv2.moments(image.astype(np.float32))
    return 0.5 * np.degrees(np.arctan2(2 * m["mu11"], m["mu20"] - m["mu02"]))


def test_rotation_angle() -> None:
    size = LARGE
    bar = np.zeros((size, size), dtype=np.float32)
    cv2.ellipse(bar, (size // 2, size // 2), (size // 4, size // 14), 0, 0, 360, 1.0, -1)
    before = _orientation(bar)
    for severity, angle in zip(rc.SEVERITIES, _table("rotation", size)):
        for index in range(3):
            out = rc.get("rotation")(bar, severity, index=index)
            turned = abs(((_orientation(out) - before) + 90) % 180 - 90)
            assert turned == pytest.approx(angle, abs=1.0), f"severity {severity}"


@pytest.mark.parametrize("name", ["occlusion_patch", "occlusion_patches", "grid_dropout"])
@pytest.mark.parametrize("size", [32, LARGE])
def test_occluded_area(name: str, size: int) -> None:
    """Occluded share within the rounding of ``k`` square pieces to whole pixels: each side is off by at most
    half a pixel, so the area by at most ``k * (side + 0.25)`` px (``k`` = 1 patch, the table's patch count, or
    the 4 x 4 grid's 16 holes). At 32 px that is ~14% relative for one 5% patch (it was 70%)."""
    ones = np.ones((6, size, size, 1), dtype=np.float32)
    for severity, entry in zip(rc.SEVERITIES, _table(name, size)):
        area = entry[0] if isinstance(entry, tuple) else entry
        pieces = {"occlusion_patch": 1, "occlusion_patches": entry[1] if isinstance(entry, tuple) else 1}.get(name, 16)
        out = rc.corrupt_array(name, ones, severity, range(6))
        measured = (out == 0).mean(axis=(1, 2, 3))
        tolerance = (np.sqrt(pieces * area) * size + 0.25 * pieces) / size**2
        assert np.allclose(measured, area, rtol=0, atol=tolerance), f"severity {severity}: {measured}"


def test_occlusion_fills() -> None:
    image = np.random.default_rng(0).random((32, 32, 3)).astype(np.float32) * 0.5 + 0.25
    mean = rc.get("occlusion_patch_mean")(image, 5)
    changed = np.any(mean != image, axis=-1)
    assert np.allclose(mean[changed], image.mean(axis=(0, 1)), atol=1e-6)
    noise = rc.get("occlusion_patch_noise")(image, 5)
    assert noise[np.any(noise != image, axis=-1)].std() > 0.2


def test_cast_shadow_area_and_darkening() -> None:
    ones = np.ones((4, LARGE, LARGE, 1), dtype=np.float32)
    for severity, (area, darkening) in zip(rc.SEVERITIES, _table("cast_shadow", LARGE)):
        out = rc.corrupt_array("cast_shadow", ones, severity, range(4))
        assert np.allclose((out < 1 - darkening / 2).mean(axis=(1, 2, 3)), area, atol=0.02)
        assert out.min() == pytest.approx(1 - darkening, abs=1e-6)


def test_translation_shift() -> None:
    size = LARGE
    spot = np.zeros((size, size), dtype=np.float32)
    cv2.circle(spot, (size // 2, size // 2), 4, 1.0, -1)
    for severity, fraction in zip(rc.SEVERITIES, _table("translation", size)):
        out = rc.get("translation")(spot, severity, index=severity)
        m = cv2.moments((out > 0.5).astype(np.float32))
        shift = np.hypot(m["m10"] / m["m00"] - size // 2, m["m01"] / m["m00"] - size // 2)
        assert shift == pytest.approx(fraction * size, abs=1.0)


def test_contrast_and_brightness_follow_table() -> None:
    image = np.random.default_rng(1).random((1, 32, 32, 3)).astype(np.float32) * 0.5 + 0.2
    for severity, c in zip(rc.SEVERITIES, _table("contrast", 32)):
        out = rc.corrupt_array("contrast", image, severity, [0])
        assert out.std(axis=(1, 2)) == pytest.approx(c * image.std(axis=(1, 2)), rel=1e-4)
    for severity, shift in zip(rc.SEVERITIES, _table("brightness", 32)):
        out = rc.corrupt_array("brightness", image, severity, [0])
        assert out.max(axis=-1) == pytest.approx(np.minimum(image.max(axis=-1) + shift, 1), abs=1e-5)


def test_corruptions_md_is_current() -> None:
    text = (Path(__file__).resolve().parents[1] / "CORRUPTIONS.md").read_text()
    assert catalog.generated_section() in text, "run: python -m robustness.corruptions.catalog --write CORRUPTIONS.md"
