"""The corruption base class, pinned exactly on toy corruptions whose outputs are derived by hand.

``tests/test_corruptions.py`` checks every registered corruption's shape, dtype and determinism;
this file checks what ``robustness/corruptions/base.py`` itself promises, on small ``Corruption``
subclasses defined here (never registered, except in the ``register`` test, which removes its entry):
the whole text of every refusal, dtype round trips, ``to_uint8``'s rounding and ``to_float``'s
levels, BT.601 luma, grayscale through colour-only corruptions, the native uint8 path, the single-image
path against the batch path, and the per-sample generator (one stream per (seed, index, name,
severity), whatever the batch, its order or the thread). Expected values come from the toys'
definitions and from :func:`sample_rng`, the documented stream, never from running the code under test.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence

import numpy as np
import pytest

import robustness.corruptions as rc
from robustness.core.errors import UsageError
from robustness.corruptions.base import (
    CORRUPTIONS,
    BatchCorruption,
    Corruption,
    Params,
    check_images,
    check_severity,
    is_small,
    luma,
    register,
    sample_rng,
    stacked,
    to_float,
    to_uint8,
)

#: the channel weights of the colour toy: its luma on a gray value g is g * (0.299 + 0.587 / 2 + 0.114 / 4)
CHANNEL_WEIGHTS = np.array([1.0, 0.5, 0.25], np.float32)
GRAY_GAIN = 0.299 * 1.0 + 0.587 * 0.5 + 0.114 * 0.25  # = 0.621


class Scale(Corruption):
    """Deterministic: multiplies by the table entry (small images 0.9 .. 0.5, large ones 0.95 .. 0.55)."""

    name = "toy_scale"
    family = "toy"
    random = False
    table_small = (0.9, 0.8, 0.7, 0.6, 0.5)
    table_large = (0.95, 0.85, 0.75, 0.65, 0.55)

    def apply(self, image: np.ndarray, params: Params) -> np.ndarray:
        return image * np.float32(params["c"])


class Shift(Corruption):
    """Random: adds one offset per sample, drawn from the sample's generator, uniform in [-0.25, 0.25)."""

    name = "toy_shift"
    family = "toy"
    table_small = table_large = (1, 2, 3, 4, 5)

    def make_params(self, image: np.ndarray, severity: int, rng: np.random.Generator) -> Params:
        return {"shift": float(rng.uniform(-0.25, 0.25))}

    def apply(self, image: np.ndarray, params: Params) -> np.ndarray:
        return image + np.float32(params["shift"])


def shift_of(seed: int, index: int, severity: int, name: str = "toy_shift") -> float:
    """The offset ``Shift`` must draw: the first uniform of the documented per-sample stream."""
    return float(sample_rng(seed, index, name, severity).uniform(-0.25, 0.25))


class Colour(Corruption):
    """Deterministic, colour-only: weights the RGB channels by (1, 0.5, 0.25)."""

    name = "toy_colour"
    family = "toy"
    random = False
    rgb_only = True
    table_small = table_large = (1, 2, 3, 4, 5)

    def apply(self, image: np.ndarray, params: Params) -> np.ndarray:
        if image.shape[-1] != 3:
            raise AssertionError("a colour-only corruption got a non-RGB image")
        return image * CHANNEL_WEIGHTS


class Native(Corruption):
    """Random, with a uint8 path that adds a per-sample step of 1..9 levels; the float path halves."""

    name = "toy_native"
    family = "toy"
    uint8_native = True
    table_small = table_large = (1, 2, 3, 4, 5)

    def make_params(self, image: np.ndarray, severity: int, rng: np.random.Generator) -> Params:
        return {"step": int(rng.integers(1, 10))}

    def apply(self, image: np.ndarray, params: Params) -> np.ndarray:
        return image * (CHANNEL_WEIGHTS if image.shape[-1] == 3 else np.float32(0.5))

    def apply_uint8(self, images: np.ndarray, params: Sequence[Params]) -> np.ndarray:
        steps = np.array([p["step"] for p in params], np.uint8).reshape(-1, 1, 1, 1)
        return images + steps


class NativeColour(Native):
    name = "toy_native_colour"
    rgb_only = True


def step_of(seed: int, index: int, severity: int, name: str) -> int:
    return int(sample_rng(seed, index, name, severity).integers(1, 10))


def message(text: str) -> str:
    """A ``match`` pattern for the whole message."""
    return "^" + re.escape(text) + "$"


# -- refusals: the whole message -------------------------------------------------------------------


