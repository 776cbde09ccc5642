"""The corruption abstraction: a named, registered, severity-calibrated image operation.

A corruption separates the random draw from its application (as torchvision v2's
``make_params`` / ``transform``): :meth:`Corruption.make_params` draws everything random
from a generator seeded by ``(seed, sample index, corruption name, severity)``, and
:meth:`Corruption.apply` is a pure function of the image and those parameters. Results
therefore never depend on batch size, worker count or evaluation order.

Images enter and leave :meth:`Corruption.__call__` as ``H x W`` or ``H x W x C`` arrays
(``C`` in {1, 3}), ``uint8`` or float in [0, 1]; shape and dtype are kept. Internally every
corruption works on ``float32`` ``H x W x C`` in [0, 1]; batches are ``N x H x W x C``.
"""

from __future__ import annotations

import hashlib
import os
import threading
import zlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import cv2
import numpy as np

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

from reports.corruption_metrics import SMALL_IMAGE_MAX_SIDE  # noqa: E402
from robustness.core.errors import UsageError  # noqa: E402
from robustness.core.registry import Registry  # noqa: E402

MIN_SIDE = 8
_MASK64 = (1 << 64) - 1
#: ITU-R BT.601 luma weights, used to bring colour-only corruptions back to grayscale
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)

Params = dict[str, Any]

HENDRYCKS = "Hendrycks & Dietterich 2019 (ImageNet-C / CIFAR-10-C)"
SUITE = "suite"


def check_severity(severity: int) -> int:
    """Return ``severity`` as an int, or raise :class:`UsageError` unless it is 1..5."""
    if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)) or not 1 <= severity <= 5:
        raise UsageError(
            f"severity should be an integer between 1 and 5, but got {severity!r}; "
            "use --severities 1-5 or a subset such as 1,3,5."
        )
    return int(severity)


def _pcg_state(seed: int, index: int, name: str, severity: int) -> dict[str, Any]:
    """PCG64 state and stream (odd increment) hashed from the draw's identity with BLAKE2b."""
    key = f"{seed & _MASK64}:{index & _MASK64}:{zlib.crc32(name.encode())}:{severity}".encode()
    digest = hashlib.blake2b(key, digest_size=32, person=b"robustness-corr").digest()
    return {
        "bit_generator": "PCG64",
        "state": {"state": int.from_bytes(digest[:16], "little"), "inc": int.from_bytes(digest[16:], "little") | 1},
        "has_uint32": 0,
        "uinteger": 0,
    }


def sample_rng(seed: int, index: int, name: str, severity: int) -> np.random.Generator:
    """A new generator for one (seed, sample, corruption, severity) draw.

    Its stream depends only on those four values (BLAKE2b hash -> PCG64 state and stream).
    """
    bitgen = np.random.PCG64(0)
    bitgen.state = _pcg_state(seed, index, name, severity)
    return np.random.Generator(bitgen)


class _Reseedable(threading.local):
    """One generator per thread, re-seeded for every draw: the stream of :func:`sample_rng` without
    building a generator per sample (a quarter of the cost)."""

    def __init__(self) -> None:
        self.bitgen = np.random.PCG64(0)
        self.generator = np.random.Generator(self.bitgen)

    def __call__(self, seed: int, index: int, name: str, severity: int) -> np.random.Generator:
        self.bitgen.state = _pcg_state(seed, index, name, severity)
        return self.generator


_reseeded = _Reseedable()


def is_small(shape: tuple[int, ...]) -> bool:
    """Whether an image of ``shape`` (H, W, ...) uses the small-image (CIFAR-10-C) table."""
    return max(shape[0], shape[1]) <= SMALL_IMAGE_MAX_SIDE


