"""The paired comparison of runs on the same samples: one analysis for ``robustness compare`` and ``report A B``.

The first run is the baseline. Every difference to it is paired on the same samples
(:mod:`reports.stats`): single cells (clean, each attack and epsilon, each certified
radius) get Newcombe's interval and the exact McNemar test (:func:`cell_difference`); mean
corruption accuracy a paired bootstrap interval and a sign-flip permutation test
(:func:`corruption_difference`); mCE a paired bootstrap. Rankings test every pair and
Holm-adjust. The runs arrive as :class:`RunData` records (``robustness.results.records.load_run``
reads them from the store); nothing here opens the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from reports.stats import (
    Difference,
    bootstrap_difference,
    compare_cell,
    mce_aggregate,
    mean_difference,
    rank_groups,
    sign_flip_test,
)
from robustness.core.enums import WORST_CASE, CellKind, DefenseEval
from robustness.core.errors import UsageError

#: the test behind each kind of difference (the ``test`` column of every comparison table)
CELL_TEST = "newcombe+mcnemar"
AGGREGATE_TEST = "paired bootstrap + sign-flip"


@dataclass
class RunData:
    """A stored run's per-sample outcomes and what the comparison needs to know about it."""

    label: str
    run_id: str
    dataset: str
    seed: int
    sample_ids: np.ndarray
    labels: np.ndarray
    bits: dict[str, np.ndarray]
    cells: pd.DataFrame  # one row per cell: cell, kind, perturbation, severity, epsilon, norm
    defense: dict[str, Any] | None
    certified: dict[str, Any] | None = None
    certified_prediction: np.ndarray | None = None
    certified_radius: np.ndarray | None = None
    naive: RunData | None = None
    #: per-sample output records per cell (robustness.results.outputs), for calibration differences
    outputs: dict[str, np.ndarray] = field(default_factory=dict)

    def certified_bits(self, radius: float) -> np.ndarray:
        assert self.certified_prediction is not None and self.certified_radius is not None
        return (self.certified_prediction == self.labels) & (self.certified_radius >= radius)


def check_comparable(runs: list[RunData]) -> list[str]:
    """Refuse runs on other datasets or samples than the baseline's; return notes on lesser differences."""
    base = runs[0]
    notes = []
    for run in runs[1:] + [r.naive for r in runs if r.naive is not None]:
        if run.dataset != base.dataset:
            raise UsageError(
                f"cannot compare {run.label!r} with the baseline {base.label!r}: {run.label!r} ran on dataset "
                f"{run.dataset!r}, the baseline on {base.dataset!r}; compare runs of one dataset."
            )
        if len(run.sample_ids) != len(base.sample_ids) or not np.array_equal(run.sample_ids, base.sample_ids):
            diff = np.flatnonzero(run.sample_ids[: len(base.sample_ids)] != base.sample_ids[: len(run.sample_ids)])
            where = f", first different sample at position {int(diff[0])}" if len(diff) else ""
            raise UsageError(
                f"cannot compare {run.label!r} with the baseline {base.label!r}: they evaluated different samples "
                f"({len(run.sample_ids)} vs {len(base.sample_ids)}{where}); paired tests need the same samples, so "
                "re-run them with the same --dataset and --n."
            )
        if not np.array_equal(run.labels, base.labels):
            raise UsageError(
                f"cannot compare {run.label!r} with the baseline {base.label!r}: the same samples carry different "
                "labels; re-run both on the same dataset version."
            )
    seeds = sorted({r.seed for r in runs})
    if len(seeds) > 1:
        notes.append(
            f"The runs used different seeds ({', '.join(map(str, seeds))}): corruption draws and attack starts differ "
            "between models, so the pairing is per image only and intervals are somewhat wider than they need be."
        )
    return notes


@dataclass
class Comparison:
    """The comparison's tidy table (one row per model and metric), rankings and notes."""

    table: pd.DataFrame
    rankings: pd.DataFrame
    runs: list[RunData]
    notes: list[str]
    dropped: list[str]
    methods: dict[str, str]
    #: calibration and per-class differences to the baseline (robustness.compare.explain), by frame name
    explain: dict[str, pd.DataFrame] = field(default_factory=dict)


