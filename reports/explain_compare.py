"""Calibration and per-class differences between compared runs, with paired bootstrap intervals.

The runs share their test samples, so each bootstrap replicate draws one multiset of samples and
scores every run on it: the difference to the baseline (the first run) is paired. A pool is a
set of cells scored together (``clean``, every corruption cell, the worst family's cells, a
worst-case attack budget); a sample's records in all of a pool's cells travel together.
Everything is vectorised: replicate weights ``[B, N]`` times per-sample sums ``[N, bins]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from reports.calibration import N_BINS
from reports.markdown import make_table

N_BOOT = 1000


def _weights(n: int, n_boot: int, seed: int) -> np.ndarray:
    """``[1 + n_boot, n]`` sample multiplicities: the observed sample, then the bootstrap replicates."""
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot) if n else np.zeros((n_boot, 0))
    return np.vstack([np.ones((1, n)), draws]).astype(np.float64)


def _bin_sums(records: Sequence[np.ndarray], labels: np.ndarray, n_bins: int) -> np.ndarray:
    """Per sample and bin, summed over the pool's cells: ``[3, N, bins + 1]`` (count, confidence, correct)."""
    n = len(labels)
    sums = np.zeros((3, n, n_bins + 1))
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    rows = np.arange(n)
    for rec in records:
        conf = rec["confidence"].astype(np.float64)
        index = np.searchsorted(edges, conf, side="right") - 1
        np.add.at(sums[0], (rows, index), 1.0)
        np.add.at(sums[1], (rows, index), conf)
        np.add.at(sums[2], (rows, index), (rec["prediction"] == labels).astype(np.float64))
    return sums


def _ece(weights: np.ndarray, sums: np.ndarray) -> np.ndarray:
    count, conf, acc = (weights @ s for s in sums)  # [B, bins]
    return np.abs(acc - conf).sum(axis=1) / np.maximum(count.sum(axis=1), 1e-12)


