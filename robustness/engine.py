"""The evaluation engine: prepare a model and data, plan the grid, run the cells, store them.

Every cell is committed to the store when it finishes; cells already in the store are
skipped, so re-running an interrupted audit resumes it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from robustness import corruptions, defenses
from robustness.artifacts import save_report_artifacts
from robustness.config import AuditConfig, run_id_for
from robustness.data import DatasetRequest, ImageDataset, load_dataset
from robustness.errors import UsageError
from robustness.models import Classifier, ModelRequest, load_classifier
from robustness.models import with_trained_weights
from robustness.outputs import check_writable, write_outputs
from robustness.plan import CLEAN, AttackTask, Cell, Plan, make_plan
from robustness.precomputed import PrecomputedCorruptions
from robustness.progress import progress_bar
from robustness.store import CellResult, Store

log = logging.getLogger(__name__)


@dataclass
class Prepared:
    """A validated audit, ready to run."""

    config: AuditConfig
    classifier: Classifier
    dataset: ImageDataset
    positions: np.ndarray
    labels: np.ndarray
    plan: Plan
    run_id: str
    model_info: dict[str, Any]
    precomputed: PrecomputedCorruptions | None = None


@dataclass
class AuditOutcome:
    run_id: str
    out_dir: Path
    store: Path
    results: pd.DataFrame
    skipped: int
    computed: int


def model_request(config: AuditConfig) -> ModelRequest:
    return ModelRequest(
        spec=config.model,
        weights=config.weights,
        num_classes=config.num_classes,
        mean=config.mean,
        std=config.std,
        pretrained=config.pretrained,
        download=config.download,
        unsafe_load=config.unsafe_load,
    )


def resolve_device(device: str) -> torch.device:
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {device} was asked for, but no CUDA device is available here; use --device cpu.")
    return torch.device(device)


def prepare(config: AuditConfig) -> Prepared:
    """Load and validate everything before any result is written; raise UsageError on bad input."""
    device = resolve_device(config.device)
    plan = make_plan(config)
    request = model_request(config)
    dataset_probe = load_dataset(
        config.dataset, DatasetRequest(split="test", root=config.data_root, download=config.download, seed=config.seed)
    )
    request = defenses.prepare_request(config, request)  # a training defense trains its weights first
    request = with_trained_weights(request, config.dataset, seed=config.seed, data_root=config.data_root, device=config.device)
    classifier, info = load_classifier(request, num_classes=dataset_probe.num_classes, input_shape=dataset_probe.input_shape)
    dataset = dataset_probe
    if classifier.input_shape != dataset.input_shape and dataset.resizable:
        dataset = load_dataset(
            config.dataset,
            DatasetRequest(split="test", root=config.data_root, seed=config.seed, input_shape=classifier.input_shape),
        )
    check_compatible(classifier, dataset)
    classifier, info = defenses.defend(config, classifier, info)  # a transform defense wraps the model
    classifier.to(device)
    n = len(dataset) if config.n is None else min(config.n, len(dataset))
    positions = np.arange(n)
    labels = np.concatenate([b.labels.numpy() for b in dataset.batches(4096, positions)]) if n else np.empty(0, int)
    if labels.min() < 0 or labels.max() >= classifier.num_classes:
        raise UsageError(
            f"dataset labels should lie in 0..{classifier.num_classes - 1} (the model's classes), but got "
            f"{int(labels.min())}..{int(labels.max())}; pass --num-classes or check the dataset."
        )
    check_output_shape(classifier, dataset)
    precomputed = None
    if config.precomputed:
        precomputed = PrecomputedCorruptions(config.precomputed, classifier.input_shape)
        precomputed.check_labels(labels, positions, dataset.indices[positions], config.batch_size)
    run_id = run_id_for(config, model_info=info, corruption_cells=[c.key for c in plan.corruption_cells],
                        attack_tasks=[(t.name, t.norm, t.epsilons, t.params) for t in plan.attack_tasks],
                        **resolved_defense(info))  # fmt: skip
    return Prepared(config, classifier, dataset, positions, labels, plan, run_id, info, precomputed)


def resolved_defense(info: dict[str, Any]) -> dict[str, Any]:
    """The defense settings as the run id should see them: every hyperparameter spelled out (defaults
    included), and the evaluation mode only where it matters (``defend`` records it for transforms)."""
    defense = info.get("defense")
    if not defense:
        return {}
    return {"defense_params": defense["hyperparameters"], "defense_eval": info.get("defense_eval")}


def check_compatible(classifier: Classifier, dataset: ImageDataset) -> None:
    if classifier.channels != dataset.channels:
        raise UsageError(
            f"the model takes {classifier.channels}-channel images, but dataset {dataset.name!r} has "
            f"{dataset.channels} channel(s); choose a model built for this data (built-ins adapt) or another dataset."
        )
    if classifier.input_shape[1:] != dataset.input_shape[1:]:
        raise UsageError(
            f"the model takes {classifier.input_shape[1]}x{classifier.input_shape[2]} images, but dataset "
            f"{dataset.name!r} has {dataset.image_size[0]}x{dataset.image_size[1]}; use an image folder (resized to "
            "the model) or a model for this size."
        )


def check_output_shape(classifier: Classifier, dataset: ImageDataset) -> None:
    images, _ = dataset.load(np.arange(min(2, len(dataset))))
    try:
        with torch.no_grad():
            out = classifier(images.to(classifier.device))
    except RuntimeError as err:
        raise UsageError(f"the model failed on a batch of shape {tuple(images.shape)}: {str(err).splitlines()[0]}") from None
    expected = (len(images), classifier.num_classes)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != expected:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise UsageError(
            f"model output should be shaped [N, num_classes] = {list(expected)}, but got {got}; "
            "pass --num-classes or wrap the model so it returns logits."
        )


# cell evaluation --------------------------------------------------------------------------
def evaluate_clean(prep: Prepared) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample correctness and predicted labels on the clean images."""
    preds = [prep.classifier.predict(b.images) for b in prep.dataset.batches(prep.config.batch_size, prep.positions)]
    predictions = torch.cat(preds).numpy() if preds else np.empty(0, dtype=np.int64)
    return predictions == prep.labels, predictions


