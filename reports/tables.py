"""Tidy result tables: one row per cell, pivoted only at the edge."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from reports.stats import wilson_interval
from robustness.core.enums import WORST_CASE, CellKind

#: the columns of ``results.csv``, in order (DESIGN.md's record; timing lives in run.json)
RESULT_COLUMNS = [
    "run_id", "model", "dataset", "kind", "perturbation", "family", "severity", "epsilon", "norm",
    "n", "correct", "accuracy", "ci_low", "ci_high",
]  # fmt: skip

KIND_ORDER = {"clean": 0, "corruption": 1, "attack": 2}


def tidy(cells: pd.DataFrame) -> pd.DataFrame:
    """Cells from the store -> the tidy record with accuracy and its 95% Wilson interval.

    Rows are ordered clean, corruptions (by name, severity), attacks (by norm, name, epsilon).
    """
    df = cells.copy()
    df["accuracy"] = df["correct"] / df["n"]
    df["ci_low"], df["ci_high"] = wilson_interval(df["correct"].to_numpy(), df["n"].to_numpy())
    df["severity"] = df["severity"].astype("Int64")
    df["_kind"] = df["kind"].map(KIND_ORDER)
    df["_worst"] = df["perturbation"].eq(WORST_CASE)
    df = df.sort_values(["_kind", "norm", "_worst", "perturbation", "severity", "epsilon"], na_position="first")
    return df.drop(columns=["_kind", "_worst"]).reset_index(drop=True)


def skipped_notes(tidy_df: pd.DataFrame) -> list[str]:
    """One sentence per attack that ran on a subset of the clean-correct samples (its ``max_samples``).

    The samples it skipped count as robust in its cells, so its accuracies are upper bounds.
    """
    att = tidy_df[tidy_df["kind"] == CellKind.ATTACK]
    if att.empty or "extra" not in att:
        return []
    clean = tidy_df[tidy_df["kind"] == CellKind.CLEAN]
    correct = int(clean["correct"].iloc[0]) if len(clean) else None
    notes = []
    members = att[att["perturbation"] != WORST_CASE]
    for name, group in members.groupby("perturbation", sort=True):
        skipped = max(_extra(e).get("skipped", 0) for e in group["extra"])
        if not skipped or correct is None:
            continue
        text = (
            f"`{name}` ran on {correct - skipped} of the {correct} clean-correct samples (a seeded draw, its "
            f"max_samples); the {skipped} it skipped count as robust, so its accuracies are upper bounds"
        )
        same_norm = members[members["norm"] == group["norm"].iloc[0]]
        alone = sorted(e for e, at in same_norm.groupby("epsilon") if set(at["perturbation"]) == {name})
        if alone:
            text += f", and so is `worst_case` at eps {', '.join(f'{e:g}' for e in alone)}, where no other attack ran"
        notes.append(text + ".")
    return notes


def _extra(value: object) -> dict:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value:
        return json.loads(value)
    return {}


def results_csv_frame(tidy_df: pd.DataFrame) -> pd.DataFrame:
    return tidy_df[RESULT_COLUMNS]


def clean_accuracy(tidy_df: pd.DataFrame) -> float:
    clean = tidy_df[tidy_df["kind"] == CellKind.CLEAN]
    return float(clean["accuracy"].iloc[0]) if len(clean) else float("nan")


def with_drop(tidy_df: pd.DataFrame) -> pd.DataFrame:
    """Add ``drop``: clean accuracy minus the cell's accuracy (positive = worse)."""
    out = tidy_df.copy()
    out["drop"] = clean_accuracy(tidy_df) - out["accuracy"]
    return out


def most_damaging(tidy_df: pd.DataFrame, top: int = 5) -> pd.DataFrame:
    """The ``top`` perturbations with the largest accuracy drop, one row each (its worst cell).

    A perturbation's worst cell is its lowest accuracy, at the mildest severity or smallest
    budget that reaches it; the suite's ``worst_case`` rows are left out.
    """
    df = with_drop(tidy_df)
    cells = df[(df["kind"] != CellKind.CLEAN) & (df["perturbation"] != WORST_CASE)].copy()
    if cells.empty:
        return cells
    cells["_level"] = cells["severity"].astype("Float64").fillna(cells["epsilon"].astype("Float64"))
    cells = cells.sort_values(["accuracy", "_level"], kind="stable").drop_duplicates(["perturbation", "norm"])
    return cells.sort_values(["drop", "_level"], ascending=[False, True], kind="stable").head(top).drop(columns="_level")