@pytest.mark.parametrize("severity", [0, 6, -1, 2.5, "3", True, None, np.int64(7)])
def test_severity_refusal_names_the_value_and_the_fix(severity: object) -> None:
    expected = (
        f"severity should be an integer between 1 and 5, but got {severity!r}; "
        "use --severities 1-5 or a subset such as 1,3,5."
    )
    with pytest.raises(UsageError, match=message(expected)):
        check_severity(severity)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=message(expected)):
        Scale()(np.zeros((8, 8), np.uint8), severity)  # type: ignore[arg-type]


def test_severity_accepts_numpy_integers_as_plain_ints() -> None:
    for severity in (1, 5, np.int64(3), np.uint8(2)):
        value = check_severity(severity)  # type: ignore[arg-type]
        assert value == int(severity) and type(value) is int


def test_dtype_refusal() -> None:
    batch = np.zeros((1, 8, 8, 3), np.int16)
    with pytest.raises(
        UsageError, match=message("images dtype should be uint8 or float, but got int16; convert it with astype.")
    ):
        Scale().corrupt(batch, 1, [0])
    with pytest.raises(
        UsageError, match=message("image dtype should be uint8 or float, but got int32; convert it with astype.")
    ):
        Scale()(np.zeros((8, 8), np.int32), 1)


