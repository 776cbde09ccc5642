"""The Markdown section a defended run's report gets: the defense, how attacks saw it, its certificates."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reports.markdown import make_table
from reports.tables import pct
from robustness.core.enums import DefenseEval

NAIVE_FLAG = "UNRELIABLE: naive evaluation (gradients through the non-differentiable step)"


def defense_section(model: Mapping[str, Any], certified: Mapping[str, Any] | None) -> list[str]:
    """A single run's report section on its defense: what it is, how attacks saw it, its certificates.

    ``model`` is the run's model description (``info["model"]``), ``certified`` its smoothing
    certificate summary (artifact ``certified``) or None; an undefended run gets no section.
    """
    defense = model.get("defense")
    if not defense:
        return []
    hyper = ", ".join(f"{k}={v}" for k, v in defense.get("hyperparameters", {}).items())
    lines = ["## Defense", "", f"**{defense['name']}** ({defense['kind']}): {defense.get('summary', '')} ({hyper})."]
    if defense["kind"] == "transform":
        if model.get("defense_eval") == DefenseEval.NAIVE:
            lines += [
                "",
                f"**{NAIVE_FLAG}.** The attack numbers of this run took autograd's gradient through the transform; "
                "they are not a measure of robustness. Re-run with `--defense-eval adaptive` (the default).",
            ]
        else:
            lines += [
                "",
                "Attacks were adaptive: gradients through BPDA (the transform's backward pass replaced), averaged "
                "with EOT when the transform is random; success judged on the defended model.",
            ]
    if certified:
        acc = [pct(v) for v in certified["certified_accuracy"]]
        lines += [
            "",
            f"Randomized-smoothing certificates (sigma {certified['sigma']:g}, n0 {certified['n0']}, "
            f"n {certified['n']}, alpha {certified['alpha']:g}; max certifiable radius "
            f"{certified['max_radius']:.3f}; abstain rate "
            f"{pct(certified['abstain_rate'])}):",
            "",
            make_table(["", *[f"L2 r={r:g}" for r in certified["radii"]]], [["certified accuracy", *acc]]),
        ]
    return [*lines, ""]
