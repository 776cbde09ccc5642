"""Corruption metrics of Hendrycks & Dietterich (2019): accuracy, CE, mCE, relative mCE.

Pure functions on a tidy results table (numpy and pandas only) with one row per corruption
and severity plus one clean row, columns ``kind`` ('clean' / 'corruption'; other kinds are
ignored), ``perturbation``, ``family``, ``severity`` and ``accuracy``.

With ``E(s, c)`` the error (1 - accuracy) on corruption ``c`` at severity ``s``:

* corruption error ``CE_c = sum_s E(s, c) / sum_s E_base(s, c)``,
* ``mCE`` the mean CE over the 15 ImageNet-C benchmark corruptions (in %),
* relative ``CE_c = sum_s (E(s, c) - E_clean) / sum_s (E_base(s, c) - E_base_clean)``,
* unnormalized mCE: the mean error over the 15 benchmark corruptions, no baseline (in %).

The baseline is AlexNet's published ImageNet-C errors or another model's run:

>>> rows = [{"kind": "clean", "perturbation": "clean", "family": "clean", "severity": None,
...          "accuracy": 1 - ALEXNET_CLEAN_ERROR}]
>>> rows += [{"kind": "corruption", "perturbation": c, "family": "x", "severity": s, "accuracy": 1 - e}
...          for c, e in ALEXNET_ERRORS.items() for s in range(1, 6)]
>>> round(mce(pd.DataFrame(rows)), 6), round(relative_mce(pd.DataFrame(rows)), 6)
(100.0, 100.0)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from robustness.core.enums import CellKind
from robustness.core.errors import UsageError

#: AlexNet's mean error per ImageNet-C benchmark corruption (Hendrycks & Dietterich 2019)
ALEXNET_ERRORS: Mapping[str, float] = {
    "gaussian_noise": 0.886428,
    "shot_noise": 0.894468,
    "impulse_noise": 0.922640,
    "defocus_blur": 0.819880,
    "glass_blur": 0.826268,
    "motion_blur": 0.785948,
    "zoom_blur": 0.798360,
    "snow": 0.866816,
    "frost": 0.826572,
    "fog": 0.819324,
    "brightness": 0.564592,
    "contrast": 0.853204,
    "elastic_transform": 0.646056,
    "pixelate": 0.717840,
    "jpeg_compression": 0.606500,
}
#: AlexNet's clean ImageNet top-1 error
ALEXNET_CLEAN_ERROR = 0.4345
BENCHMARK_CORRUPTIONS: tuple[str, ...] = tuple(ALEXNET_ERRORS)
REQUIRED_COLUMNS = ("kind", "perturbation", "family", "severity", "accuracy")
#: the severities the published per-corruption errors average over
SEVERITIES = (1, 2, 3, 4, 5)
#: images whose longer side is at most this use CIFAR-10-C's severity tables, larger ones ImageNet-C's
#: (robustness.corruptions picks its tables by it); AlexNet's ImageNet-C errors only normalise the latter
SMALL_IMAGE_MAX_SIDE = 64


def _percent(numerator: float, denominator: float) -> float:
    """``100 * numerator / denominator``, NaN where the denominator is 0 or NaN (no ratio to report)."""
    return 100.0 * numerator / denominator if denominator and np.isfinite(denominator) else np.nan


@dataclass(frozen=True)
class Baseline:
    """Errors a model's corruption errors are normalised by.

    ``errors`` maps corruption -> mean error over severities, or corruption -> {severity:
    error} when the baseline was measured per severity (a stored run).
    """

    name: str
    clean_error: float
    errors: Mapping[str, float | Mapping[int, float]] = field(default_factory=dict)

    @classmethod
    def alexnet(cls) -> Baseline:
        """The published AlexNet ImageNet-C errors (mean per corruption)."""
        return cls(name="AlexNet (ImageNet-C, published)", clean_error=ALEXNET_CLEAN_ERROR, errors=dict(ALEXNET_ERRORS))

    @classmethod
    def none(cls, reason: str) -> Baseline:
        """No baseline: CE, mCE and relative mCE are not computed, and ``reason`` says why."""
        return cls(name=reason, clean_error=0.0, errors={})

    @classmethod
    def from_results(cls, results: pd.DataFrame, *, name: str = "baseline run") -> Baseline:
        """A baseline from another model's tidy results (same layout as the metrics' input)."""
        table = _corruption_rows(results)
        errors: dict[str, dict[int, float]] = {}
        for row in table.itertuples(index=False):
            errors.setdefault(str(row.perturbation), {})[int(row.severity)] = 1.0 - float(row.accuracy)
        return cls(name=name, clean_error=_clean_error(results), errors=errors)

    def mean_error(self, corruption: str, severities: list[int]) -> float:
        """Baseline error of ``corruption`` averaged over ``severities``."""
        entry = self.errors[corruption]
        if isinstance(entry, Mapping):
            missing = [s for s in severities if s not in entry]
            if missing:
                raise UsageError(
                    f"baseline {self.name!r} has no {corruption} result at severities {missing}; "
                    "evaluate the baseline on the same severities."
                )
            return float(np.mean([entry[s] for s in severities]))
        if sorted(severities) != list(SEVERITIES):
            raise UsageError(
                f"{self.name} gives {corruption}'s error averaged over severities 1-5, but the run has "
                f"severities {sorted(severities)}; evaluate all five for a CE against it."
            )
        return float(entry)


BaselineSpec = Baseline | pd.DataFrame | None


def _check(results: pd.DataFrame) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in results.columns]
    if missing:
        raise UsageError(
            f"results should have columns {', '.join(REQUIRED_COLUMNS)}, but {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} missing; pass the tidy results table."
        )


def _corruption_rows(results: pd.DataFrame) -> pd.DataFrame:
    _check(results)
    rows = results[results["kind"] == CellKind.CORRUPTION]
    if rows.empty:
        raise UsageError("results have no corruption rows (kind == 'corruption'); run with --corruptions all.")
    return rows


def _clean_error(results: pd.DataFrame) -> float:
    _check(results)
    clean = results[results["kind"] == CellKind.CLEAN]
    if clean.empty:
        raise UsageError("results have no clean row (kind == 'clean'); relative metrics need the clean accuracy.")
    return 1.0 - float(clean["accuracy"].mean())


def _baseline(baseline: BaselineSpec) -> Baseline:
    if baseline is None:
        return Baseline.alexnet()
    if isinstance(baseline, pd.DataFrame):
        return Baseline.from_results(baseline)
    return baseline


def corruption_accuracy(results: pd.DataFrame) -> float:
    """Mean accuracy over every corruption and severity in ``results``."""
    return float(_corruption_rows(results)["accuracy"].mean())


def accuracy_table(results: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per corruption (rows, first-seen order) and severity (columns), plus their mean."""
    rows = _corruption_rows(results)
    table = rows.pivot_table(index="perturbation", columns="severity", values="accuracy", aggfunc="mean", sort=False)
    table.columns = [int(c) for c in table.columns]
    table["mean"] = table.mean(axis=1)
    return table