def test_ndim_refusals() -> None:
    not_a_batch = "images should be a N x H x W x C batch, but got shape (8, 8, 3)."
    with pytest.raises(UsageError, match=message(not_a_batch)):
        check_images(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(UsageError, match=message(not_a_batch)):
        Scale().corrupt(np.zeros((8, 8, 3), np.uint8), 1, [0])
    expected = "image should have shape HxW or HxWxC, but got shape (1, 8, 8, 3); pass one image, not a batch."
    with pytest.raises(UsageError, match=message(expected)):
        Scale()(np.zeros((1, 8, 8, 3), np.uint8), 1)
    with pytest.raises(
        UsageError,
        match=message("image should have shape HxW or HxWxC, but got shape (8,); pass one image, not a batch."),
    ):
        Scale()(np.zeros(8, np.uint8), 1)


@pytest.mark.parametrize("channels", [2, 4])
def test_channel_refusal(channels: int) -> None:
    tail = f"should have 1 (grayscale) or 3 (RGB) channels, but got {channels}; convert RGBA or two-channel images before corrupting them."
    with pytest.raises(UsageError, match=message("images " + tail)):
        check_images(np.zeros((2, 8, 8, channels), np.float32))
    with pytest.raises(UsageError, match=message("images " + tail)):
        Scale().corrupt(np.zeros((2, 8, 8, channels), np.uint8), 1, [0, 1])
    with pytest.raises(UsageError, match=message("image " + tail)):
        Scale()(np.zeros((8, 8, channels), np.float32), 1)


def test_size_refusal() -> None:
    tail = "sides should be at least 8 px, but got 7x9; upsample tiny images before corrupting them."
    with pytest.raises(UsageError, match=message("images " + tail)):
        check_images(np.zeros((1, 7, 9, 3), np.float32))
    with pytest.raises(UsageError, match=message("image " + tail)):
        Scale()(np.zeros((7, 9), np.uint8), 1)
    with pytest.raises(
        UsageError,
        match=message(
            "images sides should be at least 8 px, but got 9x7; upsample tiny images before corrupting them."
        ),
    ):
        Scale().corrupt(np.zeros((1, 9, 7, 1), np.uint8), 1, [0])
    check_images(np.zeros((1, 8, 8, 1), np.float32))  # the smallest accepted size
    assert Scale()(np.zeros((8, 8), np.uint8), 1).shape == (8, 8)


@pytest.mark.parametrize(
    ("bad", "shown"),
    [
        (1.5, "[0, 1.5]"),
        (-0.25, "[-0.25, 0.8]"),
        (np.nan, "[nan, nan]"),
        (np.inf, "[0, inf]"),
        (-np.inf, "[-inf, 0.8]"),
    ],
)
def test_float_range_refusal(bad: float, shown: str) -> None:
    images = np.zeros((1, 8, 8, 3), np.float32)
    images[0, 0, 0, 0] = 0.8
    images[0, 1, 1, 1] = bad
    tail = f"should lie in [0, 1], but got values in {shown}; divide uint8 data by 255 or pass it as uint8."
    with pytest.raises(UsageError, match=message("float images " + tail)):
        check_images(images)
    with pytest.raises(UsageError, match=message("float images " + tail)):
        Scale().corrupt(images.astype(np.float64), 1, [0])
    with pytest.raises(UsageError, match=message("float image " + tail)):
        Scale()(images[0], 1)


def test_float_range_bounds_are_inclusive_and_uint8_is_not_range_checked() -> None:
    check_images(np.stack([np.zeros((8, 8, 1)), np.ones((8, 8, 1))]).astype(np.float32))
    check_images(np.full((1, 8, 8, 3), 255, np.uint8))


def test_indices_refusal_counts_images_not_rows() -> None:
    batch = np.zeros((2, 8, 9, 3), np.uint8)
    with pytest.raises(UsageError, match=message("indices should have one entry per image (2), but got 3.")):
        Shift().corrupt(batch, 1, [0, 1, 2])
    with pytest.raises(UsageError, match=message("indices should have one entry per image (2), but got 1.")):
        Scale().corrupt(batch, 1, [0])


# -- dtypes, rounding, levels ----------------------------------------------------------------------


def test_uint8_in_uint8_out_with_exact_levels() -> None:
    # severity 2 on a small image scales by 0.8: 0, 5, 100, 200, 255 -> 0, 4, 80, 160, 204
    levels = np.array([0, 5, 100, 200, 255], np.uint8)
    image = np.tile(levels, (8, 2))[:, :8]
    out = Scale()(image, 2)
    assert out.dtype == np.uint8 and out.shape == (8, 8)
    expected = np.tile(np.array([0, 4, 80, 160, 204], np.uint8), (8, 2))[:, :8]
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_float_in_same_float_out(dtype: type) -> None:
    image = np.full((2, 8, 8, 3), 0.5, dtype)
    out = Scale().corrupt(image, 4, [0, 1])  # small image, severity 4: 0.5 * 0.6 = 0.3
    assert out.dtype == dtype and out.shape == image.shape
    np.testing.assert_allclose(out, 0.3, rtol=1e-3 if dtype == np.float16 else 1e-6)


def test_large_images_take_the_large_table() -> None:
    # the longer side decides: 65 px is large (0.85 at severity 2), 64 px is small (0.8)
    assert np.allclose(Scale()(np.full((8, 65), 0.5, np.float32), 2), 0.425)
    assert np.allclose(Scale()(np.full((64, 8), 0.5, np.float32), 2), 0.4)
    assert np.allclose(Scale()(np.full((65, 8), 0.5, np.float32), 2), 0.425)
    assert Scale().parameter(3, (64, 64, 3)) == 0.7
    assert Scale().parameter(3, (8, 100)) == 0.75


def test_is_small_threshold_is_the_longer_side_at_most_64() -> None:
    assert is_small((64, 64)) and is_small((8, 8, 3)) and is_small((1, 64))
    assert not is_small((65, 64)) and not is_small((64, 65)) and not is_small((100, 32, 3)) and not is_small((32, 100))


def test_outputs_are_clipped_to_the_unit_range() -> None:
    class Double(Scale):
        name = "toy_double"

        def apply(self, image: np.ndarray, params: Params) -> np.ndarray:
            return image.astype(np.float64) * 2.0 - 0.5  # float64 on purpose: the working output is float32

    image = np.array([0.0, 0.125, 0.5, 0.875, 1.0], np.float32)[None, None, :, None] * np.ones((1, 8, 1, 1), np.float32)
    image = np.concatenate([image, image], axis=2)  # 8 x 10
    working = Double().corrupt_working(image, 1, [0], seed=0)
    assert working.dtype == np.float32 and working.shape == image.shape
    expected = np.array([0.0, 0.0, 0.5, 1.0, 1.0] * 2, np.float32)
    np.testing.assert_array_equal(working[0, 0, :, 0], expected)
    assert np.array_equal(Double().corrupt(image.astype(np.float64), 1, [0])[0, 3, :, 0], expected)


def test_to_uint8_rounds_half_to_even_and_saturates() -> None:
    k = np.arange(255)
    halves = ((k + 0.5) / 255).astype(np.float32)
    # precondition, checked here: each float32 level times 255 is exactly k + 1/2 in float32
    assert np.array_equal(halves * np.float32(255), (k + 0.5).astype(np.float32))
    np.testing.assert_array_equal(to_uint8(halves), np.where(k % 2 == 0, k, k + 1))
    quarters = ((k + 0.25) / 255).astype(np.float32)
    three_quarters = ((k + 0.75) / 255).astype(np.float32)
    np.testing.assert_array_equal(to_uint8(quarters), k)
    np.testing.assert_array_equal(to_uint8(three_quarters), k + 1)
    over = to_uint8(np.array([0.0, 1.0, 1.5, 300.0], np.float32))  # odd length, 1-D
    assert over.dtype == np.uint8 and over.shape == (4,)
    np.testing.assert_array_equal(over, [0, 255, 255, 255])
    row = to_uint8(np.array([[0.5, 0.25], [1.0, 0.0], [2.0, 0.0]], np.float32))
    np.testing.assert_array_equal(row, [[128, 64], [255, 0], [255, 0]])  # 127.5 -> 128 (even), 63.75 -> 64
    batch = np.linspace(0, 1, 2 * 8 * 9 * 3).reshape(2, 8, 9, 3)
    np.testing.assert_array_equal(to_uint8(batch), np.rint(batch * 255).astype(np.uint8))


def test_to_float_levels_are_k_over_255_in_float32() -> None:
    k = np.arange(256, dtype=np.uint8)
    levels = to_float(k.reshape(1, 16, 16, 1))
    assert levels.dtype == np.float32 and levels.shape == (1, 16, 16, 1)
    flat = levels.ravel()
    exact = k / 255.0
    assert flat[0] == 0.0 and flat[255] == 1.0
    # the product with float32(1/255) is within 2**-23 of k/255, relatively (two roundings of 2**-24 each)
    np.testing.assert_allclose(flat, exact, rtol=2.0**-23, atol=0)
    np.testing.assert_array_equal(to_uint8(levels).ravel(), k)  # and back without loss


def test_uint8_and_float_paths_agree_to_one_level() -> None:
    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, (2, 9, 8, 3), dtype=np.uint8)
    as_uint8 = Shift().corrupt(image, 3, [4, 7], seed=2)
    as_float = Shift().corrupt(image / 255.0, 3, [4, 7], seed=2)
    assert as_uint8.dtype == np.uint8 and as_float.dtype == np.float64
    assert np.abs(as_uint8.astype(np.int16) - np.rint(as_float * 255).astype(np.int16)).max() <= 1


