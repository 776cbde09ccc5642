"""Attack abstraction and the honest bookkeeping around it.

Every caller uses the template method :meth:`Attack.sweep`. It

* attacks only samples that are correct on the clean image (judged on the true model),
* re-predicts every returned adversarial on the true model and checks it lies inside the
  epsilon ball (tolerance ``EPS_TOL``) and the pixel bounds (a violation raises
  :class:`BudgetViolation`, it is never silently counted),
* makes the outcome monotone in epsilon (fooled at a budget counts at every larger one),

so ``robust[k, i]`` is never above the clean outcome and never increases with epsilon.

Two flavours implement the search itself:

* :class:`FixedBudgetAttack` (FGSM, PGD, random noise) implements :meth:`~FixedBudgetAttack.perturb`
  for one epsilon; the base runs the epsilons in ascending order and passes on only the
  samples not yet fooled, verifying after each budget (sweep reuse).
* :class:`MinimalAttack` (CW, DeepFool, FMN, HopSkipJump) implements
  :meth:`~MinimalAttack.minimize` once; the base measures each sample's verified minimal
  distance and serves every epsilon from that single run.

The model passed to ``sweep`` may be a gradient surrogate (:mod:`attacks.adaptive`'s BPDA
or EOT wrappers): attacks take gradients through it, while clean accuracy and success are
always judged on ``true_model(model)``.
"""

from __future__ import annotations

import inspect
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from attacks.geometry import EPS_TOL, Norm, perturbation_norm, project
from attacks.judge import (
    BudgetViolation,
    SweepResult,
    check_batch,
    check_budget,
    check_epsilons,
    model_bounds,
    model_device,
    sample_generators,
    sample_seeds,
    successful,
    true_model,
    verify,
)
from robustness.core.errors import UsageError
from robustness.core.params import Hyperparameters
from robustness.core.registry import Registry

__all__ = [
    "ATTACKS",
    "EPS_TOL",
    "Attack",
    "BudgetViolation",
    "FixedBudgetAttack",
    "MinimalAttack",
    "Norm",
    "SweepResult",
    "model_bounds",
    "perturbation_norm",
    "sample_generators",
    "sample_seeds",
    "true_model",
    "verify",
]


#: salts of the base's own per-sample draws (attacks salt their random starts with small integers)
_SUBSET_SALT = 0x5B5E7
_TARGET_SALT = 0x7A26E7


