"""Property: every corruption keeps shape, dtype and range, for any size >= 8, 1 or 3 channels, uint8 or float."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from robustness.corruptions import CORRUPTIONS

NAMES = sorted(CORRUPTIONS)


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(NAMES),
    height=st.integers(8, 40),
    width=st.integers(8, 40),
    channels=st.sampled_from([None, 1, 3]),
    as_uint8=st.booleans(),
    severity=st.integers(1, 5),
    seed=st.integers(0, 2**31 - 1),
    index=st.integers(0, 10**6),
)
def test_any_image_keeps_shape_dtype_range_and_is_deterministic(
    name: str, height: int, width: int, channels: int | None, as_uint8: bool, severity: int, seed: int, index: int
) -> None:
    corruption = CORRUPTIONS.get(name)
    if corruption.rgb_only and channels != 3:
        channels = 3
    shape = (height, width) if channels is None else (height, width, channels)
    rng = np.random.default_rng(index)
    image = rng.integers(0, 256, shape).astype(np.uint8) if as_uint8 else rng.random(shape).astype(np.float32)
    out = corruption(image, severity, seed=seed, index=index)
    assert out.shape == image.shape and out.dtype == image.dtype
    if not as_uint8:
        assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    again = corruption(image, severity, seed=seed, index=index)
    assert np.array_equal(out, again)
