"""Figures of the per-class, confidence and attribution sections (matplotlib Agg, as :mod:`reports.plots`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from reports.images import as_hwc_uint8
from reports.model import AttributionExamples
from reports.plots import DPI, style_axes


def class_drop_figure(class_drop: pd.DataFrame) -> Figure | None:
    """Class x group heatmap of the accuracy drop from clean, in points (red: the class loses most)."""
    if class_drop.empty:
        return None
    values = 100 * class_drop.to_numpy(dtype=float)
    fig = Figure(figsize=(1.0 + 0.75 * values.shape[1], 1.3 + 0.3 * values.shape[0]), dpi=DPI, layout="constrained")
    ax = fig.subplots()
    peak = max(10.0, float(np.nanmax(np.abs(values)))) if np.isfinite(values).any() else 10.0
    image = ax.imshow(values, aspect="auto", cmap="RdBu_r", vmin=-peak, vmax=peak, interpolation="nearest")
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            if np.isfinite(values[i, j]):
                color = "white" if abs(values[i, j]) > 0.6 * peak else "black"
                ax.text(j, i, f"{values[i, j]:.0f}", ha="center", va="center", fontsize=7.5, color=color)
    ax.set_xticks(range(values.shape[1]), list(class_drop.columns), rotation=35, ha="right", fontsize=8)
    ax.set_yticks(range(values.shape[0]), [str(c) for c in class_drop.index], fontsize=8)
    ax.set_ylabel("true class")
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    fig.colorbar(image, ax=ax, label="accuracy drop (points)", shrink=0.7)
    ax.set_title("Accuracy drop from clean per class and family (points)", fontsize=10)
    return fig


def reliability_figure(reliability: pd.DataFrame, n_bins: int) -> Figure | None:
    """Reliability diagram: accuracy per confidence bin, clean beside the worst family; bars show the bin's share."""
    if reliability.empty:
        return None
    groups = list(dict.fromkeys(reliability["samples"]))
    fig = Figure(figsize=(4.2 * len(groups), 3.8), dpi=DPI, layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(groups), sharey=True))
    for ax, name in zip(axes, groups):
        bins = reliability[(reliability["samples"] == name) & (reliability["count"] > 0)]
        width = 1.0 / n_bins
        share = bins["count"] / bins["count"].sum()
        centers = 100 * (bins["low"] + width / 2)
        ax.bar(centers, 100 * share, width=100 * width * 0.9, color="0.85", label="share of samples (%)")
        ax.plot([0, 100], [0, 100], color="0.4", linestyle="--", linewidth=1)
        ax.plot(100 * bins["confidence"], 100 * bins["accuracy"], "o-", color="#c0392b", label="accuracy in bin")
        ax.set_xlim(0, 100)
        ax.set_ylim(0, 102)
        ax.set_xlabel("confidence (%)")
        style_axes(ax, ylabel="accuracy (%)" if ax is axes[0] else None)
        ax.set_title(f"{name} (n = {int(bins['count'].sum())})", fontsize=10)
    axes[0].legend(fontsize=7.5, loc="upper left", frameon=False)
    fig.suptitle(f"Reliability ({n_bins} equal-width bins; the diagonal is perfect calibration)", fontsize=10)
    return fig


def overlay(image: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """The image in gray with ``heat`` (uint8, 255 = most attribution) blended on top in the 'inferno' colormap."""
    from matplotlib import colormaps

    base = as_hwc_uint8(image).astype(np.float64).mean(axis=-1, keepdims=True) / 255.0
    colored = colormaps["inferno"](np.asarray(heat, dtype=np.float64) / 255.0)[..., :3]
    alpha = 0.65
    return as_hwc_uint8(np.clip((1 - alpha) * base + alpha * colored, 0.0, 1.0))


def attribution_figure(att: AttributionExamples, class_name) -> Figure | None:  # type: ignore[no-untyped-def]
    """One row per example: the image, the map of the true class, the map of the predicted class."""
    if not att.examples:
        return None
    k = len(att.examples)
    fig = Figure(figsize=(6.6, 2.2 * k), dpi=DPI, layout="constrained")
    axes = np.atleast_2d(fig.subplots(k, 3))
    for i, example in enumerate(att.examples):
        image = as_hwc_uint8(att.images[i])
        panels = [
            (image, f"{example['title']}\ntrue {class_name(example['label'])}"),
            (overlay(image, att.maps[i, 0]), f"map of true class {class_name(example['label'])}"),
            (overlay(image, att.maps[i, 1]), f"map of predicted {class_name(example['prediction'])}"),
        ]
        for ax, (picture, title) in zip(axes[i], panels):
            ax.imshow(picture[..., 0] if picture.shape[-1] == 1 else picture, cmap="gray", interpolation="nearest")
            ax.set_title(title, fontsize=8)
            ax.set_axis_off()
    fig.suptitle(att.method, fontsize=9)
    return fig


__all__ = ["attribution_figure", "class_drop_figure", "overlay", "reliability_figure"]
