"""Report figures with matplotlib's Agg canvas (no pyplot, no global backend), as PNG bytes.

Each ``*_figure`` function takes tidy records and returns a :class:`matplotlib.figure.Figure`
or ``None`` when there is nothing to draw; :func:`png` renders and releases it. Axes carry
units (accuracy in %, budgets in pixel units of the [0, 1] range) and sample counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from io import BytesIO

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from reports.stats import expit, logit, logit_fit
from robustness.core.enums import CORRUPTION_FAMILIES, WORST_CASE, CellKind

#: display order of corruption families (ImageNet-C's first); unknown families follow by name
FAMILY_ORDER = CORRUPTION_FAMILIES
DPI = 110
CLEAN_STYLE = {"color": "0.35", "linestyle": "--", "linewidth": 1.2}
WORST_COLOR = "#111111"


def png(fig: Figure) -> bytes:
    """Render ``fig`` to PNG bytes."""
    canvas = FigureCanvasAgg(fig)
    buf = BytesIO()
    canvas.print_png(buf)
    return buf.getvalue()


def family_order(families: Sequence[str]) -> list[str]:
    known = [f for f in FAMILY_ORDER if f in families]
    return known + sorted(set(families) - set(known))


def _clean(results: pd.DataFrame) -> tuple[float, int]:
    clean = results[results["kind"] == CellKind.CLEAN]
    if clean.empty:
        return float("nan"), 0
    return float(clean["accuracy"].iloc[0]), int(clean["n"].iloc[0])


def _n_of(results: pd.DataFrame) -> int:
    return int(results["n"].max()) if len(results) else 0


def style_axes(ax, *, ylabel: str | None = "accuracy (%)") -> None:  # type: ignore[no-untyped-def]
    ax.grid(True, color="0.9", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if ylabel:
        ax.set_ylabel(ylabel)


def severity_curves_figure(results: pd.DataFrame) -> Figure | None:
    """Accuracy vs severity, one line per corruption, one panel per family."""
    corr = results[results["kind"] == CellKind.CORRUPTION]
    if corr.empty:
        return None
    clean, n = _clean(results)
    fams = family_order(list(corr["family"].unique()))
    cols = min(4, len(fams))
    rows = -(-len(fams) // cols)
    fig = Figure(figsize=(3.4 * cols, 2.9 * rows + 0.6), dpi=DPI, layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, sharey=True)
    severities = sorted(int(s) for s in corr["severity"].dropna().unique())
    for ax, fam in zip(axes.flat, fams):
        group = corr[corr["family"] == fam]
        for name, g in group.groupby("perturbation", sort=True):
            g = g.sort_values("severity")
            ax.plot(
                g["severity"].astype(int), 100 * g["accuracy"], marker="o", markersize=3.5, linewidth=1.6, label=name
            )
        if np.isfinite(clean):
            ax.axhline(100 * clean, **CLEAN_STYLE)
        ax.set_title(f"{fam} ({group['perturbation'].nunique()})", fontsize=10, loc="left")
        ax.set_xticks(severities)
        ax.set_ylim(-3, 103)
        ax.set_xlabel("severity")
        style_axes(ax)
        ax.legend(fontsize=7, frameon=False, loc="lower left")
    for ax in list(axes.flat)[len(fams) :]:
        ax.set_visible(False)
    fig.suptitle(
        f"Accuracy vs corruption severity (n = {n or _n_of(corr)} test images; dashed: clean accuracy)", fontsize=11
    )
    return fig


def severity_heatmap_figure(results: pd.DataFrame) -> Figure | None:
    """Corruption x severity accuracy heatmap, corruptions grouped by family, annotated in %."""
    corr = results[results["kind"] == CellKind.CORRUPTION]
    if corr.empty:
        return None
    wide = corr.pivot_table(index="perturbation", columns="severity", values="accuracy", aggfunc="mean")
    family = corr.groupby("perturbation")["family"].first()
    order: list[str] = []
    bounds: list[tuple[str, int, int]] = []
    for fam in family_order(list(family.unique())):
        names = wide.loc[family[family == fam].index].mean(axis=1).sort_values().index.tolist()
        bounds.append((fam, len(order), len(order) + len(names)))
        order += names
    wide = wide.reindex(order)
    severities = [int(s) for s in wide.columns]
    values = 100 * wide.to_numpy(dtype=float)
    height = 0.26 * len(order) + 1.4
    fig = Figure(figsize=(6.4, height), dpi=DPI, layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(values, aspect="auto", cmap="RdYlGn", vmin=0, vmax=100, interpolation="nearest")
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            v = values[i, j]
            if np.isfinite(v):
                ax.text(
                    j, i, f"{v:.0f}", ha="center", va="center", fontsize=7.5, color="black" if 25 < v < 85 else "white"
                )
    ax.set_xticks(range(len(severities)), [str(s) for s in severities])
    ax.set_yticks(range(len(order)), [f"{name}  [{family[name]}]" for name in order], fontsize=8)
    ax.set_xlabel("severity")
    for _, start, stop in bounds[1:]:
        ax.axhline(start - 0.5, color="white", linewidth=2.5)
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    clean, n = _clean(results)
    fig.colorbar(image, ax=ax, label="accuracy (%)", shrink=0.6)
    ax.set_title(
        f"Accuracy (%) per corruption and severity (n = {n or _n_of(corr)}; clean {100 * clean:.1f}%)", fontsize=10
    )
    return fig


def norm_label(norm: str) -> str:
    return {"linf": "L∞ budget ε (pixel range [0, 1])", "l2": "L2 budget ε (pixels in [0, 1])"}.get(
        norm, f"{norm} budget ε"
    )


def attack_curves_figure(results: pd.DataFrame) -> Figure | None:
    """Robust accuracy vs epsilon per attack, one panel per norm, with the suite's worst case and its 95% band."""
    att = results[results["kind"] == CellKind.ATTACK]
    if att.empty:
        return None
    clean, n = _clean(results)
    norms = sorted(att["norm"].dropna().unique(), key=lambda x: (x != "linf", x))
    fig = Figure(figsize=(5.6 * len(norms), 3.9), dpi=DPI, layout="constrained")
    axes = fig.subplots(1, len(norms), squeeze=False)[0]
    for ax, norm in zip(axes, norms):
        group = att[att["norm"] == norm]
        for name, g in group[group["perturbation"] != WORST_CASE].groupby("perturbation", sort=True):
            g = g.sort_values("epsilon")
            xs, ys = [0.0, *g["epsilon"]], [clean, *g["accuracy"]]
            ax.plot(xs, 100 * np.asarray(ys), marker="o", markersize=3.5, linewidth=1.4, alpha=0.85, label=name)
        wc = group[group["perturbation"] == WORST_CASE].sort_values("epsilon")
        if len(wc):
            xs = np.array([0.0, *wc["epsilon"]])
            lo = np.array([clean, *wc["ci_low"]])
            hi = np.array([clean, *wc["ci_high"]])
            ax.fill_between(xs, 100 * lo, 100 * hi, color=WORST_COLOR, alpha=0.12, linewidth=0)
            ax.plot(
                xs,
                100 * np.array([clean, *wc["accuracy"]]),
                color=WORST_COLOR,
                linewidth=2.8,
                marker="s",
                markersize=4.5,
                label="worst case (suite)",
            )
        ax.set_xlabel(norm_label(norm))
        ax.set_ylim(-3, 103)
        ax.set_title(
            f"{norm}: robust accuracy (n = {n or _n_of(group)}; band: 95% CI of the worst case)",
            fontsize=10,
            loc="left",
        )
        style_axes(ax, ylabel="robust accuracy (%)")
        ax.legend(fontsize=7.5, frameon=False)
    return fig


