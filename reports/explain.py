"""What broke and how sure the model was: per-class damage, created confusions, confidence under shift.

Everything comes from the stored per-sample records (:class:`reports.model.SampleRecords`) and
the tidy results (which carry each cell's key in ``cell``); numpy and pandas only.

Groups: a corruption cell belongs to its family; an attack cell to ``"<norm> attacks"`` through
the suite's per-example worst case (``worst_case`` cells only, so that an attack budget is
counted once). A group's per-class accuracy is the mean over its cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from reports.calibration import N_BINS, calibration_row, reliability_bins, selective_rows
from reports.model import SampleRecords

CELL_COLUMNS = ["cell", "kind", "perturbation", "family", "severity", "epsilon", "norm"]
#: how many created confusions the reports list per kind of perturbation
TOP_CONFUSIONS = 10


@dataclass
class Explanations:
    """The frames of the per-class, confidence and selective-prediction sections (also ``robustness.explain``)."""

    per_class: pd.DataFrame  # per cell and class: n, correct, accuracy, clean_accuracy, drop
    class_drop: pd.DataFrame  # class x group: mean accuracy drop (fraction)
    fragile_classes: pd.DataFrame  # per group: the class with the largest drop
    confusions: pd.DataFrame  # per cell and (true, predicted): samples correct when clean, now predicted so
    calibration: pd.DataFrame  # per cell: accuracy, mean confidence, ECE, NLL, confident-error share
    confidence: pd.DataFrame  # pooled: clean, each family x severity, each worst-case attack budget
    selective: pd.DataFrame  # accuracy at each coverage, clean and under the worst family
    reliability: pd.DataFrame  # reliability bins, clean and under the worst family
    worst_family: str | None = None
    n_bins: int = N_BINS
    notes: list[str] = field(default_factory=list)


def group_of(row: pd.Series) -> str | None:
    """The heatmap column a cell belongs to (None: clean, or an attack other than the worst case)."""
    if row["kind"] == "corruption":
        return str(row["family"])
    if row["kind"] == "attack" and row["perturbation"] == "worst_case":
        return f"{row['norm']} attacks"
    return None


def _cells(results: pd.DataFrame, samples: SampleRecords) -> pd.DataFrame:
    known = results[results["cell"].isin(list(samples.correct))]
    return known[CELL_COLUMNS].reset_index(drop=True)


def class_label(class_names: Sequence[str], label: int) -> str:
    return str(class_names[label]) if 0 <= label < len(class_names) else str(label)


def per_class_frame(results: pd.DataFrame, samples: SampleRecords, class_names: Sequence[str] = ()) -> pd.DataFrame:
    """Tidy per-class accuracy of every stored cell, with the class's clean accuracy and the drop from it."""
    labels = np.asarray(samples.labels, dtype=np.int64)
    k = int(labels.max()) + 1 if len(labels) else 0
    n = np.bincount(labels, minlength=k)
    present = np.flatnonzero(n)

    def accuracy(bits: np.ndarray) -> np.ndarray:
        return np.bincount(labels, weights=np.asarray(bits, dtype=float), minlength=k)

    clean = accuracy(samples.correct["clean"]) / np.maximum(n, 1) if "clean" in samples.correct else np.full(k, np.nan)
    rows = []
    for _, cell in _cells(results, samples).iterrows():
        correct = accuracy(samples.correct[cell["cell"]])
        for c in present:
            rows.append(
                {**cell.to_dict(), "class": int(c), "class_name": class_label(class_names, int(c)), "n": int(n[c]),
                 "correct": int(correct[c]), "accuracy": correct[c] / n[c], "clean_accuracy": clean[c],
                 "drop": clean[c] - correct[c] / n[c]}  # fmt: skip
            )
    return pd.DataFrame(rows, columns=[*CELL_COLUMNS, "class", "class_name", "n", "correct", "accuracy",
                                       "clean_accuracy", "drop"])  # fmt: skip


