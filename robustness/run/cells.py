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
from robustness.results.outputs import empty_outputs, outputs_name, pack_outputs
from robustness.results.store import CellResult, Store
from robustness.run.plan import CLEAN, AttackTask, Cell, attack_cell
from robustness.run.prepare import Prepared


def input_batches(prep: Prepared, jobs: list[BatchTransform | None]) -> Iterator[JobBatch]:
    """The evaluated samples' batches for each job in turn, read (and corrupted) by the loader workers."""
    return grid_batches(
        prep.dataset, prep.positions, prep.config.batch_size, jobs,
        workers=loader_workers(prep.config.loader_workers, model_on_cpu=prep.classifier.device.type == "cpu"),
        pin_memory=prep.classifier.device.type == "cuda",
    )  # fmt: skip


@torch.no_grad()
def sample_outputs(classifier: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor | np.ndarray) -> np.ndarray:
    """Per-sample prediction, top softmax probability and true-class NLL (:mod:`robustness.results.outputs`)."""
    device = getattr(classifier, "device", images.device)
    logits = torch.cat([classifier(images[i : i + 512].to(device)).float().cpu() for i in range(0, len(images), 512)])
    log_probs = torch.log_softmax(logits, dim=1)
    top, prediction = log_probs.max(dim=1)
    nll = -log_probs.gather(1, torch.as_tensor(labels).long().view(-1, 1)).squeeze(1)
    return pack_outputs(prediction.numpy(), top.exp().numpy(), nll.numpy(), int(logits.shape[1]))


