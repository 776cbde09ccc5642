"""Models for the AutoAttack cross-checks and the authors' ``pyautoattack`` as the reference.

Three digit classifiers trained in-process (CPU, seconds each), written the way third-party
code is (``x.view(x.size(0), -1)``, in-place ReLU, no normalization layer):

* ``standard``: plain cross-entropy training;
* ``adversarial``: a few epochs of FGSM training from a random start (Wong et al. 2020);
* ``flat``: the standard model with logits scaled by 100, so softmax saturates and
  cross-entropy gradients vanish (the DLR loss is scale invariant).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from robustness.models.classifier import Classifier

MODELS = ("standard", "adversarial", "flat")


class ThirdPartyNet(nn.Module):
    """A tutorial-style CNN: flattens with ``.view`` and uses in-place ReLU."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1, stride=2)
        self.relu = nn.ReLU(inplace=True)
        self.fc = nn.Linear(32 * 4 * 4, 10)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.conv1(x))
        x = self.relu(self.conv2(x))
        x = x.view(x.size(0), -1)
        return self.fc(x) * self.scale


@functools.cache
def _trained(kind: str) -> dict[str, torch.Tensor]:
    from tests.conftest_attacks import _digits

    xtr, ytr, _, _ = _digits()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = ThirdPartyNet()
        opt = torch.optim.Adam(net.parameters(), lr=5e-3)
        gen = torch.Generator().manual_seed(1)
        epochs, eps = (12, 0.1) if kind == "adversarial" else (8, 0.0)
        for _ in range(epochs):
            perm = torch.randperm(len(xtr), generator=gen)
            for i in range(0, len(xtr), 64):
                xb, yb = xtr[perm[i : i + 64]], ytr[perm[i : i + 64]]
                if eps:
                    xb = _fgsm_rs(net, xb, yb, eps, gen)
                loss = F.cross_entropy(net(xb), yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def _fgsm_rs(net: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, gen: torch.Generator) -> torch.Tensor:
    delta = (torch.rand(x.shape, generator=gen) * 2 - 1) * eps
    xa = (x + delta).clamp(0, 1).requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(net(xa), y), xa)
    step = (xa.detach() + 1.25 * eps * grad.sign() - x).clamp(-eps, eps)
    return (x + step).clamp(0, 1).detach()


def make(kind: str) -> Classifier:
    """A fresh ``Classifier`` (bounds (0, 1), no normalization) of the ``kind`` model."""
    net = ThirdPartyNet(scale=100.0 if kind == "flat" else 1.0)
    net.load_state_dict(_trained("standard" if kind == "flat" else kind))
    return Classifier(net.eval(), num_classes=10, input_shape=(1, 8, 8), name=f"third-party-{kind}")


def pyautoattack_robust(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    norm: str,
    *,
    version: str = "standard",
    attacks: list[str] | None = None,
    n_iter: int | None = None,
) -> torch.Tensor:
    """Per-sample robustness (bool ``[N]``) under the authors' AutoAttack at ``eps``."""
    from pyautoattack import AutoAttack

    aa = AutoAttack(model, eps=eps, norm={"linf": "Linf", "l2": "L2"}[norm], version=version, attacks=attacks,
                    seed=0, device="cpu")  # fmt: skip
    aa.verbose = False
    if n_iter is not None:
        aa.apgd.n_iter = aa.apgd_targeted.n_iter = n_iter
        for a in (aa.apgd, aa.apgd_targeted):
            a.n_iter_2, a.n_iter_min, a.size_decr = max(int(0.22 * n_iter), 1), max(int(0.06 * n_iter), 1), max(int(0.03 * n_iter), 1)
    if version == "custom":
        aa.apgd_targeted.n_target_classes = 9
    adv, _ = aa.run_standard_evaluation(x, y, batch_size=len(x))
    with torch.no_grad():
        return model(adv).argmax(1) == y
