"""The comparison report as data: sections of paragraphs, tables and lists built from a :class:`Comparison`.

:mod:`reports.comparison_render` turns the same sections into Markdown and into HTML, so the two
formats of ``robustness compare`` and ``robustness report A B`` show the same numbers, formatted
once (:mod:`reports.tables`). Text may carry Markdown's inline ``code`` and **bold**.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from reports.comparison import Comparison, RunData
from reports.defense_section import NAIVE_FLAG
from reports.tables import difference_text, p_text, pct, value_text
from robustness.core.enums import CellKind


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[list[str]]
    align: str | None = None  # one of l/r per column
    title: str = ""


@dataclass(frozen=True)
class Section:
    """One report section: paragraphs and tables in order, then a bulleted list, then a code block."""

    anchor: str
    title: str
    blocks: list[str | Table] = field(default_factory=list)
    bullets: list[str] = field(default_factory=list)
    code: str = ""


def describe_defense(run: RunData) -> str:
    if run.defense:
        hyper = ", ".join(f"{k}={v}" for k, v in run.defense.get("hyperparameters", {}).items())
        return f"{run.defense['name']} ({run.defense['kind']}; {hyper})"
    return "no defense"


def models_section(cmp: Comparison, confidence: float) -> Section:
    base = cmp.runs[0]
    intro = (
        f"Dataset `{base.dataset}`, {len(base.sample_ids)} samples (the same for every model), seed {base.seed}. "
        f"Baseline: **{base.label}**. Differences are model minus baseline, in points, with "
        f"{int(round(100 * confidence))}% intervals; p-values from paired tests on the same samples."
    )
    rows = [
        [r.label, describe_defense(r), f"`{r.run_id}`", f"`{r.naive.run_id}`" if r.naive else "n/a"] for r in cmp.runs
    ]
    return Section("models", "Models", [intro, Table(["model", "defense", "run", "naive contrast run"], rows, "llll")])


def summary_section(cmp: Comparison) -> Section:
    """One row per model: every ranked metric with its group letters, mCE, certificates."""
    adaptive = cmp.table[cmp.table["reliable"]]
    ranked = set(cmp.rankings["metric"])
    pairs = dict.fromkeys(zip(adaptive["metric"], adaptive["kind"]))
    headline = [m for m, k in pairs if m in ranked or k in ("mce", "certified", "abstain")]
    rows = []
    for run in cmp.runs:
        cells = []
        for metric in headline:
            match = adaptive[(adaptive["metric"] == metric) & (adaptive["model"] == run.label)]
            if match.empty:
                cells.append("n/a")
                continue
            row = match.iloc[0]
            group = f" ({row['group']})" if isinstance(row.get("group"), str) else ""
            cells.append(value_text(row) + group)
        rows.append([run.label, *cells])
    note = (
        "Letters in parentheses are ranking groups: models that share a letter are not significantly different "
        "on that metric (see Methods). mCE is relative to the baseline (100 = same corruption errors, lower is "
        "better)."
    )
    return Section("summary", "Summary", [Table(["model", *headline], rows), note])


def difference_section(cmp: Comparison) -> Section:
    table = cmp.table
    others = table[table["reliable"] & (table["model"] != cmp.runs[0].label) & table["diff"].notna()]
    rows = [
        [
            row["metric"], row["model"], value_text(row), difference_text(row), p_text(row["p_value"]),
            "**significant**" if row["significant"] else "not significant",
        ]
        for _, row in others.iterrows()
    ]  # fmt: skip
    headers = ["metric", "model", "value", "difference [95% CI]", "p", "at alpha (this test alone)"]
    return Section("differences", "Differences to the baseline", [Table(headers, rows, "lllrrl")])


def attack_section(table: pd.DataFrame) -> Section | None:
    attacks = table[table["kind"] == CellKind.ATTACK]
    if attacks.empty:
        return None
    blocks: list[str | Table] = []
    for (attack, norm), frame in attacks.groupby(["attack", "norm"], sort=False):
        eps = sorted(frame["epsilon"].unique())
        rows = []
        for model, sub in frame.groupby("model", sort=False):
            by_eps = sub.groupby("epsilon")["value"].first()
            values = [pct(by_eps[e]) if e in by_eps.index else "n/a" for e in eps]
            flag = "" if sub["reliable"].all() else " ⚠ naive, unreliable"
            rows.append([f"{model}{flag}", *values])
        blocks.append(Table(["model", *[f"eps {e:.4g}" for e in eps]], rows, title=f"{attack} ({norm})"))
    return Section("attacks", "Robust accuracy per attack and epsilon", blocks)


def naive_section(table: pd.DataFrame) -> Section | None:
    naive = table[~table["reliable"]]
    if naive.empty:
        return None
    trusted = table[table["reliable"]].set_index(["metric", "model"])
    intro = (
        f"**{NAIVE_FLAG}.** A naive attack takes autograd's gradient straight through the transform; rounding "
        "(JPEG, bit depth) has zero gradient almost everywhere, so the attack barely moves and robust accuracy "
        "looks high (Athalye et al. 2018). The numbers to trust are the model's own rows: a sample is robust only "
        "if neither the adaptive attack (BPDA: the transform's backward pass replaced by the identity; EOT when "
        "random) nor the naive one fools it, success judged on the true defended model."
    )
    rows = []
    for _, row in naive.iterrows():
        owner = row["model"].removesuffix(" (naive)")
        key = (row["metric"], owner)
        trusted_value = trusted.loc[key, "value"] if key in trusted.index else np.nan
        masked = row["significant"] and row["diff"] > 0
        verdict = "**gradient masking: naive overstates robustness**" if masked else "no significant gap"
        rows.append(
            [owner, row["metric"], f"{pct(row['value'])} ⚠", pct(trusted_value), difference_text(row),
             p_text(row["p_value"]), verdict]
        )  # fmt: skip
    headers = ["model", "attack", "naive (unreliable)", "trusted", "naive − trusted [95% CI]", "p", "verdict"]
    return Section("naive", "Input transformations: adaptive vs naive", [intro, Table(headers, rows, "lllrrrl")])


def certified_section(cmp: Comparison) -> Section | None:
    certifying = [r for r in cmp.runs if r.certified is not None]
    if not certifying:
        return None
    radii = sorted(set().union(*(r.certified["radii"] for r in certifying)))  # type: ignore[index]
    rows = []
    for run in certifying:
        c: Mapping[str, Any] = run.certified  # type: ignore[assignment]
        acc = {
            r: pct(v) + (" (r > max)" if r > c["max_radius"] else "")
            for r, v in zip(c["radii"], c["certified_accuracy"])
        }
        rows.append([
            run.label, f"{c['sigma']:g}", str(c["n0"]), str(c["n"]), f"{c['alpha']:g}", f"{c['max_radius']:.3f}",
            pct(c["abstain_rate"]), *[acc.get(r, "n/a") for r in radii],
        ])  # fmt: skip
    intro = (
        "Certified accuracy at L2 radius r: the smoothed classifier does not abstain, is correct, and its certified "
        "radius (Cohen et al. 2019: sigma * Phi^-1(pA_lower), Clopper-Pearson bound at 1 - alpha) is at least r. "
        "No sample can be certified beyond the max radius that n and alpha allow (marked r > max); raise n for "
        "larger radii."
    )
    headers = ["model", "sigma", "n0", "n", "alpha", "max radius", "abstain", *[f"r={r:g}" for r in radii]]
    return Section("certified", "Certified robustness (randomized smoothing)", [intro, Table(headers, rows)])


def ranking_section(cmp: Comparison) -> Section:
    intro = "Best first; tied values share a rank; models sharing a letter are not significantly different."
    bullets = []
    for metric, frame in cmp.rankings.groupby("metric", sort=False):
        columns = frame[["model", "value", "rank", "group"]].itertuples(index=False)
        bullets.append(f"{metric}: " + "; ".join(f"{r}. {m} {pct(v)} ({g})" for m, v, r, g in columns))
    return Section("ranking", "Ranking", [intro], bullets)


def notes(cmp: Comparison) -> list[str]:
    out = list(cmp.notes)
    if cmp.dropped:
        shown = ", ".join(cmp.dropped[:8]) + (" ..." if len(cmp.dropped) > 8 else "")
        out.append(f"{len(cmp.dropped)} cell(s) that not every run has were left out: {shown}")
    return out


def comparison_sections(cmp: Comparison, *, confidence: float = 0.95, command: str = "") -> list[Section]:
    """Every section of the comparison report, in order (absent ones left out)."""
    sections: list[Section | None] = [
        models_section(cmp, confidence),
        summary_section(cmp),
        difference_section(cmp),
        attack_section(cmp.table),
        naive_section(cmp.table),
        certified_section(cmp),
        ranking_section(cmp),
        Section("methods", "Methods", bullets=[f"{k}: {v}." for k, v in cmp.methods.items()]),
    ]
    if notes(cmp):
        sections.append(Section("notes", "Notes", bullets=notes(cmp)))
    if command:
        sections.append(Section("reproduce", "Reproduce", code=command))
    return [s for s in sections if s is not None]


__all__ = ["Section", "Table", "comparison_sections", "describe_defense"]
