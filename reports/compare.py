"""Compare runs (models, defenses) on the same grid: intervals, paired tests, effective robustness.

Every function takes :class:`~reports.model.RunSummary` records; the first run is the
reference of the paired tests. Paired tests need the same test samples in the same order
(``sample_ids``); otherwise the p-value is left empty.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from reports.model import RunSummary
from reports.stats import expit, logit, logit_fit, mcnemar_p, mean_interval, sign_flip_test
from robustness.core.enums import WORST_CASE, CellKind

CORRUPTION_METRIC = "corruptions (mean)"
#: what a reader must know about the fit behind effective robustness here
EFFECTIVE_ROBUSTNESS_CAVEAT = (
    "The line is fitted through the runs compared here (Taori et al. fit it on many standard models), so a "
    "residual says how a run departs from these runs' trend, not from a reference line; with few runs the fit "
    "absorbs part of any effect."
)
#: effective robustness needs a baseline fit through at least this many runs
MIN_FIT_RUNS = 3


def worst_case_metric(norm: str, epsilon: float) -> str:
    return f"worst case {norm} eps {epsilon:.4g}"


def shared_epsilons(runs: Sequence[RunSummary]) -> dict[str, float]:
    """Per norm, the middle budget among those every run evaluated the worst case at."""
    out: dict[str, float] = {}
    per_run = []
    for run in runs:
        wc = run.results[(run.results["kind"] == CellKind.ATTACK.value) & (run.results["perturbation"] == WORST_CASE)]
        per_run.append({norm: set(g["epsilon"].round(9)) for norm, g in wc.groupby("norm")})
    if not per_run:
        return out
    for norm in sorted(set.intersection(*(set(p) for p in per_run)), key=lambda x: (x != "linf", x)):
        common = sorted(set.intersection(*(p[norm] for p in per_run)))
        if common:
            out[norm] = float(common[(len(common) - 1) // 2])
    return out


def _cell_row(results: pd.DataFrame, **match: object) -> pd.Series | None:
    mask = np.ones(len(results), dtype=bool)
    for key, value in match.items():
        column = results[key]
        mask &= (
            np.isclose(column.astype(float), float(value)) if isinstance(value, float) else (column == value).to_numpy()
        )
    rows = results[mask]
    return rows.iloc[0] if len(rows) else None


def _paired(runs: Sequence[RunSummary], i: int) -> bool:
    a, b = runs[0].sample_ids, runs[i].sample_ids
    return i > 0 and a is not None and b is not None and len(a) == len(b) and bool(np.array_equal(a, b))


def common_corruption_cells(runs: Sequence[RunSummary]) -> list[str]:
    """The corruption cells every run evaluated: a mean corruption accuracy compares like with like."""
    cells = [set(r.results.loc[r.results["kind"] == CellKind.CORRUPTION.value, "cell"]) for r in runs if "cell" in r.results]
    return sorted(set.intersection(*cells)) if cells and len(cells) == len(runs) else []


def corruption_sample_accuracy(run: RunSummary, cells: Sequence[str]) -> np.ndarray | None:
    """Each sample's accuracy over ``cells`` (``None`` without the per-sample bits of every one)."""
    if not cells or any(c not in run.bits for c in cells):
        return None
    return np.mean([run.bits[c] for c in cells], axis=0)


def _single_cell(
    runs: Sequence[RunSummary], i: int, key: str, cell: pd.Series, metric: str, paired: bool
) -> dict[str, object]:
    """One cell of run ``i`` as a comparison row: its Wilson interval and McNemar p against run 0."""
    has_bits = key in runs[i].bits and key in runs[0].bits
    p = mcnemar_p(runs[0].bits[key], runs[i].bits[key]) if paired and has_bits else np.nan
    return {
        "metric": metric, "accuracy": cell["accuracy"], "ci_low": cell["ci_low"], "ci_high": cell["ci_high"],
        "n": int(cell["n"]), "p_value": p, "test": "McNemar" if i else "",
    }  # fmt: skip


