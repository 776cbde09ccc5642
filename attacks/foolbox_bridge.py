"""The one place the suite talks to foolbox: model adapter, criteria, seeding, frozen weights.

foolbox draws its randomness from torch's global generator; :func:`seeded` forks that
generator so a seeded attack is reproducible and leaves the caller's random state alone.
foolbox (through eagerpy) takes input gradients with ``loss.backward()``, which also
computes and accumulates every weight gradient; :func:`frozen` switches the weights'
``requires_grad`` off for the duration, which roughly halves the backward pass and leaves
the model's ``.grad`` untouched.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import foolbox as fb
import torch
from torch import nn

from attacks.base import model_bounds, model_device


def foolbox_model(model: nn.Module) -> fb.PyTorchModel:
    """foolbox's adapter around ``model`` (a Classifier or surrogate): pixel bounds, no preprocessing."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # surrogates are eval-mode wrappers; foolbox warns on any train flag
        return fb.PyTorchModel(model, bounds=model_bounds(model), device=model_device(model))


def criterion(y: torch.Tensor, targets: torch.Tensor | None) -> fb.criteria.Criterion:
    """Misclassification of ``y``, or classification as ``targets`` when given."""
    if targets is None:
        return fb.criteria.Misclassification(y)
    return fb.criteria.TargetedMisclassification(targets)


@contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Run the block with torch's global generator(s) seeded, restoring them afterwards."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


@contextmanager
def frozen(model: nn.Module) -> Iterator[None]:
    """Run the block with every parameter of ``model`` excluded from autograd, then restore."""
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)
