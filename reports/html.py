"""The self-contained HTML report of one run, and the comparison report of several.

>>> # skipped in the doctest run: needs a stored run's tidy results and record (see tests/test_report.py)
>>> from reports.model import RunReport  # doctest: +SKIP
>>> text = render_html(RunReport(results=tidy_df, run=record))  # doctest: +SKIP

No network, no JavaScript: styles are inline and every plot or picture is a ``data:`` URI.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reports import plots
from reports.compare import comparison_table, effective_robustness
from reports.explain_sections import explain_figures, explain_html, explanations
from reports.html_compare import comparison_parts
from reports.html_parts import (
    Html,
    badge,
    code,
    esc,
    fragile_gallery,
    key_values,
    markdown_section,
    note,
    num,
    page,
    section,
    table,
)
from reports.html_sections import attack_section, corruption_section, summary_section
from reports.model import RunReport, RunSummary
from reports.tables import (
    random_weights_note,
)
from robustness.core.enums import CellKind

SECTIONS = (
    ("summary", "Summary"),
    ("corruptions", "Corruptions"),
    ("attacks", "Attacks"),
    ("fragile", "Fragile images"),
    ("explain", "What broke"),
    ("sanity", "Sanity checks"),
    ("comparisons", "Comparisons"),
    ("reproducibility", "Reproducibility"),
)


def standalone_summary(report: RunReport) -> RunSummary:
    """This run as the comparison's first entry (used when the report carries no peers)."""
    label = str(report.run.get("model", report.run.get("run_id", "run")))
    return RunSummary(run_id=str(report.run.get("run_id", "")), label=label, results=report.results)


def figures(report: RunReport) -> dict[str, bytes]:
    """Every plot of the run report as PNG bytes, by name (missing when there is nothing to draw)."""
    res = report.results
    norms = {name: str(g["norm"].iloc[0]) for name, g in res[res["kind"] == CellKind.ATTACK].groupby("perturbation")}
    peers = report.peers or [standalone_summary(report)]
    table_ = comparison_table(peers)
    made = {
        "severity_curves": plots.severity_curves_figure(res),
        "severity_heatmap": plots.severity_heatmap_figure(res),
        "attack_curves": plots.attack_curves_figure(res),
        "distances": plots.distance_figure(report.distances, norms),
        "comparison": plots.comparison_figure(table_),
        "effective_robustness": plots.effective_robustness_figure(effective_robustness(table_)),
    }
    out = {name: plots.png(fig) for name, fig in made.items() if fig is not None}
    return {**out, **explain_figures(report, explanations(report))}


# sections ---------------------------------------------------------------------------------
def fragile_section(report: RunReport) -> Html:
    if not report.fragile:
        return section(
            "fragile",
            "Most fragile test images",
            note("No fragile images were stored (none was flipped, or the run predates this report)."),
        )
    parts: list[str] = [
        note(
            "Test images classified correctly when clean that flip under the mildest corruption or "
            "the smallest attack budget: candidates for label noise, ambiguous inputs, or the "
            "model's blind spots."
        )
    ]
    for cause, title in (("corruption", "Flipped by the lowest severity"), ("attack", "Fooled at the smallest budget")):
        chosen = [f for f in report.fragile if f.cause == cause]
        if chosen:
            parts += [Html(f"<h3>{title}</h3>"), fragile_gallery(chosen, report)]
    return section("fragile", "Most fragile test images", *parts)


def sanity_section(report: RunReport) -> Html:
    if report.sanity is None:
        return section(
            "sanity",
            "Sanity checks",
            note(
                "Not run: this run has no attack sanity checks (attacks none, or --no-sanity). Robust "
                "accuracies may be too optimistic if gradients are masked.",
                "warn",
            ),
        )
    rows, classes = [], []
    for flag in report.sanity:
        if flag.get("skipped"):
            state = badge("skipped", "skip")
        else:
            state = badge("passed", "ok") if flag.get("passed") else badge("FLAGGED", "bad")
        value = num(flag.get("value")) if flag.get("value") is not None else "–"
        threshold = num(flag.get("threshold")) if flag.get("threshold") is not None else "–"
        meaning = Html(
            f"{esc(flag.get('meaning', ''))}" + (f"<br><i>{esc(flag['detail'])}</i>" if flag.get("detail") else "")
        )
        rows.append([flag.get("check", "?"), state, value, threshold, meaning, flag.get("advice", "")])
        classes.append("flagged" if not flag.get("passed") and not flag.get("skipped") else "")
    flagged = sum(c == "flagged" for c in classes)
    head = note(
        f"{flagged} of {len(rows)} checks flagged: the robust accuracies above may be too optimistic."
        if flagged
        else f"All {len(rows)} checks passed or were skipped.",
        "bad" if flagged else "info",
    )
    return section(
        "sanity",
        "Sanity checks",
        head,
        table(
            ["check", "status", "value", "threshold", "what a failure means", "what to do"],
            rows,
            align="lcrrll",
            row_classes=classes,
        ),
    )


