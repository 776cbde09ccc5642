"""Render a run's tidy results as a Markdown report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from reports.tables import clean_accuracy, with_drop


def make_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None) -> str:
    """A GitHub-flavoured Markdown table; ``align`` is one of ``l``/``r`` per column.

    >>> print(make_table(["a", "b"], [[1, "x"]], align="rl"))
    | a | b |
    |--:|:--|
    | 1 | x |
    """
    align = align or "l" + "r" * (len(headers) - 1)
    rule = ["--:" if a == "r" else ":--" for a in align]
    lines = ["| " + " | ".join(str(h) for h in headers) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def pct(value: float) -> str:
    return "n/a" if pd.isna(value) else f"{100 * value:.1f}%"


def points(value: float) -> str:
    return "n/a" if pd.isna(value) else f"{100 * value:+.1f}"


def fmt_eps(value: float) -> str:
    return f"{value:.4g}"


def describe(row: pd.Series) -> str:
    if row["kind"] == "corruption":
        return f"{row['perturbation']} (severity {int(row['severity'])})"
    if row["kind"] == "attack":
        return f"{row['perturbation']} ({row['norm']}, eps {fmt_eps(row['epsilon'])})"
    return "clean"


def summary_section(df: pd.DataFrame, top: int = 5) -> list[str]:
    clean = df[df["kind"] == "clean"].iloc[0]
    lines = [
        "## Summary",
        "",
        f"- Clean accuracy: **{pct(clean['accuracy'])}** (95% CI {pct(clean['ci_low'])} to {pct(clean['ci_high'])}, "
        f"n = {int(clean['n'])})",
    ]
    corr = df[df["kind"] == "corruption"]
    if len(corr):
        lines.append(f"- Mean accuracy over {corr['perturbation'].nunique()} corruptions x severities: **{pct(corr['accuracy'].mean())}**")
    worst = df[(df["kind"] == "attack") & (df["perturbation"] == "worst_case")]
    for norm, group in worst.groupby("norm"):
        cells = ", ".join(f"{pct(a)} at {fmt_eps(e)}" for e, a in zip(group["epsilon"], group["accuracy"]))
        lines.append(f"- Robust accuracy ({norm}, worst case over the attack suite): {cells}")
    damaging = df[(df["kind"] != "clean") & (df["perturbation"] != "worst_case")].nlargest(top, "drop")
    if len(damaging):
        lines += ["", f"The {len(damaging)} most damaging perturbations:", ""]
        rows = [[describe(r), pct(r["accuracy"]), points(-r["drop"])] for _, r in damaging.iterrows()]
        lines.append(make_table(["perturbation", "accuracy", "change (points)"], rows))
    return lines


def corruption_section(df: pd.DataFrame) -> list[str]:
    corr = df[df["kind"] == "corruption"]
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


def attack_section(df: pd.DataFrame) -> list[str]:
    att = df[df["kind"] == "attack"]
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
        names = [n for n in wide.index if n != "worst_case"] + (["worst_case"] if "worst_case" in wide.index else [])
        rows = [[f"**{n}**" if n == "worst_case" else n, *[pct(wide.loc[n].get(e)) for e in epsilons]] for n in names]
        lines += ["", f"### {norm}", "", make_table(["attack", *[f"eps {fmt_eps(e)}" for e in epsilons]], rows)]
    return lines


def render_markdown(df: pd.DataFrame, run: dict[str, Any], extra_sections: Sequence[list[str]] = ()) -> str:
    """The whole report: summary, corruptions, attacks, any extra sections, reproducibility."""
    df = with_drop(df)
    config = run.get("config", {})
    lines = [
        f"# Robustness audit: {run['model']} on {run['dataset']}",
        "",
        f"Run `{run['run_id']}` · {run['n']} test samples · seed {run['seed']} · created {run.get('created', '')}",
        "",
    ]
    for section in (summary_section(df), corruption_section(df), attack_section(df), *extra_sections):
        if section:
            lines += [*section, ""]
    lines += [
        "## Reproducibility",
        "",
        f"- Command: `{run.get('command', 'robustness audit')}`",
        f"- Run id: `{run['run_id']}`; store: `{run.get('store', '')}`",
        "- Config: " + ", ".join(f"{k}={v}" for k, v in sorted(config.items()) if v not in (None, [], ())),
    ]
    versions = run.get("versions", {})
    if versions:
        lines.append("- Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())))
    return "\n".join(lines) + "\n"