def class_drop_table(per_class: pd.DataFrame) -> pd.DataFrame:
    """Class (rows, in label order) x group (columns): the mean accuracy drop from clean, as a fraction."""
    frame = per_class.assign(group=per_class.apply(group_of, axis=1)).dropna(subset=["group"])
    if frame.empty:
        return pd.DataFrame()
    table = frame.pivot_table(index=["class", "class_name"], columns="group", values="drop", aggfunc="mean")
    groups = sorted(table.columns, key=lambda g: (g.endswith(" attacks"), g))
    return table[groups].reset_index(level=0, drop=True)


def fragile_classes(per_class: pd.DataFrame) -> pd.DataFrame:
    """Per group, the class whose accuracy drops most (ties: the lower label) and by how much."""
    frame = per_class.assign(group=per_class.apply(group_of, axis=1)).dropna(subset=["group"])
    if frame.empty:
        return pd.DataFrame(columns=["group", "class", "class_name", "clean_accuracy", "accuracy", "drop", "mean_drop"])
    agg = frame.groupby(["group", "class", "class_name"], as_index=False).agg(
        clean_accuracy=("clean_accuracy", "first"), accuracy=("accuracy", "mean"), drop=("drop", "mean")
    )
    rows = []
    for group, g in agg.groupby("group", sort=False):
        best = g.sort_values(["drop", "class"], ascending=[False, True]).iloc[0]
        rows.append({**best.to_dict(), "mean_drop": float(g["drop"].mean())})
    out = pd.DataFrame(rows)
    return out.sort_values("drop", ascending=False).reset_index(drop=True)


def confusions_frame(results: pd.DataFrame, samples: SampleRecords, class_names: Sequence[str] = ()) -> pd.DataFrame:
    """Per cell (worst-case rows left out), the (true, predicted) pairs the perturbation created.

    A sample counts when it is classified correctly on the clean image and as ``predicted`` in
    the cell: a paired count, so a confusion the model already made when clean never counts.
    """
    columns = [*CELL_COLUMNS, "true", "predicted", "true_name", "predicted_name", "count"]
    clean = samples.correct.get("clean")
    if clean is None:
        return pd.DataFrame(columns=columns)
    labels = np.asarray(samples.labels, dtype=np.int64)
    rows = []
    for _, cell in _cells(results, samples).iterrows():
        if cell["kind"] == "clean" or cell["perturbation"] == "worst_case" or cell["cell"] not in samples.outputs:
            continue
        pred = samples.outputs[cell["cell"]]["prediction"].astype(np.int64)
        flipped = clean & (pred != labels)
        if not flipped.any():
            continue
        pairs, counts = np.unique(np.stack([labels[flipped], pred[flipped]]), axis=1, return_counts=True)
        for (t, p), count in zip(pairs.T, counts):
            rows.append({**cell.to_dict(), "true": int(t), "predicted": int(p), "true_name": class_label(class_names, int(t)),
                         "predicted_name": class_label(class_names, int(p)), "count": int(count)})  # fmt: skip
    out = pd.DataFrame(rows, columns=columns)
    return out.sort_values(["count", "cell", "true", "predicted"], ascending=[False, True, True, True]).reset_index(
        drop=True
    )


def describe_confusion(row: pd.Series) -> str:
    """``"4 -> 9 under rotation (severity 5): 31 samples"``."""
    where = str(row["perturbation"])
    if row["kind"] == "corruption":
        where += f" (severity {int(row['severity'])})"
    elif row["kind"] == "attack":
        where += f" ({row['norm']}, ε {float(row['epsilon']):.4g})"
    count = int(row["count"])
    return f"{row['true_name']} -> {row['predicted_name']} under {where}: {count} sample{'s' * (count != 1)}"


