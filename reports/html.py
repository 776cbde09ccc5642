"""The self-contained HTML report of one run, and the comparison report of several.

>>> from reports.model import RunReport  # doctest: +SKIP
>>> text = render_html(RunReport(results=tidy_df, run=record))  # doctest: +SKIP

No network, no JavaScript: styles are inline and every plot or picture is a ``data:`` URI.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from reports import plots
from reports.compare import comparison_table, effective_robustness
from reports.html_compare import comparison_parts
from reports.html_parts import (
    Html,
    adversarial_gallery,
    badge,
    card,
    code,
    corruption_grid,
    esc,
    figure,
    fragile_gallery,
    key_values,
    markdown_section,
    note,
    num,
    page,
    section,
    table,
)
from reports.model import RunReport, RunSummary
from reports.tables import (
    clean_accuracy,
    hyperparameter_rows,
    most_damaging,
    pct,
    points,
    random_weights_note,
    skipped_notes,
    with_drop,
)

SECTIONS = (
    ("summary", "Summary"),
    ("corruptions", "Corruptions"),
    ("attacks", "Attacks"),
    ("fragile", "Fragile images"),
    ("sanity", "Sanity checks"),
    ("comparisons", "Comparisons"),
    ("reproducibility", "Reproducibility"),
)


def describe(row: pd.Series) -> str:
    if row["kind"] == "corruption":
        return f"{row['perturbation']} (severity {int(row['severity'])})"
    if row["kind"] == "attack":
        return f"{row['perturbation']} ({row['norm']}, ε {row['epsilon']:.4g})"
    return "clean"


def middle_worst_case(results: pd.DataFrame) -> list[pd.Series]:
    """Each norm's worst-case cell at the middle budget (the summary's headline robustness)."""
    wc = results[(results["kind"] == "attack") & (results["perturbation"] == "worst_case")]
    out = []
    for _, group in sorted(wc.groupby("norm"), key=lambda kv: (kv[0] != "linf", kv[0])):
        group = group.sort_values("epsilon")
        out.append(group.iloc[(len(group) - 1) // 2])
    return out


def standalone_summary(report: RunReport) -> RunSummary:
    """This run as the comparison's first entry (used when the report carries no peers)."""
    label = str(report.run.get("model", report.run.get("run_id", "run")))
    return RunSummary(run_id=str(report.run.get("run_id", "")), label=label, results=report.results)


def figures(report: RunReport) -> dict[str, bytes]:
    """Every plot of the run report as PNG bytes, by name (missing when there is nothing to draw)."""
    res = report.results
    norms = {name: str(g["norm"].iloc[0]) for name, g in res[res["kind"] == "attack"].groupby("perturbation")}
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
    return {name: plots.png(fig) for name, fig in made.items() if fig is not None}


# sections ---------------------------------------------------------------------------------
def summary_section(report: RunReport) -> Html:
    df = with_drop(report.results)
    clean = df[df["kind"] == "clean"]
    cards = []
    if len(clean):
        c = clean.iloc[0]
        cards.append(
            card(
                "clean accuracy",
                pct(c["accuracy"]),
                f"95% CI {pct(c['ci_low'])}–{pct(c['ci_high'])} · n = {int(c['n'])}",
                "ok",
            )
        )
    corr = df[df["kind"] == "corruption"]
    if len(corr):
        mean = corr["accuracy"].mean()
        cards.append(
            card(
                "corruption accuracy",
                pct(mean),
                f"mean of {corr['perturbation'].nunique()} corruptions × "
                f"{corr['severity'].nunique()} severities · {points(mean - clean_accuracy(df))} points",
                "warn",
            )
        )
    metrics = report.corruption_metrics
    if metrics is not None:
        mce = metrics.summary.set_index("metric")["value"].get("mCE", np.nan)
        if np.isfinite(mce):
            cards.append(card("mCE", f"{mce:.1f}%", "corruption error vs AlexNet = 100% (lower is better)"))
    for row in middle_worst_case(df):
        cards.append(
            card(
                f"robust accuracy ({row['norm']}, ε {row['epsilon']:.4g})",
                pct(row["accuracy"]),
                f"worst case over the attack suite · 95% CI {pct(row['ci_low'])}–{pct(row['ci_high'])}",
                "bad",
            )
        )
    if report.sanity is None:
        cards.append(card("sanity checks", "not run", "attack evaluation unchecked", "warn"))
    else:
        flagged = [f for f in report.sanity if not f.get("passed", True) and not f.get("skipped", False)]
        cards.append(
            card(
                "sanity checks",
                f"{len(flagged)} flagged" if flagged else "all passed",
                f"{len(report.sanity)} checks of the attack evaluation",
                "bad" if flagged else "ok",
            )
        )
    parts = [Html(f'<div class="cards">{"".join(cards)}</div>')]
    damaging = most_damaging(df, 5)
    if len(damaging):
        rows = [
            [
                describe(r),
                r["family"],
                pct(r["accuracy"]),
                f"{pct(r['ci_low'])}–{pct(r['ci_high'])}",
                points(-r["drop"]),
            ]
            for _, r in damaging.iterrows()
        ]
        parts += [
            Html("<h3>The five most damaging perturbations</h3>"),
            table(["perturbation", "family", "accuracy", "95% CI", "change (points)"], rows, align="llrrr"),
        ]
    return section("summary", "Summary", *parts)


