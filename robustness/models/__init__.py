"""Model zoo, loading, training and the ``Classifier`` wrapper.

Layer: may import ``robustness.core`` and ``robustness.data``; training takes its loss as an argument, so
nothing of defenses or attacks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, replace

import torch

from robustness.data import DatasetRequest, load_dataset
from robustness.models.classifier import Classifier
from robustness.models.loading import ModelRequest, build_model, file_digest, make_classifier
from robustness.models.training import LossFn, TrainRecipe, cache_path, save_checkpoint, train_model
from robustness.models.zoo import MODELS

__all__ = [
    "MODELS",
    "Classifier",
    "LossFn",
    "ModelRequest",
    "TrainRecipe",
    "ensure_trained",
    "load_classifier",
]

log = logging.getLogger(__name__)


def ensure_trained(
    arch: str,
    dataset: str,
    *,
    seed: int = 0,
    recipe: TrainRecipe | None = None,
    loss: Callable[[int], LossFn] | None = None,
    data_root: str | None = None,
    device: str = "cpu",
    retrain: bool = False,
) -> str:
    """Path of cached weights for a built-in ``arch`` trained on ``dataset``; trains on a miss.

    ``loss`` builds the training loss for the dataset's number of classes (a defense's recipe:
    ``robustness.defenses.training_loss``); it is required when ``recipe.defense`` is not
    ``"standard"`` (plain cross-entropy), since the cache key names the defense.
    """
    recipe = recipe or TrainRecipe()
    if loss is None and recipe.defense != "standard":
        raise ValueError(f"recipe {recipe.defense!r} needs its training loss: pass loss=... (see defenses.training_loss)")
    path = cache_path(arch, dataset, seed, recipe)
    if path.exists() and not retrain:
        return str(path)
    train_set = load_dataset(dataset, DatasetRequest(split="train", root=data_root, seed=seed))
    torch.manual_seed(seed)  # the initial weights, like the training that follows, depend on the seed alone
    model = MODELS.get(arch)(train_set.channels, train_set.num_classes)
    log.info("training %s on %s (seed %d); cached at %s", arch, dataset, seed, path)
    kwargs = {"loss_fn": loss(train_set.num_classes)} if loss is not None else {}
    train_model(model, train_set, recipe, seed=seed, device=device, desc=f"train {arch}", **kwargs)
    test_set = load_dataset(dataset, DatasetRequest(split="test", root=data_root, seed=seed))
    clf = Classifier(model.cpu(), num_classes=test_set.num_classes, input_shape=test_set.input_shape)
    images, labels = test_set.load(torch.arange(len(test_set)).numpy())
    accuracy = float((clf.predict(images) == labels).float().mean())
    meta = {"arch": arch, "dataset": dataset, "seed": seed, "recipe": asdict(recipe), "test_accuracy": accuracy}
    save_checkpoint(model, path, meta)
    return str(path)


def load_classifier(
    request: ModelRequest,
    *,
    num_classes: int,
    input_shape: tuple[int, int, int],
) -> tuple[Classifier, dict[str, object]]:
    """Build the classifier for ``request`` on data of ``input_shape`` with ``num_classes``.

    Returns the classifier and a description (spec, weights digest, normalization) for run records.
    """
    model, meta = build_model(request, input_shape[0], request.num_classes or num_classes)
    shape = tuple(meta.get("input_shape", request.input_shape or input_shape))  # type: ignore[arg-type]
    channels = first_conv_channels(model)
    if channels is not None:
        shape = (channels, *shape[1:])
    mean = request.mean or meta.get("mean")  # type: ignore[assignment]
    std = request.std or meta.get("std")  # type: ignore[assignment]
    n_classes = int(meta.get("num_classes", request.num_classes or num_classes))  # type: ignore[arg-type]
    clf = make_classifier(model, num_classes=n_classes, input_shape=shape, mean=mean, std=std, name=request.spec)
    info: dict[str, object] = {
        "spec": request.spec,
        "weights": request.weights,
        "weights_sha256": file_digest(request.weights) if request.weights else None,
        "mean": list(mean) if mean else None,
        "std": list(std) if std else None,
        "num_classes": n_classes,
        "input_shape": list(shape),
    }
    if request.random_weights and not (request.weights or request.pretrained):
        info["random_weights"] = True  # the report says the accuracies measure an untrained network
    return clf, info


def first_conv_channels(model: torch.nn.Module) -> int | None:
    """The input channels of the model's first convolution, if it has one."""
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            return int(module.in_channels)
    return None


def with_trained_weights(request: ModelRequest, dataset: str, *, seed: int, data_root: str | None, device: str) -> ModelRequest:
    """For a built-in architecture without ``--weights``: the request with cached (or fresh) weights."""
    if request.spec in MODELS and not request.weights:
        return replace(request, weights=ensure_trained(request.spec, dataset, seed=seed, data_root=data_root, device=device))
    return request