def _cell_meta(runs: list[RunData]) -> tuple[pd.DataFrame, list[str]]:
    """Cells every run has (in the baseline's order) and the cells some lack."""
    common = set(runs[0].bits)
    for run in runs[1:]:
        common &= set(run.bits)
    meta = runs[0].cells[runs[0].cells["cell"].isin(common)].copy()
    union = set().union(*(set(r.bits) for r in runs))
    return meta, sorted(union - common)


def _seen_corruptions(runs: list[RunData]) -> set[str]:
    """Corruptions some model saw something like in training (augmentation defenses declare them)."""
    return {c for run in runs if run.defense for c in run.defense.get("seen_corruptions", ())}


def cell_difference(a: np.ndarray, b: np.ndarray, confidence: float = 0.95) -> Difference:
    """One cell, ``a`` minus ``b`` (right/wrong per sample): Newcombe's interval and the exact McNemar p."""
    return replace(compare_cell(a, b, confidence), method=CELL_TEST)


def corruption_difference(
    stack_a: np.ndarray, stack_b: np.ndarray, *, n_boot: int = 2000, seed: int = 0, confidence: float = 0.95
) -> Difference:
    """Mean accuracy over corruption cells ``[cells, n]``, ``a`` minus ``b``: paired bootstrap interval, sign-flip p.

    The p-value is the sign-flip permutation test of each sample's accuracy over the cells, the
    interval the paired bootstrap's (both resample or flip whole samples, keeping the pairing).
    """
    diff = bootstrap_difference(stack_a, stack_b, mean_difference, n_boot=n_boot, seed=seed, confidence=confidence)
    p = sign_flip_test(np.mean(stack_a, axis=0) - np.mean(stack_b, axis=0), seed=seed)
    return replace(diff, p_value=p, method=AGGREGATE_TEST)


def attack_metric(attack: str, norm: str, epsilon: float) -> str:
    """The comparison table's metric name of an attack cell, e.g. ``apgd_lite_linf linf eps=0.1``."""
    return f"{attack} {norm} eps={epsilon:.4g}"


def _row(metric: str, kind: str, run: RunData, value: float, **extra: Any) -> dict[str, Any]:
    return {
        "metric": metric, "kind": kind, "model": run.label, "run_id": run.run_id, "value": value,
        "diff": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan, "test": "", "significant": False,
        "evaluation": DefenseEval.ADAPTIVE.value if run.naive is not None else "", "reliable": True, **extra,
    }  # fmt: skip


