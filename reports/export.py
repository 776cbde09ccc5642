"""Exports of the tidy record: Parquet, JSON records and LaTeX tables (no template engine).

>>> print(latex_table(["attack", "eps 0.1"], [["pgd_linf", "12.5%"]], caption="Robust accuracy", label="tab:x"))
\\begin{table}[ht]
\\centering
\\caption{Robust accuracy}
\\label{tab:x}
\\begin{tabular}{lr}
\\toprule
attack & eps 0.1 \\\\
\\midrule
pgd\\_linf & 12.5\\% \\\\
\\bottomrule
\\end{tabular}
\\end{table}
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from io import BytesIO
from typing import Any

import pandas as pd

from reports.markdown import fmt_eps
from reports.plots import family_order
from reports.tables import p_text, pct
from robustness.core.enums import WORST_CASE, CellKind

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
}


def parquet_bytes(results: pd.DataFrame) -> bytes:
    """The tidy record as Parquet; needs pyarrow (``pip install 'robustness-suite[parquet]'``)."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ImportError(
            "Parquet export needs pyarrow, which is not installed; run pip install 'robustness-suite[parquet]' "
            "or choose --format csv,json."
        ) from None
    buf = BytesIO()
    results.reset_index(drop=True).to_parquet(buf, index=False, engine="pyarrow")
    return buf.getvalue()


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        value = value.item()
        if isinstance(value, float) and math.isnan(value):
            return None
    return value


def json_records(results: pd.DataFrame) -> str:
    """The tidy record as a JSON list of row objects (missing values as ``null``)."""
    rows = [{k: _plain(v) for k, v in row.items()} for row in results.to_dict(orient="records")]
    return json.dumps(rows, indent=1, allow_nan=False) + "\n"


def latex_escape(text: object) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def latex_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    caption: str = "",
    label: str = "",
    align: str | None = None,
) -> str:
    """A booktabs ``table`` with escaped cells; ``align`` is one ``l``/``r``/``c`` per column."""
    align = align or "l" + "r" * (len(headers) - 1)
    lines = [r"\begin{table}[ht]", r"\centering"]
    if caption:
        lines.append(rf"\caption{{{latex_escape(caption)}}}")
    if label:
        lines.append(rf"\label{{{label}}}")
    lines += [
        rf"\begin{{tabular}}{{{align}}}",
        r"\toprule",
        " & ".join(latex_escape(h) for h in headers) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join(latex_escape(c) for c in row) + r" \\" for row in rows]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines)


def latex_report(results: pd.DataFrame, run: dict[str, Any]) -> str:
    """LaTeX tables: corruption accuracy per severity (grouped by family) and robust accuracy per budget."""
    title = f"{run.get('model', '')} on {run.get('dataset', '')}, n = {run.get('n', '')}, run {run.get('run_id', '')}"
    parts = [f"% robustness-suite tables for {title}", "% needs \\usepackage{booktabs}"]
    clean = results[results["kind"] == CellKind.CLEAN]
    corr = results[results["kind"] == CellKind.CORRUPTION]
    if len(corr):
        severities = sorted(int(s) for s in corr["severity"].dropna().unique())
        wide = corr.pivot_table(index="perturbation", columns="severity", values="accuracy", aggfunc="mean")
        family = corr.groupby("perturbation")["family"].first()
        rows = []
        for fam in family_order(list(family.unique())):
            for name in sorted(family[family == fam].index):
                accs = wide.loc[name]
                rows.append([fam, name, *[pct(accs.get(s)) for s in severities], pct(accs.mean())])
        clean_note = f" (clean accuracy {pct(clean['accuracy'].iloc[0])})" if len(clean) else ""
        parts.append(
            latex_table(
                ["family", "corruption", *[f"s{s}" for s in severities], "mean"],
                rows,
                caption=f"Accuracy under corruptions per severity{clean_note}; {title}.",
                label="tab:corruptions",
                align="ll" + "r" * (len(severities) + 1),
            )
        )
    att = results[results["kind"] == CellKind.ATTACK]
    for norm, group in att.groupby("norm"):
        epsilons = sorted(group["epsilon"].unique())
        wide = group.pivot_table(index="perturbation", columns="epsilon", values="accuracy", aggfunc="mean")
        names = [n for n in wide.index if n != WORST_CASE] + ([WORST_CASE] if WORST_CASE in wide.index else [])
        rows = [[n, *[pct(wide.loc[n].get(e)) for e in epsilons]] for n in names]
        parts.append(
            latex_table(
                ["attack", *[f"eps {fmt_eps(e)}" for e in epsilons]],
                rows,
                caption=f"Robust accuracy under {norm} attacks; worst_case is the per-example "
                f"worst case over the suite; {title}.",
                label=f"tab:attacks-{norm}",
            )
        )
    return "\n\n".join(parts) + "\n"


def comparison_latex(table: pd.DataFrame) -> str:
    """``report A B``'s comparison table (:func:`reports.compare.comparison_table`) as a LaTeX table."""
    rows = [
        [r["label"], r["metric"], pct(r["accuracy"]), f"{pct(r['ci_low'])}--{pct(r['ci_high'])}", p_text(r["p_value"])]
        for _, r in table.iterrows()
    ]
    caption = "Accuracy with 95% intervals; p: paired test against the first run."
    return latex_table(["run", "metric", "accuracy", "95% CI", "p"], rows, caption=caption, label="tab:comparison",
                       align="llrrr") + "\n"  # fmt: skip


__all__ = ["comparison_latex", "json_records", "latex_escape", "latex_report", "latex_table", "parquet_bytes"]
