"""Fixed-budget gradient attacks: FGSM and PGD (Linf, L2), as a tight torch loop.

Why not foolbox here: foolbox's ``LinfPGD`` returns the last iterate, runs every sample for
every step and starts over for each epsilon. These attacks are the suite's workhorse, so
they run their own loop on the (surrogate) model:

* per-sample early stop: a sample is dropped from the batch at the first iterate that fools
  the attacked model (for an EOT surrogate: its averaged output), and that iterate is kept
  (best iterate, never the last); the sweep then verifies it on the true model;
* samples that resist keep their highest-margin iterate;
* random starts are drawn per sample from a generator keyed by ``(seed, image content,
  restart)``, so a sample's result does not depend on batch size, batch order or which
  other samples are still in the batch; an epsilon sweep therefore equals independent runs
  per epsilon, made monotone, at a fraction of the cost (see :class:`~attacks.base.FixedBudgetAttack`);
* optional restarts attack again only the samples not yet fooled.

The step follows foolbox's convention: ``stepsize = rel_stepsize * epsilon`` unless
``abs_stepsize`` is given; the update is the steepest-ascent direction of the norm (sign for
Linf, normalized gradient for L2) followed by projection onto the ball and the bounds.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from attacks.base import ATTACKS, FixedBudgetAttack, model_bounds, sample_generators
from attacks.geometry import Norm, normalize, project, random_in_ball
from robustness.core import params
from robustness.core.errors import UsageError

LOSSES = ("ce", "margin")


def margin(logits: torch.Tensor, y: torch.Tensor, targets: torch.Tensor | None) -> torch.Tensor:
    """Per-sample margin, positive when the attack succeeds (CW's logit difference)."""
    cls = targets if targets is not None else y
    own = logits.gather(1, cls[:, None])[:, 0]
    other = logits.scatter(1, cls[:, None], float("-inf")).amax(1)
    return own - other if targets is not None else other - own


def objective(logits: torch.Tensor, y: torch.Tensor, targets: torch.Tensor | None, loss: str) -> torch.Tensor:
    """Per-sample quantity the attack ascends: cross-entropy (away from y / towards target) or margin."""
    if loss == "margin":
        return margin(logits, y, targets)
    if targets is None:
        return F.cross_entropy(logits, y, reduction="none")
    return -F.cross_entropy(logits, targets, reduction="none")


def input_gradient(total: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """d total / d x, zeros where the model gives no gradient path (non-differentiable forward)."""
    if not total.requires_grad:
        return torch.zeros_like(x)
    (grad,) = torch.autograd.grad(total, x, allow_unused=True)
    return torch.zeros_like(x) if grad is None else torch.nan_to_num(grad)


def start_noise(x: torch.Tensor, norm: Norm, seed: int, salt: int) -> torch.Tensor:
    """Uniform points in the unit ball, one per sample, keyed by ``(seed, content, salt)``."""
    shape = torch.Size(x.shape[1:])
    noise = [random_in_ball(shape, norm, gen) for gen in sample_generators(x, seed, salt)]
    if not noise:
        return torch.zeros_like(x)
    return torch.stack(noise).to(x.device, x.dtype)


@ATTACKS.register("fgsm")
class FGSM(FixedBudgetAttack):
    """Fast gradient sign method (Goodfellow et al. 2015), Linf, one step of size epsilon.

    The gradient at the clean image is the same for every epsilon, so a sweep computes it
    once (:meth:`prepare`) and each budget costs one verification forward pass.
    """

    name = "fgsm"
    norm = Norm.LINF
    single_step = True
    supports_targeted = True

    def __init__(self, *, loss: str = "ce", target: int | str | None = None) -> None:
        self.loss = params.choice(self.name, "loss", loss, LOSSES)
        self.target = params.target(self.name, target)

    def prepare(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, targets: torch.Tensor | None
    ) -> torch.Tensor:
        xg = x.detach().clone().requires_grad_(True)
        obj = objective(model(xg), y, targets, self.loss)
        return input_gradient(obj.sum(), xg).sign()

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
        direction = state if state is not None else self.prepare(model, x, y, targets=targets)
        return project(x, x + epsilon * direction, epsilon, self.norm, model_bounds(model))


class _PGD(FixedBudgetAttack):
    supports_targeted = True

    def __init__(
        self,
        *,
        steps: int = 10,
        rel_stepsize: float = 0.25,
        abs_stepsize: float | None = None,
        random_start: bool = True,
        restarts: int = 1,
        loss: str = "ce",
        target: int | str | None = None,
    ) -> None:
        self.steps = params.positive_int(self.name, "steps", steps)
        self.rel_stepsize = params.positive_float(self.name, "rel_stepsize", rel_stepsize)
        self.abs_stepsize = params.optional_positive_float(self.name, "abs_stepsize", abs_stepsize)
        self.random_start = bool(random_start)
        self.restarts = params.positive_int(self.name, "restarts", restarts)
        if self.restarts > 1 and not self.random_start:
            raise UsageError(
                f"{self.name}: restarts > 1 needs random_start=True (every restart would repeat the same path), "
                f"but got restarts={restarts} with random_start=False."
            )
        self.loss = params.choice(self.name, "loss", loss, LOSSES)
        self.target = params.target(self.name, target)

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
        best = x.detach().clone()
        if epsilon == 0 or not len(x):
            return best
        bounds = model_bounds(model)
        stepsize = self.abs_stepsize if self.abs_stepsize is not None else self.rel_stepsize * epsilon
        best_score = torch.full((len(x),), float("-inf"), device=x.device)
        fooled = torch.zeros(len(x), dtype=torch.bool, device=x.device)
        for restart in range(self.restarts):
            active = (~fooled).nonzero().flatten()
            if not len(active):
                break
            x0, y0 = x[active], y[active]
            t0 = None if targets is None else targets[active]
            xa = x0.clone()
            if self.random_start:
                xa = project(x0, x0 + epsilon * start_noise(x0, self.norm, seed, restart), epsilon, self.norm, bounds)
            for step in range(self.steps + 1):
                last = step == self.steps
                xa = xa.detach().requires_grad_(not last)
                with torch.set_grad_enabled(not last):
                    logits = model(xa)
                score = margin(logits.detach(), y0, t0)
                win = score > 0  # strictly past the boundary, so the argmax agrees (ties keep attacking)
                keep_best = win | (score > best_score[active])
                best[active[keep_best]] = xa.detach()[keep_best]
                best_score[active[keep_best]] = score[keep_best]
                fooled[active[win]] = True
                if last or bool(win.all()):
                    break
                obj = objective(logits, y0, t0, self.loss)
                grad = input_gradient(obj[~win].sum(), xa)
                keep = (~win).nonzero().flatten()
                x0, y0, active = x0[keep], y0[keep], active[keep]
                t0 = None if t0 is None else t0[keep]
                step_dir = normalize(grad[keep], self.norm)
                xa = project(x0, xa.detach()[keep] + stepsize * step_dir, epsilon, self.norm, bounds)
        return best


@ATTACKS.register("pgd_linf")
class LinfPGD(_PGD):
    """Projected gradient descent (Madry et al. 2018), Linf: sign steps, random start."""

    name = "pgd_linf"
    norm = Norm.LINF


@ATTACKS.register("pgd_l2")
class L2PGD(_PGD):
    """Projected gradient descent (Madry et al. 2018), L2: normalized-gradient steps from the image.

    ``random_start`` defaults to False here: a uniform draw from a high-dimensional L2 ball
    lies near its surface, so a random start spends most of the budget on a random
    direction; with 10 steps, starting at the image is measurably stronger. Turn it on for
    restarts.
    """

    name = "pgd_l2"
    norm = Norm.L2

    def __init__(
        self,
        *,
        steps: int = 10,
        rel_stepsize: float = 0.25,
        abs_stepsize: float | None = None,
        random_start: bool = False,
        restarts: int = 1,
        loss: str = "ce",
        target: int | str | None = None,
    ) -> None:
        super().__init__(
            steps=steps,
            rel_stepsize=rel_stepsize,
            abs_stepsize=abs_stepsize,
            random_start=random_start,
            restarts=restarts,
            loss=loss,
            target=target,
        )