def comparisons_section(report: RunReport, figs: Mapping[str, bytes]) -> Html:
    runs = report.peers or [standalone_summary(report)]
    if len(runs) > 1:
        intro = note(
            f"This run ({runs[0].label}) beside {len(runs) - 1} other run(s) in the store on the same test "
            "samples; p-values are paired tests against this run."
        )
    else:
        intro = note(
            Html(
                "No other run in this store used the same test samples, so this run stands alone below. Audit other "
                "models or defenses into the same store and run <code>robustness report RUN1 RUN2 ...</code> to "
                "compare them with paired tests."
            )
        )
    return section("comparisons", "Comparisons", intro, *comparison_parts(runs, figs))


def reproducibility_section(run: Mapping[str, Any]) -> Html:
    config = run.get("config", {}) or {}
    items = [
        ("command", code(run.get("command", "robustness audit"))),
        ("run id", code(run.get("run_id", ""))),
        ("store", code(run.get("store", ""))),
        ("seed", run.get("seed", "")),
        ("test samples", run.get("n", "")),
        ("created", run.get("created", "")),
        (
            "regenerate",
            code(f"robustness report {run.get('run_id', '')} --store {run.get('store', '')} --format html,md,csv"),
        ),
    ]
    model = (run.get("info") or {}).get("model") or {}
    if isinstance(model, Mapping) and model:
        items.append(
            ("model", ", ".join(f"{k}={v}" for k, v in sorted(model.items()) if not isinstance(v, (dict, list))))
        )
    cfg_rows = [
        [k, v if not isinstance(v, (list, tuple)) else ", ".join(map(str, v))]
        for k, v in sorted(config.items())
        if v not in (None, "", [], {}, ())
    ]
    versions = run.get("versions", {}) or {}
    parts: list[str] = [
        key_values(items),
        Html("<h3>Configuration</h3>"),
        table(["setting", "value"], cfg_rows, align="ll"),
    ]
    if versions:
        parts += [
            Html("<h3>Package versions</h3>"),
            table(["package", "version"], sorted(versions.items()), align="ll"),
        ]
    return section("reproducibility", "Reproducibility", *parts)


def header(run: Mapping[str, Any]) -> str:
    warning = random_weights_note(run)
    return (
        f"<h1>Robustness audit: {esc(run.get('model', ''))} on {esc(run.get('dataset', ''))}</h1>"
        f'<div class="meta">run <code>{esc(run.get("run_id", ""))}</code> · {esc(run.get("n", ""))} test samples · '
        f"seed {esc(run.get('seed', ''))} · created {esc(run.get('created', ''))}</div>"
        + (note(warning, "bad") if warning else "")
    )


def footer(run: Mapping[str, Any]) -> str:
    version = (run.get("versions") or {}).get("robustness-suite", "")
    return (
        f"robustness-suite {esc(version)} · generated from the results store · self-contained: no network, no scripts"
    )


def render_html(
    report: RunReport, figs: Mapping[str, bytes] | None = None, extra_sections: Sequence[list[str]] = ()
) -> str:
    """The run's report as one self-contained HTML document.

    ``extra_sections`` are Markdown sections of other modules (the defense section), placed
    before the comparisons.
    """
    figs = figures(report) if figs is None else figs
    extras = [e for e in (markdown_section(lines) for lines in extra_sections) if e is not None]
    body = [
        summary_section(report),
        corruption_section(report, figs),
        attack_section(report, figs),
        fragile_section(report),
        explain_html(report, figs, explanations(report)),
        sanity_section(report),
        *[section(anchor, title, content) for anchor, title, content in extras],
        comparisons_section(report, figs),
        reproducibility_section(report.run),
    ]
    nav = [*SECTIONS[:6], *[(anchor, title) for anchor, title, _ in extras], *SECTIONS[6:]]
    title = f"Robustness audit: {report.run.get('model', '')} on {report.run.get('dataset', '')}"
    return page(title, header(report.run), nav, body, footer(report.run))


__all__ = ["SECTIONS", "figures", "render_html"]
