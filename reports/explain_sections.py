"""The report's "What broke" section (HTML and Markdown): per-class damage, created confusions,
confidence under shift, selective prediction and where the model looked.

:func:`explain_figures` draws the plots once; :func:`explain_html` and :func:`explain_markdown`
lay the same numbers out for each format.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from reports.calibration import CONFIDENT
from reports.explain import TOP_CONFUSIONS, Explanations, describe_confusion, explain
from reports.explain_plots import attribution_figure, class_drop_figure, overlay, reliability_figure
from reports.html_parts import Html, esc, figure, note, section, table, tile
from reports.markdown import make_table
from reports.model import RunReport
from reports.plots import png
from reports.tables import pct, points
from reports.text import md_text

ANCHOR, TITLE = "explain", "What broke"
FIGURE_TITLES = {
    "class_drop": "Accuracy drop per class and family",
    "reliability": "Reliability diagram: clean vs the worst family",
    "attribution": "Where the model looked",
}


def explanations(report: RunReport) -> Explanations | None:
    """The section's frames, or None when the report carries no per-sample records."""
    if report.samples is None or "cell" not in report.results:
        return None
    return explain(report.results, report.samples, report.class_names)


def explain_figures(report: RunReport, ex: Explanations | None) -> dict[str, bytes]:
    made = {}
    if ex is not None:
        made["class_drop"] = class_drop_figure(ex.class_drop)
        made["reliability"] = reliability_figure(ex.reliability, ex.n_bins)
    if report.attributions is not None:
        made["attribution"] = attribution_figure(report.attributions, report.class_name)
    return {name: png(fig) for name, fig in made.items() if fig is not None}


# rows shared by both formats ----------------------------------------------------------------
def fragile_rows(ex: Explanations) -> list[list[str]]:
    return [
        [r["group"], r["class_name"], pct(r["clean_accuracy"]), pct(r["accuracy"]), points(0.0 - r["drop"]),
         points(0.0 - r["mean_drop"])]  # fmt: skip
        for _, r in ex.fragile_classes.iterrows()
    ]


FRAGILE_HEADER = ["family", "most fragile class", "clean", "under the family", "change", "all classes' change"]


def confusion_lines(ex: Explanations, kind: str) -> list[str]:
    """The largest created confusions of ``kind``, each (perturbation, true, predicted) once: at its largest count
    (the first such cell: the lowest severity or budget reaching it)."""
    rows = ex.confusions[ex.confusions["kind"] == kind]
    rows = rows.drop_duplicates(["perturbation", "true", "predicted"]).head(TOP_CONFUSIONS)
    return [describe_confusion(r) for _, r in rows.iterrows()]


def confidence_rows(frame: pd.DataFrame) -> list[list[str]]:
    return [
        [r["samples"], int(r["n"]), pct(r["accuracy"]), pct(r["mean_confidence"]), pct(r["ece"]), f"{r['nll']:.3f}",
         pct(r["confident_errors"])]  # fmt: skip
        for _, r in frame.iterrows()
    ]


CONFIDENCE_HEADER = ["samples", "n", "accuracy", "mean confidence", "ECE", "NLL", f"errors above {CONFIDENT:.0%}"]


def selective_rows(ex: Explanations) -> tuple[list[str], list[list[str]]]:
    if ex.selective.empty:
        return [], []
    coverages = sorted(ex.selective["coverage"].unique(), reverse=True)
    rows = []
    for name, g in ex.selective.groupby("samples", sort=False):
        acc = g.set_index("coverage")["accuracy"]
        rows.append([name, pct(g["full_accuracy"].iloc[0]), *[pct(acc.get(c)) for c in coverages]])
    return ["samples", "all (100%)", *[f"{c:.0%} coverage" for c in coverages]], rows


def confidence_text(ex: Explanations) -> str:
    return (
        f"ECE: expected calibration error over {ex.n_bins} equal-width confidence bins (torchmetrics' binning); "
        "NLL: mean negative log-likelihood of the true class; the last column is the share of wrong predictions "
        f"made with top probability above {CONFIDENT:.0%}. Attack rows are the suite's per-example worst case: "
        "each sample's adversarial example at that budget."
    )


SELECTIVE_TEXT = (
    "Selective prediction: the model abstains on the least confident samples; accuracy on the rest at each "
    "coverage shows how much a confidence threshold buys back."
)


