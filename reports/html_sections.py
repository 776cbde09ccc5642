"""The run report's HTML sections with the most content: summary cards, corruptions, attacks.

:mod:`reports.html` assembles the page from these and its smaller sections.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from reports import plots
from reports.html_parts import (
    Html,
    adversarial_gallery,
    card,
    corruption_grid,
    esc,
    figure,
    note,
    num,
    section,
    table,
)
from reports.model import RunReport
from reports.tables import (
    clean_accuracy,
    evaluation_grade,
    hyperparameter_rows,
    most_damaging,
    pct,
    points,
    skipped_notes,
    with_drop,
)
from robustness.core.enums import WORST_CASE, CellKind


def describe(row: pd.Series) -> str:
    if row["kind"] == CellKind.CORRUPTION:
        return f"{row['perturbation']} (severity {int(row['severity'])})"
    if row["kind"] == CellKind.ATTACK:
        return f"{row['perturbation']} ({row['norm']}, ε {row['epsilon']:.4g})"
    return "clean"


def middle_worst_case(results: pd.DataFrame) -> list[pd.Series]:
    """Each norm's worst-case cell at the middle budget (the summary's headline robustness)."""
    wc = results[(results["kind"] == CellKind.ATTACK) & (results["perturbation"] == WORST_CASE)]
    out = []
    for _, group in sorted(wc.groupby("norm"), key=lambda kv: (kv[0] != "linf", kv[0])):
        group = group.sort_values("epsilon")
        out.append(group.iloc[(len(group) - 1) // 2])
    return out


def summary_cards(report: RunReport, df: pd.DataFrame) -> list[str]:
    """The summary's headline cards: clean, corruption, mCE, robust accuracy per norm, sanity checks."""
    clean = df[df["kind"] == CellKind.CLEAN]
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
    corr = df[df["kind"] == CellKind.CORRUPTION]
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
                f"worst case over the attack suite · 95% CI {pct(row['ci_low'])}–{pct(row['ci_high'])} · "
                f"{evaluation_grade(df, str(row['norm']))[1]}",
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
    return cards


def summary_section(report: RunReport) -> Html:
    df = with_drop(report.results)
    parts = [Html(f'<div class="cards">{"".join(summary_cards(report, df))}</div>')]
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
    corr = report.results[report.results["kind"] == CellKind.CORRUPTION]
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


def corruption_metric_parts(report: RunReport) -> list[str]:
    """Hendrycks & Dietterich's metrics (mCE and friends) with what could not be computed and why."""
    parts: list[str] = []
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
    return parts


def corruption_cell_table(corr: pd.DataFrame, clean: float) -> Html:
    """Accuracy per corruption and severity, folded away under a ``<details>``."""
    wide = corr.pivot_table(index="perturbation", columns="severity", values="accuracy", aggfunc="mean")
    family = corr.groupby("perturbation")["family"].first()
    severities = [int(s) for s in wide.columns]
    order = wide.mean(axis=1).sort_values().index
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
    headers = ["corruption", "family", *[f"s{s}" for s in severities], "mean", "change"]
    return Html(
        "<details><summary>Accuracy per corruption and severity (table)</summary>"
        + table(headers, rows, align="ll" + "r" * (len(severities) + 2))
        + "</details>"
    )


def corruption_section(report: RunReport, figs: Mapping[str, bytes]) -> Html:
    res = report.results
    corr = res[res["kind"] == CellKind.CORRUPTION]
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
    parts += corruption_metric_parts(report)
    if report.grid is not None:
        parts += [Html("<h3>One test image under every corruption</h3>"), corruption_grid(report.grid, report)]
    else:
        parts.append(note("No corruption picture grid was stored for this run.", "warn"))
    parts.append(corruption_cell_table(corr, clean_accuracy(res)))
    return section("corruptions", "Corruptions", *parts)


def attack_budget_tables(att: pd.DataFrame) -> list[str]:
    """Robust accuracy per attack and budget, one table per norm, the worst case last and bold."""
    parts: list[str] = []
    for norm, group in sorted(att.groupby("norm"), key=lambda kv: (kv[0] != "linf", kv[0])):
        epsilons = sorted(group["epsilon"].unique())
        wide = group.pivot_table(index="perturbation", columns="epsilon", values="accuracy", aggfunc="mean")
        names = [n for n in wide.index if n != WORST_CASE] + ([WORST_CASE] if WORST_CASE in wide.index else [])
        rows = [[n, *[pct(wide.loc[n].get(e)) for e in epsilons]] for n in names]
        parts += [
            Html(f"<h3>{esc(norm)} budgets</h3>"),
            table(
                ["attack", *[f"ε {e:.4g}" for e in epsilons]],
                rows,
                row_classes=["strong" if n == WORST_CASE else "" for n in names],
            ),
        ]
    return parts


def distance_parts(report: RunReport, figs: Mapping[str, bytes]) -> list[str]:
    """The minimum-norm attacks' distance distribution and quartiles."""
    parts: list[str] = []
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
    return parts


def attack_section(report: RunReport, figs: Mapping[str, bytes]) -> Html:
    res = report.results
    att = res[res["kind"] == CellKind.ATTACK]
    if att.empty:
        return section("attacks", "Attacks", note("No attacks were run (--attacks none).", "warn"))
    parts: list[str] = [
        note(
            "Robust accuracy counts a sample only if it is classified correctly when clean and the attack did not "
            "fool it at that budget; every adversarial example is re-checked on the model and inside the budget. "
            "The worst case is per example over every attack of the suite with that norm."
        ),
        *[
            note(f"Evaluation ({n}): {text}.", "info" if ok else "warn")
            for n in sorted(att["norm"].unique())
            for ok, text in [evaluation_grade(res, str(n))]
        ],
        figure(
            figs.get("attack_curves"),
            "robust accuracy vs epsilon",
            "Robust accuracy per attack as the budget grows (ε = 0 is clean accuracy); black: the suite's worst case.",
        ),
    ]
    parts += attack_budget_tables(att)
    parts += [note(text.replace("`", ""), "warn") for text in skipped_notes(res)]
    parts += distance_parts(report, figs)
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
