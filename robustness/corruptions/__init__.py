"""Corruptions: registry, selection and batch application.

Importing this package registers every corruption family module.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import numpy as np
import torch

from robustness.corruptions.base import (
    CORRUPTIONS,
    SEVERITIES,
    Corruption,
    check_severity,
    sample_rng,
    to_working,
)
from robustness.errors import UsageError

FAMILY_MODULES = ("lighting", "geometric", "occlusion", "noise", "blur", "weather", "digital")

for _module in FAMILY_MODULES:
    try:
        importlib.import_module(f"robustness.corruptions.{_module}")
    except ModuleNotFoundError as err:  # a family module not written yet
        if err.name != f"robustness.corruptions.{_module}":
            raise

__all__ = [
    "CORRUPTIONS",
    "SEVERITIES",
    "Corruption",
    "check_severity",
    "corrupt_batch",
    "families",
    "get",
    "sample_rng",
    "select",
    "to_working",
]


def get(name: str) -> Corruption:
    return CORRUPTIONS.get(name)


def families() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, corruption in CORRUPTIONS.items():
        out.setdefault(corruption.family, []).append(name)
    return out


def select(spec: str | Sequence[str]) -> list[str]:
    """Resolve ``all``, ``benchmark``, ``heldout``, ``none``, a family name or corruption names.

    >>> select("rotation")
    ['rotation']
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
                groups = ["all", "benchmark", "heldout", "none", *sorted(fams)]
                raise UsageError(
                    f"Unknown corruption {token!r}. Available groups: {', '.join(groups)}; "
                    f"corruptions: {', '.join(sorted(CORRUPTIONS))}."
                )
            names = [token]
        chosen.extend(n for n in names if n not in chosen)
    return chosen


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
    if len(indices) != images.shape[0]:
        raise UsageError(f"indices should have one entry per image ({images.shape[0]}), but got {len(indices)}.")
    array = images.detach().to("cpu", torch.float32).permute(0, 2, 3, 1).numpy()
    out = np.empty_like(array)
    for i, (image, index) in enumerate(zip(array, indices)):
        out[i] = corruption(image, severity, seed=seed, index=int(index))
    return torch.from_numpy(out).permute(0, 3, 1, 2).to(images.device, images.dtype)