def family_accuracy(results: pd.DataFrame) -> pd.DataFrame:
    """Mean accuracy per family (over its corruptions and severities), with the number of cells."""
    rows = _corruption_rows(results)
    grouped = rows.groupby("family", sort=False)["accuracy"]
    return pd.DataFrame({"accuracy": grouped.mean(), "cells": grouped.size()}).reset_index()


def corruption_errors(results: pd.DataFrame, baseline: BaselineSpec = None) -> pd.DataFrame:
    """Per corruption: mean error, CE and relative CE against ``baseline`` (AlexNet by default).

    Columns: ``perturbation``, ``family``, ``severities``, ``error``, ``baseline_error``,
    ``ce``, ``relative_ce`` (CE in %; NaN where the baseline has no such corruption) and
    ``benchmark`` (one of ImageNet-C's 15 benchmark corruptions).
    """
    rows = _corruption_rows(results)
    base = _baseline(baseline)
    clean_error = _clean_error(results) if (results["kind"] == CellKind.CLEAN).any() else np.nan
    out = []
    for name, group in rows.groupby("perturbation", sort=False):
        severities = sorted(int(s) for s in group["severity"])
        error = float(1.0 - group["accuracy"].mean())
        try:
            base_error = base.mean_error(str(name), severities) if name in base.errors else np.nan
        except UsageError:  # the baseline cannot match this run's severities: no CE rather than a wrong one
            base_error = np.nan
        ce = _percent(error, base_error)
        relative = _percent(error - clean_error, base_error - base.clean_error)
        out.append(
            {
                "perturbation": name,
                "family": group["family"].iloc[0],
                "severities": len(severities),
                "error": error,
                "baseline_error": base_error,
                "ce": ce,
                "relative_ce": relative,
                "benchmark": name in BENCHMARK_CORRUPTIONS,
            }
        )
    return pd.DataFrame(out)