def distance_figure(distances: Mapping[str, np.ndarray], norms: Mapping[str, str]) -> Figure | None:
    """Distribution of the minimal fooling perturbation per minimum-norm attack (histogram + median)."""
    names = [a for a in distances if np.asarray(distances[a]).size]
    if not names:
        return None
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig = Figure(figsize=(4.4 * cols, 3.2 * rows), dpi=DPI, layout="constrained")
    axes = list(fig.subplots(rows, cols, squeeze=False).flat)
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    for ax, name in zip(axes, names):
        d = np.asarray(distances[name], dtype=float)
        attacked = d[~np.isnan(d)]
        fooled = attacked[np.isfinite(attacked)]
        if fooled.size:
            ax.hist(fooled, bins=min(30, max(8, fooled.size // 8)), color="#4C72B0", alpha=0.85)
            median = float(np.median(fooled))
            ax.axvline(median, color="#C44E52", linewidth=2, label=f"median {median:.3g}")
            ax.legend(fontsize=8, frameon=False)
        norm = norms.get(name, "")
        ax.set_xlabel(f"minimal {norm} distance to a fooling input (pixels in [0, 1])")
        ax.set_ylabel("samples")
        ax.set_title(f"{name}: {fooled.size} of {attacked.size} attacked samples fooled", fontsize=10, loc="left")
        style_axes(ax, ylabel="samples")
    return fig


def comparison_figure(table: pd.DataFrame) -> Figure | None:
    """Grouped bars per metric, one bar per run, with 95% interval whiskers."""
    if table.empty:
        return None
    metrics = list(dict.fromkeys(table["metric"]))
    labels = list(dict.fromkeys(table["label"]))
    width = 0.8 / max(1, len(labels))
    fig = Figure(
        figsize=(min(12.0, 1.5 + len(metrics) * (0.8 + 0.45 * len(labels))), 3.9), dpi=DPI, layout="constrained"
    )
    ax = fig.subplots()
    colors = [f"C{i % 10}" for i in range(len(labels))]
    for k, label in enumerate(labels):
        rows = table[table["label"] == label].set_index("metric").reindex(metrics)
        x = np.arange(len(metrics)) + (k - (len(labels) - 1) / 2) * width
        acc = 100 * rows["accuracy"].to_numpy(dtype=float)
        err = np.vstack(
            [acc - 100 * rows["ci_low"].to_numpy(dtype=float), 100 * rows["ci_high"].to_numpy(dtype=float) - acc]
        )
        ax.bar(x, acc, width * 0.92, color=colors[k], label=label, yerr=err, capsize=3, error_kw={"linewidth": 1})
        for xi, a in zip(x, acc):
            if np.isfinite(a) and a >= 8:
                ax.text(xi, 2, f"{a:.1f}", ha="center", va="bottom", fontsize=7, color="white", fontweight="bold")
    n = int(table["n"].max())
    ax.set_xticks(range(len(metrics)), metrics, fontsize=8.5)
    ax.set_ylim(0, 109)
    ax.set_title(f"Accuracy with 95% intervals (n = {n} test images per run)", fontsize=10, loc="left")
    style_axes(ax)
    ax.legend(fontsize=8, frameon=False, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=min(4, len(labels)))
    return fig


def effective_robustness_figure(er: pd.DataFrame) -> Figure | None:
    """Accuracy under shift vs clean accuracy across runs, with y = x and the logit-space baseline fit."""
    if er.empty:
        return None
    fig = Figure(figsize=(5.4, 4.2), dpi=DPI, layout="constrained")
    ax = fig.subplots()
    markers = "os^DvP*X"
    shifts = list(dict.fromkeys(er["shift"]))
    labels = list(dict.fromkeys(er["label"]))
    for s, shift in enumerate(shifts):
        group = er[er["shift"] == shift]
        color = f"C{s % 10}"
        for _, row in group.iterrows():
            marker = markers[labels.index(row["label"]) % len(markers)]
            ax.scatter(100 * row["clean"], 100 * row["shift_accuracy"], color=color, marker=marker, s=46, zorder=3)
        if group["predicted"].notna().all() and len(group) >= 2:
            slope, intercept = logit_fit(group["clean"].to_numpy(), group["shift_accuracy"].to_numpy())
            xs = np.linspace(max(0.01, group["clean"].min() - 0.05), min(0.999, group["clean"].max() + 0.05), 50)
            ax.plot(100 * xs, 100 * expit(slope * logit(xs) + intercept), color=color, linewidth=1, alpha=0.7)
        ax.scatter([], [], color=color, marker="o", label=shift)
    for k, label in enumerate(labels):
        ax.scatter([], [], color="0.4", marker=markers[k % len(markers)], label=label)
    lo = max(0.0, 100 * min(er["clean"].min(), er["shift_accuracy"].min()) - 5)
    ax.plot([lo, 100], [lo, 100], color="0.5", linestyle=":", linewidth=1, label="y = x (no drop)")
    ax.set_xlim(lo, 101)
    ax.set_ylim(max(-2.0, lo - 2), 101)
    ax.set_xlabel("clean accuracy (%)")
    ax.set_ylabel("accuracy under shift (%)")
    fit_note = "lines: baseline fit in logit space" if er["predicted"].notna().any() else "baseline fit needs 3+ runs"
    ax.set_title(f"Effective robustness ({len(labels)} run(s); {fit_note})", fontsize=10, loc="left")
    style_axes(ax, ylabel="accuracy under shift (%)")
    ax.legend(fontsize=7.5, frameon=False, loc="upper left")
    return fig


__all__ = [
    "FAMILY_ORDER",
    "attack_curves_figure",
    "comparison_figure",
    "distance_figure",
    "effective_robustness_figure",
    "family_order",
    "png",
    "severity_curves_figure",
    "severity_heatmap_figure",
]
