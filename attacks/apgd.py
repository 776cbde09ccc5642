"""APGD (Croce & Hein, ICML 2020): PGD without a step-size to tune, native torch loop.

``apgd_ce_*`` ascends cross-entropy, ``apgd_dlr_*`` the Difference-of-Logits-Ratio loss
(invariant to the logits' scale, so a flat softmax does not stall it), ``apgd_t_*`` the
targeted DLR loss towards each of the ``n_target_classes`` runner-up classes in turn (the
classes ranked 2, 3, ... by the clean logits; capped at ``num_classes - 1``). Success is
misclassification for all three (APGD-T is an untargeted attack that uses targets as search
directions, as in AutoAttack).

The algorithm follows the paper and the authors' ``pyautoattack`` (``autopgd_base.py``):

* start at a random point on the surface of the epsilon ball, step size ``2 * epsilon``;
* a steepest-ascent step, then momentum ``0.75`` (``x + 0.75 (z - x) + 0.25 (x - x_prev)``),
  each followed by projection onto the ball and the pixel bounds;
* checkpoints at ``p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)``
  (fractions of ``n_iter``): a sample's step size halves and it restarts from its best
  iterate when fewer than ``rho = 75%`` of the steps since the last checkpoint raised its
  loss, or when neither the step size nor the best loss changed since then;
* the iterate that first fools is kept, otherwise the highest-loss iterate;
* ``n_restarts`` runs from fresh random starts on the samples not yet fooled.

What this loop adds: per-sample early stop (a fooled sample leaves the batch; every sample's
state is its own, so the others are unaffected), random starts keyed by ``(seed, image
content, run)`` through :func:`attacks.gradient.start_noise` (results do not depend on batch
size or order), epsilon sweeps through :class:`~attacks.base.FixedBudgetAttack` (a sample
fooled at a small budget is not attacked again at larger ones), and ``eot_iter`` gradient
averaging for randomized models (AutoAttack's ``rand`` version uses 20).

Published defaults (AutoAttack standard): ``n_iter=100``, ``n_restarts=1``, ``rho=0.75``,
``eot_iter=1``; APGD-T ``n_target_classes=9``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from attacks.base import ATTACKS, FixedBudgetAttack, model_bounds
from attacks.geometry import Norm, normalize, perturbation_norm, project
from attacks.gradient import input_gradient, margin, start_noise
from robustness.core import params
from robustness.core.errors import UsageError

MOMENTUM = 0.75


def dlr_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Untargeted DLR, per sample: ``-(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3)`` (needs >= 3 classes)."""
    srt = logits.sort(1).values
    own = logits.gather(1, y[:, None])[:, 0]
    other = torch.where(logits.argmax(1) == y, srt[:, -2], srt[:, -1])
    return -(own - other) / (srt[:, -1] - srt[:, -3] + 1e-12)