@dataclass
class _Builder:
    """Collects the comparison's rows and the outcomes each ranking is computed from."""

    runs: list[RunData]
    n_boot: int
    confidence: float
    alpha: float
    seed: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    ranked: dict[str, tuple[str, dict[str, np.ndarray]]] = field(default_factory=dict)

    @property
    def base(self) -> RunData:
        return self.runs[0]

    def add(self, row: dict[str, Any], diff: Difference | None = None) -> None:
        if diff is not None:
            row.update(
                diff=diff.estimate, ci_low=diff.ci_low, ci_high=diff.ci_high, p_value=diff.p_value, test=diff.method,
                significant=bool(diff.p_value < self.alpha),
            )  # fmt: skip
        self.rows.append(row)

    def cell(self, metric: str, kind: str, outcome: dict[str, np.ndarray], **extra: Any) -> None:
        """One cell per model, each compared with the baseline's outcome when the baseline has one."""
        reference = outcome.get(self.base.label)
        for run in self.runs:
            if run.label not in outcome:
                continue
            row = _row(metric, kind, run, float(outcome[run.label].mean()), **extra)
            paired = run is not self.base and reference is not None
            self.add(row, cell_difference(outcome[run.label], reference, self.confidence) if paired else None)

    def corruptions(self, cells: list[str], groups: np.ndarray) -> None:
        """Mean corruption accuracy and mCE relative to the baseline, with paired bootstrap intervals."""
        stacks = {r.label: np.stack([r.bits[c] for c in cells]) for r in self.runs}
        fraction = {k: v.mean(0) for k, v in stacks.items()}
        base = stacks[self.base.label]
        options = {"n_boot": self.n_boot, "seed": self.seed, "confidence": self.confidence}
        for run in self.runs:
            mean_row = _row("mean corruption accuracy", CellKind.CORRUPTION.value, run, float(stacks[run.label].mean()))
            mce_row = _row("mCE", "mce", run, 100.0)
            if run is self.base:
                self.add(mean_row)
                self.add(mce_row)
                continue
            self.add(mean_row, corruption_difference(stacks[run.label], base, **options))
            mce = bootstrap_difference(stacks[run.label], base, mce_aggregate(groups), null=100.0, **options)
            mce_row["value"] = mce.estimate
            shifted = replace(mce, estimate=mce.estimate - 100, ci_low=mce.ci_low - 100, ci_high=mce.ci_high - 100)
            self.add(mce_row, shifted)
        self.ranked["mean corruption accuracy"] = ("sign_flip", fraction)

    def robust(self, run: RunData, cell: str) -> np.ndarray:
        """Per-sample robustness on an attack cell: for a transform, fooled by neither its adaptive nor naive attack.

        Both attacks' successes are verified on the true defended model, so a sample either of
        them fools is fooled; the naive attack alone overestimates, but it can find what BPDA misses.
        """
        bits = run.bits[cell]
        if run.naive is not None and cell in run.naive.bits:
            bits = bits & run.naive.bits[cell]
        return bits

    def attacks(self, meta: pd.DataFrame) -> None:
        """Robust accuracy per attack and epsilon; transforms' naive numbers as flagged contrast rows."""
        for item in meta.itertuples(index=False):
            metric = attack_metric(item.perturbation, item.norm, item.epsilon)
            extra = {"norm": item.norm, "epsilon": item.epsilon, "attack": item.perturbation}
            self.cell(metric, CellKind.ATTACK.value, {r.label: self.robust(r, item.cell) for r in self.runs}, **extra)
            for run in self.runs:
                if run.naive is None or item.cell not in run.naive.bits:
                    continue
                naive = run.naive.bits[item.cell]
                row = _row(metric, CellKind.ATTACK.value, run.naive, float(naive.mean()), **extra)
                row.update(model=f"{run.label} (naive)", evaluation=DefenseEval.NAIVE.value, reliable=False)
                self.add(row, cell_difference(naive, self.robust(run, item.cell), self.confidence))
        for _, cells in meta.groupby("norm", sort=False):
            worst = cells[cells["perturbation"] == WORST_CASE]
            self.rank_cells(worst if len(worst) else cells)

    def rank_cells(self, meta: pd.DataFrame) -> None:
        """Rank the models on each of these cells."""
        for item in meta.itertuples(index=False):
            outcome = {r.label: self.robust(r, item.cell) for r in self.runs}
            self.ranked[attack_metric(item.perturbation, item.norm, item.epsilon)] = ("mcnemar", outcome)

    def certified(self) -> None:
        """Certified accuracy per L2 radius and the abstain rate of models that certify."""
        certifying = [r for r in self.runs if r.certified is not None]
        radii = sorted(set().union(*(r.certified["radii"] for r in certifying))) if certifying else []
        for radius in radii:
            metric = f"certified L2 r={radius:.4g}"
            outcome = {r.label: r.certified_bits(radius) for r in certifying}
            self.cell(metric, "certified", outcome, norm="l2", epsilon=radius)
            if len(outcome) > 1:
                self.ranked[metric] = ("mcnemar", outcome)
        for run in certifying:
            self.add(_row("abstain rate", "abstain", run, float(run.certified["abstain_rate"])))

    def rankings(self) -> pd.DataFrame:
        frames = []
        for metric, (test, outcome) in self.ranked.items():
            frame = rank_groups(outcome, test=test, alpha=self.alpha, seed=self.seed)
            frame.insert(0, "metric", metric)
            frames.append(frame)
        if not frames:
            return pd.DataFrame(columns=["metric", "model", "value", "rank", "group"])
        return pd.concat(frames, ignore_index=True)


