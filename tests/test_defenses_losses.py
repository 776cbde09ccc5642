"""Adversarial-training losses do what their papers say, not just return a finite number.

Each test names the planted bug it catches; the finite-loss-with-gradients checks stay in
``test_defenses.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from robustness import defenses
from robustness.data.base import ArrayDataset
from robustness.defenses.adversarial import pgd_linf
from robustness.models.training import TrainRecipe, train_model


def tiny_net(seed: int = 0, inputs: int = 64, classes: int = 3) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(inputs, 32), nn.ReLU(), nn.Linear(32, classes))


def batch(n: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 8, 8, generator=generator), torch.arange(n) % 3


def loss_of(name: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor, **params: float) -> torch.Tensor:
    recipe = defenses.train_recipe(name, params, epochs=1)
    torch.manual_seed(1)  # the random start
    return defenses.training_loss(recipe, num_classes=3)(model, x, y).detach()


@pytest.mark.parametrize("name", ["pgd-at", "fgsm-rs"])
def test_adversarial_loss_exceeds_clean_cross_entropy(name: str) -> None:
    """Catches a loss computed on the clean batch, a descent step (sign flipped) or a zero step size."""
    model = tiny_net()
    x, y = batch()
    clean = F.cross_entropy(model(x), y).detach()
    adversarial = loss_of(name, model, x, y, epsilon=0.1)
    assert float(adversarial) > float(clean) * 1.05


def test_pgd_at_loss_is_the_cross_entropy_of_its_training_pgd() -> None:
    """Catches a loss on a different input than the training PGD's last iterate (e.g. clean, or a weaker attack)."""
    model = tiny_net()
    x, y = batch()
    torch.manual_seed(1)
    adv = pgd_linf(model, x, y, epsilon=0.1, steps=7, step_size=2.5 * 0.1 / 7)
    expected = F.cross_entropy(model(adv), y).detach()
    torch.testing.assert_close(loss_of("pgd-at", model, x, y, epsilon=0.1), expected)


def test_more_pgd_steps_give_a_larger_training_loss() -> None:
    """PGD with 10 steps finds a worse example than 1 step of half the size: catches a loop that ignores ``steps``."""
    model = tiny_net()
    x, y = batch()
    one = loss_of("pgd-at", model, x, y, epsilon=0.1, steps=1, step_size=0.05)
    ten = loss_of("pgd-at", model, x, y, epsilon=0.1, steps=10, step_size=0.05)
    assert float(ten) > float(one)


def test_trades_with_beta_zero_is_cross_entropy() -> None:
    """Catches a robustness term added regardless of beta, or a clean term computed on the adversarial batch."""
    model = tiny_net()
    x, y = batch()
    clean = F.cross_entropy(model(x), y).detach()
    torch.testing.assert_close(loss_of("trades", model, x, y, beta=0.0, steps=2), clean)


def test_trades_adds_beta_times_a_positive_kl() -> None:
    """The robustness term is linear in beta and positive (same random start, so the same adversarial batch):
    catches beta squared or ignored, a KL of the wrong sign, or an attack that leaves the input unchanged."""
    model = tiny_net()
    x, y = batch()
    clean = float(F.cross_entropy(model(x), y))
    one = float(loss_of("trades", model, x, y, beta=1.0, steps=3)) - clean
    six = float(loss_of("trades", model, x, y, beta=6.0, steps=3)) - clean
    assert one > 1e-4
    assert six == pytest.approx(6 * one, rel=1e-4)


def _digits(split: slice) -> ArrayDataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = (bunch.images[split] / 16.0).astype(np.float32)[..., None]
    return ArrayDataset("digits8", images, bunch.target[split], [str(d) for d in range(10)])


def _robust_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epsilon: float) -> float:
    torch.manual_seed(0)
    adv = pgd_linf(model, x, y, epsilon=epsilon, steps=10, step_size=epsilon / 4)
    with torch.no_grad():
        return float((model(adv).argmax(1) == y).float().mean())


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Tiny models train ~20x faster on one thread than on two when the cores are shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
def test_pgd_at_model_is_more_robust_than_a_standard_one() -> None:
    """Ten epochs on 800 8x8 digits: PGD-AT (Linf 0.15, 3 steps) gains at least 25 robust points at Linf 0.15
    over standard training (measured: 13.7% vs 55.7%). Catches a training loss that quietly falls back to
    clean cross-entropy, or a training attack too weak to matter."""
    train, test = _digits(slice(0, 800)), _digits(slice(1200, 1500))
    x, y = test.load(np.arange(len(test)))
    recipe = TrainRecipe(epochs=10, batch_size=32, lr=1e-2)
    accuracies = {}
    for name, params in (("standard", {}), ("pgd-at", {"steps": 3, "epsilon": 0.15})):
        loss = defenses.training_loss(defenses.train_recipe(name, params), num_classes=10)
        model = train_model(tiny_net(classes=10), train, recipe, seed=0, loss_fn=loss)
        accuracies[name] = _robust_accuracy(model, x, y, 0.15)
    assert accuracies["pgd-at"] >= accuracies["standard"] + 0.25, accuracies
