"""The comparison report: Markdown, tidy CSVs and a JSON record, written atomically."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reports.defense_section import NAIVE_FLAG
from reports.text import md_code, md_text
from robustness.compare.analysis import Comparison, RunData
from robustness.compare.contenders import CompareConfig, RunRef


def _pct(value: float) -> str:
    return "—" if pd.isna(value) else f"{100 * value:.1f}%"


def _points(row: pd.Series) -> str:
    if pd.isna(row["diff"]):
        return "—"
    if row["kind"] == "mce":
        return f"{row['diff']:+.1f} [{row['ci_low']:+.1f}, {row['ci_high']:+.1f}]"
    return f"{100 * row['diff']:+.1f} [{100 * row['ci_low']:+.1f}, {100 * row['ci_high']:+.1f}]"


def _p(value: float) -> str:
    if pd.isna(value):
        return "—"
    return "<0.0001" if value < 1e-4 else f"{value:.4f}"


def _value(row: pd.Series) -> str:
    return f"{row['value']:.1f}" if row["kind"] == "mce" else _pct(row["value"])


def _describe_run(run: RunData) -> str:
    if run.defense:
        hyper = ", ".join(f"{k}={v}" for k, v in run.defense.get("hyperparameters", {}).items())
        return f"{run.defense['name']} ({run.defense['kind']}; {hyper})"
    return "no defense"


def render_markdown(cmp: Comparison, record: dict[str, Any]) -> str:
    """The comparison report as Markdown."""
    from reports.markdown import make_table

    base = cmp.runs[0]
    lines = [
        "# Defense comparison",
        "",
        f"Dataset {md_code(base.dataset)}, {len(base.sample_ids)} samples (the same for every model), seed "
        f"{base.seed}. Baseline: **{md_text(base.label)}**. Differences are model minus baseline, in points, with "
        f"{int(100 * record.get('confidence', 0.95))}% intervals; p-values from paired tests on the same samples.",
        "",
        make_table(
            ["model", "defense", "run", "naive contrast run"],
            [[md_text(r.label), _describe_run(r), md_code(r.run_id), md_code(r.naive.run_id) if r.naive else "—"] for r in cmp.runs],
            align="llll",
        ),
        "",
        *_summary_section(cmp),
        *_difference_section(cmp),
        *_attack_section(cmp.table),
        *_naive_section(cmp.table),
        *_certified_section(cmp),
        *_ranking_section(cmp),
        "## Methods",
        "",
        *[f"- {k}: {v}." for k, v in cmp.methods.items()],
    ]
    notes = list(cmp.notes)
    if cmp.dropped:
        shown = ", ".join(cmp.dropped[:8]) + (" ..." if len(cmp.dropped) > 8 else "")
        notes.append(f"{len(cmp.dropped)} cell(s) that not every run has were left out: {shown}")
    if notes:
        lines += ["", "## Notes", "", *[f"- {n}" for n in notes]]
    command = str(record.get("command") or "robustness compare ...")
    fence = "`" * max(3, 1 + max((len(r) for r in re.findall(r"`+", command)), default=0))
    lines += ["", "## Reproduce", "", f"{fence}\n{command}\n{fence}", ""]
    return "\n".join(lines)


def _summary_section(cmp: Comparison) -> list[str]:
    """One row per model: every ranked metric with its group letters, mCE, certificates."""
    from reports.markdown import make_table

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
                cells.append("—")
                continue
            row = match.iloc[0]
            group = f" ({row['group']})" if isinstance(row.get("group"), str) else ""
            cells.append(_value(row) + group)
        rows.append([md_text(run.label), *cells])
    return [
        "## Summary",
        "",
        make_table(["model", *headline], rows),
        "",
        "Letters in parentheses are ranking groups: models that share a letter are not significantly different "
        "on that metric (see Methods). mCE is relative to the baseline (100 = same corruption errors, lower is "
        "better).",
        "",
    ]


def _difference_section(cmp: Comparison) -> list[str]:
    from reports.markdown import make_table

    table = cmp.table
    others = table[table["reliable"] & (table["model"] != cmp.runs[0].label) & table["diff"].notna()]
    rows = [
        [
            row["metric"], md_text(row["model"]), _value(row), _points(row), _p(row["p_value"]),
            "**significant**" if row["significant"] else "not significant",
        ]
        for _, row in others.iterrows()
    ]  # fmt: skip
    headers = ["metric", "model", "value", "difference [95% CI]", "p", "at alpha (this test alone)"]
    return ["## Differences to the baseline", "", make_table(headers, rows, align="lllrrl"), ""]


def _ranking_section(cmp: Comparison) -> list[str]:
    intro = "Best first; tied values share a rank; models sharing a letter are not significantly different."
    lines = ["## Ranking", "", intro, ""]
    for metric, frame in cmp.rankings.groupby("metric", sort=False):
        columns = frame[["model", "value", "rank", "group"]].itertuples(index=False)
        lines.append(f"- {metric}: " + "; ".join(f"{r}. {m} {_pct(v)} ({g})" for m, v, r, g in columns))
    return [*lines, ""]


def _attack_section(table: pd.DataFrame) -> list[str]:
    from reports.markdown import make_table

    attacks = table[table["kind"] == "attack"]
    if attacks.empty:
        return []
    lines = ["## Robust accuracy per attack and epsilon", ""]
    for (attack, norm), frame in attacks.groupby(["attack", "norm"], sort=False):
        eps = sorted(frame["epsilon"].unique())
        rows = []
        for model, sub in frame.groupby("model", sort=False):
            values = [
                _pct(sub[sub["epsilon"] == e]["value"].iloc[0]) if (sub["epsilon"] == e).any() else "—" for e in eps
            ]
            flag = "" if sub["reliable"].all() else " ⚠ naive, unreliable"
            rows.append([f"{md_text(model)}{flag}", *values])
        lines += [f"**{attack}** ({norm})", "", make_table(["model", *[f"eps {e:.4g}" for e in eps]], rows), ""]
    return lines


def _naive_section(table: pd.DataFrame) -> list[str]:
    from reports.markdown import make_table

    naive = table[~table["reliable"]]
    if naive.empty:
        return []
    trusted = table[table["reliable"]].set_index(["metric", "model"])
    lines = [
        "## Input transformations: adaptive vs naive",
        "",
        f"**{NAIVE_FLAG}.** A naive attack takes autograd's gradient straight through the transform; rounding "
        "(JPEG, bit depth) has zero gradient almost everywhere, so the attack barely moves and robust accuracy "
        "looks high (Athalye et al. 2018). The numbers to trust are the model's own rows: a sample is robust only "
        "if neither the adaptive attack (BPDA: the transform's backward pass replaced by the identity; EOT when "
        "random) nor the naive one fools it, success judged on the true defended model.",
        "",
    ]
    rows = []
    for _, row in naive.iterrows():
        owner = row["model"].removesuffix(" (naive)")
        trusted_value = (
            trusted.loc[(row["metric"], owner), "value"] if (row["metric"], owner) in trusted.index else np.nan
        )
        masked = row["significant"] and row["diff"] > 0
        verdict = "**gradient masking: naive overstates robustness**" if masked else "no significant gap"
        rows.append(
            [
                owner,
                row["metric"],
                f"{_pct(row['value'])} ⚠",
                _pct(trusted_value),
                _points(row),
                _p(row["p_value"]),
                verdict,
            ]
        )
    lines += [
        make_table(
            ["model", "attack", "naive (unreliable)", "trusted", "naive − trusted [95% CI]", "p", "verdict"],
            rows,
            align="lllrrrl",
        ),
        "",
    ]
    return lines


def _certified_section(cmp: Comparison) -> list[str]:
    from reports.markdown import make_table

    certifying = [r for r in cmp.runs if r.certified is not None]
    if not certifying:
        return []
    radii = sorted(set().union(*(r.certified["radii"] for r in certifying)))
    rows = []
    for run in certifying:
        c = run.certified
        acc = {
            r: _pct(v) + (" (r > max)" if r > c["max_radius"] else "")
            for r, v in zip(c["radii"], c["certified_accuracy"])
        }
        rows.append([
            md_text(run.label), f"{c['sigma']:g}", c["n0"], c["n"], f"{c['alpha']:g}", f"{c['max_radius']:.3f}",
            _pct(c["abstain_rate"]),
            *[acc.get(r, "—") for r in radii],
        ])  # fmt: skip
    return [
        "## Certified robustness (randomized smoothing)",
        "",
        "Certified accuracy at L2 radius r: the smoothed classifier does not abstain, is correct, and its certified "
        "radius (Cohen et al. 2019: sigma * Phi^-1(pA_lower), Clopper-Pearson bound at 1 - alpha) is at least r. "
        "No sample can be certified beyond the max radius that n and alpha allow (marked r > max); raise n for "
        "larger radii.",
        "",
        make_table(["model", "sigma", "n0", "n", "alpha", "max radius", "abstain", *[f"r={r:g}" for r in radii]], rows),
        "",
    ]


def comparison_id(refs: list[RunRef]) -> str:
    blob = json.dumps([asdict(r) for r in refs], sort_keys=True).encode()
    return f"compare-{hashlib.sha256(blob).hexdigest()[:10]}"


def render_html(cmp: Comparison, markdown: str) -> str:
    """The comparison as one self-contained HTML page: the Markdown report's sections and two figures."""
    from reports.defense_plots import differences_figure, robust_curves_figure
    from reports.html_parts import esc, figure, markdown_section, page, section
    from reports.plots import png

    intro, _, rest = markdown.partition("\n## ")
    overview = markdown_section(["## Models", *intro.splitlines()[1:]])  # the first line is the title
    sections = [markdown_section(("## " + chunk).splitlines()) for chunk in rest.split("\n## ")] if rest else []
    figs = {name: make(cmp.table) for name, make in (("diff", differences_figure), ("curves", robust_curves_figure))}
    plots = [
        figure(
            png(figs["diff"]) if figs["diff"] else None,
            "differences to the baseline",
            "Each model minus the baseline with its 95% interval: clean accuracy, mean corruption accuracy and "
            "each attack at its middle budget (adaptive evaluations only).",
        ),
        figure(
            png(figs["curves"]) if figs["curves"] else None,
            "robust accuracy vs epsilon",
            "Robust accuracy per attack as the budget grows (epsilon 0: clean accuracy). Dashed lines are naive "
            "evaluations of input transformations: gradients masked by the transform, not robustness.",
        ),
    ]
    parts = [p for p in (overview, *sections) if p is not None]
    body = [section(anchor, title, content) for anchor, title, content in parts[:1]]
    body += [section("figures", "Figures", *plots)]
    body += [section(anchor, title, content) for anchor, title, content in parts[1:]]
    nav = [(a, t) for a, t, _ in parts[:1]] + [("figures", "Figures")] + [(a, t) for a, t, _ in parts[1:]]
    base = cmp.runs[0]
    title = "Defense comparison: " + ", ".join(r.label for r in cmp.runs)
    head = (
        f"<h1>Defense comparison</h1><div class=\"meta\">{len(cmp.runs)} models · dataset {esc(base.dataset)} · "
        f"{len(base.sample_ids)} samples · seed {base.seed} · baseline {esc(base.label)}</div>"
    )
    return page(title, head, nav, body, "robustness-suite · defense comparison · self-contained: no network, no scripts")


def write_comparison(cmp: Comparison, config: CompareConfig, refs: list[RunRef]) -> Path:
    from robustness.results.writer import atomic_folder

    out_dir = Path(config.out) / comparison_id(refs)
    record = {
        "command": config.command, "confidence": config.confidence, "alpha": config.alpha,
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()},
        "contenders": [asdict(r) for r in refs], "notes": cmp.notes, "dropped_cells": cmp.dropped,
        "methods": cmp.methods,
    }  # fmt: skip
    markdown = render_markdown(cmp, record)
    files = {
        "report.md": markdown,
        "report.html": render_html(cmp, markdown),
        "comparison.csv": cmp.table.to_csv(index=False, float_format="%.6g"),
        "rankings.csv": cmp.rankings.to_csv(index=False, float_format="%.6g"),
        "compare.json": json.dumps(record, indent=2, sort_keys=True, default=str),
    }
    atomic_folder(out_dir, files)
    return out_dir
