"""HTML for comparisons across runs: bars with intervals, effective robustness, paired tests.

:func:`comparison_parts` is the comparison section of a run report (this run and its peers);
:func:`render_comparison_html` is the whole report of ``robustness report RUN1 RUN2 ...``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reports import plots
from reports.compare import EFFECTIVE_ROBUSTNESS_CAVEAT, comparison_table, effective_robustness
from reports.comparison import Comparison
from reports.comparison_render import paired_sections, section_html
from reports.html_parts import Html, code, esc, figure, note, page, pvalue, section, table
from reports.model import RunSummary
from reports.tables import effective_robustness_rows, pct
from robustness.core.enums import WORST_CASE, CellKind


def comparison_parts(runs: Sequence[RunSummary], figs: Mapping[str, bytes]) -> list[str]:
    table_ = comparison_table(runs)
    er = effective_robustness(table_)
    plots_ = [
        figure(
            figs.get("comparison"),
            "comparison bars with 95% intervals",
            "Accuracy per metric and run with 95% intervals (Wilson for single cells; over samples for the corruption mean).",
        ),
        figure(
            figs.get("effective_robustness"),
            "effective robustness",
            "Accuracy under shift against clean accuracy: points above the fitted line are more robust than their "
            "clean accuracy predicts (effective robustness, Taori et al. 2020). " + EFFECTIVE_ROBUSTNESS_CAVEAT,
        ),
    ]
    parts: list[str] = [Html(f'<div class="plot-row">{"".join(plots_)}</div>')]
    labels = list(dict.fromkeys(table_["label"]))
    rows = []
    for metric, group in table_.groupby("metric", sort=False):
        by_label = group.set_index("label")
        cells: list[Any] = [metric]
        for k, label in enumerate(labels):
            if label not in by_label.index:
                cells.append("n/a")
                continue
            r = by_label.loc[label]
            test = f" · {r['test']} p {pvalue(r['p_value'])}" if k and pvalue(r["p_value"]) else ""
            cells.append(
                Html(
                    f'<b>{pct(r["accuracy"])}</b><br><small class="muted">{pct(r["ci_low"])}–{pct(r["ci_high"])}'
                    f"{esc(test)}</small>"
                )
            )
        rows.append(cells)
    parts.append(table(["metric", *labels], rows))
    parts.append(
        Html(
            f'<p class="caption">Accuracy with its 95% interval; p: paired test against {esc(runs[0].label)} on '
            f"the same {int(table_['n'].max())} test images (exact McNemar for single cells, the paired "
            "sign-flip test for the corruption mean; the same tests as robustness compare).</p>"
        )
    )
    if er["predicted"].notna().any():
        rows = effective_robustness_rows(er)
        parts += [
            Html("<h3>Effective robustness</h3>"),
            note(EFFECTIVE_ROBUSTNESS_CAVEAT),
            table(
                ["run", "shift", "clean", "under shift", "baseline fit", "effective robustness (points)"],
                rows,
                align="llrrrr",
            ),
        ]
    return parts


def comparison_figures(runs: Sequence[RunSummary]) -> dict[str, bytes]:
    table_ = comparison_table(runs)
    made = {
        "comparison": plots.comparison_figure(table_),
        "effective_robustness": plots.effective_robustness_figure(effective_robustness(table_)),
    }
    return {name: plots.png(fig) for name, fig in made.items() if fig is not None}


def side_by_side(runs: Sequence[RunSummary]) -> list[str]:
    """Per-family corruption accuracy and per-budget worst case, one column per run."""
    parts: list[str] = []
    labels = [r.label for r in runs]
    fams: dict[str, dict[str, float]] = {}
    for run in runs:
        corr = run.results[run.results["kind"] == CellKind.CORRUPTION]
        for fam, acc in corr.groupby("family")["accuracy"].mean().items():
            fams.setdefault(str(fam), {})[run.label] = acc
    if fams:
        rows = [[f, *[pct(fams[f].get(label)) for label in labels]] for f in plots.family_order(list(fams))]
        parts += [Html("<h3>Corruption accuracy per family</h3>"), table(["family", *labels], rows)]
    cells: dict[tuple[str, float], dict[str, float]] = {}
    for run in runs:
        wc = run.results[(run.results["kind"] == CellKind.ATTACK) & (run.results["perturbation"] == WORST_CASE)]
        for _, r in wc.iterrows():
            cells.setdefault((str(r["norm"]), float(r["epsilon"])), {})[run.label] = r["accuracy"]
    if cells:
        rows = [
            [f"{norm} ε {eps:.4g}", *[pct(v.get(label)) for label in labels]]
            for (norm, eps), v in sorted(cells.items())
        ]
        parts += [Html("<h3>Worst-case robust accuracy</h3>"), table(["budget", *labels], rows)]
    return parts


def render_comparison_html(
    runs: Sequence[RunSummary],
    records: Sequence[Mapping[str, Any]],
    figs: Mapping[str, bytes] | None = None,
    paired: Comparison | str | None = None,
) -> str:
    """A comparison report of several runs (the first is the reference of the paired tests).

    ``paired`` is the paired analysis of :mod:`reports.comparison` (or why there is none); its
    sections, rendered from its tables, follow the comparisons.
    """
    figs = comparison_figures(runs) if figs is None else figs
    rows = [
        [
            r.label,
            rec.get("model", ""),
            rec.get("dataset", ""),
            rec.get("n", ""),
            rec.get("seed", ""),
            code(rec.get("run_id", "")),
        ]
        for r, rec in zip(runs, records)
    ]
    overview = section(
        "summary",
        "Runs",
        table(["label", "model", "dataset", "n", "seed", "run id"], rows, align="lllrrl"),
        note(
            "Paired tests (exact McNemar for single cells, sign-flip for the corruption mean) compare each run "
            "with the first on the same test samples; they are left empty when the samples differ."
        ),
    )
    body = [
        overview,
        section("comparisons", "Comparisons", *comparison_parts(runs, figs), *side_by_side(runs)),
        section(
            "reproducibility",
            "Reproducibility",
            table(
                ["run id", "command", "store"],
                [
                    [code(rec.get("run_id", "")), code(rec.get("command", "")), code(rec.get("store", ""))]
                    for rec in records
                ],
                align="lll",
            ),
        ),
    ]
    extra = paired_sections(paired) if paired is not None else []
    body[2:2] = [section_html(part) for part in extra]
    nav = [("summary", "Runs"), ("comparisons", "Comparisons"), *((p.anchor, p.title) for p in extra)]
    nav.append(("reproducibility", "Reproducibility"))
    title = "Robustness comparison: " + ", ".join(r.label for r in runs)
    head = f'<h1>{esc(title)}</h1><div class="meta">{len(runs)} runs · generated from the results store</div>'
    return page(title, head, nav, body, "robustness-suite · comparison report · self-contained: no network, no scripts")


__all__ = ["comparison_figures", "comparison_parts", "render_comparison_html", "side_by_side"]
