"""The evaluation engine: prepare a model and data, plan the grid, run the cells, store them.

Every cell is committed to the store when it finishes; cells already in the store are
skipped, so re-running an interrupted audit resumes it. The engine writes no report: that is
:mod:`robustness.results.writer`'s job, called by :mod:`robustness.api`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from robustness import defenses
from robustness.core.enums import Backend
from robustness.core.progress import progress_bar
from robustness.results.store import Store
from robustness.results.writer import package_versions
from robustness.run.artifacts import save_report_artifacts
from robustness.run.attribution import save_attributions
from robustness.run.cells import (
    commit_attack,
    commit_cell,
    commit_worst_case,
    evaluate_attack,
    evaluate_clean,
    evaluate_corruptions,
)
from robustness.run.config import AuditConfig
from robustness.run.distributed import connect, run_cells_ray
from robustness.run.plan import CLEAN
from robustness.run.prepare import Prepared, prepare
from robustness.run.sanity import run_sanity_checks


@dataclass
class RunOutcome:
    """A finished (or resumed) run in the store."""

    run_id: str
    store: Path
    skipped: int
    computed: int


def run_cells(prep: Prepared, store: Store) -> tuple[int, int]:
    """Compute every cell not yet in the store; return (skipped, computed)."""
    done = store.finished_cells(prep.run_id)
    plan = prep.plan
    pending_corr = [c for c in plan.corruption_cells if c.key not in done]
    pending_att = [t for t in plan.attack_tasks if any(c.key not in done for c in t.cells)]
    total = (CLEAN.key not in done) + len(pending_corr) + len(pending_att)
    computed = 0
    with progress_bar(total=total, desc="audit", unit="cell") as bar:
        if CLEAN.key not in done:
            bar.set_postfix_str("clean")
            start = time.perf_counter()
            _, outputs = evaluate_clean(prep)
            commit_cell(prep, store, CLEAN, outputs, time.perf_counter() - start)
            computed += 1
            bar.update(1)
        for cell, outputs, seconds in evaluate_corruptions(prep, pending_corr):
            bar.set_postfix_str(cell.key)
            commit_cell(prep, store, cell, outputs, seconds)
            computed += 1
            bar.update(1)
        for task in pending_att:
            bar.set_postfix_str(f"attack/{task.name}")
            start = time.perf_counter()
            outcome = evaluate_attack(prep, task)
            computed += commit_attack(prep, store, task, outcome, time.perf_counter() - start)
            bar.update(1)
    computed += commit_worst_case(prep, store)
    return len(done), computed


def run(config: AuditConfig, prep: Prepared | None = None) -> RunOutcome:
    """Run (or resume) an audit into its store: cells, certificates, sanity checks, report pictures."""
    if config.backend == "ray":
        connect(config)  # an unreachable cluster, or one without the GPUs asked for, fails before anything is written
    prep = prep or prepare(config)
    store_path = config.store_path()
    with Store(store_path) as store:
        store.begin_run(
            prep.run_id,
            model=config.model,
            dataset=config.dataset,
            seed=config.seed,
            config=config.to_dict(),
            info={"model": prep.model_info, "class_names": list(prep.dataset.class_names),
                  **({"skipped_images": list(prep.skipped_images)} if prep.skipped_images else {})},
            sample_ids=prep.dataset.indices[prep.positions],
            labels=prep.labels,
        )
        if store.artifact(prep.run_id, "versions") is None:  # what computed the run, for its report
            store.put_artifact(prep.run_id, "versions", package_versions())
        if config.backend == Backend.RAY:
            skipped, computed = run_cells_ray(prep, store)
        else:
            skipped, computed = run_cells(prep, store)
        defenses.finish_run(prep, store)  # randomized smoothing certifies the samples
        run_sanity_checks(prep, store)
        save_report_artifacts(prep, store)
        save_attributions(prep, store)  # after the pictures: it explains the stored examples
    return RunOutcome(prep.run_id, store_path, skipped, computed)