def _joined(prep: Prepared, parts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(correctness, outputs) of the run's samples from per-batch output records."""
    outputs = np.concatenate(parts) if parts else empty_outputs(prep.classifier.num_classes)
    return outputs["prediction"] == prep.labels, outputs


def evaluate_clean(prep: Prepared) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample correctness and output records (prediction, confidence, NLL) on the clean images."""
    items = input_batches(prep, [None])
    return _joined(prep, [sample_outputs(prep.classifier, it.batch.images, it.batch.labels) for it in items])


def evaluate_corruptions(prep: Prepared, cells: list[Cell]) -> Iterator[tuple[Cell, np.ndarray, float]]:
    """``(cell, per-sample output records, seconds)`` for each cell in order, as soon as it is complete.

    One loader serves every cell: its workers corrupt the next batches (of this cell or the
    next) while the model runs on the current one.
    """
    if not cells:
        return
    if prep.precomputed is not None or not len(prep.positions):
        for cell in cells:
            start = time.perf_counter()
            yield cell, evaluate_precomputed(prep, cell)[1], time.perf_counter() - start
        return
    placed = [
        corruptions.place_cell(c.perturbation, int(c.severity or 0), seed=prep.config.seed, device=prep.classifier.device)
        for c in cells
    ]  # (loader-worker transform, device transform): one of the two is None
    parts: list[list[np.ndarray]] = [[] for _ in cells]
    current, start = 0, time.perf_counter()
    for item in input_batches(prep, [on_workers for on_workers, _ in placed]):
        if item.job != current:  # the loader moved on: the current cell is complete
            yield cells[current], _joined(prep, parts[current])[1], time.perf_counter() - start
            current, start = item.job, time.perf_counter()
        on_device = placed[current][1]
        images = item.batch.images if on_device is None else on_device(item.batch.images, item.batch.indices)
        parts[current].append(sample_outputs(prep.classifier, images, item.batch.labels))
    yield cells[current], _joined(prep, parts[current])[1], time.perf_counter() - start


def evaluate_corruption(prep: Prepared, cell: Cell) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample correctness and output records under one corruption cell."""
    return _joined(prep, [next(evaluate_corruptions(prep, [cell]))[1]])


def evaluate_precomputed(prep: Prepared, cell: Cell) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample correctness and output records on one cell read from ``--precomputed`` files."""
    assert cell.severity is not None
    out = []
    if prep.precomputed is not None:
        sample_ids = prep.dataset.indices[prep.positions]
        batches = prep.precomputed.batches(
            cell.perturbation, cell.severity, prep.positions, sample_ids, prep.config.batch_size
        )
        for images, labels in batches:
            out.append(sample_outputs(prep.classifier, images, labels))
    return _joined(prep, out)


def commit_cell(prep: Prepared, store: Store, cell: Cell, outputs: np.ndarray, seconds: float) -> None:
    """Store a clean or corruption cell's output records, then the cell (the commit marks it finished)."""
    store.put_artifact(prep.run_id, outputs_name(cell.key), outputs)
    if cell.key == CLEAN.key:  # the clean predictions, as earlier runs stored them
        store.put_artifact(prep.run_id, "predictions/clean", outputs["prediction"].astype(np.int64))
    store.commit_cells(prep.run_id, [cell_result(cell, outputs["prediction"] == prep.labels, seconds)])


@dataclass
class AttackOutcome:
    """One attack task's verified per-sample outcome over its epsilons."""

    robust: np.ndarray  # [K, N] bool
    skipped: np.ndarray  # [N] bool: clean-correct samples the attack did not run on (its max_samples)
    distances: np.ndarray | None = None  # [N] minimal fooling norm (minimum-norm attacks)
    outputs: np.ndarray | None = None  # [K, N] output records on the example kept at each epsilon

    @classmethod
    def concat(cls, parts: list[AttackOutcome]) -> AttackOutcome:
        """The outcome over consecutive sample ranges, in order."""
        has_distances = {p.distances is not None for p in parts}
        has_outputs = {p.outputs is not None for p in parts}
        if len(has_distances) > 1 or len(has_outputs) > 1:
            raise ValueError("every part of an attack outcome should have distances (outputs), or none should")
        return cls(
            np.concatenate([p.robust for p in parts], axis=1),
            np.concatenate([p.skipped for p in parts]),
            np.concatenate([p.distances for p in parts]) if has_distances == {True} else None,  # type: ignore[misc]
            np.concatenate([p.outputs for p in parts], axis=1) if has_outputs == {True} else None,  # type: ignore[misc]
        )


def evaluate_attack(prep: Prepared, task: AttackTask) -> AttackOutcome:
    """The task's attack over every batch, swept over its epsilons.

    The sweep keeps its examples per epsilon (``keep_examples``: one copy of the batch per
    budget, freed after the batch) so that each budget's output records are the model's
    outputs on the very examples the sweep verified: one extra forward pass per budget.
    """
    attack = attacks.create(task.name, **task.params)
    model = defenses.attack_model(prep.config, prep.classifier)  # success is still judged on prep.classifier
    parts = []
    for batch in prep.dataset.batches(prep.config.batch_size, prep.positions):
        # one seed for every batch: attacks key their draws per sample (seed, image content), so the
        # bits do not depend on --batch-size
        result = attack.sweep(
            model, batch.images, batch.labels, task.epsilons, seed=prep.config.seed, keep_examples=True
        )
        skipped = np.zeros(result.n, dtype=bool) if result.attacked is None else result.clean_correct & ~result.attacked
        outputs = np.stack(
            [sample_outputs(prep.classifier, result.examples.get(e, batch.images), batch.labels) for e in task.epsilons]
        )
        parts.append(AttackOutcome(result.robust, skipped, result.distances, outputs))
    if not parts:
        empty = np.zeros((len(task.epsilons), 0), dtype=bool)
        return AttackOutcome(empty, np.zeros(0, dtype=bool), None, np.stack([empty_outputs(prep.classifier.num_classes)] * len(task.epsilons)))
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
    if outcome.outputs is not None:
        for k, cell in enumerate(task.cells):
            store.put_artifact(prep.run_id, outputs_name(cell.key), outcome.outputs[k])
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
        outputs = worst_case_outputs(prep, store, [next(c for c in t.cells if c.epsilon == cell.epsilon) for t in members])
        if outputs is not None:
            store.put_artifact(prep.run_id, outputs_name(cell.key), outputs)
        results.append(cell_result(cell, robust, 0.0, extra={"attacks": [t.name for t in members]}))
    store.commit_cells(prep.run_id, results)
    return len(results)


def worst_case_outputs(prep: Prepared, store: Store, members: list[Cell]) -> np.ndarray | None:
    """Per sample, the member attack's record that fooled it with the lowest true-class probability
    (the lowest among all members where none fooled it); None when a member has no records."""
    records = [store.artifact(prep.run_id, outputs_name(c.key)) for c in members]
    if not records or any(r is None or len(r) != len(prep.labels) for r in records):
        return None
    stacked = np.stack(records)  # [members, N]
    fooled = stacked["prediction"] != prep.labels[None, :]
    score = np.where(fooled, -1.0, 0.0) * 1e6 - stacked["nll"].astype(np.float64)  # fooled first, then highest NLL
    return stacked[np.argmin(score, axis=0), np.arange(stacked.shape[1])]


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
