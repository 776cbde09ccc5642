"""Corruption registry, selection, validation, shape/dtype handling and determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import robustness.corruptions as rc
from robustness.core.errors import UsageError

IMAGENET_C = {
    "noise": ["gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise"],
    "blur": ["defocus_blur", "glass_blur", "motion_blur", "zoom_blur", "gaussian_blur"],
    "weather": ["snow", "frost", "fog", "spatter"],
    "digital": ["brightness", "contrast", "saturate", "elastic_transform", "pixelate", "jpeg_compression"],
}
BENCHMARK = [
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression",
]  # fmt: skip
HELDOUT = ["speckle_noise", "gaussian_blur", "spatter", "saturate"]
ALL = list(rc.CORRUPTIONS)


def _images(n: int, size: int | tuple[int, int], channels: int, *, seed: int = 0) -> np.ndarray:
    """Smooth structured images (gradients plus blobs) with some texture, float32 in [0, 1]."""
    rng = np.random.default_rng(seed)
    h, w = (size, size) if isinstance(size, int) else size
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    out = np.empty((n, h, w, channels), dtype=np.float32)
    for i in range(n):
        for c in range(channels):
            phase = rng.uniform(0, 2 * np.pi, 2)
            base = 0.5 + 0.3 * np.sin(6 * xx + phase[0]) * np.cos(5 * yy + phase[1])
            out[i, :, :, c] = np.clip(base + 0.1 * rng.standard_normal((h, w)), 0, 1)
    return out


def test_imagenet_c_families_and_splits() -> None:
    fams = rc.families()
    for family, names in IMAGENET_C.items():
        assert fams[family] == names
    assert rc.select("benchmark") == BENCHMARK
    assert rc.select("heldout") == HELDOUT
    assert len(rc.select("benchmark,heldout")) == 19


def test_mission_families() -> None:
    fams = rc.families()
    lighting = {"brighten", "darken", "contrast_loss", "gamma", "cast_shadow", "colour_temperature"}
    assert lighting <= set(fams["lighting"])
    assert set(fams["geometric"]) == {"rotation", "translation", "scale", "shear", "perspective"}
    occlusion = {
        "occlusion_patch", "occlusion_patch_mean", "occlusion_patch_noise", "occlusion_patches", "grid_dropout",
    }  # fmt: skip
    assert occlusion <= set(fams["occlusion"])


@pytest.mark.parametrize("name", ALL)
def test_every_corruption_has_five_documented_severities(name: str) -> None:
    corruption = rc.get(name)
    assert len(corruption.table_small) == len(corruption.table_large) == 5
    assert corruption.parameter_doc and corruption.implementation and corruption.source


def test_select_groups_names_and_order() -> None:
    assert rc.select("all") == ALL
    assert rc.select("none") == []
    assert rc.select("fog, rotation,fog") == ["fog", "rotation"]
    assert rc.select(["geometric"]) == rc.families()["geometric"]


def test_describe_lists_name_family_source() -> None:
    rows = rc.describe()
    assert [r.name for r in rows][:4] == IMAGENET_C["noise"]
    assert {r.name for r in rows} == set(ALL)
    assert all(r.family and r.source for r in rows)


@pytest.mark.parametrize(
    ("spec", "expected"), [("1-5", [1, 2, 3, 4, 5]), ("1,3,5", [1, 3, 5]), ("2-3,5", [2, 3, 5]), (4, [4])]
)
def test_parse_severities(spec: str | int, expected: list[int]) -> None:
    assert rc.parse_severities(spec) == expected


# -- bad input: one clear error per path ------------------------------------------------------


def test_unknown_corruption_lists_what_exists() -> None:
    with pytest.raises(UsageError, match=r"Unknown corruption 'fogg'.*Available groups: all, benchmark.*fog, frost"):
        rc.select("fogg")


def test_unknown_corruption_by_name_suggests() -> None:
    with pytest.raises(UsageError, match=r"Unknown corruption 'gausian_noise'. Did you mean gaussian_noise"):
        rc.get("gausian_noise")


@pytest.mark.parametrize("severity", [0, 6])
def test_severity_out_of_range(severity: int) -> None:
    with pytest.raises(UsageError, match=rf"severity should be an integer between 1 and 5, but got {severity}"):
        rc.get("fog")(np.zeros((16, 16, 3), np.uint8), severity)


def test_bad_severity_spec() -> None:
    with pytest.raises(UsageError, match=r"--severities should be integers 1-5"):
        rc.parse_severities("1-x")


@pytest.mark.parametrize("channels", [2, 4])
def test_wrong_channel_count(channels: int) -> None:
    with pytest.raises(UsageError, match=rf"1 \(grayscale\) or 3 \(RGB\) channels, but got {channels}"):
        rc.get("contrast")(np.zeros((16, 16, channels), np.uint8), 1)


@pytest.mark.parametrize("value", [1.5, -0.1, np.nan])
def test_float_outside_unit_range(value: float) -> None:
    image = np.full((16, 16, 3), 0.5, np.float32)
    image[0, 0, 0] = value
    with pytest.raises(UsageError, match=r"float image should lie in \[0, 1\]"):
        rc.get("contrast")(image, 1)


def test_image_too_small() -> None:
    with pytest.raises(UsageError, match=r"sides should be at least 8 px, but got 7x16"):
        rc.get("contrast")(np.zeros((7, 16), np.uint8), 1)


def test_unsupported_dtype() -> None:
    with pytest.raises(UsageError, match=r"dtype should be uint8 or float, but got int32"):
        rc.get("contrast")(np.zeros((16, 16), np.int32), 1)


def test_batch_must_be_nchw_float_with_matching_indices() -> None:
    with pytest.raises(UsageError, match=r"N x C x H x W batch"):
        rc.corrupt_batch("fog", torch.zeros(3, 16, 16), 1, [0, 1, 2])
    with pytest.raises(UsageError, match=r"one entry per image \(2\), but got 3"):
        rc.corrupt_batch("fog", torch.zeros(2, 3, 16, 16), 1, [0, 1, 2])
    with pytest.raises(UsageError, match=r"1 \(grayscale\) or 3 \(RGB\) channels, but got 4"):
        rc.corrupt_batch("fog", torch.zeros(2, 4, 16, 16), 1, [0, 1])


# -- shape and dtype ----------------------------------------------------------------------------

CASES = [
    pytest.param(8, "gray", np.float32, id="8px-gray-float32"),
    pytest.param(32, "rgb", np.uint8, id="32px-rgb-uint8"),
    pytest.param(224, "rgb", np.float64, id="224px-rgb-float64"),
    pytest.param((12, 40), "gray1", np.uint8, id="12x40-grayx1-uint8"),
    pytest.param((70, 33), "rgb", np.float32, id="70x33-rgb-float32"),
]


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize(("size", "mode", "dtype"), CASES)
def test_shape_dtype_range_kept(name: str, size: int | tuple[int, int], mode: str, dtype: type) -> None:
    image = _images(1, size, 3 if mode == "rgb" else 1)[0]
    if mode == "gray":
        image = image[..., 0]
    if dtype == np.uint8:
        image = np.round(image * 255).astype(np.uint8)
    else:
        image = image.astype(dtype)
    out = rc.get(name)(image, 5, seed=3, index=7)
    assert out.shape == image.shape and out.dtype == image.dtype
    scale = 255 if dtype == np.uint8 else 1.0
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= scale
    assert not np.array_equal(out, image), f"{name} left the image unchanged at severity 5"


def test_gray_and_rgb_hxwx1() -> None:
    image = _images(1, 32, 1)[0]
    for name in ("saturate", "colour_temperature", "frost", "spatter", "snow"):
        out = rc.get(name)(image, 4)
        assert out.shape == (32, 32, 1)


# -- determinism ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_results_do_not_depend_on_batch_or_order(name: str) -> None:
    images = _images(6, 32, 3, seed=1)
    indices = np.array([11, 3, 25, 4, 9, 17])
    whole = rc.corrupt_array(name, images, 3, indices, seed=5)
    reordered = rc.corrupt_array(name, images[::-1], 3, indices[::-1], seed=5)[::-1]
    singles = np.stack([rc.corrupt_array(name, images[i : i + 1], 3, indices[i : i + 1], seed=5)[0] for i in range(6)])
    split = np.concatenate([rc.corrupt_array(name, images[:2], 3, indices[:2], seed=5),
                            rc.corrupt_array(name, images[2:], 3, indices[2:], seed=5)])  # fmt: skip
    one = rc.get(name)(images[2], 3, seed=5, index=25)
    assert np.array_equal(whole, reordered)
    assert np.array_equal(whole, singles)
    assert np.array_equal(whole, split)
    assert np.array_equal(whole[2], one)


@pytest.mark.parametrize("name", ["zoom_blur", "fog", "brightness", "saturate", "gaussian_noise", "elastic_transform"])
def test_large_images_batch_invariant(name: str) -> None:
    images = _images(3, 96, 3, seed=2)
    whole = rc.corrupt_array(name, images, 4, [0, 1, 2], seed=1)
    singles = np.stack([rc.corrupt_array(name, images[i : i + 1], 4, [i], seed=1)[0] for i in range(3)])
    assert np.array_equal(whole, singles)


def test_torch_batch_matches_numpy_path() -> None:
    images = _images(4, 32, 3)
    tensor = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    out = rc.corrupt_batch("motion_blur", tensor, 2, [0, 1, 2, 3], seed=9)
    assert out.shape == tensor.shape and out.dtype == tensor.dtype
    expected = rc.corrupt_array("motion_blur", images, 2, [0, 1, 2, 3], seed=9)
    assert np.array_equal(out.permute(0, 2, 3, 1).numpy(), expected)


RANDOM = [n for n in ALL if rc.get(n).random]


@pytest.mark.parametrize("name", RANDOM)
def test_draw_depends_on_seed_and_index(name: str) -> None:
    image = _images(1, 32, 3)[0]
    corruption = rc.get(name)
    base = corruption(image, 5, seed=0, index=0)
    assert np.array_equal(base, corruption(image, 5, seed=0, index=0))
    others = [(0, 1), (1, 0), (0, 2), (2, 0), (0, 3), (3, 0), (0, 4), (4, 4)]
    differs = [not np.array_equal(base, corruption(image, 5, seed=s, index=i)) for s, i in others]
    assert any(differs), f"{name} ignores the seed and sample index"


def test_uint8_and_float_inputs_agree() -> None:
    image = np.round(_images(1, 32, 3)[0] * 255).astype(np.uint8)
    for name in ("gaussian_noise", "rotation", "fog"):
        as_uint8 = rc.get(name)(image, 3, seed=1, index=2)
        as_float = rc.get(name)(image.astype(np.float32) / 255, 3, seed=1, index=2)
        assert np.abs(as_uint8.astype(np.float32) - as_float * 255).max() <= 0.5001


MONOTONE = [
    "gaussian_noise", "shot_noise", "impulse_noise", "gaussian_blur", "contrast", "pixelate", "jpeg_compression",
    "occlusion_patch", "rotation", "darken",
]  # fmt: skip


@pytest.mark.parametrize("name", MONOTONE)
def test_damage_grows_with_severity(name: str) -> None:
    images = _images(4, 64, 3)
    damage = [float(np.abs(rc.corrupt_array(name, images, s, range(4)) - images).mean()) for s in rc.SEVERITIES]
    assert damage == sorted(damage), f"{name}: mean change per severity {damage}"


def test_sample_rng_streams_are_independent_and_reproducible() -> None:
    first, second = rc.sample_rng(0, 1, "fog", 2), rc.sample_rng(0, 2, "fog", 2)
    interleaved = [first.random(), second.random(), first.random()]
    again = rc.sample_rng(0, 1, "fog", 2)
    assert interleaved[0] == again.random() and interleaved[2] == again.random()
    assert interleaved[1] == rc.sample_rng(0, 2, "fog", 2).random()
    assert rc.sample_rng(0, 1, "fog", 2).random() != rc.sample_rng(0, 1, "fog", 3).random()
