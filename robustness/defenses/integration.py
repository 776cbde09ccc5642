"""Where the evaluation engine meets the defenses: four calls, each a no-op without a defense.

An audit names its defense with ``AuditConfig.defense`` (a registered name),
``defense_params`` (its hyperparameters) and ``defense_eval`` (``"adaptive"``, the default,
or ``"naive"``: how attacks see a transform defense). The engine calls, in order:

1. :func:`prepare_request` before loading the model: a training defense on a built-in
   architecture trains (or loads from the cache) the weights with the defense's recipe;
2. :func:`defend` after loading it: a transform defense wraps the classifier (the true
   defended model: clean, corruption and attack cells are all judged on it); a defense
   that cannot apply to the model raises :class:`UsageError` saying why;
3. :func:`attack_model` per attack task: the model attacks take gradients through (the
   BPDA/EOT surrogate for an adaptive evaluation of a transform, else the classifier);
4. :func:`finish_run` after the cells: randomized smoothing certifies the samples and
   stores the certificates as artifacts (``certified``, ``certified/prediction``,
   ``certified/radius``); resumed runs skip it.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from torch import nn

from robustness.core import params as hyperparameters
from robustness.core.errors import UsageError
from robustness.defenses.base import DEFENSES, Defense, TrainingDefense, TransformDefense

log = logging.getLogger(__name__)

EVALUATIONS = ("adaptive", "naive")
CERTIFIED = "certified"


def create(name: str, **params: Any) -> Defense:
    """Instantiate a registered defense; keyword arguments are its hyperparameters."""
    return hyperparameters.build(DEFENSES, "defense", name, params)


def from_config(config: Any) -> Defense | None:
    """The defense an audit config names (``None`` when it names none)."""
    name = getattr(config, "defense", None)
    if not name:
        return None
    return create(name, **dict(getattr(config, "defense_params", None) or {}))


def evaluation(config: Any) -> str:
    mode = getattr(config, "defense_eval", "adaptive") or "adaptive"
    if mode not in EVALUATIONS:
        raise UsageError(f"--defense-eval should be one of {', '.join(EVALUATIONS)}, but got {mode!r}.")
    return mode


def train_recipe(name: str | None, params: dict[str, Any] | None = None, *, epochs: int | None = None) -> Any:
    """The TrainRecipe for ``robustness train --defense NAME``; transforms have nothing to train."""
    params = dict(params or {})
    if epochs is not None:
        params["epochs"] = epochs
    defense = create(name or "standard", **params)
    if not isinstance(defense, TrainingDefense):
        raise UsageError(
            f"--defense {defense.name!r} is an input transformation: it wraps a trained model and has nothing to "
            "train; train the base model (no --defense) and use it with `robustness audit --defense` or `compare`."
        )
    return defense.recipe()


def training_loss(recipe: Any, num_classes: int) -> Any:
    """The training loss of ``recipe.defense`` with ``recipe.defense_params`` (what ``ensure_trained`` takes as ``loss``)."""
    defense = create(recipe.defense, **dict(recipe.defense_params or {}))
    if not isinstance(defense, TrainingDefense):
        raise UsageError(f"defense {recipe.defense!r} is an input transformation, not a training recipe.")
    return defense.loss(num_classes=num_classes)


def prepare_request(config: Any, request: Any) -> Any:
    """The model request with the defense's trained weights (training defenses on built-ins)."""
    defense = from_config(config)
    evaluation(config)
    if not isinstance(defense, TrainingDefense):
        return request
    from robustness.models import MODELS, ensure_trained

    certify_only = defense.certifies
    if request.weights:
        if certify_only:
            log.info("smoothing: certifying the given weights as they are (they should be trained with Gaussian noise)")
            return request
        raise UsageError(
            f"--defense {defense.name!r} trains the model's weights itself, but --weights {request.weights!r} was "
            "given; drop --weights to train the defended model, or evaluate your checkpoint without --defense "
            "(in compare: model:SPEC@WEIGHTS)."
        )
    if request.spec not in MODELS:
        if certify_only:
            log.info("smoothing: %s is not a built-in; certifying it as it is", request.spec)
            return request
        raise UsageError(
            f"--defense {defense.name!r} trains a built-in architecture ({', '.join(MODELS)}), but --model is "
            f"{request.spec!r}; train your model with robustness.defenses.training_loss(...) yourself and pass "
            "--weights without --defense, or use a transform defense (jpeg, bit-depth, median-filter)."
        )
    weights = ensure_trained(
        request.spec, config.dataset, seed=config.seed, recipe=defense.recipe(),
        loss=lambda num_classes: defense.loss(num_classes=num_classes), data_root=config.data_root, device=config.device,
    )  # fmt: skip
    return replace(request, weights=weights)


def defend(config: Any, classifier: nn.Module, info: dict[str, Any]) -> tuple[nn.Module, dict[str, Any]]:
    """The defended classifier and its description; raise UsageError when the defense cannot apply."""
    defense = from_config(config)
    if defense is None:
        return classifier, info
    defense.check_model(classifier)
    info = {**info, "defense": defense.describe()}
    if isinstance(defense, TransformDefense):  # only attacks on a transform can be naive
        return defense.wrap(classifier), {**info, "defense_eval": evaluation(config)}
    return classifier, info


def attack_model(config: Any, classifier: nn.Module) -> nn.Module:
    """What attacks take gradients through: the adaptive surrogate of a transform defense, else ``classifier``."""
    defense = from_config(config)
    if isinstance(defense, TransformDefense) and evaluation(config) == "adaptive":
        return defense.adaptive(classifier)
    return classifier


def finish_run(prep: Any, store: Any) -> int:
    """Certify the run's samples for randomized smoothing; return the number of artifacts written."""
    defense = from_config(prep.config)
    if not (isinstance(defense, TrainingDefense) and defense.certifies):
        return 0
    if store.artifact(prep.run_id, CERTIFIED) is not None:
        return 0
    images, labels, ids = [], [], []
    for batch in prep.dataset.batches(prep.config.batch_size, prep.positions):
        images.append(batch.images)
        labels.append(batch.labels.numpy())
        ids.append(batch.indices)
    x = torch.cat(images) if images else torch.empty(0)
    y = np.concatenate(labels) if labels else np.empty(0, dtype=np.int64)
    sample_ids = np.concatenate(ids) if ids else np.empty(0, dtype=np.int64)
    certificate = defense.certify(prep.classifier, x, sample_ids, seed=prep.config.seed)  # type: ignore[attr-defined]
    store.put_artifact(prep.run_id, f"{CERTIFIED}/prediction", certificate.prediction)
    store.put_artifact(prep.run_id, f"{CERTIFIED}/radius", certificate.radius)
    store.put_artifact(prep.run_id, CERTIFIED, defense.summary_table(certificate, y))  # type: ignore[attr-defined]
    return 3