def _benchmark_ces(results: pd.DataFrame, baseline: BaselineSpec, column: str) -> pd.Series:
    table = corruption_errors(results, baseline).set_index("perturbation")
    missing = [c for c in BENCHMARK_CORRUPTIONS if c not in table.index or np.isnan(table.at[c, column])]
    if missing:
        raise UsageError(
            f"mCE needs all 15 ImageNet-C benchmark corruptions in the results and the baseline, at the "
            f"baseline's severities, but {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing; "
            "run with --corruptions benchmark (or all) and --severities 1-5."
        )
    return table.loc[list(BENCHMARK_CORRUPTIONS), column]


def mce(results: pd.DataFrame, baseline: BaselineSpec = None) -> float:
    """Mean corruption error (%) over the 15 benchmark corruptions, normalised by ``baseline``."""
    return float(_benchmark_ces(results, baseline, "ce").mean())


def relative_mce(results: pd.DataFrame, baseline: BaselineSpec = None) -> float:
    """Relative mCE (%): errors minus clean error, normalised likewise by the baseline's."""
    _clean_error(results)
    return float(_benchmark_ces(results, baseline, "relative_ce").mean())


def unnormalized_mce(results: pd.DataFrame) -> float:
    """Mean error (%) over the 15 benchmark corruptions with no baseline: not comparable to mCE."""
    table = corruption_errors(results, Baseline(name="none", clean_error=0.0)).set_index("perturbation")
    missing = [c for c in BENCHMARK_CORRUPTIONS if c not in table.index]
    if missing:
        raise UsageError(
            f"unnormalized mCE needs all 15 ImageNet-C benchmark corruptions, but {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} missing; run with --corruptions benchmark (or all)."
        )
    return float(100.0 * table.loc[list(BENCHMARK_CORRUPTIONS), "error"].mean())


def summary(results: pd.DataFrame, baseline: BaselineSpec = None) -> pd.DataFrame:
    """The headline numbers as a tidy ``metric, value, note`` table (NaN where not computable)."""
    base = _baseline(baseline)
    items: list[tuple[str, float, str]] = [
        ("clean accuracy", 1.0 - _clean_error(results) if (results["kind"] == CellKind.CLEAN).any() else np.nan, ""),
        ("corruption accuracy", corruption_accuracy(results), "mean over corruptions and severities"),
    ]
    for label, fn in (("mCE", mce), ("relative mCE", relative_mce)):
        if not base.errors:
            items.append((label, np.nan, base.name))
            continue
        try:
            value, note = fn(results, base), f"%, normalised by {base.name}"
        except UsageError as err:
            value, note = np.nan, str(err)
        items.append((label, value, note))
    try:
        items.append(("unnormalized mCE", unnormalized_mce(results), "%, mean benchmark error, NOT normalised"))
    except UsageError as err:
        items.append(("unnormalized mCE", np.nan, str(err)))
    return pd.DataFrame(items, columns=["metric", "value", "note"])
