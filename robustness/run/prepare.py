"""Prepare an audit: load and validate the model, data and plan before anything is written.

:func:`prepare` raises :class:`~robustness.core.errors.UsageError` on any bad input; what it
returns (:class:`Prepared`) is everything the cells need, and it pickles for Ray workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from robustness import defenses
from robustness.core.errors import UsageError
from robustness.data import DatasetRequest, ImageDataset, load_dataset
from robustness.data.loader import loader_workers
from robustness.data.precomputed import PrecomputedCorruptions
from robustness.data.screening import screen_images
from robustness.models import Classifier, ModelRequest, load_classifier, with_trained_weights
from robustness.run.config import AuditConfig, run_id_for
from robustness.run.plan import Plan, make_plan


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
    #: image files left out by --skip-bad-images, as "path: reason"
    skipped_images: tuple[str, ...] = ()


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
        random_weights=config.random_weights,
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
    screened = screen_images(dataset, np.arange(n), skip=config.skip_bad_images, threads=loader_workers(config.loader_workers))
    dataset, positions = screened.dataset, screened.positions
    labels = dataset.labels_at(positions).numpy()
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
                        **resolved_defense(info), **skipped_files(screened.skipped))  # fmt: skip
    return Prepared(config, classifier, dataset, positions, labels, plan, run_id, info, precomputed, screened.skipped)


def skipped_files(skipped: tuple[str, ...]) -> dict[str, Any]:
    """What the run id sees of ``--skip-bad-images``: the files left out, only when there are some."""
    return {"skipped_images": list(skipped)} if skipped else {}


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