def _interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def calibration_differences(
    labels: np.ndarray,
    outputs: Mapping[str, Mapping[str, np.ndarray]],
    pools: Mapping[str, Sequence[str]],
    *,
    n_bins: int = N_BINS,
    n_boot: int = N_BOOT,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Per pool and run: ECE with its bootstrap interval, and its paired difference to the first run.

    ``outputs`` maps run label -> cell -> output records; a pool is left out for every run
    when one of them lacks records of its cells.
    """
    runs = list(outputs)
    weights = _weights(len(labels), n_boot, seed)
    rows = []
    for pool, cells in pools.items():
        if not cells or any(c not in outputs[r] for r in runs for c in cells):
            continue
        eces = {r: _ece(weights, _bin_sums([outputs[r][c] for c in cells], labels, n_bins)) for r in runs}
        base = eces[runs[0]]
        for r in runs:
            diff = eces[r] - base
            rows.append({"pool": pool, "run": r, "ece": eces[r][0], **dict(zip(("ci_low", "ci_high"),
                         _interval(eces[r][1:], confidence))), "difference": diff[0],
                         **dict(zip(("diff_low", "diff_high"), _interval(diff[1:], confidence))), "bins": n_bins})  # fmt: skip
    return pd.DataFrame(rows)


def per_class_differences(
    labels: np.ndarray,
    bits: Mapping[str, Mapping[str, np.ndarray]],
    pools: Mapping[str, Sequence[str]],
    class_names: Sequence[str] = (),
    *,
    n_boot: int = N_BOOT,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Per pool, class and run: accuracy and the paired difference to the first run, with bootstrap intervals.

    A sample's score in a pool is its accuracy over the pool's cells; replicates resample all
    samples (a class's size varies between replicates, as it would in a new test set).
    """
    runs = list(bits)
    labels = np.asarray(labels, dtype=np.int64)
    weights = _weights(len(labels), n_boot, seed)
    rows = []
    for pool, cells in pools.items():
        if not cells or any(c not in bits[r] for r in runs for c in cells):
            continue
        score = {r: np.mean([np.asarray(bits[r][c], dtype=np.float64) for c in cells], axis=0) for r in runs}
        for c in np.unique(labels):
            w = weights[:, labels == c]
            total = np.maximum(w.sum(axis=1), 1e-12)
            acc = {r: w @ score[r][labels == c] / total for r in runs}
            for r in runs:
                diff = acc[r] - acc[runs[0]]
                name = str(class_names[c]) if c < len(class_names) else str(c)
                rows.append({"pool": pool, "class": int(c), "class_name": name, "run": r, "accuracy": acc[r][0],
                             "difference": diff[0], **dict(zip(("diff_low", "diff_high"),
                             _interval(diff[1:], confidence)))})  # fmt: skip
    return pd.DataFrame(rows)


def comparison_pools(cells: pd.DataFrame, worst_family: str | None) -> dict[str, list[str]]:
    """The pools of a comparison from the cells every run has (``cell``, ``kind``, ``family``, ``perturbation``, ...)."""
    pools = {"clean": ["clean"]}
    corr = cells[cells["kind"] == "corruption"]
    if len(corr):
        pools["corruptions (all cells)"] = list(corr["cell"])
    if worst_family is not None and (corr["family"] == worst_family).any():
        pools[f"{worst_family} (worst family)"] = list(corr.loc[corr["family"] == worst_family, "cell"])
    wc = cells[(cells["kind"] == "attack") & (cells["perturbation"] == "worst_case")]
    for norm, g in wc.groupby("norm"):
        g = g.sort_values("epsilon")
        mid = g.iloc[(len(g) - 1) // 2]
        pools[f"{norm} worst case ε {float(mid['epsilon']):.4g}"] = [str(mid["cell"])]
    return pools


def _pts(value: float) -> str:
    return f"{100 * value:+.1f}"


def comparison_lines(calibration: pd.DataFrame, per_class: pd.DataFrame, *, top: int = 8) -> list[str]:
    """Markdown: ECE per pool and run with intervals; the per-class differences whose interval excludes 0."""
    lines: list[str] = []
    if len(calibration):
        bins = int(calibration["bins"].iloc[0])
        rows = [
            [r["pool"], r["run"], f"{100 * r['ece']:.1f}% ({100 * r['ci_low']:.1f}–{100 * r['ci_high']:.1f})",
             f"{_pts(r['difference'])} ({_pts(r['diff_low'])} to {_pts(r['diff_high'])})"]  # fmt: skip
            for _, r in calibration.iterrows()
        ]
        lines += ["## Calibration", "", f"Expected calibration error ({bins} bins) with 95% paired bootstrap intervals; "
                  "difference to the baseline in points (lower ECE is better calibrated).", "",
                  make_table(["samples", "model", "ECE (95% CI)", "difference (95% CI)"], rows, align="llrr"), ""]  # fmt: skip
    if len(per_class):
        diffs = per_class[per_class["difference"].ne(0) | per_class["diff_low"].ne(0)]
        clear = diffs[(diffs["diff_low"] > 0) | (diffs["diff_high"] < 0)]
        shown = clear.reindex(clear["difference"].abs().sort_values(ascending=False).index).head(top)
        lines += ["## Per-class differences", ""]
        if shown.empty:
            lines += ["No class's accuracy differs from the baseline's with a 95% paired bootstrap interval excluding 0.", ""]
        else:
            rows = [[r["pool"], r["class_name"], r["run"], f"{100 * r['accuracy']:.1f}%",
                     f"{_pts(r['difference'])} ({_pts(r['diff_low'])} to {_pts(r['diff_high'])})"]  # fmt: skip
                    for _, r in shown.iterrows()]
            lines += [f"Classes whose accuracy differs from the baseline's (95% paired bootstrap interval excluding 0; "
                      f"largest {top} shown, all in per_class_differences.csv):", "",
                      make_table(["samples", "class", "model", "accuracy", "difference (points, 95% CI)"], rows,
                                 align="lllrr"), ""]  # fmt: skip
    return lines


__all__ = ["calibration_differences", "comparison_lines", "comparison_pools", "per_class_differences"]
