"""Figures of a defense comparison (``robustness compare``), from its long table (``comparison.csv``).

The table has one row per (metric, model): ``kind`` (clean, corruption, attack, certified, ...),
``value``, the difference to the baseline ``diff`` with ``ci_low``/``ci_high``, ``significant``
and ``reliable`` (False for the naive evaluation of an input transformation).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from reports.plots import DPI, norm_label, style_axes
from robustness.core.enums import CellKind

SIGNIFICANT_COLOR = "#c0392b"
NOT_SIGNIFICANT_COLOR = "0.45"


def short(label: str, width: int = 28) -> str:
    """``label`` cut in the middle to ``width`` characters (model specs with weight paths get long)."""
    if len(label) <= width:
        return label
    keep = (width - 1) // 2
    return f"{label[:keep]}…{label[-(width - 1 - keep):]}"


def headline_metrics(table: pd.DataFrame) -> list[str]:
    """Clean and mean corruption accuracy, then each attack at its middle budget."""
    metrics = [m for m in ("clean accuracy", "mean corruption accuracy") if m in set(table["metric"])]
    attacks = table[(table["kind"] == CellKind.ATTACK) & table["reliable"].astype(bool)]
    if attacks.empty:
        return metrics
    for _, group in attacks.groupby(["attack", "norm"], sort=True):
        epsilons = sorted(group["epsilon"].unique())
        middle = epsilons[(len(epsilons) - 1) // 2]
        metrics.append(str(group.loc[group["epsilon"] == middle, "metric"].iloc[0]))
    return metrics


def differences_figure(table: pd.DataFrame) -> Figure | None:
    """Each model minus the baseline, in points with the 95% interval, one panel per headline metric."""
    rows = table[table["diff"].notna() & table["reliable"].astype(bool)]
    metrics = [m for m in headline_metrics(table) if m in set(rows["metric"])]
    if not metrics:
        return None
    models = list(dict.fromkeys(rows["model"]))
    height = max(2.4, 1.2 + 0.32 * len(models))
    fig = Figure(figsize=(min(14.0, 1.5 + 2.9 * len(metrics)), height), dpi=DPI, layout="constrained")
    axes = fig.subplots(1, len(metrics), sharey=True, squeeze=False)[0]
    ys = np.arange(len(models))[::-1]
    for ax, metric in zip(axes, metrics):
        part = rows[rows["metric"] == metric].set_index("model").reindex(models)
        diff, low, high = (100 * part[c].to_numpy(dtype=float) for c in ("diff", "ci_low", "ci_high"))
        significant = part["significant"].fillna(False).astype(bool).to_numpy()
        for y, d, lo, hi, sig in zip(ys, diff, low, high, significant):
            if not np.isfinite(d):
                continue
            color = SIGNIFICANT_COLOR if sig else NOT_SIGNIFICANT_COLOR
            ax.plot([lo, hi], [y, y], color=color, linewidth=1.6)
            ax.plot([d], [y], marker="o", color=color, markersize=5)
        ax.axvline(0, color="0.2", linewidth=0.9)
        ax.set_title(metric, fontsize=9, loc="left")
        ax.set_xlabel("points vs baseline")
        style_axes(ax, ylabel=None)
    axes[0].set_yticks(ys, [short(m) for m in models], fontsize=8.5)
    fig.suptitle(f"Difference to {table['model'].iloc[0]} (95% intervals; red: significant)", fontsize=10, x=0.01, ha="left")
    return fig


def robust_curves_figure(table: pd.DataFrame) -> Figure | None:
    """Robust accuracy vs epsilon per attack, a line per model; naive evaluations dashed."""
    att = table[table["kind"] == CellKind.ATTACK]
    if att.empty:
        return None
    clean = table[table["kind"] == CellKind.CLEAN].set_index("model")["value"]
    models = list(dict.fromkeys(m.removesuffix(" (naive)") for m in table["model"]))
    colors = {m: f"C{k % 10}" for k, m in enumerate(models)}
    panels = sorted(att.groupby(["norm", "attack"]).groups, key=lambda k: (k[0] != "linf", k))
    fig = Figure(figsize=(5.2 * len(panels), 3.9), dpi=DPI, layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (norm, attack) in zip(axes, panels):
        group = att[(att["norm"] == norm) & (att["attack"] == attack)]
        for model, g in group.groupby("model", sort=False):
            g = g.sort_values("epsilon")
            reliable = bool(g["reliable"].all())
            defended = model.removesuffix(" (naive)")  # a naive contrast shares its model's colour
            base = clean.get(defended, np.nan)
            xs, ys = [0.0, *g["epsilon"]], 100 * np.asarray([base, *g["value"]], dtype=float)
            style = {"linestyle": "-", "marker": "o"} if reliable else {"linestyle": "--", "marker": "x", "alpha": 0.7}
            ax.plot(xs, ys, linewidth=1.4, markersize=3.5, label=short(model), color=colors[defended], **style)
        ax.set_xlabel(norm_label(norm))
        ax.set_ylim(-3, 103)
        ax.set_title(f"{attack}: robust accuracy (dashed: naive, unreliable)", fontsize=10, loc="left")
        style_axes(ax, ylabel="robust accuracy (%)")
        ax.legend(fontsize=7, frameon=False)
    return fig


__all__ = ["differences_figure", "headline_metrics", "robust_curves_figure", "short"]