class Corruption(ABC):
    """A corruption with a published (or documented) parameter per severity.

    Subclasses set the class attributes and implement :meth:`apply` (and, when random,
    :meth:`make_params`); those that gain from vectorisation override :meth:`apply_batch`
    instead and let :meth:`apply` delegate to it, so one code path serves single images and
    batches and a sample's result never depends on the batch it travels in.

    ``table_small`` holds the parameter for images whose longer side is at most 64 px
    (CIFAR-10-C scale), ``table_large`` for larger ones (ImageNet-C scale).
    """

    name: ClassVar[str]
    family: ClassVar[str]
    #: where the severity table comes from: ``HENDRYCKS`` or ``SUITE`` (documented in CORRUPTIONS.md)
    source: ClassVar[str] = SUITE
    #: what the table entries mean, e.g. "sigma of additive Gaussian noise"
    parameter_doc: ClassVar[str] = ""
    #: what does the work: an albumentations function or the suite's own code (and why)
    implementation: ClassVar[str] = ""
    table_small: ClassVar[Sequence[Any]]
    table_large: ClassVar[Sequence[Any]]
    #: which ImageNet-C split the corruption belongs to: "benchmark", "heldout" or "" (extra)
    imagenet_c: ClassVar[str] = ""
    #: colour-only corruptions run on grayscale images replicated to RGB, then back to luma
    rgb_only: ClassVar[bool] = False
    #: deterministic corruptions skip the per-sample generator
    random: ClassVar[bool] = True
    #: corruptions that work on uint8 directly (JPEG, pixelate) take :meth:`apply_uint8` for uint8 input
    uint8_native: ClassVar[bool] = False

    def parameter(self, severity: int, shape: tuple[int, ...]) -> Any:
        """The severity table entry for an image of ``shape`` (H, W[, C])."""
        table = self.table_small if is_small(shape) else self.table_large
        return table[check_severity(severity) - 1]

    def make_params(self, image: np.ndarray, severity: int, rng: np.random.Generator) -> Params:
        """Draw the random parameters for ``image``; deterministic corruptions need none.

        ``rng`` is valid only during the call (it is re-seeded for the next sample): draw
        everything here and keep arrays or numbers, never the generator.
        """
        return {"c": self.parameter(severity, image.shape)}

    @abstractmethod
    def apply(self, image: np.ndarray, params: Params) -> np.ndarray:
        """Apply to a float32 ``H x W x C`` image in [0, 1]; return the same layout, unclipped."""

    def apply_batch(self, images: np.ndarray, params: Sequence[Params]) -> np.ndarray:
        """Apply to a float32 ``N x H x W x C`` batch, sample ``i`` with ``params[i]``."""
        out = np.empty_like(images)
        for i, (image, p) in enumerate(zip(images, params)):
            out[i] = self.apply(image, p)
        return out

    def draw(self, images: np.ndarray, severity: int, indices: Sequence[int], *, seed: int) -> list[Params]:
        """The parameters of every sample of a working batch (``N x H x W x C`` float32)."""
        severity = check_severity(severity)
        if not self.random:
            shared = self.make_params(images[0], severity, np.random.default_rng(0))
            return [shared] * len(images)
        # the generator is re-seeded per sample: make_params must use it up, never keep it
        return [
            self.make_params(image, severity, _reseeded(seed, int(index), self.name, severity))
            for image, index in zip(images, indices)
        ]

    def corrupt_working(self, images: np.ndarray, severity: int, indices: Sequence[int], *, seed: int) -> np.ndarray:
        """Corrupt a validated float32 ``N x H x W x C`` batch in [0, 1]; return it clipped."""
        gray_in_rgb_out = self.rgb_only and images.shape[-1] == 1
        work = np.repeat(images, 3, axis=-1) if gray_in_rgb_out else images
        params = self.draw(work, severity, indices, seed=seed)
        out = self.apply_batch(work, params)
        if out.shape != work.shape:
            raise AssertionError(f"{self.name} changed the batch shape from {work.shape} to {out.shape}")
        out = np.clip(out, 0.0, 1.0, out=out if out.dtype == np.float32 else None).astype(np.float32, copy=False)
        if gray_in_rgb_out:
            out = np.clip(luma(out), 0.0, 1.0)
        return out

    def corrupt(
        self, images: np.ndarray, severity: int, indices: Sequence[int], *, seed: int = 0, argument: str = "images"
    ) -> np.ndarray:
        """Corrupt a ``N x H x W x C`` batch, uint8 or float in [0, 1]; shape and dtype are kept.

        ``argument`` names the input in error messages.
        """
        severity = check_severity(severity)
        if images.dtype != np.uint8 and not np.issubdtype(images.dtype, np.floating):
            raise UsageError(
                f"{argument} dtype should be uint8 or float, but got {images.dtype}; convert it with astype."
            )
        check_images(images, argument=argument)
        if len(indices) != images.shape[0]:
            raise UsageError(f"indices should have one entry per image ({images.shape[0]}), but got {len(indices)}.")
        if images.dtype == np.uint8:
            if self.uint8_native and not (self.rgb_only and images.shape[-1] == 1):
                return self.apply_uint8(images, self.draw(images, severity, indices, seed=seed))
            return to_uint8(self.corrupt_working(to_float(images), severity, indices, seed=seed))
        work = np.ascontiguousarray(images, dtype=np.float32)
        return self.corrupt_working(work, severity, indices, seed=seed).astype(images.dtype, copy=False)

    def apply_uint8(self, images: np.ndarray, params: Sequence[Params]) -> np.ndarray:
        """Apply to a uint8 ``N x H x W x C`` batch (only where ``uint8_native``)."""
        raise NotImplementedError(f"{self.name} has no uint8 path")

    def __call__(self, image: np.ndarray, severity: int, *, seed: int = 0, index: int = 0) -> np.ndarray:
        """Corrupt one image (``H x W`` or ``H x W x C``, uint8 or float in [0, 1])."""
        image = np.asarray(image)
        if image.ndim not in (2, 3):
            raise UsageError(
                f"image should have shape HxW or HxWxC, but got shape {image.shape}; pass one image, not a batch."
            )
        batch = (image[..., None] if image.ndim == 2 else image)[None]
        out = self.corrupt(batch, severity, [index], seed=seed, argument="image")[0]
        return out[..., 0] if image.ndim == 2 else out

    def __repr__(self) -> str:
        return self.name