# HTML -------------------------------------------------------------------------------------------
def attribution_html(report: RunReport) -> list[str]:
    att = report.attributions
    if att is None:
        return [note("No attribution maps were stored for this run.", "warn")]
    parts: list[str] = [note(f"{att.method}. {att.note}".strip())]
    name = report.class_name
    for i, example in enumerate(att.examples):
        tiles = [
            tile(att.images[i], f"{example['title']}: true {name(example['label'])}", ok=example["label"] == example["prediction"]),
            tile(overlay(att.images[i], att.maps[i, 0]), f"map of true {name(example['label'])}"),
            tile(overlay(att.images[i], att.maps[i, 1]), f"map of predicted {name(example['prediction'])}"),
        ]
        parts.append(Html(f'<div class="attribution-row">{"".join(tiles)}</div>'))
    return parts


def explain_html(report: RunReport, figs: Mapping[str, bytes], ex: Explanations | None) -> Html:
    if ex is None:
        return section(ANCHOR, TITLE, note("No per-sample records were gathered for this report.", "warn"))
    parts: list[str] = [Html("<h3>Per class</h3>")]
    parts.append(figure(figs.get("class_drop"), "accuracy drop per class and family",
                        "Accuracy drop from clean (points) per true class: mean over a family's cells; attack columns: the "
                        "suite's per-example worst case, mean over budgets."))  # fmt: skip
    if len(ex.fragile_classes):
        parts.append(table(FRAGILE_HEADER, fragile_rows(ex), align="llrrrr"))
    for kind, title in (("corruption", "corruptions"), ("attack", "attacks")):
        lines = confusion_lines(ex, kind)
        if lines:
            items = "".join(f"<li>{esc(line)}</li>" for line in lines)
            parts.append(Html(f"<h3>Confusions created by {title}</h3><ul class=\"confusions\">{items}</ul>"))
    parts += [note(text, "warn") for text in ex.notes]
    if len(ex.confidence):
        parts += [Html("<h3>Confidence under shift</h3>"), note(confidence_text(ex)),
                  table(CONFIDENCE_HEADER, confidence_rows(ex.confidence), align="lrrrrrr")]  # fmt: skip
        parts.append(figure(figs.get("reliability"), "reliability diagram", FIGURE_TITLES["reliability"]))
    header, rows = selective_rows(ex)
    if rows:
        parts += [Html("<h3>Selective prediction</h3>"), note(SELECTIVE_TEXT), table(header, rows)]
    parts += [Html("<h3>Where the model looked</h3>"), *attribution_html(report)]
    return section(ANCHOR, TITLE, *parts)


# Markdown ---------------------------------------------------------------------------------------
def explain_markdown(report: RunReport, figures: Mapping[str, str], ex: Explanations | None) -> list[str]:
    if ex is None:
        return []
    lines = [f"## {TITLE}", "", "### Per class", ""]
    if len(ex.class_drop):
        drop = ex.class_drop
        rows = [[md_text(name), *[points(0.0 - v) for v in row]] for name, row in zip(drop.index, drop.to_numpy())]
        lines += ["Accuracy change from clean per true class (points):", "",
                  make_table(["class", *drop.columns], rows), ""]  # fmt: skip
    if len(ex.fragile_classes):
        rows = [[cell if k != 1 else md_text(cell) for k, cell in enumerate(row)] for row in fragile_rows(ex)]
        lines += [make_table(FRAGILE_HEADER, rows, align="llrrrr"), ""]
    for kind, title in (("corruption", "corruptions"), ("attack", "attacks")):
        found = confusion_lines(ex, kind)
        if found:
            lines += [f"Confusions created by {title}:", "", *[f"- {md_text(line)}" for line in found], ""]
    if len(ex.confidence):
        lines += ["### Confidence under shift", "", confidence_text(ex), "",
                  make_table(CONFIDENCE_HEADER, confidence_rows(ex.confidence)), ""]  # fmt: skip
    header, rows = selective_rows(ex)
    if rows:
        lines += ["### Selective prediction", "", SELECTIVE_TEXT, "", make_table(header, rows), ""]
    if report.attributions is not None:
        lines += ["### Where the model looked", "", f"{report.attributions.method}. {report.attributions.note}".strip()]
    for name in ("class_drop", "reliability", "attribution"):
        if name in figures:
            lines += ["", f"![{FIGURE_TITLES[name]}]({figures[name]})"]
    return lines


__all__ = ["ANCHOR", "FIGURE_TITLES", "TITLE", "explain_figures", "explain_html", "explain_markdown", "explanations"]