def _pooled(samples: SampleRecords, cells: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(confidence, correct, nll) of the samples of ``cells`` together; correct is the record's prediction's."""
    records = [samples.outputs[c] for c in cells if c in samples.outputs]
    if not records:
        return np.empty(0), np.empty(0, dtype=bool), np.empty(0)
    labels = np.concatenate([np.asarray(samples.labels)] * len(records))
    joined = np.concatenate(records)
    return joined["confidence"].astype(np.float64), joined["prediction"] == labels, joined["nll"].astype(np.float64)


def calibration_frame(results: pd.DataFrame, samples: SampleRecords, *, n_bins: int = N_BINS) -> pd.DataFrame:
    """Per cell with output records: accuracy, mean confidence, ECE (``n_bins``), NLL, confident-error share."""
    rows = []
    for _, cell in _cells(results, samples).iterrows():
        if cell["cell"] in samples.outputs:
            rows.append({**cell.to_dict(), **calibration_row(*_pooled(samples, [cell["cell"]]), n_bins=n_bins)})
    return pd.DataFrame(rows)


def worst_family(results: pd.DataFrame) -> str | None:
    """The corruption family with the lowest mean accuracy (what the reports call the worst family)."""
    corr = results[results["kind"] == "corruption"]
    return None if corr.empty else str(corr.groupby("family")["accuracy"].mean().idxmin())


def confidence_groups(results: pd.DataFrame) -> list[tuple[str, dict[str, object], list[str]]]:
    """(label, descriptors, cell keys) of the pooled confidence table's rows."""
    out: list[tuple[str, dict[str, object], list[str]]] = [("clean", {"kind": "clean"}, ["clean"])]
    corr = results[results["kind"] == "corruption"]
    for (family, severity), g in corr.groupby(["family", "severity"]):
        out.append((f"{family} s{int(severity)}", {"kind": "corruption", "family": family, "severity": int(severity)},
                    list(g["cell"])))  # fmt: skip
    wc = results[(results["kind"] == "attack") & (results["perturbation"] == "worst_case")]
    for (norm, eps), g in wc.groupby(["norm", "epsilon"]):
        out.append((f"{norm} ε {eps:.4g}", {"kind": "attack", "norm": norm, "epsilon": float(eps)}, list(g["cell"])))
    return out


def explain(
    results: pd.DataFrame, samples: SampleRecords, class_names: Sequence[str] = (), *, n_bins: int = N_BINS
) -> Explanations:
    """Every frame of the sections, from the tidy results and the per-sample records."""
    per_class = per_class_frame(results, samples, class_names)
    worst = worst_family(results)
    confidence, selective, reliability, notes = [], [], [], []
    for label, descriptors, cells in confidence_groups(results):
        conf, ok, nll = _pooled(samples, cells)
        if len(conf):
            confidence.append({"samples": label, **descriptors, **calibration_row(conf, ok, nll, n_bins=n_bins)})
    pools = [("clean", ["clean"])]
    if worst is not None:
        pools.append((f"{worst} (worst family)", list(results.loc[results["family"] == worst, "cell"])))
    for label, cells in pools:
        conf, ok, _ = _pooled(samples, cells)
        if len(conf):
            selective += selective_rows(label, conf, ok)
            reliability.append(reliability_bins(conf, ok, n_bins=n_bins).assign(samples=label))
    if not samples.outputs:
        notes.append("This run stored no per-sample outputs (it predates them): confidence sections are empty.")
    return Explanations(
        per_class=per_class,
        class_drop=class_drop_table(per_class),
        fragile_classes=fragile_classes(per_class),
        confusions=confusions_frame(results, samples, class_names),
        calibration=calibration_frame(results, samples, n_bins=n_bins),
        confidence=pd.DataFrame(confidence),
        selective=pd.DataFrame(selective),
        reliability=pd.concat(reliability, ignore_index=True) if reliability else pd.DataFrame(),
        worst_family=worst,
        n_bins=n_bins,
        notes=notes,
    )


__all__ = [
    "Explanations",
    "calibration_frame",
    "class_drop_table",
    "confusions_frame",
    "describe_confusion",
    "explain",
    "fragile_classes",
    "per_class_frame",
    "worst_family",
]