def family_table(report: RunReport) -> Html:
    corr = report.results[report.results["kind"] == "corruption"]
    clean = clean_accuracy(report.results)
    fam = corr.groupby("family").agg(
        mean=("accuracy", "mean"),
        worst=("accuracy", "min"),
        corruptions=("perturbation", "nunique"),
        cells=("accuracy", "size"),
    )
    ce = None  # the CE column only where a baseline normalised the errors (ImageNet scale)
    if report.corruption_metrics is not None and report.corruption_metrics.errors["ce"].notna().any():
        ce = report.corruption_metrics.errors.groupby("family")["ce"].mean()
    rows = []
    for f in plots.family_order(list(fam.index)):
        r = fam.loc[f]
        row = [f, int(r["corruptions"]), pct(r["mean"]), points(r["mean"] - clean), pct(r["worst"])]
        if ce is not None:
            ce_value = ce.get(f, np.nan)
            row.append("n/a" if not np.isfinite(ce_value) else f"{ce_value:.1f}%")
        rows.append(row)
    header = ["family", "corruptions", "mean accuracy", "change (points)", "worst cell"]
    return table(header + (["mean CE vs AlexNet"] if ce is not None else []), rows)


def corruption_section(report: RunReport, figs: Mapping[str, bytes]) -> Html:
    res = report.results
    corr = res[res["kind"] == "corruption"]
    if corr.empty:
        return section("corruptions", "Corruptions", note("No corruptions were run (--corruptions none).", "warn"))
    n = int(corr["n"].max())
    parts: list[str] = [
        figure(
            figs.get("severity_curves"),
            "accuracy vs severity per corruption",
            f"Accuracy per corruption as severity grows, one panel per family (n = {n}); dashed: clean accuracy.",
        ),
        figure(
            figs.get("severity_heatmap"),
            "corruption x severity heatmap",
            "Accuracy (%) per corruption and severity; rows grouped by family, worst corruption of each family first.",
        ),
        Html("<h3>Per family</h3>"),
        family_table(report),
    ]
    metrics = report.corruption_metrics
    if metrics is not None:
        rows, missing = [], []
        for _, r in metrics.summary.iterrows():
            value = r["value"]
            if not np.isfinite(value):
                missing.append((r["metric"], r["note"]))
                continue
            shown = pct(value) if "accuracy" in r["metric"] else f"{value:.1f}%"
            rows.append([r["metric"], shown, r["note"]])
        parts += [
            Html("<h3>Corruption error (Hendrycks &amp; Dietterich)</h3>"),
            table(["metric", "value", "note"], rows, align="lrl"),
        ]
        if missing:
            notes = list(dict.fromkeys(n for _, n in missing))
            parts.append(note(f"Not computed: {', '.join(m for m, _ in missing)}: " + " ".join(notes) + ".", "warn"))
        if metrics.errors["ce"].notna().any():
            parts.append(
                note(
                    f"CE normalises each corruption's error by the baseline's ({metrics.baseline}); 100% means as "
                    "fragile as AlexNet on ImageNet-C."
                )
            )
    elif report.corruption_metrics_note:
        parts.append(note(report.corruption_metrics_note))
    if report.grid is not None:
        parts += [Html("<h3>One test image under every corruption</h3>"), corruption_grid(report.grid, report)]
    else:
        parts.append(note("No corruption picture grid was stored for this run.", "warn"))
    wide = corr.pivot_table(index="perturbation", columns="severity", values="accuracy", aggfunc="mean")
    family = corr.groupby("perturbation")["family"].first()
    severities = [int(s) for s in wide.columns]
    order = wide.mean(axis=1).sort_values().index
    clean = clean_accuracy(res)
    rows = [
        [
            name,
            family[name],
            *[pct(wide.loc[name].get(s)) for s in severities],
            pct(wide.loc[name].mean()),
            points(wide.loc[name].mean() - clean),
        ]
        for name in order
    ]
    parts.append(
        Html(
            "<details><summary>Accuracy per corruption and severity (table)</summary>"
            + table(
                ["corruption", "family", *[f"s{s}" for s in severities], "mean", "change"],
                rows,
                align="ll" + "r" * (len(severities) + 2),
            )
            + "</details>"
        )
    )
    return section("corruptions", "Corruptions", *parts)


