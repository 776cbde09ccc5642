"""Corruptions: registry, selection and batch application.

Layer: may import ``robustness.core`` and ``reports`` (the severity table), numpy, OpenCV, albumentations
and torch; nothing of models, attacks, runs or results.

Importing this package registers every corruption family module: ImageNet-C's 19
corruptions (noise, blur, weather, digital) and the suite's lighting, geometric and
occlusion families, 5 severities each.

>>> select("noise")
['gaussian_noise', 'shot_noise', 'impulse_noise', 'speckle_noise']
>>> parse_severities("1-3,5")
[1, 2, 3, 5]
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from reports.corruption_metrics import SEVERITIES
from robustness.core.enums import CORRUPTION_FAMILIES
from robustness.core.errors import UsageError
from robustness.corruptions.base import (
    CORRUPTIONS,
    Corruption,
    check_images,
    check_severity,
    register,
    sample_rng,
)
from robustness.data.layout import images_from_nhwc

#: ImageNet-C's benchmark families first, in the paper's order, then the suite's (one module per family)
FAMILY_ORDER = CORRUPTION_FAMILIES
GROUPS = ("all", "benchmark", "heldout", "none")

for _module in FAMILY_ORDER:
    importlib.import_module(f"robustness.corruptions.{_module}")

from robustness.corruptions.device import corrupt_on_device, has_device_path  # noqa: E402

__all__ = [
    "CORRUPTIONS",
    "FAMILY_ORDER",
    "GROUPS",
    "SEVERITIES",
    "BatchCorrupter",
    "Corruption",
    "CorruptionInfo",
    "DeviceCorrupter",
    "check_severity",
    "corrupt_array",
    "corrupt_batch",
    "corrupt_on_device",
    "describe",
    "families",
    "get",
    "has_device_path",
    "parse_severities",
    "place_cell",
    "register",
    "sample_rng",
    "select",
]


def get(name: str) -> Corruption:
    """The registered corruption ``name``; unknown names raise with the list of what exists."""
    return CORRUPTIONS.get(name)


def families() -> dict[str, list[str]]:
    """Family name -> corruption names, families in ``FAMILY_ORDER``."""
    out: dict[str, list[str]] = {family: [] for family in FAMILY_ORDER}
    for name, corruption in CORRUPTIONS.items():
        out.setdefault(corruption.family, []).append(name)
    return {family: names for family, names in out.items() if names}


def select(spec: str | Sequence[str]) -> list[str]:
    """Resolve ``all``, ``benchmark``, ``heldout``, ``none``, a family name or corruption names.

    >>> select("rotation")
    ['rotation']
    >>> len(select("benchmark")), len(select("heldout"))
    (15, 4)
    """
    tokens = [t.strip() for t in (spec.split(",") if isinstance(spec, str) else spec) if t.strip()]
    chosen: list[str] = []
    fams = families()
    for token in tokens:
        if token == "none":
            continue
        if token == "all":
            names = list(CORRUPTIONS)
        elif token in ("benchmark", "heldout"):
            names = [n for n, c in CORRUPTIONS.items() if c.imagenet_c == token]
        elif token in fams:
            names = fams[token]
        else:
            if token not in CORRUPTIONS:
                raise UsageError(
                    f"Unknown corruption {token!r} in --corruptions. Available groups: "
                    f"{', '.join([*GROUPS, *fams])}; corruptions: {', '.join(sorted(CORRUPTIONS))}."
                )
            names = [token]
        chosen.extend(n for n in names if n not in chosen)
    return chosen


def parse_severities(spec: str | int | Sequence[int]) -> list[int]:
    """Parse ``--severities``: ``"1-5"``, ``"1,3,5"``, ``"2-4,5"``, an int or a list of ints."""
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        return [check_severity(int(spec))]
    if not isinstance(spec, str):
        return sorted({check_severity(s) for s in spec})
    out: set[int] = set()
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            bounds = (int(lo), int(hi)) if sep else (int(part), int(part))
        except ValueError:
            raise UsageError(
                f"--severities should be integers 1-5 as a range or list (e.g. 1-5 or 1,3,5), but got {spec!r}."
            ) from None
        if bounds[0] > bounds[1]:
            raise UsageError(f"--severities range {part!r} is reversed; write it low-high, e.g. 1-5.")
        out.update(check_severity(s) for s in range(bounds[0], bounds[1] + 1))
    if not out:
        raise UsageError(f"--severities should name at least one severity 1-5, but got {spec!r}.")
    return sorted(out)


@dataclass(frozen=True)
class CorruptionInfo:
    """One line of ``robustness list corruptions``."""

    name: str
    family: str
    split: str
    source: str
    parameter: str
    implementation: str

    def to_dict(self) -> dict[str, str]:
        return dict(self.__dict__)


def describe(names: Sequence[str] | None = None) -> list[CorruptionInfo]:
    """Name, family, ImageNet-C split, source, parameter meaning and implementation per corruption."""
    order = [n for family in families().values() for n in family]
    chosen = order if names is None else [get(n).name for n in names]
    return [
        CorruptionInfo(
            name=c.name,
            family=c.family,
            split=c.imagenet_c or "extra",
            source=c.source,
            parameter=c.parameter_doc,
            implementation=c.implementation,
        )
        for c in (get(n) for n in chosen)
    ]


def corrupt_array(
    corruption: Corruption | str,
    images: np.ndarray,
    severity: int,
    indices: Sequence[int] | np.ndarray,
    *,
    seed: int = 0,
) -> np.ndarray:
    """Corrupt a ``N x H x W x C`` batch (uint8, or float in [0, 1]); shape and dtype are kept."""
    if isinstance(corruption, str):
        corruption = get(corruption)
    return corruption.corrupt(np.asarray(images), severity, indices, seed=seed)


def corrupt_batch(
    corruption: Corruption | str,
    images: torch.Tensor,
    severity: int,
    indices: Sequence[int] | np.ndarray,
    *,
    seed: int = 0,
) -> torch.Tensor:
    """Corrupt a batch of ``N x C x H x W`` float images in [0, 1].

    Sample ``i`` is corrupted with the draw of ``(seed, indices[i], name, severity)``, so the
    output for a sample is the same whatever batch it travels in.
    """
    if isinstance(corruption, str):
        corruption = get(corruption)
    severity = check_severity(severity)
    if images.ndim != 4:
        raise UsageError(f"images should be a N x C x H x W batch, but got shape {tuple(images.shape)}.")
    if not images.is_floating_point():
        raise UsageError(f"images should be a float tensor in [0, 1], but got dtype {images.dtype}; divide by 255.")
    if len(indices) != images.shape[0]:
        raise UsageError(f"indices should have one entry per image ({images.shape[0]}), but got {len(indices)}.")
    # layout changes in numpy: a single-threaded copy, several times faster than torch's under load
    array = np.ascontiguousarray(images.detach().to("cpu", torch.float32).numpy().transpose(0, 2, 3, 1))
    check_images(array)
    out = corruption.corrupt_working(array, severity, indices, seed=seed)
    return images_from_nhwc(out).to(images.device, images.dtype)


@dataclass(frozen=True)
class BatchCorrupter:
    """:func:`corrupt_batch` for one corruption cell as a picklable callable (what loader workers run)."""

    name: str
    severity: int
    seed: int = 0

    def __call__(self, images: torch.Tensor, indices: Sequence[int] | np.ndarray) -> torch.Tensor:
        return corrupt_batch(self.name, images, self.severity, indices, seed=self.seed)


@dataclass(frozen=True)
class DeviceCorrupter(BatchCorrupter):
    """The torch implementation of one cell on ``device``: moves the batch there (non-blocking from pinned memory)."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    def __call__(self, images: torch.Tensor, indices: Sequence[int] | np.ndarray) -> torch.Tensor:
        on_device = images.to(self.device, non_blocking=True)
        return corrupt_on_device(get(self.name), on_device, self.severity, indices, seed=self.seed)


def place_cell(
    name: str, severity: int, *, seed: int, device: torch.device
) -> tuple[BatchCorrupter, None] | tuple[None, DeviceCorrupter]:
    """Where a cell's corruption runs: on ``device`` when it is a GPU and the corruption has a torch
    implementation (``(None, on_device)``), else on the CPU loader workers (``(on_workers, None)``)."""
    if device.type == "cuda" and has_device_path(name):
        return None, DeviceCorrupter(name, severity, seed, device)
    return BatchCorrupter(name, severity, seed), None