def dlr_targeted_loss(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Targeted DLR: ``-(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2)`` (needs >= 4 classes)."""
    srt = logits.sort(1).values
    own = logits.gather(1, y[:, None])[:, 0]
    tgt = logits.gather(1, target[:, None])[:, 0]
    return -(own - tgt) / (srt[:, -1] - 0.5 * (srt[:, -3] + srt[:, -4]) + 1e-12)


def checkpoints(n_iter: int) -> list[int]:
    """Iteration indices (0-based) after which APGD checks progress: ``p_j * n_iter - 1``."""
    first, least, decrease = max(int(0.22 * n_iter), 1), max(int(0.06 * n_iter), 1), max(int(0.03 * n_iter), 1)
    out, at, length = [], 0, first
    while at + length <= n_iter:
        at += length
        out.append(at - 1)
        length = max(length - decrease, least)
    return out


@dataclass
class _Walk:
    """Per-sample state of one APGD run; every field is indexed by sample on dim 0."""

    pos: torch.Tensor  # positions in the run's batch
    x: torch.Tensor
    y: torch.Tensor
    target: torch.Tensor
    adv: torch.Tensor
    prev: torch.Tensor
    grad: torch.Tensor
    best: torch.Tensor
    best_grad: torch.Tensor
    best_loss: torch.Tensor
    step: torch.Tensor  # [m, 1, ...] step size
    losses: torch.Tensor  # [m, n_iter] loss after each step
    last_best: torch.Tensor  # best loss at the last checkpoint
    reduced: torch.Tensor  # step size halved at the last checkpoint

    def keep(self, rows: torch.Tensor) -> _Walk:
        return _Walk(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})


class _APGD(FixedBudgetAttack):
    """Shared APGD loop; subclasses set ``name``, ``norm`` and ``loss``."""

    loss: ClassVar[str] = "ce"
    #: fewest classes the loss is defined for
    min_classes: ClassVar[int] = 2

    def __init__(self, *, n_iter: int = 100, n_restarts: int = 1, rho: float = 0.75, eot_iter: int = 1) -> None:
        self.n_iter = params.positive_int(self.name, "n_iter", n_iter)
        self.n_restarts = params.positive_int(self.name, "n_restarts", n_restarts)
        self.rho = params.in_range(self.name, "rho", rho, 0.0, 1.0)
        self.eot_iter = params.positive_int(self.name, "eot_iter", eot_iter)

    def runs(self, num_classes: int) -> list[int | None]:
        """Target rank (2 = runner-up) of each run, ``None`` for untargeted runs."""
        return [None] * self.n_restarts

    def prepare(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, targets: torch.Tensor | None
    ) -> torch.Tensor:
        """Classes ranked by the clean logits (descending), shared by every epsilon of a sweep."""
        with torch.no_grad():
            logits = model(x)
        classes = int(logits.shape[1])
        if classes < self.min_classes:
            raise UsageError(
                f"{self.name} needs a model with at least {self.min_classes} classes (its loss compares the "
                f"top logits), but this one has {classes}; use apgd_ce_{self.norm.value} instead."
            )
        return logits.argsort(1, descending=True)

    def perturb(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        epsilon: float,
        *,
        seed: int,
        targets: torch.Tensor | None,
        state: torch.Tensor | None,
    ) -> torch.Tensor:
        out = x.detach().clone()
        if epsilon == 0 or not len(x):
            return out
        ranking = state if state is not None else self.prepare(model, x, y, targets=None)
        fooled = torch.zeros(len(x), dtype=torch.bool, device=x.device)
        for salt, rank in enumerate(self.runs(int(ranking.shape[1]))):
            active = (~fooled).nonzero().flatten()
            if not len(active):
                break
            xa = x[active]
            target = ranking[active, rank - 1] if rank is not None else y[active]
            adv, win = self._run(model, xa, y[active], target, epsilon, self._start(xa, epsilon, seed, salt, model))
            take = win | torch.full_like(win, salt == 0)
            out[active[take]] = adv[take]
            fooled[active[win]] = True
        return out

    def _start(self, x: torch.Tensor, epsilon: float, seed: int, salt: int, model: nn.Module) -> torch.Tensor:
        """A random point on the surface of the ball (as the authors'), keyed per sample."""
        noise = start_noise(x, self.norm, seed, salt)
        size = perturbation_norm(noise, self.norm).clamp_min(1e-12).view(-1, *[1] * (x.ndim - 1))
        return project(x, x + epsilon * noise / size, epsilon, self.norm, model_bounds(model))

    def _objective(self, logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.loss == "ce":
            return F.cross_entropy(logits, y, reduction="none")
        if self.loss == "dlr":
            return dlr_loss(logits, y)
        return dlr_targeted_loss(logits, y, target)

    def _loss_grad(
        self, model: nn.Module, adv: torch.Tensor, y: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Loss and input gradient averaged over ``eot_iter`` forward passes, and the last logits."""
        loss = torch.zeros(len(adv), device=adv.device)
        grad = torch.zeros_like(adv)
        for _ in range(self.eot_iter):
            xg = adv.detach().requires_grad_(True)
            with torch.enable_grad():
                logits = model(xg)
                value = self._objective(logits, y, target)
            grad += input_gradient(value.sum(), xg)
            loss += value.detach()
        return loss / self.eot_iter, grad / self.eot_iter, logits.detach()

    def _run(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor, epsilon: float, start: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One APGD run from ``start``: (first fooling or highest-loss iterate, fooled) per sample."""
        bounds = model_bounds(model)
        loss, grad, logits = self._loss_grad(model, start, y, target)
        m = len(x)
        shape = (m, *[1] * (x.ndim - 1))
        w = _Walk(
            torch.arange(m, device=x.device), x, y, target, start, start, grad, start, grad, loss,
            torch.full(shape, 2.0 * epsilon, device=x.device, dtype=x.dtype),
            torch.zeros(m, self.n_iter, device=x.device), loss, torch.ones(m, dtype=torch.bool, device=x.device),
        )  # fmt: skip
        out, fooled = start.clone(), torch.zeros(m, dtype=torch.bool, device=x.device)
        checks = set(checkpoints(self.n_iter))
        lengths = iter([c - p for p, c in zip([-1, *sorted(checks)], sorted(checks))])
        length = next(lengths, 0)
        for i in range(-1, self.n_iter):
            if i >= 0:
                w.adv, w.prev = self._step(w, epsilon, MOMENTUM if i > 0 else 1.0, bounds), w.adv
                loss, w.grad, logits = self._loss_grad(model, w.adv, w.y, w.target)
                w.losses[:, i] = loss
                better = loss > w.best_loss
                w.best[better], w.best_grad[better], w.best_loss[better] = w.adv[better], w.grad[better], loss[better]
            win = margin(logits, w.y, None) > 0
            out[w.pos[win]] = w.adv[win]
            fooled[w.pos[win]] = True
            if bool(win.any()):
                w = w.keep(~win)
                if not len(w.pos):
                    break
            if i in checks:
                self._checkpoint(w, i, length)
                length = next(lengths, length)
        out[w.pos] = w.best
        return out, fooled

    def _step(self, w: _Walk, epsilon: float, momentum: float, bounds: tuple[float, float]) -> torch.Tensor:
        """Steepest-ascent step, then the momentum combination, each projected (the authors' order)."""
        z = project(w.x, w.adv + w.step * normalize(w.grad, self.norm), epsilon, self.norm, bounds)
        mixed = w.adv + momentum * (z - w.adv) + (1 - momentum) * (w.adv - w.prev)
        return project(w.x, mixed, epsilon, self.norm, bounds)

    def _checkpoint(self, w: _Walk, i: int, length: int) -> None:
        """Halve the step of samples that stalled since the last checkpoint; they resume from their best."""
        # steps since the last checkpoint that raised the loss; index -1 wraps to the unset last slot (0), as upstream
        prior = torch.stack([w.losses[:, (i - j - 1) % self.n_iter] for j in range(length)], 1)
        now = torch.stack([w.losses[:, i - j] for j in range(length)], 1)
        raised = (now > prior).sum(1)
        stalled = (raised <= length * self.rho) | (~w.reduced & (w.last_best >= w.best_loss))
        w.reduced = stalled
        w.last_best = w.best_loss.clone()
        w.step[stalled] /= 2.0
        w.adv[stalled] = w.best[stalled]
        w.grad[stalled] = w.best_grad[stalled]


class _APGDTargeted(_APGD):
    loss = "dlr-targeted"
    min_classes = 4

    def __init__(
        self,
        *,
        n_iter: int = 100,
        n_restarts: int = 1,
        n_target_classes: int = 9,
        rho: float = 0.75,
        eot_iter: int = 1,
    ) -> None:
        super().__init__(n_iter=n_iter, n_restarts=n_restarts, rho=rho, eot_iter=eot_iter)
        self.n_target_classes = params.positive_int(self.name, "n_target_classes", n_target_classes)

    def runs(self, num_classes: int) -> list[int | None]:
        """Runner-up ranks ``2 .. min(n_target_classes, num_classes - 1) + 1``, each ``n_restarts`` times."""
        last = min(self.n_target_classes, num_classes - 1) + 1
        return [rank for rank in range(2, last + 1) for _ in range(self.n_restarts)]


@ATTACKS.register("apgd_ce_linf")
class LinfAPGDCE(_APGD):
    """APGD on cross-entropy (Croce & Hein 2020), Linf: checkpointed step size, momentum, best iterate."""

    name = "apgd_ce_linf"
    norm = Norm.LINF


@ATTACKS.register("apgd_ce_l2")
class L2APGDCE(_APGD):
    """APGD on cross-entropy (Croce & Hein 2020), L2: checkpointed step size, momentum, best iterate."""

    name = "apgd_ce_l2"
    norm = Norm.L2


@ATTACKS.register("apgd_dlr_linf")
class LinfAPGDDLR(_APGD):
    """APGD on the scale-invariant DLR loss (Croce & Hein 2020), Linf; needs >= 3 classes."""

    name = "apgd_dlr_linf"
    norm = Norm.LINF
    loss = "dlr"
    min_classes = 3


@ATTACKS.register("apgd_dlr_l2")
class L2APGDDLR(_APGD):
    """APGD on the scale-invariant DLR loss (Croce & Hein 2020), L2; needs >= 3 classes."""

    name = "apgd_dlr_l2"
    norm = Norm.L2
    loss = "dlr"
    min_classes = 3


@ATTACKS.register("apgd_t_linf")
class LinfAPGDT(_APGDTargeted):
    """APGD on the targeted DLR loss over the top runner-up classes (Croce & Hein 2020), Linf; needs >= 4 classes."""

    name = "apgd_t_linf"
    norm = Norm.LINF


@ATTACKS.register("apgd_t_l2")
class L2APGDT(_APGDTargeted):
    """APGD on the targeted DLR loss over the top runner-up classes (Croce & Hein 2020), L2; needs >= 4 classes."""

    name = "apgd_t_l2"
    norm = Norm.L2