# -- luma and grayscale through colour-only corruptions -------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_luma_is_bt601(dtype: type) -> None:
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (2, 8, 9, 3)).astype(dtype)
    expected = 0.299 * images[..., 0:1] + 0.587 * images[..., 1:2] + 0.114 * images[..., 2:3]
    out = luma(images)
    assert out.dtype == np.float32 and out.shape == (2, 8, 9, 1)
    np.testing.assert_allclose(out, expected, atol=2e-6)
    single = luma(images[1])
    assert single.shape == (8, 9, 1)
    np.testing.assert_allclose(single, expected[1], atol=2e-6)
    primaries = luma(np.eye(3, dtype=dtype).reshape(1, 3, 3))
    np.testing.assert_allclose(primaries.ravel(), [0.299, 0.587, 0.114], atol=1e-6)


def test_gray_input_to_a_colour_only_corruption_comes_back_gray() -> None:
    gray = np.full((8, 10), 0.8, np.float32)
    out = Colour()(gray, 1)
    assert out.shape == (8, 10) and out.dtype == np.float32
    np.testing.assert_allclose(out, 0.8 * GRAY_GAIN, atol=1e-6)
    hxwx1 = Colour().corrupt(gray[None, ..., None], 1, [0])
    assert hxwx1.shape == (1, 8, 10, 1)
    np.testing.assert_allclose(hxwx1, 0.8 * GRAY_GAIN, atol=1e-6)
    as_uint8 = Colour()(np.full((8, 10), 200, np.uint8), 1)  # 200 * 0.621 = 124.2
    assert as_uint8.dtype == np.uint8 and as_uint8.shape == (8, 10)
    assert np.all(as_uint8 == 124)
    rgb = Colour()(np.full((8, 8, 3), 0.8, np.float32), 1)
    np.testing.assert_allclose(rgb, np.broadcast_to(0.8 * CHANNEL_WEIGHTS, (8, 8, 3)), atol=1e-6)


def test_saturate_on_a_gray_image_returns_the_luma_of_its_red_tint() -> None:
    # saturate (colour-only) at severity 5 on a small image: S' = S * 2.5 + 0.2; a gray pixel (S = 0,
    # hue red) becomes (v, 0.8 v, 0.8 v), whose luma is v * (0.299 + 0.8 * 0.701) = 0.8598 v
    gray = np.full((16, 16), 0.5, np.float32)
    out = rc.get("saturate")(gray, 5)
    assert out.shape == (16, 16)
    np.testing.assert_allclose(out, 0.5 * 0.8598, atol=1e-5)
    np.testing.assert_allclose(rc.get("saturate")(gray, 1), 0.5, atol=1e-6)  # S' = 0: unchanged


