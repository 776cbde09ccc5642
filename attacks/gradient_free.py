"""Gradient-free attacks through foolbox: repeated additive uniform noise and HopSkipJump.

They never read a gradient, so they are immune to gradient masking. The sanity checks
(:mod:`attacks.sanity`) compare them with the gradient attacks: if one of these finds
adversarials the gradient attacks missed, the gradients are not to be trusted.

* ``noise_linf`` / ``noise_l2`` (fixed budget): ``repeats`` draws of uniform noise scaled to
  the epsilon ball, keeping the first draw that fools. Cheap; catches gross masking.
* ``hsj_l2`` / ``hsj_linf`` (minimum norm, decision-based): HopSkipJump (Chen et al. 2020)
  from a blended-noise starting point.

Each can run on a seeded subset of at most ``max_samples`` clean-correct samples per sweep
call (``None``: all; the noise floor's default, since it is cheap; HopSkipJump's default is
10, since it queries the model thousands of times per sample). Skipped samples are reported as
not attacked (``SweepResult.attacked``) and an audit's report marks those cells as upper bounds.
"""

from __future__ import annotations

import warnings

import foolbox as fb
import torch
from torch import nn

from attacks.base import ATTACKS, FixedBudgetAttack, MinimalAttack, model_bounds, model_device, successful
from attacks.foolbox_bridge import criterion, foolbox_model, frozen, seeded
from attacks.geometry import Norm, project
from robustness.core import params
from robustness.core.errors import UsageError


class _RepeatedNoise(FixedBudgetAttack):
    gradient_free = True
    backend = "foolbox"

    def __init__(self, *, repeats: int = 10, max_samples: int | None = None) -> None:
        self.repeats = params.positive_int(self.name, "repeats", repeats)
        self.max_samples = params.optional_positive_int(self.name, "max_samples", max_samples)

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
        if epsilon == 0:
            return x.clone()
        cls = (
            fb.attacks.LinfRepeatedAdditiveUniformNoiseAttack
            if self.norm is Norm.LINF
            else fb.attacks.L2RepeatedAdditiveUniformNoiseAttack
        )
        with seeded(seed, model_device(model)), frozen(model):
            _, clipped, _ = cls(repeats=self.repeats)(foolbox_model(model), x, criterion(y, None), epsilons=[epsilon])
        return project(x, clipped[0].detach(), epsilon, self.norm, model_bounds(model))


@ATTACKS.register("noise_linf")
class LinfRepeatedUniformNoise(_RepeatedNoise):
    """Repeated additive uniform noise, Linf: the gradient-free floor every gradient attack must beat."""

    name = "noise_linf"
    norm = Norm.LINF


@ATTACKS.register("noise_l2")
class L2RepeatedUniformNoise(_RepeatedNoise):
    """Repeated additive uniform noise, L2: the gradient-free floor every gradient attack must beat."""

    name = "noise_l2"
    norm = Norm.L2


class _HopSkipJump(MinimalAttack):
    gradient_free = True
    backend = "foolbox"

    def __init__(
        self,
        *,
        max_samples: int | None = 10,
        steps: int = 5,
        initial_gradient_eval_steps: int = 25,
        max_gradient_eval_steps: int = 1000,
        init_directions: int = 100,
        init_steps: int = 100,
    ) -> None:
        self.max_samples = params.optional_positive_int(self.name, "max_samples", max_samples)
        self.steps = params.positive_int(self.name, "steps", steps)
        self.initial_gradient_eval_steps = params.positive_int(
            self.name, "initial_gradient_eval_steps", initial_gradient_eval_steps
        )
        self.max_gradient_eval_steps = params.positive_int(
            self.name, "max_gradient_eval_steps", max_gradient_eval_steps
        )
        self.init_directions = params.positive_int(self.name, "init_directions", init_directions)
        self.init_steps = params.positive_int(self.name, "init_steps", init_steps)

    def minimize(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, seed: int, targets: torch.Tensor | None
    ) -> torch.Tensor:
        if model_bounds(model) != (0.0, 1.0):
            raise UsageError(
                f"{self.name}: foolbox's HopSkipJump clips to [0, 1], so model bounds should be (0, 1), "
                f"but got {model_bounds(model)}; rescale the model's inputs to [0, 1]."
            )
        best = x.detach().clone()
        with torch.no_grad():
            randomized = not torch.equal(model(x[:8]), model(x[:8]))
        if randomized:
            warnings.warn(
                f"{self.name}: the model's outputs are randomized, and HopSkipJump needs a deterministic decision; "
                "skipped (reported as not fooled). Attack a deterministic surrogate or rely on EOT gradient attacks.",
                stacklevel=2,
            )
            return best
        fmodel = foolbox_model(model)
        with seeded(seed, model_device(model)), frozen(model), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # blended noise warns when some draws stay non-adversarial
            init = fb.attacks.LinearSearchBlendedUniformNoiseAttack(
                directions=self.init_directions, steps=self.init_steps
            ).run(fmodel, x, criterion(y, None))
            with torch.no_grad():
                ok = successful(model(init), y, None)
            if bool(ok.any()):
                hsj = fb.attacks.HopSkipJumpAttack(
                    steps=self.steps,
                    initial_gradient_eval_steps=self.initial_gradient_eval_steps,
                    max_gradient_eval_steps=self.max_gradient_eval_steps,
                    constraint=self.norm.value,
                )
                adv = hsj.run(fmodel, x[ok], criterion(y[ok], None), starting_points=init[ok])
                best[ok] = adv.detach().to(best.dtype)
        return best


@ATTACKS.register("hsj_l2")
class L2HopSkipJump(_HopSkipJump):
    """HopSkipJump (Chen et al. 2020), L2: decision-based boundary walk from a noise start."""

    name = "hsj_l2"
    norm = Norm.L2


@ATTACKS.register("hsj_linf")
class LinfHopSkipJump(_HopSkipJump):
    """HopSkipJump (Chen et al. 2020), Linf: decision-based boundary walk from a noise start."""

    name = "hsj_linf"
    norm = Norm.LINF
