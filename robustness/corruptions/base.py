"""The corruption abstraction: a named, registered, severity-calibrated image operation.

A corruption separates the random draw from its application (as torchvision v2's
``make_params`` / ``transform``): :meth:`Corruption.make_params` draws everything random
from a generator seeded by ``(seed, sample index, corruption name, severity)``, and
:meth:`Corruption.apply` is a pure function of the image and those parameters. Results
therefore never depend on batch size, worker count or evaluation order.

Images enter and leave :meth:`Corruption.__call__` as ``H x W`` or ``H x W x C`` arrays
(``C`` in {1, 3}), ``uint8`` or float in [0, 1]; shape and dtype are kept. Internally every
corruption works on ``float32`` ``H x W x C`` in [0, 1].
"""

from __future__ import annotations

import os
import zlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

from robustness.errors import UsageError  # noqa: E402
from robustness.registry import Registry  # noqa: E402

SEVERITIES = (1, 2, 3, 4, 5)
SMALL_IMAGE_MAX_SIDE = 64
MIN_SIDE = 8

Params = dict[str, Any]


def check_severity(severity: int) -> int:
    if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)) or not 1 <= severity <= 5:
        raise UsageError(
            f"severity should be an integer between 1 and 5, but got {severity!r}; "
            "use --severities 1-5 or a subset such as 1,3,5."
        )
    return int(severity)


def sample_rng(seed: int, index: int, name: str, severity: int) -> np.random.Generator:
    """The generator for one (seed, sample, corruption, severity) draw."""
    return np.random.default_rng([seed & 0xFFFFFFFF, index & 0xFFFFFFFF, zlib.crc32(name.encode()), severity])


class Corruption(ABC):
    """A corruption with a published (or documented) parameter per severity.

    Subclasses set the class attributes and implement :meth:`apply` (and, when random,
    :meth:`make_params`). ``table_small`` holds the parameter for images whose longer side
    is at most 64 px (CIFAR-10-C scale), ``table_large`` for larger ones (ImageNet-C scale).
    """

    name: ClassVar[str]
    family: ClassVar[str]
    source: ClassVar[str] = "suite"
    table_small: ClassVar[Sequence[Any]]
    table_large: ClassVar[Sequence[Any]]
    #: which ImageNet-C split the corruption belongs to: "benchmark", "heldout" or "" (extra)
    imagenet_c: ClassVar[str] = ""
    rgb_only: ClassVar[bool] = False

    def parameter(self, severity: int, shape: tuple[int, ...]) -> Any:
        """The severity table entry for an image of ``shape`` (H, W[, C])."""
        table = self.table_small if max(shape[0], shape[1]) <= SMALL_IMAGE_MAX_SIDE else self.table_large
        return table[check_severity(severity) - 1]

    def make_params(self, image: np.ndarray, severity: int, rng: np.random.Generator) -> Params:
        """Draw the random parameters for ``image``; deterministic corruptions need none."""
        return {"c": self.parameter(severity, image.shape)}

    @abstractmethod
    def apply(self, image: np.ndarray, params: Params) -> np.ndarray:
        """Apply to a float32 ``H x W x C`` image in [0, 1]; return the same layout, unclipped."""

    def __call__(self, image: np.ndarray, severity: int, *, seed: int = 0, index: int = 0) -> np.ndarray:
        severity = check_severity(severity)
        work, restore = to_working(image)
        rng = sample_rng(seed, index, self.name, severity)
        params = self.make_params(work, severity, rng)
        out = self.apply(work, params)
        if out.shape != work.shape:
            raise AssertionError(f"{self.name} changed the image shape from {work.shape} to {out.shape}")
        return restore(np.clip(out, 0.0, 1.0).astype(np.float32, copy=False))

    def __repr__(self) -> str:
        return self.name


def to_working(image: np.ndarray) -> tuple[np.ndarray, Any]:
    """Validate ``image`` and convert it to float32 HxWxC; return it and the inverse conversion."""
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise UsageError(f"image should have shape HxW or HxWxC, but got shape {image.shape}.")
    squeeze = image.ndim == 2
    work = image[..., None] if squeeze else image
    if work.shape[2] not in (1, 3):
        raise UsageError(
            f"image should have 1 (grayscale) or 3 (RGB) channels, but got {work.shape[2]}; "
            "convert RGBA or two-channel images before corrupting them."
        )
    if min(work.shape[:2]) < MIN_SIDE:
        raise UsageError(f"image sides should be at least {MIN_SIDE} px, but got {work.shape[0]}x{work.shape[1]}.")
    dtype = image.dtype
    if dtype == np.uint8:
        work = work.astype(np.float32) / 255.0
    elif np.issubdtype(dtype, np.floating):
        lo, hi = float(work.min()), float(work.max())
        if lo < 0.0 or hi > 1.0:
            raise UsageError(
                f"float images should lie in [0, 1], but got values in [{lo:.3g}, {hi:.3g}]; "
                "divide uint8 data by 255 or pass it as uint8."
            )
        work = work.astype(np.float32, copy=False)
    else:
        raise UsageError(f"image dtype should be uint8 or float, but got {dtype}.")

    def restore(out: np.ndarray) -> np.ndarray:
        if squeeze:
            out = out[..., 0]
        if dtype == np.uint8:
            return np.round(out * 255.0).astype(np.uint8)
        return out.astype(dtype, copy=False)

    return np.ascontiguousarray(work), restore


CORRUPTIONS: Registry[Corruption] = Registry("corruption")


def register(cls: type[Corruption]) -> type[Corruption]:
    """Class decorator: instantiate and register a corruption under its ``name``."""
    CORRUPTIONS.add(cls.name, cls())
    return cls