def comparison_table(runs: Sequence[RunSummary]) -> pd.DataFrame:
    """Long table: one row per (run, metric) with accuracy, 95% interval, n and a paired p-value vs run 1.

    Metrics: clean accuracy (Wilson interval, McNemar test), mean accuracy over the corruption
    cells every run evaluated (Student's t interval over samples, paired sign-flip test), and the
    per-example worst case over the attack suite at each norm's shared middle budget.
    """
    rows: list[dict[str, object]] = []
    common = common_corruption_cells(runs)
    budgets = shared_epsilons(runs)
    for i, run in enumerate(runs):
        base = {"run_id": run.run_id, "label": run.label}
        paired = _paired(runs, i)
        clean = _cell_row(run.results, kind=CellKind.CLEAN.value)
        if clean is not None:
            key = str(clean.get("cell", CellKind.CLEAN.value))
            rows.append({**base, **_single_cell(runs, i, key, clean, "clean", paired)})
        if common:
            corr = run.results[run.results["cell"].isin(common)]
            per_sample = corruption_sample_accuracy(run, common)
            if per_sample is not None:
                mean, lo, hi = mean_interval(per_sample)
            else:  # no per-sample bits: the mean alone (pooling cells as independent would overstate precision)
                mean, lo, hi = float(corr["accuracy"].mean()), np.nan, np.nan
            ref = corruption_sample_accuracy(runs[0], common)
            p = sign_flip_test(per_sample - ref) if paired and ref is not None and per_sample is not None else np.nan
            rows.append(
                {
                    **base,
                    "metric": CORRUPTION_METRIC,
                    "accuracy": mean,
                    "ci_low": lo,
                    "ci_high": hi,
                    "n": int(corr["n"].iloc[0]),
                    "p_value": p,
                    "test": "sign-flip" if i else "",
                }
            )
        for norm, eps in budgets.items():
            cell = _cell_row(run.results, kind=CellKind.ATTACK.value, perturbation=WORST_CASE, norm=norm, epsilon=eps)
            if cell is None:
                continue
            key = str(cell.get("cell", ""))  # the stored cell's key: reports read keys, never spell them
            rows.append({**base, **_single_cell(runs, i, key, cell, worst_case_metric(norm, eps), paired)})
    return pd.DataFrame(
        rows, columns=["run_id", "label", "metric", "accuracy", "ci_low", "ci_high", "n", "p_value", "test"]
    )


def effective_robustness(table: pd.DataFrame) -> pd.DataFrame:
    """Accuracy under each shift against clean accuracy, with the baseline fit's residual.

    For every shift metric of :func:`comparison_table` (everything but ``clean``): ``clean``,
    ``shift`` accuracies per run and, with at least ``MIN_FIT_RUNS`` runs, ``predicted`` from a
    linear fit in logit space across the runs and ``effective_robustness = shift - predicted``
    (Taori et al. 2020). Fewer runs leave the last two columns empty.
    """
    columns = ["run_id", "label", "shift", "clean", "shift_accuracy", "predicted", "effective_robustness"]
    if table.empty:
        return pd.DataFrame(columns=columns)
    clean = table[table["metric"] == "clean"].set_index("run_id")["accuracy"]
    out = []
    for shift, group in table[table["metric"] != "clean"].groupby("metric", sort=False):
        group = group[group["run_id"].isin(clean.index)]
        x = clean.reindex(group["run_id"]).to_numpy(dtype=float)
        y = group["accuracy"].to_numpy(dtype=float)
        predicted = np.full(len(y), np.nan)
        if len(group) >= MIN_FIT_RUNS and np.ptp(logit(x)) > 1e-9:
            slope, intercept = logit_fit(x, y)
            predicted = expit(slope * logit(x) + intercept)
        for (_, row), xi, yi, pi in zip(group.iterrows(), x, y, predicted):
            out.append(
                {
                    "run_id": row["run_id"],
                    "label": row["label"],
                    "shift": shift,
                    "clean": xi,
                    "shift_accuracy": yi,
                    "predicted": pi,
                    "effective_robustness": yi - pi,
                }
            )
    return pd.DataFrame(out, columns=columns)


def run_label(model: str, run_id: str, defense: str | None = None, taken: Sequence[str] = ()) -> str:
    """A short legend label: the model (and defense), with the run id's hash when that repeats."""
    label = f"{model} + {defense}" if defense else model
    if label in taken:
        label = f"{label} ({run_id.rsplit('-', 1)[-1][:6]})"
    return label


__all__ = [
    "CORRUPTION_METRIC",
    "MIN_FIT_RUNS",
    "comparison_table",
    "effective_robustness",
    "run_label",
    "shared_epsilons",
]
