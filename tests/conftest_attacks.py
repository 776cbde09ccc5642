"""Shared fixtures for the attack tests: tiny deterministic models on scikit-learn's 8x8 digits.

Import the fixtures you use into the test module (``from tests.conftest_attacks import digits, net``).
Models are trained once per process (cached functions), on CPU, in about a second.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from attacks.adaptive import with_preprocessing
from robustness.models.classifier import Classifier

N_TEST = 240


@functools.lru_cache(maxsize=None)
def _digits() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.tensor(bunch.images, dtype=torch.float32)[:, None] / 16.0
    y = torch.tensor(bunch.target, dtype=torch.long)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    test, train = perm[:N_TEST], perm[N_TEST:]
    return x[train], y[train], x[test], y[test]


def _small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, padding=1, stride=2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(16 * 4 * 4, 10),
    )


@functools.lru_cache(maxsize=None)
def _trained_state() -> dict[str, torch.Tensor]:
    xtr, ytr, _, _ = _digits()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = _small_cnn()
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        gen = torch.Generator().manual_seed(1)
        for _ in range(6):
            perm = torch.randperm(len(xtr), generator=gen)
            for i in range(0, len(xtr), 128):
                b = perm[i : i + 128]
                loss = F.cross_entropy(net(xtr[b]), ytr[b])
                opt.zero_grad()
                loss.backward()
                opt.step()
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def make_classifier() -> Classifier:
    """A fresh Classifier around the cached trained weights (~97% clean accuracy)."""
    net = _small_cnn()
    net.load_state_dict(_trained_state())
    return Classifier(net.eval(), num_classes=10, input_shape=(1, 8, 8), name="tiny-cnn")


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Input quantization to 3 levels: a classic gradient-masking defense (zero gradient everywhere)."""
    return torch.round(x * 2) / 2


def make_quantized() -> Classifier:
    return with_preprocessing(make_classifier(), quantize, name="quantize")


class NoisyInput(nn.Module):
    """A randomized defense: Gaussian noise on the input at every forward pass."""

    def __init__(self, sigma: float) -> None:
        super().__init__()
        self.sigma = sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x + self.sigma * torch.randn_like(x)).clamp(0, 1)


def make_randomized(sigma: float = 0.1) -> Classifier:
    base = make_classifier()
    return Classifier(nn.Sequential(NoisyInput(sigma), base).eval(), num_classes=10, input_shape=(1, 8, 8), name="noisy")


class Softmaxed(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x).softmax(1)


def make_softmaxed() -> Classifier:
    return Classifier(Softmaxed(make_classifier()).eval(), num_classes=10, input_shape=(1, 8, 8), name="softmaxed")


@pytest.fixture
def digits() -> tuple[torch.Tensor, torch.Tensor]:
    """The held-out 8x8 digits (images in [0, 1], labels)."""
    _, _, x, y = _digits()
    return x.clone(), y.clone()


@pytest.fixture
def net() -> Classifier:
    return make_classifier()


def clean_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def as_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()