class Attack(ABC, Hyperparameters):
    """Base class: subclasses set the class attributes and implement the search hook.

    Hyperparameters are keyword-only ``__init__`` arguments stored under the same attribute
    name; :meth:`hyperparameters` and :meth:`describe` read them back for the report.
    """

    name: ClassVar[str]
    norm: ClassVar[Norm]
    #: minimum-norm attacks report per-sample distances and serve every epsilon from one run
    minimal: ClassVar[bool] = False
    #: decision- or score-based: never reads a gradient (used by the sanity checks)
    gradient_free: ClassVar[bool] = False
    #: one gradient step (FGSM); compared with iterative attacks by the sanity checks
    single_step: ClassVar[bool] = False
    supports_targeted: ClassVar[bool] = False
    #: what does the heavy lifting: "torch" (own loop) or "foolbox"
    backend: ClassVar[str] = "torch"
    #: None (untargeted), "random" (a random wrong class per sample) or a class index
    target: int | str | None = None
    #: attack at most this many clean-correct samples per sweep call (a seeded draw); None: all
    max_samples: int | None = None

    def sweep(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        epsilons: Sequence[float],
        *,
        seed: int = 0,
        keep_examples: bool = False,
        targets: torch.Tensor | None = None,
    ) -> SweepResult:
        """Attack ``x`` at every epsilon and return the verified, monotone outcome.

        ``model`` is a ``Classifier`` or a surrogate wrapping one (see :mod:`attacks.adaptive`);
        ``targets`` gives per-sample target classes for targeted attacks (overrides ``target``).
        """
        start = time.perf_counter()
        eps = check_epsilons(epsilons)
        judge = true_model(model)
        bounds = model_bounds(model)
        device = model_device(judge)
        x, y = check_batch(x, y, bounds, device)
        with torch.no_grad():
            logits = judge(x)
        clean_correct = (logits.argmax(1) == y).cpu().numpy()
        tgt = self._targets(x, y, targets, int(logits.shape[1]), seed)
        attackable = clean_correct & (tgt != y).cpu().numpy() if tgt is not None else clean_correct
        unique = sorted(set(eps))
        idx = self._subset(x, np.flatnonzero(attackable), seed)
        fooled, attacked, distances, examples = self._search_subset(model, x, y, tgt, idx, unique, seed, keep_examples)
        fooled = np.logical_or.accumulate(fooled, axis=0)
        rows = [unique.index(e) for e in eps]
        robust = clean_correct[None, :] & ~fooled[rows]
        return SweepResult(
            attack=self.name,
            norm=self.norm,
            epsilons=eps,
            robust=robust,
            clean_correct=clean_correct,
            distances=distances,
            examples={e: examples[e] for e in eps if e in examples},
            attacked=attacked,
            targeted=tgt is not None,
            hyperparameters=self.hyperparameters(),
            seconds=time.perf_counter() - start,
        )

    def _search_subset(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        tgt: torch.Tensor | None,
        idx: np.ndarray,
        unique: list[float],
        seed: int,
        keep_examples: bool,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, dict[float, torch.Tensor]]:
        """:meth:`_search` on the samples ``idx``, spread back over the whole batch:
        ``(fooled [K, N], attacked [N], distances [N] or None, examples per epsilon)``."""
        n = len(x)
        fooled = np.zeros((len(unique), n), dtype=bool)
        attacked = np.zeros(n, dtype=bool)
        distances = np.full(n, np.nan) if self.minimal else None
        examples: dict[float, torch.Tensor] = {}
        if not len(idx):
            return fooled, attacked, distances, examples
        it = torch.as_tensor(idx, device=x.device)
        out = self._search(
            model, x[it], y[it], None if tgt is None else tgt[it], unique, seed=seed, keep_examples=keep_examples
        )
        fooled[:, idx] = out.fooled
        attacked[idx] = True
        if distances is not None and out.distances is not None:
            distances[idx] = out.distances
        for e, adv in zip(unique, out.examples):
            full = x.clone()
            full[it] = adv.to(x.device, x.dtype)
            examples[e] = full.cpu()
        return fooled, attacked, distances, examples

    @abstractmethod
    def _search(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        targets: torch.Tensor | None,
        epsilons: list[float],
        *,
        seed: int,
        keep_examples: bool,
    ) -> _Outcome:
        """Search adversarials for clean-correct ``x`` at ascending ``epsilons``, verified."""

    def _subset(self, x: torch.Tensor, idx: np.ndarray, seed: int) -> np.ndarray:
        """At most ``max_samples`` of the attackable positions, when the attack sets it.

        The draw ranks samples by a key of their content (:func:`sample_seeds`), so which samples
        are kept does not depend on their order; the cap itself applies per ``sweep`` call.
        """
        if self.max_samples is None or len(idx) <= self.max_samples:
            return idx
        keys = np.array(sample_seeds(x[torch.as_tensor(idx, device=x.device)], seed, _SUBSET_SALT), dtype=np.uint64)
        return np.sort(idx[np.argsort(keys, kind="stable")[: self.max_samples]])

    def _targets(
        self, x: torch.Tensor, y: torch.Tensor, given: torch.Tensor | None, num_classes: int, seed: int
    ) -> torch.Tensor | None:
        if given is None and self.target is None:
            return None
        if not self.supports_targeted:
            capable = ", ".join(n for n, c in ATTACKS.items() if c.supports_targeted)
            raise UsageError(
                f"attack {self.name!r} is untargeted only, but targets were given; "
                f"drop targets or use a targeted-capable attack ({capable})."
            )
        if given is not None:
            given = torch.as_tensor(given, device=y.device).long()
            if given.shape != y.shape:
                raise UsageError(
                    f"targets should have shape {tuple(y.shape)} (one per sample), but got {tuple(given.shape)}."
                )
            return given
        if self.target == "random":  # a wrong class per sample, keyed by its content
            draws = [np.random.default_rng(k).integers(1, num_classes) for k in sample_seeds(x, seed, _TARGET_SALT)]
            offset = torch.as_tensor(draws, device=y.device, dtype=torch.long)
            return (y + offset) % num_classes
        if not 0 <= int(self.target) < num_classes:
            raise UsageError(f"target should be a class index in [0, {num_classes}), but got {self.target}.")
        return torch.full_like(y, int(self.target))

    def describe(self) -> dict[str, Any]:
        """Plain-data description for the report (no tensors)."""
        doc = inspect.getdoc(type(self)) or ""
        return {
            "name": self.name,
            "norm": self.norm.value,
            "minimal": self.minimal,
            "gradient_free": self.gradient_free,
            "targeted_supported": self.supports_targeted,
            "backend": self.backend,
            "summary": doc.splitlines()[0] if doc else "",
            "hyperparameters": self.hyperparameters(),
            "defaults": self.defaults(),
        }

    def __repr__(self) -> str:
        changed = {k: v for k, v in self.hyperparameters().items() if v != self.defaults()[k]}
        if not changed:
            return self.name
        return f"{self.name}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"


