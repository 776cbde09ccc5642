"""Attack abstraction and the honest bookkeeping around it.

An :class:`Attack` subclass implements :meth:`Attack.run`: find adversarial examples for a
batch of clean-correct samples at each epsilon. The base class's :meth:`Attack.sweep` is the
template method every caller uses; it

* attacks only samples that are correct on the clean image,
* re-predicts every returned adversarial on the model and checks it lies inside the
  epsilon ball (tolerance ``EPS_TOL``) and the pixel bounds (a violation raises),
* makes the outcome monotone in epsilon (fooled at a budget counts at every larger one),

so ``robust[k, i]`` is never above the clean outcome and never increases with epsilon.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import ClassVar

import numpy as np
import torch

from robustness.models.classifier import Classifier
from robustness.registry import Registry

EPS_TOL = 1e-6


class Norm(str, Enum):
    LINF = "linf"
    L2 = "l2"


class BudgetViolation(RuntimeError):
    """An attack returned an example outside the epsilon ball or the pixel bounds."""


def perturbation_norm(delta: torch.Tensor, norm: Norm | str) -> torch.Tensor:
    flat = delta.flatten(1)
    return flat.abs().amax(1) if Norm(norm) is Norm.LINF else flat.norm(p=2, dim=1)


@dataclass
class Found:
    """What :meth:`Attack.run` returns for the attacked (clean-correct) samples.

    ``adversarials[k]`` holds the candidate for epsilon ``k`` (or the clean image where none
    was found); ``distances`` optionally holds each sample's minimal fooling norm
    (``inf`` where none was found), for minimum-norm attacks.
    """

    adversarials: list[torch.Tensor]
    distances: torch.Tensor | None = None


@dataclass
class SweepResult:
    """Verified outcome of one attack over ``K`` epsilons for ``N`` samples."""

    attack: str
    norm: Norm
    epsilons: tuple[float, ...]
    robust: np.ndarray  # [K, N] bool: clean-correct and not fooled at epsilon k
    clean_correct: np.ndarray  # [N] bool
    distances: np.ndarray | None = None  # [N] minimal fooling norm (inf: not found, nan: not attacked)
    examples: dict[float, torch.Tensor] = field(default_factory=dict)  # eps -> adversarial images [N,...]


class Attack(ABC):
    """Base class: subclasses set ``name`` and ``norm`` and implement :meth:`run`."""

    name: ClassVar[str]
    norm: ClassVar[Norm]
    #: minimum-norm attacks report per-sample distances and serve every epsilon from one run
    minimal: ClassVar[bool] = False

    @abstractmethod
    def run(
        self, model: Classifier, x: torch.Tensor, y: torch.Tensor, epsilons: Sequence[float], *, seed: int
    ) -> Found:
        """Attack ``x`` (all clean-correct) at each epsilon (ascending)."""

    def sweep(
        self,
        model: Classifier,
        x: torch.Tensor,
        y: torch.Tensor,
        epsilons: Sequence[float],
        *,
        seed: int = 0,
        keep_examples: bool = False,
    ) -> SweepResult:
        eps = tuple(float(e) for e in epsilons)
        if any(e < 0 for e in eps):
            raise ValueError(f"epsilons should be non-negative, but got {list(eps)}.")
        order = np.argsort(eps, kind="stable")
        sorted_eps = [eps[i] for i in order]
        device = model.device
        x = x.to(device)
        y = y.to(device)
        with torch.no_grad():
            clean_correct = (model(x).argmax(1) == y).cpu().numpy()
        n, k = len(x), len(eps)
        fooled = np.zeros((k, n), dtype=bool)
        distances = np.full(n, np.nan) if self.minimal else None
        examples: dict[float, torch.Tensor] = {}
        idx = np.flatnonzero(clean_correct)
        if len(idx):
            xa, ya = x[idx], y[idx]
            found = self.run(model, xa, ya, sorted_eps, seed=seed)
            for j, (e, adv) in enumerate(zip(sorted_eps, found.adversarials)):
                ok = verify(model, xa, ya, adv, e, self.norm)
                fooled[order[j], idx] = ok
                if keep_examples:
                    full = x.clone()
                    full[idx] = adv.detach().to(device, x.dtype)
                    examples[e] = full.cpu()
            if found.distances is not None and distances is not None:
                distances[idx] = found.distances.detach().cpu().double().numpy()
        # monotone in epsilon: fooled at a smaller budget counts at every larger one
        fooled_sorted = np.logical_or.accumulate(fooled[order], axis=0)
        fooled[order] = fooled_sorted
        robust = clean_correct[None, :] & ~fooled
        return SweepResult(self.name, self.norm, eps, robust, clean_correct, distances, examples)

    def __repr__(self) -> str:
        return self.name


def verify(
    model: Classifier, x: torch.Tensor, y: torch.Tensor, adv: torch.Tensor, epsilon: float, norm: Norm | str
) -> np.ndarray:
    """Which of ``adv`` really fool ``model``; raise if any lies outside the budget or bounds."""
    adv = adv.detach().to(x.device, x.dtype)
    lo, hi = model.bounds
    if bool((adv < lo - EPS_TOL).any() or (adv > hi + EPS_TOL).any()):
        raise BudgetViolation(f"adversarial examples leave the pixel bounds {model.bounds}")
    dist = perturbation_norm(adv - x, norm)
    if bool((dist > epsilon + EPS_TOL).any()):
        worst = float(dist.max())
        raise BudgetViolation(f"adversarial example at {norm} distance {worst:.6g} exceeds epsilon {epsilon:.6g}")
    with torch.no_grad():
        pred = model(adv).argmax(1)
    return (pred != y).cpu().numpy()


ATTACKS: Registry[type[Attack]] = Registry("attack")
