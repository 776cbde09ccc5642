"""Calibration (ECE) and per-class accuracy differences between compared runs, with paired intervals.

The statistics live in :mod:`reports.explain_compare`; this module picks the pools from the
runs' shared cells and the baseline's worst corruption family.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from reports.explain_compare import calibration_differences, comparison_pools, per_class_differences

if TYPE_CHECKING:
    from reports.comparison import RunData


def explain_differences(runs: list[RunData], *, confidence: float = 0.95, seed: int = 0) -> dict[str, pd.DataFrame]:
    """``{"calibration": ..., "per_class": ...}`` over the cells every run has; the first run is the baseline."""
    shared = set.intersection(*(set(r.bits) for r in runs))
    cells = runs[0].cells[runs[0].cells["cell"].isin(shared)]
    corr = cells[cells["kind"] == "corruption"]
    worst = None
    if len(corr):
        accuracy = {c: float(runs[0].bits[c].mean()) for c in corr["cell"]}
        worst = str(corr.assign(acc=corr["cell"].map(accuracy)).groupby("family")["acc"].mean().idxmin())
    pools = comparison_pools(cells, worst)
    labels = runs[0].labels
    options: dict[str, Any] = {"confidence": confidence, "seed": seed}
    return {
        "calibration": calibration_differences(labels, {r.label: r.outputs for r in runs}, pools, **options),
        "per_class": per_class_differences(labels, {r.label: r.bits for r in runs}, pools, **options),
    }


__all__ = ["explain_differences"]
