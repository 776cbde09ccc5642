"""Closed vocabularies shared across layers. Public functions accept ``str | Enum``; members compare equal to
their string values (``StrEnum``-style), so stored records and CSVs keep plain strings."""

from __future__ import annotations

from enum import Enum


class _Str(str, Enum):
    def __str__(self) -> str:
        return str(self.value)


class CellKind(_Str):
    """What a cell measures: the clean images, one corruption at one severity, or one attack at one budget."""

    CLEAN = "clean"
    CORRUPTION = "corruption"
    ATTACK = "attack"


#: the perturbation name of the per-example worst case over a norm's attacks (an ``attack`` cell)
WORST_CASE = "worst_case"

#: corruption families in report order: ImageNet-C's benchmark families in the paper's order, then the suite's
CORRUPTION_FAMILIES: tuple[str, ...] = ("noise", "blur", "weather", "digital", "lighting", "geometric", "occlusion")


class Backend(_Str):
    """Where an audit's cells run."""

    LOCAL = "local"
    RAY = "ray"


class DefenseEval(_Str):
    """How attacks see an input-transformation defense: adaptive (BPDA/EOT) or naive (a flagged contrast)."""

    ADAPTIVE = "adaptive"
    NAIVE = "naive"
