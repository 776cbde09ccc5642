"""Fixed-budget gradient attacks through foolbox: FGSM and PGD."""

from __future__ import annotations

from collections.abc import Sequence

import foolbox as fb
import torch

from attacks.base import ATTACKS, Attack, Found, Norm
from robustness.models.classifier import Classifier


class _FoolboxFixedBudget(Attack):
    def _make(self) -> fb.attacks.base.Attack:
        raise NotImplementedError

    def run(
        self, model: Classifier, x: torch.Tensor, y: torch.Tensor, epsilons: Sequence[float], *, seed: int
    ) -> Found:
        torch.manual_seed(seed)
        fmodel = fb.PyTorchModel(model, bounds=model.bounds, device=model.device)
        _, clipped, _ = self._make()(fmodel, x, y, epsilons=list(epsilons))
        return Found(adversarials=[c.detach() for c in clipped])


@ATTACKS.register("fgsm")
class FGSM(_FoolboxFixedBudget):
    """Fast gradient sign method (Goodfellow et al. 2015), Linf."""

    name = "fgsm"
    norm = Norm.LINF

    def _make(self) -> fb.attacks.base.Attack:
        return fb.attacks.FGSM()


@ATTACKS.register("pgd_linf")
class LinfPGD(_FoolboxFixedBudget):
    """Projected gradient descent (Madry et al. 2018), Linf, random start."""

    name = "pgd_linf"
    norm = Norm.LINF

    def __init__(self, *, steps: int = 10, rel_stepsize: float = 0.25, random_start: bool = True) -> None:
        self.steps = steps
        self.rel_stepsize = rel_stepsize
        self.random_start = random_start

    def _make(self) -> fb.attacks.base.Attack:
        return fb.attacks.LinfPGD(steps=self.steps, rel_stepsize=self.rel_stepsize, random_start=self.random_start)