# -- the native uint8 path --------------------------------------------------------------------------


def test_native_uint8_path_for_rgb_and_for_gray_unless_colour_only() -> None:
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 200, (2, 8, 9, 3), dtype=np.uint8)
    gray = rng.integers(0, 200, (2, 8, 9, 1), dtype=np.uint8)
    indices = [3, 11]
    for cls, images in ((Native, rgb), (Native, gray), (NativeColour, rgb)):
        out = cls().corrupt(images, 2, indices, seed=7)
        steps = np.array([step_of(7, i, 2, cls.name) for i in indices], np.uint8).reshape(-1, 1, 1, 1)
        assert out.dtype == np.uint8
        np.testing.assert_array_equal(out, images + steps, err_msg=cls.name)
    # a colour-only native corruption takes gray uint8 through the float path: RGB copies, luma back
    gray_out = NativeColour().corrupt(gray, 2, indices, seed=7)
    assert gray_out.shape == gray.shape and gray_out.dtype == np.uint8
    expected = np.rint(gray.astype(np.float64) * GRAY_GAIN)
    assert np.abs(gray_out.astype(np.float64) - expected).max() <= 1
    # and float input always takes the float path
    as_float = Native().corrupt(gray / 255.0, 2, indices, seed=7)
    np.testing.assert_allclose(as_float, gray / 255.0 * 0.5, atol=1e-6)


def test_default_uint8_path_refuses_where_none_exists() -> None:
    with pytest.raises(NotImplementedError, match=message("toy_scale has no uint8 path")):
        Scale().apply_uint8(np.zeros((1, 8, 8, 3), np.uint8), [{}])


# -- single images, batches, seeds -------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(8, 9), (8, 9, 1), (8, 9, 3)])
def test_single_image_equals_the_batch_path(shape: tuple[int, ...]) -> None:
    image = np.random.default_rng(2).uniform(0.3, 0.7, shape).astype(np.float32)
    batch = (image[..., None] if image.ndim == 2 else image)[None]
    shift = Shift()
    single = shift(image, 3)
    assert single.shape == shape and single.dtype == np.float32
    # the defaults are seed 0, index 0: the first uniform of sample_rng(0, 0, "toy_shift", 3)
    np.testing.assert_allclose(single, image + np.float32(shift_of(0, 0, 3)), atol=1e-6)
    np.testing.assert_array_equal(single.reshape(batch.shape[1:]), shift.corrupt(batch, 3, [0])[0])
    np.testing.assert_array_equal(single.reshape(batch.shape[1:]), shift.corrupt(batch, 3, [0], seed=0)[0])
    other = shift(image, 3, seed=5, index=9)
    np.testing.assert_allclose(other, image + np.float32(shift_of(5, 9, 3)), atol=1e-6)
    np.testing.assert_array_equal(other.reshape(batch.shape[1:]), shift.corrupt(batch, 3, [9], seed=5)[0])
    assert not np.array_equal(single, other)


def test_random_draws_depend_only_on_seed_index_name_and_severity() -> None:
    images = np.full((4, 8, 8, 3), 0.5, np.float32)
    indices = [0, 1, 17, 2**40 + 3]
    out = Shift().corrupt(images, 2, indices, seed=3)
    for row, index in zip(out, indices):
        np.testing.assert_allclose(row, 0.5 + shift_of(3, index, 2), atol=1e-6)
    # a subset, reversed: each sample keeps its own draw
    reversed_out = Shift().corrupt(images[:3], 2, indices[2::-1], seed=3)
    np.testing.assert_array_equal(reversed_out, out[2::-1])
    # every part of the key changes the draw: seed, index, severity and name
    base = out[0, 0, 0, 0]
    assert Shift().corrupt(images[:1], 2, [0], seed=4)[0, 0, 0, 0] != base
    assert Shift().corrupt(images[:1], 3, [0], seed=3)[0, 0, 0, 0] != base

    class Renamed(Shift):
        name = "toy_shift_renamed"

    renamed = Renamed().corrupt(images[:1], 2, [0], seed=3)
    assert renamed[0, 0, 0, 0] != base
    np.testing.assert_allclose(renamed, 0.5 + shift_of(3, 0, 2, name="toy_shift_renamed"), atol=1e-6)