def evaluate_corruption(prep: Prepared, cell: Cell) -> np.ndarray:
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
    corruption = corruptions.get(cell.perturbation)
    for batch in prep.dataset.batches(prep.config.batch_size, prep.positions):
        images = corruptions.corrupt_batch(corruption, batch.images, cell.severity, batch.indices, seed=prep.config.seed)
        out.append((prep.classifier.predict(images) == batch.labels).numpy())
    return np.concatenate(out)


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
    import attacks

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


# running ----------------------------------------------------------------------------------
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
            correct, predictions = evaluate_clean(prep)
            store.put_artifact(prep.run_id, "predictions/clean", predictions.astype(np.int64))
            store.commit_cells(prep.run_id, [cell_result(CLEAN, correct, time.perf_counter() - start)])
            computed += 1
            bar.update(1)
        for cell in pending_corr:
            bar.set_postfix_str(cell.key)
            start = time.perf_counter()
            correct = evaluate_corruption(prep, cell)
            store.commit_cells(prep.run_id, [cell_result(cell, correct, time.perf_counter() - start)])
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
            robust &= bits[f"attack/{task.name}/{cell.norm}/{cell.epsilon:.6g}"]
        results.append(cell_result(cell, robust, 0.0, extra={"attacks": [t.name for t in members]}))
    store.commit_cells(prep.run_id, results)
    return len(results)


SANITY_SAMPLES = 128


def run_sanity_checks(prep: Prepared, store: Store) -> None:
    """Evaluate the attack sanity checks once per run and store the flags (artifact ``sanity``).

    The result-level checks read the attacks' verified per-sample outcomes back from the store,
    so they work the same after a resume or on the Ray backend.
    """
    import attacks

    if not prep.config.sanity or not prep.plan.attack_tasks or store.artifact(prep.run_id, "sanity") is not None:
        return
    bits = store.bits(prep.run_id)
    clean = bits[CLEAN.key]
    results = []
    for task in prep.plan.attack_tasks:
        robust = np.stack([bits[c.key] for c in task.cells])
        distances = store.artifact(prep.run_id, f"distances/{task.name}")
        skipped = store.artifact(prep.run_id, f"skipped/{task.name}")  # absent: the attack ran on every sample
        attacked = None if skipped is None else ~skipped
        results.append(
            attacks.SweepResult(
                task.name, attacks.Norm(task.norm), task.epsilons, robust, clean, distances, attacked=attacked
            )
        )
    sample = prep.positions[:SANITY_SAMPLES]
    x, y = prep.dataset.load(sample)
    model = defenses.attack_model(prep.config, prep.classifier)  # the gradients the attacks saw
    flags = attacks.run_checks(model, x, y, results, seed=prep.config.seed)
    store.put_artifact(prep.run_id, "sanity", [flag.to_dict() for flag in flags])


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


def run_audit(config: AuditConfig) -> AuditOutcome:
    """Run (or resume) an audit and write its outputs; the CLI and :func:`audit` call this."""
    check_writable(Path(config.out))
    prep = prepare(config)
    store_path = config.store_path()
    with Store(store_path) as store:
        store.begin_run(
            prep.run_id,
            model=config.model,
            dataset=config.dataset,
            seed=config.seed,
            config=config.to_dict(),
            info={"model": prep.model_info, "class_names": list(prep.dataset.class_names)},
            sample_ids=prep.dataset.indices[prep.positions],
            labels=prep.labels,
        )
        if config.backend == "ray":
            from robustness.distributed import run_cells_ray

            skipped, computed = run_cells_ray(prep, store)
        else:
            skipped, computed = run_cells(prep, store)
        defenses.finish_run(prep, store)  # randomized smoothing certifies the samples
        run_sanity_checks(prep, store)
        save_report_artifacts(prep, store)
        out_dir = Path(config.out) / prep.run_id
        results = write_outputs(store, prep.run_id, out_dir)
    return AuditOutcome(prep.run_id, out_dir, store_path, results, skipped, computed)


def audit(config: AuditConfig | None = None, **overrides: Any) -> pd.DataFrame:
    """Python API: run an audit and return its tidy results.

    >>> df = audit(dataset="digits", corruptions=("rotation",), attacks=("none",), n=64)  # doctest: +SKIP
    """
    config = config or AuditConfig()
    if overrides:
        config = replace(config, **overrides)
    return run_audit(config).results
