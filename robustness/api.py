"""The Python API: ``audit()`` runs (or resumes) an audit and writes its report; ``compare()`` compares contenders.

This is the top of the layer stack (with the CLI): it may import every layer below it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from reports import tidy
from reports.explain import Explanations
from reports.explain import explain as explain_frames
from robustness.compare.api import CompareOutcome, compare
from robustness.results.records import load_samples
from robustness.results.store import Store, check_store
from robustness.results.writer import check_writable, write_outputs
from robustness.run import engine
from robustness.run.config import AuditConfig

__all__ = ["AuditOutcome", "CompareOutcome", "Explanations", "audit", "compare", "explain", "run_audit"]


@dataclass
class AuditOutcome:
    run_id: str
    out_dir: Path
    store: Path
    results: pd.DataFrame
    skipped: int
    computed: int


def run_audit(config: AuditConfig) -> AuditOutcome:
    """Run (or resume) an audit, then write its output folder; the CLI and :func:`audit` call this."""
    check_store(config.store_path())  # fail before any work when the store cannot take the results
    check_writable(Path(config.out))  # ... or the report could not be written
    run = engine.run(config)
    out_dir = Path(config.out) / run.run_id
    with Store(run.store, readonly=True) as store:
        results = write_outputs(store, run.run_id, out_dir)
    return AuditOutcome(run.run_id, out_dir, run.store, results, run.skipped, run.computed)


def audit(config: AuditConfig | None = None, **overrides: Any) -> pd.DataFrame:
    """Run an audit and return its tidy results.

    The per-class, confusion, calibration and selective-prediction frames of the same run come
    from :func:`explain` (the run id is in the results' ``run_id`` column); the examples are skipped in
    the doctest run (the default model trains on first use, minutes):

    >>> df = audit(dataset="digits", corruptions=("rotation",), attacks=("none",), n=64)  # doctest: +SKIP
    >>> ex = explain(df["run_id"].iloc[0])  # doctest: +SKIP
    >>> ex.per_class.head(), ex.calibration.head()  # doctest: +SKIP
    """
    config = config or AuditConfig()
    if overrides:
        config = replace(config, **overrides)
    return run_audit(config).results


def explain(run_id: str, *, store: str | Path | None = None) -> Explanations:
    """Per-class accuracy, created confusions, calibration (ECE, NLL, confident errors) and selective
    prediction of a stored run, read from the store alone (no model): see :class:`reports.explain.Explanations`.

    ``store`` defaults to the default audit's store (``robustness-runs/store.sqlite``).
    """
    path = Path(store) if store is not None else AuditConfig().store_path()
    with Store(path, readonly=True) as db:
        results = tidy(db.cells(run_id))
        info = db.run(run_id)["info"] or {}
        samples = load_samples(db, run_id)
    return explain_frames(results, samples, [str(c) for c in info.get("class_names", [])])
