"""Render a run's tidy results as a Markdown report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from reports.tables import (
    clean_accuracy,
    evaluation_grade,
    hyperparameter_rows,
    most_damaging,
    p_text,
    pct,
    points,
    random_weights_note,
    skipped_notes,
    with_drop,
)
from reports.text import md_cell, md_code, md_text
from robustness.core.enums import WORST_CASE, CellKind

if TYPE_CHECKING:
    from reports.model import RunReport

FIGURE_TITLES = {
    "severity_curves": "Accuracy vs severity per corruption",
    "severity_heatmap": "Corruption x severity heatmap",
    "attack_curves": "Robust accuracy vs epsilon",
    "distances": "Minimal perturbation distribution",
    "comparison": "Comparison with 95% intervals",
    "effective_robustness": "Effective robustness",
}


def make_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None) -> str:
    """A GitHub-flavoured Markdown table; ``align`` is one of ``l``/``r`` per column.

    Cells may hold Markdown; each is kept on one line and its ``|`` escaped (:func:`reports.text.md_cell`).
    User text in a cell should go through :func:`reports.text.md_text` first.

    >>> print(make_table(["a", "b"], [[1, "x"]], align="rl"))
    | a | b |
    |--:|:--|
    | 1 | x |
    """
    align = align or "l" + "r" * (len(headers) - 1)
    rule = ["--:" if a == "r" else ":--" for a in align]
    lines = ["| " + " | ".join(md_cell(h) for h in headers) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt_eps(value: float) -> str:
    return f"{value:.4g}"


def describe(row: pd.Series) -> str:
    if row["kind"] == CellKind.CORRUPTION:
        return f"{row['perturbation']} (severity {int(row['severity'])})"
    if row["kind"] == CellKind.ATTACK:
        return f"{row['perturbation']} ({row['norm']}, eps {fmt_eps(row['epsilon'])})"
    return "clean"


def summary_section(df: pd.DataFrame, top: int = 5) -> list[str]:
    clean = df[df["kind"] == CellKind.CLEAN].iloc[0]
    lines = [
        "## Summary",
        "",
        f"- Clean accuracy: **{pct(clean['accuracy'])}** (95% CI {pct(clean['ci_low'])} to {pct(clean['ci_high'])}, "
        f"n = {int(clean['n'])})",
    ]
    corr = df[df["kind"] == CellKind.CORRUPTION]
    if len(corr):
        lines.append(
            f"- Mean accuracy over {corr['perturbation'].nunique()} corruptions x severities: **{pct(corr['accuracy'].mean())}**"
        )
    worst = df[(df["kind"] == CellKind.ATTACK) & (df["perturbation"] == WORST_CASE)]
    for norm, group in worst.groupby("norm"):
        cells = ", ".join(f"{pct(a)} at {fmt_eps(e)}" for e, a in zip(group["epsilon"], group["accuracy"]))
        grade = evaluation_grade(df, str(norm))[1]
        lines.append(f"- Robust accuracy ({norm}, worst case over the attack suite): {cells}; {grade}")
    damaging = most_damaging(df, top)
    if len(damaging):
        lines += ["", f"The {len(damaging)} most damaging perturbations:", ""]
        rows = [[describe(r), pct(r["accuracy"]), points(-r["drop"])] for _, r in damaging.iterrows()]
        lines.append(make_table(["perturbation", "accuracy", "change (points)"], rows))
    return lines


def corruption_section(df: pd.DataFrame) -> list[str]:
    corr = df[df["kind"] == CellKind.CORRUPTION]
    if corr.empty:
        return []
    order = corr.groupby("perturbation")["accuracy"].mean().sort_values().index
    severities = sorted(int(s) for s in corr["severity"].dropna().unique())
    wide = corr.pivot(index="perturbation", columns="severity", values="accuracy").reindex(order)
    family = corr.groupby("perturbation")["family"].first()
    rows = []
    for name, accs in wide.iterrows():
        cells = [pct(accs.get(s)) for s in severities]
        mean = accs.mean()
        rows.append([name, family[name], *cells, pct(mean), points(mean - clean_accuracy(df))])
    headers = ["corruption", "family", *[f"s{s}" for s in severities], "mean", "change"]
    lines = [
        "## Corruptions",
        "",
        "Accuracy per corruption and severity, worst corruption first; change is the mean's difference to clean "
        "accuracy in percentage points.",
        "",
        make_table(headers, rows, align="ll" + "r" * (len(headers) - 2)),
        "",
        "### Per family",
        "",
    ]
    fam = corr.groupby("family")["accuracy"].agg(["mean", "min", "count"]).sort_values("mean")
    rows = [[f, pct(r["mean"]), pct(r["min"]), int(r["count"])] for f, r in fam.iterrows()]
    lines.append(make_table(["family", "mean accuracy", "worst cell", "cells"], rows))
    return lines


def shown_setting(config: Mapping[str, Any], key: str, value: Any) -> bool:
    """Whether the reproducibility line lists a config setting (unset ones and unused defense settings are left out)."""
    if key.startswith("defense_") and not config.get("defense"):
        return False
    return value not in (None, [], (), {})


def attack_section(df: pd.DataFrame) -> list[str]:
    att = df[df["kind"] == CellKind.ATTACK]
    if att.empty:
        return []
    lines = [
        "## Attacks",
        "",
        "Robust accuracy: a sample counts only if it is classified correctly when clean and the attack did not fool "
        "it at that budget (every adversarial example re-checked on the model and inside the budget). "
        "`worst_case` is the per-example worst case over all attacks of that norm.",
    ]
    for norm, group in att.groupby("norm"):
        epsilons = sorted(group["epsilon"].unique())
        wide = group.pivot(index="perturbation", columns="epsilon", values="accuracy")
        names = [n for n in wide.index if n != WORST_CASE] + ([WORST_CASE] if WORST_CASE in wide.index else [])
        rows = [[f"**{n}**" if n == WORST_CASE else n, *[pct(wide.loc[n].get(e)) for e in epsilons]] for n in names]
        lines += ["", f"### {norm}", "", make_table(["attack", *[f"eps {fmt_eps(e)}" for e in epsilons]], rows)]
        lines += ["", f"Evaluation: {evaluation_grade(df, str(norm))[1]}."]
    for text in skipped_notes(df):
        lines += ["", f"Note: {text}"]
    return lines


def render_markdown(
    df: pd.DataFrame,
    run: dict[str, Any],
    extra_sections: Sequence[list[str]] = (),
    *,
    report: RunReport | None = None,
    figures: Mapping[str, str] | None = None,
) -> str:
    """The whole report: summary, corruptions, attacks, any extra sections, reproducibility.

    With ``report`` (the gathered records) it adds corruption errors, minimal distances,
    hyperparameters, fragile images, sanity checks and comparisons; ``figures`` maps plot
    names to relative image paths to link (e.g. ``figures/attack_curves.png``).
    """
    df = with_drop(df)
    config = run.get("config", {})
    figures = figures or {}
    lines = [
        f"# Robustness audit: {md_text(run['model'])} on {md_text(run['dataset'])}",
        "",
        f"Run {md_code(run['run_id'])} · {run['n']} test samples · seed {run['seed']} · created {run.get('created', '')}",
        "",
    ]
    warning = random_weights_note(run)
    if warning:
        lines += [f"> **{warning}**", ""]
    corr = corruption_section(df) + figure_lines(figures, ("severity_curves", "severity_heatmap"))
    att = attack_section(df) + figure_lines(figures, ("attack_curves",))
    extra: list[list[str]] = []
    if report is not None:
        corr += corruption_metrics_lines(report)
        att += attack_detail_lines(report, figures)
        extra = [fragile_lines(report), sanity_lines(report), comparison_lines(report, figures)]
    for section in (summary_section(df), corr, att, *extra, *extra_sections):
        if section:
            lines += [*section, ""]
    lines += [
        "## Reproducibility",
        "",
        f"- Command: {md_code(run.get('command', 'robustness audit'))}",
        f"- Run id: {md_code(run['run_id'])}; store: {md_code(run.get('store', ''))}",
        "- Config: " + md_text(", ".join(f"{k}={v}" for k, v in sorted(config.items()) if shown_setting(config, k, v))),
    ]
    versions = run.get("versions", {})
    if versions:
        lines.append("- Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())))
    return "\n".join(lines) + "\n"


def figure_lines(figures: Mapping[str, str], names: Sequence[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        if name in figures:
            out += ["", f"![{FIGURE_TITLES.get(name, name)}]({figures[name]})"]
    return out


def corruption_metrics_lines(report: RunReport) -> list[str]:
    metrics = report.corruption_metrics
    if metrics is None:
        return ["", report.corruption_metrics_note] if report.corruption_metrics_note else []
    rows, missing = [], []
    for _, r in metrics.summary.iterrows():
        value = r["value"]
        if not np.isfinite(value):
            missing.append((r["metric"], r["note"]))
            continue
        rows.append([r["metric"], pct(value) if "accuracy" in r["metric"] else f"{value:.1f}%", r["note"]])
    lines = [
        "",
        "### Corruption error (Hendrycks & Dietterich)",
        "",
        make_table(["metric", "value", "note"], rows, align="lrl"),
    ]
    if missing:
        notes = " ".join(dict.fromkeys(n for _, n in missing))
        lines += ["", f"Not computed: {', '.join(m for m, _ in missing)}: {notes}."]
    if metrics.errors["ce"].notna().any():
        lines += ["", f"CE is normalised by {metrics.baseline} (100% = as fragile as AlexNet on ImageNet-C)."]
    return lines


def attack_detail_lines(report: RunReport, figures: Mapping[str, str]) -> list[str]:
    lines: list[str] = []
    if report.distances:
        rows = []
        for name, d in report.distances.items():
            d = np.asarray(d, dtype=float)
            attacked = d[~np.isnan(d)]
            fooled = attacked[np.isfinite(attacked)]
            median = f"{np.median(fooled):.4g}" if fooled.size else "n/a"
            rows.append([name, int(attacked.size), int(fooled.size), median])
        lines += [
            "",
            "### Minimal perturbations",
            "",
            make_table(["attack", "attacked", "fooled", "median distance"], rows),
        ]
        lines += figure_lines(figures, ("distances",))
    lines += ["", "### Attack hyperparameters", ""]
    if report.hyperparameters:
        lines.append(make_table(["attack", "hyperparameters"], hyperparameter_rows(report.hyperparameters), align="ll"))
    else:
        lines.append("Not run: no attack hyperparameters were recorded for this run.")
    if report.adversarial:
        lines += ["", "### Adversarial examples (predictions)", ""]
        rows = []
        for ex in report.adversarial:
            pairs = [
                f"{md_text(report.class_name(c))} → {md_text(report.class_name(a))}"
                for c, a in zip(ex.clean_predictions, ex.adversarial_predictions)
            ]
            rows.append([ex.attack, ex.norm, fmt_eps(ex.epsilon), "; ".join(pairs) or ex.note])
        lines.append(make_table(["attack", "norm", "eps", "clean → adversarial prediction"], rows, align="llrl"))
    return lines


def fragile_lines(report: RunReport) -> list[str]:
    if not report.fragile:
        return []
    rows = [[f"#{f.sample_id}", md_text(report.class_name(f.label)), f.cause, md_text(f.description)] for f in report.fragile]
    return [
        "## Most fragile test images",
        "",
        make_table(["sample", "class", "cause", "what flipped it"], rows, align="llll"),
    ]


def sanity_lines(report: RunReport) -> list[str]:
    lines = ["## Sanity checks", ""]
    if report.sanity is None:
        return lines + ["Not run: this run has no attack sanity checks; robust accuracies may be too optimistic."]
    rows = []
    for f in report.sanity:
        state = "skipped" if f.get("skipped") else ("passed" if f.get("passed") else "**FLAGGED**")
        value = "" if f.get("value") is None else f"{float(f['value']):.4g}"
        rows.append([f.get("check", "?"), state, value, f.get("meaning", ""), f.get("advice", "")])
    return lines + [make_table(["check", "status", "value", "meaning", "advice"], rows, align="llrll")]


def comparison_lines(report: RunReport, figures: Mapping[str, str]) -> list[str]:
    from reports.compare import comparison_table
    from reports.model import RunSummary

    runs = report.peers or [
        RunSummary(str(report.run.get("run_id", "")), str(report.run.get("model", "")), report.results)
    ]
    table = comparison_table(runs)
    if table.empty:
        return []
    rows = [
        [
            md_text(r["label"]),
            r["metric"],
            pct(r["accuracy"]),
            f"{pct(r['ci_low'])} to {pct(r['ci_high'])}",
            p_text(r["p_value"]),
        ]
        for _, r in table.iterrows()
    ]
    lines = ["## Comparisons", ""]
    if len(runs) == 1:
        lines += ["No other run in this store used the same test samples; this run alone:", ""]
    lines.append(make_table(["run", "metric", "accuracy", "95% CI", f"p vs {md_text(runs[0].label)}"], rows, align="llrrr"))
    return lines + figure_lines(figures, ("comparison", "effective_robustness"))