def attack_section(report: RunReport, figs: Mapping[str, bytes]) -> Html:
    res = report.results
    att = res[res["kind"] == "attack"]
    if att.empty:
        return section("attacks", "Attacks", note("No attacks were run (--attacks none).", "warn"))
    parts: list[str] = [
        note(
            "Robust accuracy counts a sample only if it is classified correctly when clean and the attack did not "
            "fool it at that budget; every adversarial example is re-checked on the model and inside the budget. "
            "The worst case is per example over every attack of the suite with that norm."
        ),
        figure(
            figs.get("attack_curves"),
            "robust accuracy vs epsilon",
            "Robust accuracy per attack as the budget grows (ε = 0 is clean accuracy); black: the suite's worst case.",
        ),
    ]
    for norm, group in sorted(att.groupby("norm"), key=lambda kv: (kv[0] != "linf", kv[0])):
        epsilons = sorted(group["epsilon"].unique())
        wide = group.pivot_table(index="perturbation", columns="epsilon", values="accuracy", aggfunc="mean")
        names = [n for n in wide.index if n != "worst_case"] + (["worst_case"] if "worst_case" in wide.index else [])
        rows = [[n, *[pct(wide.loc[n].get(e)) for e in epsilons]] for n in names]
        parts += [
            Html(f"<h3>{esc(norm)} budgets</h3>"),
            table(
                ["attack", *[f"ε {e:.4g}" for e in epsilons]],
                rows,
                row_classes=["strong" if n == "worst_case" else "" for n in names],
            ),
        ]
    parts += [note(text.replace("`", ""), "warn") for text in skipped_notes(res)]
    parts.append(Html("<h3>Minimal perturbations</h3>"))
    if report.distances:
        parts.append(
            figure(
                figs.get("distances"),
                "minimal perturbation distribution",
                "Distribution of the smallest perturbation that fools each sample (minimum-norm attacks).",
            )
        )
        rows = []
        for name, d in report.distances.items():
            d = np.asarray(d, dtype=float)
            attacked = d[~np.isnan(d)]
            fooled = attacked[np.isfinite(attacked)]
            q = np.quantile(fooled, [0.25, 0.5, 0.75]) if fooled.size else [np.nan] * 3
            rows.append([name, int(attacked.size), int(fooled.size), num(q[0]), num(q[1]), num(q[2])])
        parts.append(table(["attack", "attacked", "fooled", "25%", "median", "75%"], rows))
    else:
        parts.append(note("No minimum-norm attack was run, so there is no distance distribution.", "warn"))
    parts.append(Html("<h3>Adversarial examples</h3>"))
    if report.adversarial:
        parts.append(
            note(
                "Each example: the original with the model's prediction, the adversarial example with its "
                "prediction, and the perturbation amplified to the full range (gray = no change)."
            )
        )
        parts += [adversarial_gallery(ex, report) for ex in report.adversarial]
    else:
        parts.append(note("No adversarial examples were stored for this run.", "warn"))
    parts.append(Html("<h3>Attack hyperparameters</h3>"))
    if report.hyperparameters:
        parts.append(table(["attack", "hyperparameters"], hyperparameter_rows(report.hyperparameters), align="ll"))
    else:
        parts.append(note("Not run: no attack hyperparameters were recorded for this run.", "warn"))
    return section("attacks", "Attacks", *parts)


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
        sanity_section(report),
        *[section(anchor, title, content) for anchor, title, content in extras],
        comparisons_section(report, figs),
        reproducibility_section(report.run),
    ]
    nav = [*SECTIONS[:5], *[(anchor, title) for anchor, title, _ in extras], *SECTIONS[5:]]
    title = f"Robustness audit: {report.run.get('model', '')} on {report.run.get('dataset', '')}"
    return page(title, header(report.run), nav, body, footer(report.run))


__all__ = ["SECTIONS", "figures", "render_html"]
