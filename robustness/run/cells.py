"""Evaluate one cell (clean, corruption, attack task) and commit it to the store.

Both backends (local :mod:`robustness.run.engine`, Ray :mod:`robustness.run.distributed`) call
these, so a cell's bits do not depend on where it ran.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

import attacks
from robustness import corruptions, defenses
from robustness.data.loader import BatchTransform, JobBatch, grid_batches, loader_workers
from robustness.results.store import CellResult, Store
from robustness.run.plan import CLEAN, AttackTask, Cell, attack_cell
from robustness.run.prepare import Prepared


def input_batches(prep: Prepared, jobs: list[BatchTransform | None]) -> Iterator[JobBatch]:
    """The evaluated samples' batches for each job in turn, read (and corrupted) by the loader workers."""
    return grid_batches(
        prep.dataset, prep.positions, prep.config.batch_size, jobs,
        workers=loader_workers(prep.config.loader_workers), pin_memory=prep.classifier.device.type == "cuda",
    )  # fmt: skip


def evaluate_clean(prep: Prepared) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample correctness and predicted labels on the clean images."""
    preds = [prep.classifier.predict(item.batch.images) for item in input_batches(prep, [None])]
    predictions = torch.cat(preds).numpy() if preds else np.empty(0, dtype=np.int64)
    return predictions == prep.labels, predictions


def evaluate_corruptions(prep: Prepared, cells: list[Cell]) -> Iterator[tuple[Cell, np.ndarray, float]]:
    """``(cell, per-sample correctness, seconds)`` for each cell in order, as soon as it is complete.

    One loader serves every cell: its workers corrupt the next batches (of this cell or the
    next) while the model runs on the current one.
    """
    if not cells:
        return
    if prep.precomputed is not None or not len(prep.positions):
        for cell in cells:
            start = time.perf_counter()
            yield cell, evaluate_precomputed(prep, cell), time.perf_counter() - start
        return
    placed = [
        corruptions.place_cell(c.perturbation, int(c.severity or 0), seed=prep.config.seed, device=prep.classifier.device)
        for c in cells
    ]  # (loader-worker transform, device transform): one of the two is None
    parts: list[list[np.ndarray]] = [[] for _ in cells]
    current, start = 0, time.perf_counter()
    for item in input_batches(prep, [on_workers for on_workers, _ in placed]):
        if item.job != current:  # the loader moved on: the current cell is complete
            yield cells[current], np.concatenate(parts[current]), time.perf_counter() - start
            current, start = item.job, time.perf_counter()
        on_device = placed[current][1]
        images = item.batch.images if on_device is None else on_device(item.batch.images, item.batch.indices)
        parts[current].append((prep.classifier.predict(images) == item.batch.labels).numpy())
    yield cells[current], np.concatenate(parts[current]), time.perf_counter() - start


def evaluate_corruption(prep: Prepared, cell: Cell) -> np.ndarray:
    """Per-sample correctness on one corruption cell."""
    return next(evaluate_corruptions(prep, [cell]))[1]


def evaluate_precomputed(prep: Prepared, cell: Cell) -> np.ndarray:
    """Per-sample correctness on one cell read from ``--precomputed`` files."""
    assert cell.severity is not None
    out = []
    if prep.precomputed is not None:
        sample_ids = prep.dataset.indices[prep.positions]
        batches = prep.precomputed.batches(
            cell.perturbation, cell.severity, prep.positions, sample_ids, prep.config.batch_size
        )
        for images, labels in batches:
            out.append((prep.classifier.predict(images) == labels).numpy())
    return np.concatenate(out) if out else np.empty(0, dtype=bool)


@dataclass
class AttackOutcome:
    """One attack task's verified per-sample outcome over its epsilons."""

    robust: np.ndarray  # [K, N] bool
    skipped: np.ndarray  # [N] bool: clean-correct samples the attack did not run on (its max_samples)
    distances: np.ndarray | None = None  # [N] minimal fooling norm (minimum-norm attacks)

    @classmethod
    def concat(cls, parts: list[AttackOutcome]) -> AttackOutcome:
        """The outcome over consecutive sample ranges, in order."""
        has_distances = {p.distances is not None for p in parts}
        if len(has_distances) > 1:
            raise ValueError("every part of an attack outcome should have distances, or none should")
        return cls(
            np.concatenate([p.robust for p in parts], axis=1),
            np.concatenate([p.skipped for p in parts]),
            np.concatenate([p.distances for p in parts]) if has_distances == {True} else None,  # type: ignore[misc]
        )


def evaluate_attack(prep: Prepared, task: AttackTask) -> AttackOutcome:
    """The task's attack over every batch, swept over its epsilons."""
    attack = attacks.create(task.name, **task.params)
    model = defenses.attack_model(prep.config, prep.classifier)  # success is still judged on prep.classifier
    parts = []
    for batch in prep.dataset.batches(prep.config.batch_size, prep.positions):
        # one seed for every batch: attacks key their draws per sample (seed, image content), so the
        # bits do not depend on --batch-size
        result = attack.sweep(model, batch.images, batch.labels, task.epsilons, seed=prep.config.seed)
        skipped = np.zeros(result.n, dtype=bool) if result.attacked is None else result.clean_correct & ~result.attacked
        parts.append(AttackOutcome(result.robust, skipped, result.distances))
    if not parts:
        return AttackOutcome(np.zeros((len(task.epsilons), 0), dtype=bool), np.zeros(0, dtype=bool))
    return AttackOutcome.concat(parts)


def commit_attack(prep: Prepared, store: Store, task: AttackTask, outcome: AttackOutcome, seconds: float) -> int:
    """Store the task's per-sample artifacts, then its cells (the commit marks it finished); return the cell count.

    A sample the attack skipped counts as robust in its cells (nothing fooled it), so those cells
    are upper bounds: the cells say how many were skipped (``extra["skipped"]``) and the report
    says so next to them.
    """
    extra = dict(task.params)
    if outcome.distances is not None:
        store.put_artifact(prep.run_id, f"distances/{task.name}", outcome.distances)
    if outcome.skipped.any():
        store.put_artifact(prep.run_id, f"skipped/{task.name}", outcome.skipped)
        extra["skipped"] = int(outcome.skipped.sum())
    per_eps = seconds / len(task.epsilons)
    store.commit_cells(
        prep.run_id, [cell_result(c, outcome.robust[k], per_eps, extra=extra) for k, c in enumerate(task.cells)]
    )
    return len(task.cells)


def commit_worst_case(prep: Prepared, store: Store) -> int:
    """Per-example worst case over the attacks of each norm, from the stored bits."""
    bits = store.bits(prep.run_id)
    done = set(bits)
    results = []
    for cell in prep.plan.worst_case_cells():
        if cell.key in done:
            continue
        members = [t for t in prep.plan.attack_tasks if t.norm == cell.norm and cell.epsilon in t.epsilons]
        robust = bits[CLEAN.key].copy()
        for task in members:
            robust &= bits[attack_cell(task.name, cell.norm, cell.epsilon).key]
        results.append(cell_result(cell, robust, 0.0, extra={"attacks": [t.name for t in members]}))
    store.commit_cells(prep.run_id, results)
    return len(results)


def cell_result(cell: Cell, correct: np.ndarray, seconds: float, extra: dict[str, Any] | None = None) -> CellResult:
    return CellResult(
        cell=cell.key,
        kind=cell.kind,
        perturbation=cell.perturbation,
        family=cell.family,
        correct=np.asarray(correct, dtype=bool),
        seconds=seconds,
        severity=cell.severity,
        epsilon=cell.epsilon,
        norm=cell.norm,
        extra=extra,
    )