def test_a_worker_thread_draws_the_same_streams() -> None:
    images = np.full((3, 8, 8, 1), 0.5, np.float32)
    results: dict[str, np.ndarray] = {}

    def work() -> None:
        results["thread"] = Shift().corrupt(images, 4, [5, 6, 7], seed=11)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert "thread" in results
    expected = 0.5 + np.array([shift_of(11, i, 4) for i in (5, 6, 7)], np.float32).reshape(-1, 1, 1, 1)
    np.testing.assert_allclose(results["thread"], np.broadcast_to(expected, images.shape), atol=1e-6)
    np.testing.assert_array_equal(results["thread"], Shift().corrupt(images, 4, [5, 6, 7], seed=11))


def test_deterministic_params_are_drawn_once_and_reproducibly() -> None:
    calls: list[np.ndarray] = []

    class Counting(Scale):
        name = "toy_counting"

        def make_params(self, image: np.ndarray, severity: int, rng: np.random.Generator) -> Params:
            calls.append(image)
            # a deterministic corruption should not need the generator; if it touches it, the draw
            # must still be the same on every call
            return {"c": self.parameter(severity, image.shape), "jitter": float(rng.uniform())}

    images = np.random.default_rng(3).uniform(0, 1, (3, 8, 8, 3)).astype(np.float32)
    first = Counting().draw(images, 2, [0, 1, 2], seed=0)
    assert len(calls) == 1 and np.array_equal(calls[0], images[0])
    assert len(first) == 3 and all(p is first[0] for p in first) and first[0]["c"] == 0.8
    second = Counting().draw(images, 2, [9, 8, 7], seed=123)
    assert len(calls) == 2 and second[0] == first[0]
    out = Counting().corrupt(images, 2, [0, 1, 2])
    np.testing.assert_allclose(out, images * np.float32(0.8), atol=1e-7)


def test_stacked_is_float32_and_broadcasts_over_the_batch() -> None:
    values = stacked([{"c": 0.5}, {"c": 0.25}, {"c": 1}], "c")
    assert values.dtype == np.float32 and values.shape == (3, 1, 1, 1)
    np.testing.assert_array_equal(values.ravel(), [0.5, 0.25, 1.0])
    pairs = stacked([{"c": (1, 2)}, {"c": (3, 4)}], "c", ndim=5)
    assert pairs.dtype == np.float32 and pairs.shape == (2, 2, 1, 1, 1)
    np.testing.assert_array_equal(pairs[:, :, 0, 0, 0], [[1, 2], [3, 4]])


def test_batch_corruption_single_image_apply_is_its_batch_path() -> None:
    class Offset(BatchCorruption):
        name = "toy_offset"
        family = "toy"
        table_small = table_large = (1, 2, 3, 4, 5)

        def apply_batch(self, images: np.ndarray, params: Sequence[Params]) -> np.ndarray:
            return images + stacked(params, "c")

    image = np.full((8, 9, 3), 0.25, np.float32)
    out = Offset().apply(image, {"c": 0.5})
    assert out.shape == (8, 9, 3)
    np.testing.assert_array_equal(out, np.full((8, 9, 3), 0.75, np.float32))


def test_a_corruption_that_changes_the_shape_is_caught() -> None:
    class Crop(Scale):
        name = "toy_crop"

        def apply_batch(self, images: np.ndarray, params: Sequence[Params]) -> np.ndarray:
            return images[:, 1:]

    with pytest.raises(
        AssertionError, match=message("toy_crop changed the batch shape from (1, 8, 8, 3) to (1, 7, 8, 3)")
    ):
        Crop().corrupt(np.zeros((1, 8, 8, 3), np.float32), 1, [0])


# -- registration -----------------------------------------------------------------------------------


def test_register_instantiates_once_and_refuses_duplicates() -> None:
    name = "toy_registered_for_test"

    class Registered(Scale):
        pass

    Registered.name = name

    class Duplicate(Scale):
        pass

    Duplicate.name = name
    assert name not in CORRUPTIONS
    try:
        assert register(Registered) is Registered
        instance = rc.get(name)
        assert type(instance) is Registered and CORRUPTIONS.get(name) is instance
        with pytest.raises(KeyError, match=f"corruption '{name}' is already registered"):
            register(Duplicate)
        assert type(rc.get(name)) is Registered
    finally:
        CORRUPTIONS._items.pop(name, None)
    assert name not in CORRUPTIONS