class BatchCorruption(Corruption):
    """A corruption whose work is written once, vectorised over the batch, in :meth:`apply_batch`."""

    def apply(self, image: np.ndarray, params: Params) -> np.ndarray:
        return self.apply_batch(image[None], [params])[0]

    @abstractmethod
    def apply_batch(self, images: np.ndarray, params: Sequence[Params]) -> np.ndarray:
        """Apply to a float32 ``N x H x W x C`` batch; must treat every sample independently."""


def luma(images: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma of RGB ``... x H x W x 3`` float32 images, ``... x H x W x 1`` (OpenCV, no BLAS)."""
    flat = np.ascontiguousarray(images, dtype=np.float32).reshape(-1, images.shape[-2], 3)
    return cv2.cvtColor(flat, cv2.COLOR_RGB2GRAY).reshape(images.shape[:-1] + (1,))


def stacked(params: Sequence[Params], key: str, ndim: int = 4) -> np.ndarray:
    """``params[i][key]`` for every sample as one float32 array broadcastable over ``N x H x W x C``."""
    values = np.asarray([p[key] for p in params], dtype=np.float32)
    return values.reshape(values.shape + (1,) * (ndim - values.ndim))


def check_images(images: np.ndarray, *, argument: str = "images") -> None:
    """Validate a float ``N x H x W x C`` working batch: channels, size, value range."""
    if images.ndim != 4:
        raise UsageError(f"{argument} should be a N x H x W x C batch, but got shape {images.shape}.")
    channels = images.shape[-1]
    if channels not in (1, 3):
        raise UsageError(
            f"{argument} should have 1 (grayscale) or 3 (RGB) channels, but got {channels}; "
            "convert RGBA or two-channel images before corrupting them."
        )
    if min(images.shape[1:3]) < MIN_SIDE:
        raise UsageError(
            f"{argument} sides should be at least {MIN_SIDE} px, but got {images.shape[1]}x{images.shape[2]}; "
            "upsample tiny images before corrupting them."
        )
    if images.size and not np.issubdtype(images.dtype, np.integer):
        lo, hi = float(images.min()), float(images.max())
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0.0 or hi > 1.0:
            raise UsageError(
                f"float {argument} should lie in [0, 1], but got values in [{lo:.3g}, {hi:.3g}]; "
                "divide uint8 data by 255 or pass it as uint8."
            )


_INV255 = np.float32(1.0 / 255.0)


def to_float(images: np.ndarray) -> np.ndarray:
    """uint8 -> float32 in [0, 1], in one pass."""
    return np.multiply(images, _INV255, dtype=np.float32)


def to_uint8(images: np.ndarray) -> np.ndarray:
    """float in [0, 1] -> uint8, rounding to nearest (half to even), in one OpenCV pass."""
    flat = np.ascontiguousarray(images, dtype=np.float32).reshape(-1, images.shape[-1] if images.ndim > 1 else 1)
    return cv2.convertScaleAbs(flat, alpha=255.0).reshape(images.shape)


CORRUPTIONS: Registry[Corruption] = Registry("corruption")


def register(cls: type[Corruption]) -> type[Corruption]:
    """Class decorator: instantiate and register a corruption under its ``name``."""
    CORRUPTIONS.add(cls.name, cls())
    return cls
