"""Read the contenders' stored runs and hand them to the paired analysis of :mod:`reports.comparison`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reports.comparison import Comparison, RunData, analyze, check_comparable
from robustness.compare.contenders import RunRef
from robustness.compare.explain import explain_differences
from robustness.results.records import load_run
from robustness.results.store import Store


def compare_runs(store_path: str | Path, labeled: list[RunRef], **options: Any) -> Comparison:
    """Analyze stored runs: ``labeled[0]`` is the baseline; naive runs ride along with their contender.

    ``options`` are :func:`reports.comparison.analyze`'s (``n_boot``, ``confidence``, ``alpha``, ``seed``).
    """
    with Store(store_path, readonly=True) as store:
        runs = []
        for ref in labeled:
            data = load_run(store, ref.label, ref.run_id)
            if ref.naive_run_id:
                data.naive = load_run(store, f"{ref.label} (naive)", ref.naive_run_id)
            runs.append(data)
    cmp = analyze(runs, **options)
    cmp.explain = explain_differences(runs, **{k: v for k, v in options.items() if k in ("confidence", "seed")})
    return cmp


__all__ = ["Comparison", "RunData", "analyze", "check_comparable", "compare_runs", "load_run"]