# formatting shared by the Markdown and HTML reports ----------------------------------------
def pct(value: Any, digits: int = 1) -> str:
    """An accuracy in [0, 1] as a percentage; ``n/a`` for missing or non-numeric values."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if not np.isfinite(v) else f"{100 * v:.{digits}f}%"


def points(value: Any) -> str:
    """A difference of accuracies in signed percentage points; ``n/a`` when missing."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if not np.isfinite(v) else f"{100 * v:+.1f}"


def p_text(value: Any) -> str:
    """A p-value to 4 decimals (``< 0.0001`` below); ``n/a`` when missing.

    >>> p_text(0.01234), p_text(3e-7), p_text(float("nan"))
    ('0.0123', '< 0.0001', 'n/a')
    """
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "n/a"
    if not np.isfinite(v):
        return "n/a"
    return "< 0.0001" if v < 1e-4 else f"{v:.4f}"


def value_text(row: Mapping[str, Any]) -> str:
    """A comparison row's value: mCE as a number (100 = the baseline), every other metric as a percentage."""
    return num_text(row["value"]) if row["kind"] == "mce" else pct(row["value"])


def num_text(value: Any) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if not np.isfinite(v) else f"{v:.1f}"


def difference_text(row: Mapping[str, Any]) -> str:
    """A comparison row's difference to the baseline with its interval: points, or mCE units for mCE.

    >>> difference_text({"kind": "clean", "diff": 0.05, "ci_low": 0.01, "ci_high": 0.09})
    '+5.0 [+1.0, +9.0]'
    """
    if pd.isna(row["diff"]):
        return "n/a"
    if row["kind"] == "mce":
        return f"{row['diff']:+.1f} [{row['ci_low']:+.1f}, {row['ci_high']:+.1f}]"
    return f"{points(row['diff'])} [{points(row['ci_low'])}, {points(row['ci_high'])}]"


def hyperparameter_rows(hyperparameters: Mapping[str, Mapping[str, Any]]) -> list[list[str]]:
    """``[attack, "k=v, ..."]`` per attack, sorted, for the reports' hyperparameter tables."""
    return [
        [name, ", ".join(f"{k}={v}" for k, v in sorted(params.items())) or "defaults"]
        for name, params in sorted(hyperparameters.items())
    ]


def effective_robustness_rows(er: pd.DataFrame) -> list[list[str]]:
    """Rows of the effective-robustness table: run, shift, clean, under shift, baseline fit, residual."""
    return [
        [r["label"], r["shift"], pct(r["clean"]), pct(r["shift_accuracy"]), pct(r["predicted"]),
         points(r["effective_robustness"])]
        for _, r in er.iterrows()
    ]  # fmt: skip


def evaluation_grade(tidy_df: pd.DataFrame, norm: str) -> tuple[bool, str]:
    """Whether a norm's worst case is AutoAttack-grade, read from which attacks ran, and a one-line reason.

    AutoAttack-grade: ``autoattack_<norm>`` (standard) or ``autoattack_rand_<norm>`` (randomized models)
    is among the attack cells. Anything else is weaker and the line says how to get a quotable number.
    """
    ran = set(tidy_df.loc[(tidy_df["kind"] == "attack") & (tidy_df["norm"] == norm), "perturbation"])
    if f"autoattack_{norm}" in ran:
        return True, "AutoAttack-grade (AutoAttack standard ran: APGD-CE, APGD-T, FAB-T, Square)"
    if f"autoattack_rand_{norm}" in ran:
        return True, "AutoAttack-grade for randomized models (AutoAttack rand ran: APGD-CE, APGD-DLR with EOT)"
    return False, "weaker than AutoAttack (an upper bound; rerun with --attacks autoattack to quote it)"


def random_weights_note(run: Mapping[str, Any]) -> str | None:
    """The warning a report of a model audited without trained weights (``--random-weights``) carries, else None."""
    model = (run.get("info") or {}).get("model") or {}
    if not (isinstance(model, Mapping) and model.get("random_weights")):
        return None
    return (
        "Random weights: this model was audited without trained weights (--random-weights), with the weights its "
        "constructor drew; its accuracies say nothing about robustness (a timing run)."
    )