@dataclass
class _Outcome:
    fooled: np.ndarray  # [K, n] bool, verified, per ascending epsilon
    examples: list[torch.Tensor]  # per epsilon when keep_examples, else empty
    distances: np.ndarray | None = None  # [n]


class FixedBudgetAttack(Attack):
    """An attack that searches inside one epsilon ball at a time.

    The base runs epsilons in ascending order and hands :meth:`perturb` only the samples not
    yet fooled at a smaller budget; their earlier adversarial stands for every larger one.
    """

    @abstractmethod
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
        """Candidates inside the ``epsilon`` ball for ``x``; ``state`` rows come from :meth:`prepare`."""

    def prepare(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, targets: torch.Tensor | None
    ) -> torch.Tensor | None:
        """Per-sample work shared by every epsilon (e.g. FGSM's gradient sign); default none."""
        return None

    def _search(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        targets: torch.Tensor | None,
        epsilons: list[float],
        *,
        seed: int,
        keep_examples: bool,
    ) -> _Outcome:
        n = len(x)
        done = np.zeros(n, dtype=bool)
        fooled = np.zeros((len(epsilons), n), dtype=bool)
        examples: list[torch.Tensor] = []
        current = x.detach().clone()
        state = self.prepare(model, x, y, targets=targets)
        for k, eps in enumerate(epsilons):
            pending = np.flatnonzero(~done)
            if len(pending):
                p = torch.as_tensor(pending, device=x.device)
                tp = None if targets is None else targets[p]
                adv = self.perturb(
                    model, x[p], y[p], eps, seed=seed, targets=tp, state=None if state is None else state[p]
                ).detach()
                ok = verify(model, x[p], y[p], adv, eps, self.norm, targets=tp)
                done[pending[ok]] = True
                current[p] = adv.to(current.dtype)
            fooled[k] = done
            if keep_examples:
                examples.append(current.clone())
        return _Outcome(fooled, examples)


class MinimalAttack(Attack):
    """A minimum-norm attack: one run finds each sample's smallest fooling perturbation.

    The base verifies the returned example on the true model, records its norm as the
    sample's distance, and serves each epsilon from it: inside the ball it counts as is,
    outside it is projected onto the ball and re-predicted.
    """

    minimal = True

    @abstractmethod
    def minimize(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, seed: int, targets: torch.Tensor | None
    ) -> torch.Tensor:
        """The closest adversarial found per sample (anything non-adversarial where none was found)."""

    def _search(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        targets: torch.Tensor | None,
        epsilons: list[float],
        *,
        seed: int,
        keep_examples: bool,
    ) -> _Outcome:
        bounds = model_bounds(model)
        best = self.minimize(model, x, y, seed=seed, targets=targets).detach().to(x.device, x.dtype)
        check_budget(x, best, float("inf"), self.norm, bounds)
        with torch.no_grad():
            found = successful(true_model(model)(best), y, targets)
        dist = perturbation_norm(best - x, self.norm).double()
        dist = torch.where(found, dist, torch.full_like(dist, float("inf")))
        done = np.zeros(len(x), dtype=bool)
        fooled = np.zeros((len(epsilons), len(x)), dtype=bool)
        examples: list[torch.Tensor] = []
        for k, eps in enumerate(epsilons):
            inside = found & (dist <= eps)
            shrunk = project(x, best, eps, self.norm, bounds)
            candidate = torch.where(inside.view(-1, *[1] * (x.ndim - 1)), best, shrunk)
            check_budget(x, candidate, eps, self.norm, bounds)
            retry = np.flatnonzero((found & ~inside).cpu().numpy() & ~done)
            if len(retry):
                r = torch.as_tensor(retry, device=x.device)
                tr = None if targets is None else targets[r]
                ok = verify(model, x[r], y[r], candidate[r], eps, self.norm, targets=tr)
                hit = r[torch.as_tensor(ok, device=x.device)]
                dist[hit] = torch.minimum(dist[hit], perturbation_norm(candidate[hit] - x[hit], self.norm).double())
                done[retry[ok]] = True
            done |= inside.cpu().numpy()
            fooled[k] = done
            if keep_examples:
                examples.append(candidate)
        return _Outcome(fooled, examples, dist.cpu().numpy())


ATTACKS: Registry[type[Attack]] = Registry("attack")
