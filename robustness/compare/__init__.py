"""Compare models and defenses on the same grid, with paired statistics (layer: imports run, results, reports, core).

This room keeps the contenders (parsing, training, running their audits) and writes the
comparison's folder; the paired analysis and every renderer of it live in ``reports``
(:mod:`reports.comparison`, :mod:`reports.comparison_render`), shared with ``robustness report A B``.

``robustness compare standard pgd-at augment jpeg smoothing`` trains (or loads from the
cache) each defense on the same dataset and architecture, runs every contender through the
same audit grid (same samples, same seeds) and writes a comparison report:

* per model: clean accuracy, mean corruption accuracy, mCE relative to the first contender
  (the baseline), robust accuracy per attack and epsilon, certified accuracy where the
  model certifies (randomized smoothing) and its abstain rate;
* each difference to the baseline with a 95% interval and a p-value on the paired
  per-sample outcomes (:mod:`reports.stats`): exact McNemar and Newcombe's interval
  for single cells, a paired bootstrap over samples for aggregates;
* a ranking per headline metric whose groups (compact letters) join models that are not
  significantly different (Holm-corrected pairwise tests);
* for input transformations, the adaptive (BPDA/EOT) numbers, and the naive numbers as a
  flagged contrast: they are not a measure of robustness.

A contender is a defense name with optional hyperparameters (``pgd-at:epsilon=0.1,steps=5``,
applied to ``--model``), a user model (``model:SPEC`` or ``model:SPEC@WEIGHTS``) or a stored
run (``run:RUN_ID``). Runs on different datasets or samples are refused with the reason.
"""

from typing import Any

from robustness.compare.contenders import CompareConfig, Contender, RunRef, parse_contender, parse_params

#: names loaded on first use: the analysis pulls in pandas, scipy and the reports package
_LAZY = {
    "Comparison": "analysis", "RunData": "analysis", "analyze": "analysis", "check_comparable": "analysis",
    "compare_runs": "analysis", "load_run": "analysis", "write_comparison": "write",
    "CompareOutcome": "api", "compare": "api", "equivalent_command": "api",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"robustness.compare.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'robustness.compare' has no attribute {name!r}")


__all__ = [
    "CompareConfig",
    "CompareOutcome",
    "Comparison",
    "Contender",
    "RunData",
    "RunRef",
    "analyze",
    "check_comparable",
    "compare",
    "compare_runs",
    "equivalent_command",
    "load_run",
    "parse_contender",
    "parse_params",
    "write_comparison",
]