def analyze(
    runs: list[RunData], *, n_boot: int = 2000, confidence: float = 0.95, alpha: float = 0.05, seed: int = 0
) -> Comparison:
    """Compare ``runs`` (the first is the baseline) cell by cell on their paired samples."""
    notes = check_comparable(runs)
    meta, dropped = _cell_meta(runs)
    corr = meta[meta["kind"] == CellKind.CORRUPTION]
    seen = sorted(_seen_corruptions(runs) & set(corr["perturbation"]))
    if seen:
        notes.append(
            f"augmentation training used operations that resemble {', '.join(seen)}; these corruptions are left out "
            "of mean corruption accuracy and mCE for every model, so the aggregate stays a held-out measure."
        )
        corr = corr[~corr["perturbation"].isin(seen)]
    attacks = meta[meta["kind"] == CellKind.ATTACK].assign(_worst=lambda d: d["perturbation"].eq(WORST_CASE))
    alone = [
        norm for norm, cells in attacks.groupby("norm") if cells.loc[~cells["_worst"], "perturbation"].nunique() == 1
    ]
    attacks = attacks[~(attacks["_worst"] & attacks["norm"].isin(alone))]  # the worst case of one attack is that attack
    attacks = attacks.sort_values(["norm", "_worst", "perturbation", "epsilon"])
    build = _Builder(runs, n_boot=n_boot, confidence=confidence, alpha=alpha, seed=seed)
    clean = {r.label: r.bits[CellKind.CLEAN.value] for r in runs}
    build.cell("clean accuracy", CellKind.CLEAN.value, clean)
    build.ranked["clean accuracy"] = ("mcnemar", clean)
    if len(corr):
        build.corruptions(corr["cell"].tolist(), pd.factorize(corr["perturbation"])[0])
        flawless = [name for name, cells in corr.groupby("perturbation") if all(runs[0].bits[c].all() for c in cells["cell"])]
        if flawless:
            notes.append(
                f"mCE leaves out {', '.join(sorted(flawless))}: the baseline {runs[0].label!r} made no error there, so "
                "a corruption error relative to it is undefined; mean corruption accuracy includes them."
            )
    build.attacks(attacks)
    build.certified()
    table = pd.DataFrame(build.rows)
    rankings = build.rankings()
    if len(rankings):
        table = table.merge(rankings[["metric", "model", "rank", "group"]], on=["metric", "model"], how="left")
    return Comparison(table, rankings, runs, notes, dropped, methods(n_boot=n_boot, alpha=alpha))


def methods(*, n_boot: int, alpha: float) -> dict[str, str]:
    """How each number of the comparison was tested, for the report."""
    return {
        "single cells": (
            "difference of paired accuracies with Newcombe's hybrid score interval; exact McNemar test on the "
            "discordant samples"
        ),
        "mean corruption accuracy": (
            f"paired bootstrap over samples ({n_boot} replicates, percentile interval); paired sign-flip "
            "permutation test on each sample's accuracy over the corruption cells"
        ),
        "mCE": (
            "mean over the grid's corruptions of the model's errors summed over severities divided by the "
            f"baseline's (100 = as good); paired bootstrap interval and p-value ({n_boot} replicates)"
        ),
        "significance in the differences table": (
            f"each difference's own test at alpha={alpha}, not adjusted for the many cells compared; the ranking "
            "letters are the Holm-adjusted reading across models"
        ),
        "ranking": (
            "pairwise exact McNemar (sign-flip for mean corruption accuracy), Holm-adjusted over all pairs; models "
            f"sharing a letter are not significantly different at alpha={alpha}"
        ),
        "transforms": (
            "a sample counts as robust when neither the adaptive attack (BPDA/EOT) nor the naive one (autograd's "
            "own gradient through the transform) fools it, both verified on the defended model; the naive number "
            "alone is shown only as a flagged contrast"
        ),
    }
