"""Comparison reports as Markdown and self-contained HTML, from the same sections.

``robustness compare`` (:func:`render_markdown`, :func:`render_html`) and ``robustness report A B``
(:func:`render_comparison_markdown`; its HTML is :func:`reports.html_compare.render_comparison_html`)
walk the same :func:`reports.comparison_sections.comparison_sections`: the HTML is built from the
comparison's tables, never by parsing the Markdown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from reports.compare import EFFECTIVE_ROBUSTNESS_CAVEAT, comparison_table, effective_robustness
from reports.comparison import Comparison
from reports.comparison_sections import Section, Table, comparison_sections
from reports.explain_compare import comparison_lines
from reports.html_parts import Html, esc, figure, inline, page, section, table
from reports.markdown import figure_lines, make_table
from reports.tables import effective_robustness_rows, p_text, pct
from reports.text import md_code, md_text


def _md_safe(text: object) -> str:
    """Section text for Markdown: ``<`` and ``>`` escaped (user names such as labels and datasets may carry
    HTML; the sections' own markup is only inline code and bold), ``|`` escaped by :func:`make_table`."""
    return re.sub(r"(?<!\\)([<>])", r"\\\1", str(text))


def section_markdown(part: Section) -> list[str]:
    """One section as Markdown lines (``## title``, paragraphs, tables, a list, a code block)."""
    lines = [f"## {_md_safe(part.title)}", ""]
    for block in part.blocks:
        if isinstance(block, Table):
            lines += [f"**{_md_safe(block.title)}**", ""] if block.title else []
            rows = [[_md_safe(cell) for cell in row] for row in block.rows]
            lines += [make_table([_md_safe(h) for h in block.headers], rows, align=block.align), ""]
        else:
            lines += [_md_safe(block), ""]
    lines += [f"- {_md_safe(b)}" for b in part.bullets] + ([""] if part.bullets else [])
    lines += [f"```\n{part.code}\n```", ""] if part.code else []
    return lines


def section_html(part: Section) -> Html:
    """One section as an HTML ``<section>`` built from its tables and text."""
    parts: list[str] = []
    for block in part.blocks:
        if isinstance(block, Table):
            parts += [Html(f"<h3>{inline(block.title)}</h3>")] if block.title else []
            rows = [[inline(cell) for cell in row] for row in block.rows]
            parts.append(table([inline(h) for h in block.headers], rows, align=block.align))
        else:
            parts.append(Html(f"<p>{inline(block)}</p>"))
    if part.bullets:
        parts.append(Html("<ul>" + "".join(f"<li>{inline(b)}</li>" for b in part.bullets) + "</ul>"))
    if part.code:
        parts.append(Html(f"<pre><code>{esc(part.code)}</code></pre>"))
    return section(part.anchor, part.title, *parts)


def paired_sections(paired: Comparison | str) -> list[Section]:
    """The paired analysis as sections of another report (``report A B``): all but the models' list.

    A string (why the runs could not be paired) becomes a one-paragraph section.
    """
    if isinstance(paired, str):
        return [Section("paired", "Paired analysis", [paired])]
    return comparison_sections(paired)[1:]


def render_markdown(cmp: Comparison, record: Mapping[str, Any]) -> str:
    """The comparison report as Markdown; ``record`` carries ``confidence`` and the reproducing ``command``."""
    parts = comparison_sections(
        cmp, confidence=record.get("confidence", 0.95), command=record.get("command") or "robustness compare ..."
    )
    lines = ["# Defense comparison", ""]
    for part in parts:
        lines += section_markdown(part)
    lines += comparison_lines(cmp.explain.get("calibration", pd.DataFrame()), cmp.explain.get("per_class", pd.DataFrame()))
    return "\n".join(lines)


def comparison_figures(cmp: Comparison) -> list[Html]:
    """The two figures of a comparison: differences to the baseline, robust accuracy against epsilon."""
    from reports.defense_plots import differences_figure, robust_curves_figure
    from reports.plots import png

    made = {name: make(cmp.table) for name, make in (("diff", differences_figure), ("curves", robust_curves_figure))}
    return [
        figure(
            png(made["diff"]) if made["diff"] else None,
            "differences to the baseline",
            "Each model minus the baseline with its 95% interval: clean accuracy, mean corruption accuracy and "
            "each attack at its middle budget (adaptive evaluations only).",
        ),
        figure(
            png(made["curves"]) if made["curves"] else None,
            "robust accuracy vs epsilon",
            "Robust accuracy per attack as the budget grows (epsilon 0: clean accuracy). Dashed lines are naive "
            "evaluations of input transformations: gradients masked by the transform, not robustness.",
        ),
    ]


def render_html(cmp: Comparison, record: Mapping[str, Any]) -> str:
    """The comparison as one self-contained HTML page: the models, the figures, then every other section."""
    parts = comparison_sections(
        cmp, confidence=record.get("confidence", 0.95), command=record.get("command") or "robustness compare ..."
    )
    figures = section("figures", "Figures", *comparison_figures(cmp))
    body = [section_html(parts[0]), figures, *(section_html(p) for p in parts[1:])]
    nav: Sequence[tuple[str, str]] = [(parts[0].anchor, parts[0].title), ("figures", "Figures")]
    nav = [*nav, *((p.anchor, p.title) for p in parts[1:])]
    base = cmp.runs[0]
    title = "Defense comparison: " + ", ".join(r.label for r in cmp.runs)
    head = (
        f'<h1>Defense comparison</h1><div class="meta">{len(cmp.runs)} models · dataset {esc(base.dataset)} · '
        f"{len(base.sample_ids)} samples · seed {base.seed} · baseline {esc(base.label)}</div>"
    )
    return page(title, head, nav, body, "robustness-suite · defense comparison · self-contained: no network, no scripts")


def runs_table(runs: Sequence[Any], records: Sequence[Mapping[str, Any]]) -> str:
    """``report A B``'s list of runs as a Markdown table."""
    rows = [
        [md_text(r.label), md_text(rec.get("model", "")), md_text(rec.get("dataset", "")), rec.get("n", ""),
         md_code(rec.get("run_id", "")), md_code(rec.get("command", ""))]
        for r, rec in zip(runs, records)
    ]  # fmt: skip
    return make_table(["label", "model", "dataset", "n", "run id", "command"], rows, align="lllrll")


def accuracy_lines(runs: Sequence[Any], table: pd.DataFrame) -> list[str]:
    """The accuracies with their intervals and p-values against the first run, then effective robustness."""
    rows = [
        [md_text(r["label"]), r["metric"], pct(r["accuracy"]), f"{pct(r['ci_low'])} to {pct(r['ci_high'])}", int(r["n"]),
         p_text(r["p_value"]), r["test"]]
        for _, r in table.iterrows()
    ]  # fmt: skip
    headers = ["run", "metric", "accuracy", "95% CI", "n", f"p vs {md_text(runs[0].label)}", "paired test"]
    lines = ["## Comparisons", "", make_table(headers, rows, align="llrrrrl")]
    er = effective_robustness(table)
    if er["predicted"].notna().any():
        headers = ["run", "shift", "clean", "under shift", "baseline fit", "effective robustness"]
        lines += ["", "### Effective robustness", "", EFFECTIVE_ROBUSTNESS_CAVEAT, ""]
        lines.append(make_table(headers, effective_robustness_rows(er), align="llrrrr"))
    return lines


def render_comparison_markdown(
    runs: Sequence[Any],
    records: Sequence[Mapping[str, Any]],
    figures: Mapping[str, str] | None = None,
    paired: Comparison | str | None = None,
) -> str:
    """The comparison report of several runs (RunSummary records, the first is the reference) as Markdown.

    ``paired`` is the paired analysis of :mod:`reports.comparison` (the one ``robustness compare``
    reports; or why there is none): its sections follow the accuracies.
    """
    lines = ["# Robustness comparison: " + ", ".join(md_text(r.label) for r in runs), "", "## Runs", ""]
    lines += [runs_table(runs, records), "", *accuracy_lines(runs, comparison_table(runs))]
    lines += figure_lines(figures or {}, ("comparison", "effective_robustness"))
    if paired is not None:
        lines.append("")
        for part in paired_sections(paired):
            lines += section_markdown(part)
    return "\n".join(lines).rstrip("\n") + "\n"


__all__ = [
    "paired_sections",
    "render_comparison_markdown",
    "render_html",
    "render_markdown",
    "section_html",
    "section_markdown",
]
