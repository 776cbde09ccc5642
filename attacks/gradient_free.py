"""Gradient-free attacks: repeated additive uniform noise (own loop) and HopSkipJump (foolbox).

They never read a gradient, so they are immune to gradient masking. The sanity checks
(:mod:`attacks.sanity`) compare them with the gradient attacks: if one of these finds
adversarials the gradient attacks missed, the gradients are not to be trusted.

* ``noise_linf`` / ``noise_l2`` (fixed budget, own loop): ``repeats`` draws of uniform noise in
  the Linf ball / on the L2 sphere (foolbox's repeated additive uniform noise), keeping the
  first draw that fools. Draws are keyed per sample (:func:`attacks.gradient.start_noise`), so
  results do not depend on batch size. Cheap; catches gross masking.
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

from attacks.base import (
    ATTACKS,
    FixedBudgetAttack,
    MinimalAttack,
    model_bounds,
    model_device,
    sample_seeds,
    successful,
)
from attacks.foolbox_bridge import criterion, foolbox_model, frozen, seeded
from attacks.geometry import Norm, perturbation_norm, project
from attacks.gradient import start_noise
from robustness.core import params
from robustness.core.errors import UsageError


class _RepeatedNoise(FixedBudgetAttack):
    gradient_free = True

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
        """The first of ``repeats`` draws that fools (per sample), else the last draw."""
        best = x.detach().clone()
        if epsilon == 0:
            return best
        bounds = model_bounds(model)
        pending = torch.arange(len(x), device=x.device)
        for r in range(self.repeats):
            if not len(pending):
                break
            noise = start_noise(x[pending], self.norm, seed, r)
            if self.norm is Norm.L2:  # foolbox's convention: on the sphere of radius epsilon
                noise = noise / perturbation_norm(noise, Norm.L2).clamp_min(1e-12).view(-1, *[1] * (x.ndim - 1))
            cand = project(x[pending], x[pending] + epsilon * noise, epsilon, self.norm, bounds)
            best[pending] = cand
            with torch.no_grad():
                hit = successful(model(cand), y[pending], None)
            pending = pending[~hit]
        return best


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
        for i, key in enumerate(sample_seeds(x, seed, 0)):  # one seeded run per sample: batch-size independent
            with seeded(key, model_device(model)), frozen(model), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # blended noise warns when some draws stay non-adversarial
                best[i : i + 1] = self._walk(fmodel, model, x[i : i + 1], y[i : i + 1])
        return best

    def _walk(self, fmodel: fb.PyTorchModel, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        init = fb.attacks.LinearSearchBlendedUniformNoiseAttack(
            directions=self.init_directions, steps=self.init_steps
        ).run(fmodel, x, criterion(y, None))
        with torch.no_grad():
            ok = bool(successful(model(init), y, None).all())
        if not ok:
            return x
        hsj = fb.attacks.HopSkipJumpAttack(
            steps=self.steps,
            initial_gradient_eval_steps=self.initial_gradient_eval_steps,
            max_gradient_eval_steps=self.max_gradient_eval_steps,
            constraint=self.norm.value,
        )
        return hsj.run(fmodel, x, criterion(y, None), starting_points=init).detach().to(x.dtype)


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
