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
import zlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from attacks.geometry import EPS_TOL, Norm, out_of_bounds, perturbation_norm, project
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


class BudgetViolation(RuntimeError):
    """An attack returned an example outside the epsilon ball or the pixel bounds."""


@dataclass
class SweepResult:
    """Verified outcome of one attack over ``K`` epsilons for ``N`` samples."""

    attack: str
    norm: Norm
    epsilons: tuple[float, ...]
    robust: np.ndarray  # [K, N] bool: clean-correct and not fooled at epsilon k
    clean_correct: np.ndarray  # [N] bool
    distances: np.ndarray | None = None  # [N] verified minimal fooling norm (inf: none found, nan: not attacked)
    examples: dict[float, torch.Tensor] = field(default_factory=dict)  # eps -> adversarial images [N, ...]
    attacked: np.ndarray | None = None  # [N] bool: the attack ran on this sample (see max_samples)
    targeted: bool = False
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def n(self) -> int:
        return int(self.clean_correct.shape[0])

    @property
    def accuracy(self) -> np.ndarray:
        """Robust accuracy per epsilon (``[K]``), over all ``N`` samples."""
        return self.robust.mean(axis=1) if self.n else np.zeros(len(self.epsilons))

    @property
    def clean_accuracy(self) -> float:
        return float(self.clean_correct.mean()) if self.n else 0.0

    @property
    def fooled(self) -> np.ndarray:
        """``[K, N]``: clean-correct and fooled at epsilon ``k``."""
        return self.clean_correct[None, :] & ~self.robust


def true_model(model: nn.Module) -> nn.Module:
    """The model success is judged on: ``model.true_model`` for surrogates, else ``model``."""
    return getattr(model, "true_model", model)


def model_bounds(model: nn.Module) -> tuple[float, float]:
    bounds = getattr(true_model(model), "bounds", None)
    if bounds is None:
        raise UsageError(
            f"model should expose pixel bounds (.bounds), but {type(model).__name__} has none; "
            "wrap it in robustness.models.classifier.Classifier."
        )
    return (float(bounds[0]), float(bounds[1]))


def model_device(model: nn.Module) -> torch.device:
    device = getattr(model, "device", None)
    if device is not None:
        return torch.device(device)
    for tensor in model.parameters():
        return tensor.device
    return torch.device("cpu")


def sample_seeds(x: torch.Tensor, seed: int, salt: int) -> list[int]:
    """One 64-bit seed per sample, keyed by ``(seed, image content, salt)``.

    Every random draw of an attack goes through these, so a sample's draw does not depend on
    the batch it arrives in, its position there, or which other samples are still attacked.
    """
    rows = x.detach().cpu().contiguous().numpy()
    out = []
    for row in rows:
        key = np.random.SeedSequence([seed & 0xFFFFFFFF, zlib.crc32(row.tobytes()), salt & 0xFFFFFFFF])
        hi, lo = key.generate_state(2)
        out.append(int(hi) << 32 | int(lo))
    return out


def sample_generators(x: torch.Tensor, seed: int, salt: int) -> list[torch.Generator]:
    """One CPU generator per sample, seeded by :func:`sample_seeds` (the one owner of the keying)."""
    return [torch.Generator().manual_seed(k) for k in sample_seeds(x, seed, salt)]


def successful(logits: torch.Tensor, y: torch.Tensor, targets: torch.Tensor | None) -> torch.Tensor:
    """Per-sample success: misclassified (untargeted) or classified as the target."""
    pred = logits.argmax(1)
    return pred == targets if targets is not None else pred != y


def check_budget(
    x: torch.Tensor, adv: torch.Tensor, epsilon: float, norm: Norm | str, bounds: tuple[float, float]
) -> None:
    """Raise :class:`BudgetViolation` if any ``adv`` leaves the bounds or the epsilon ball."""
    bad = out_of_bounds(adv, bounds)
    if bool(bad.any()):
        i = int(bad.nonzero()[0, 0])
        raise BudgetViolation(
            f"adversarial example {i} has pixels in [{float(adv[i].min()):.6g}, {float(adv[i].max()):.6g}], "
            f"outside the pixel bounds {bounds} (tolerance {EPS_TOL}); the attack must clip to the bounds."
        )
    dist = perturbation_norm(adv - x, norm)
    over = dist > epsilon + EPS_TOL
    if bool(over.any()):
        i = int(over.nonzero()[0, 0])
        raise BudgetViolation(
            f"adversarial example {i} lies at {Norm(norm).value} distance {float(dist[i]):.6g}, "
            f"beyond epsilon {epsilon:.6g} (tolerance {EPS_TOL}); the attack must project onto the ball."
        )


def verify(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    adv: torch.Tensor,
    epsilon: float,
    norm: Norm | str,
    *,
    targets: torch.Tensor | None = None,
) -> np.ndarray:
    """Which of ``adv`` really fool ``model``; raise if any lies outside the budget or bounds."""
    adv = adv.detach().to(x.device, x.dtype)
    check_budget(x, adv, epsilon, norm, model_bounds(model))
    with torch.no_grad():
        logits = true_model(model)(adv)
    return successful(logits, y, targets).cpu().numpy()


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
        eps = _check_epsilons(epsilons)
        judge = true_model(model)
        bounds = model_bounds(model)
        device = model_device(judge)
        x, y = _check_batch(x, y, bounds, device)
        with torch.no_grad():
            logits = judge(x)
        clean_correct = (logits.argmax(1) == y).cpu().numpy()
        tgt = self._targets(x, y, targets, int(logits.shape[1]), seed)
        attackable = clean_correct & (tgt != y).cpu().numpy() if tgt is not None else clean_correct
        unique = sorted(set(eps))
        n = len(x)
        fooled = np.zeros((len(unique), n), dtype=bool)
        attacked = np.zeros(n, dtype=bool)
        distances = np.full(n, np.nan) if self.minimal else None
        examples: dict[float, torch.Tensor] = {}
        idx = self._subset(x, np.flatnonzero(attackable), seed)
        if len(idx):
            it = torch.as_tensor(idx, device=device)
            out = self._search(
                model, x[it], y[it], None if tgt is None else tgt[it], unique, seed=seed, keep_examples=keep_examples
            )
            fooled[:, idx] = out.fooled
            attacked[idx] = True
            if distances is not None and out.distances is not None:
                distances[idx] = out.distances
            for e, adv in zip(unique, out.examples):
                full = x.clone()
                full[it] = adv.to(device, x.dtype)
                examples[e] = full.cpu()
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


def _check_epsilons(epsilons: Sequence[float] | float) -> tuple[float, ...]:
    if isinstance(epsilons, (int, float)):
        epsilons = [epsilons]
    eps = tuple(float(e) for e in epsilons)
    if not eps:
        raise UsageError("epsilons should hold at least one budget, but got an empty list; pass e.g. [0.1, 0.3].")
    if any(not np.isfinite(e) or e < 0 for e in eps):
        raise UsageError(f"epsilons should be finite and non-negative, but got {list(eps)}.")
    return eps


def _check_batch(
    x: torch.Tensor, y: torch.Tensor, bounds: tuple[float, float], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.as_tensor(x).to(device)
    y = torch.as_tensor(y).to(device).long()
    if x.ndim < 2 or y.ndim != 1 or len(x) != len(y):
        raise UsageError(
            f"x and y should be a batch [N, ...] and labels [N], but got shapes {tuple(x.shape)} and {tuple(y.shape)}."
        )
    if not x.is_floating_point():
        raise UsageError(
            f"x should be a float tensor in the pixel bounds {bounds}, but got dtype {x.dtype}; divide uint8 by 255."
        )
    if len(x) and (float(x.min()) < bounds[0] - EPS_TOL or float(x.max()) > bounds[1] + EPS_TOL):
        raise UsageError(
            f"x values should lie in the model bounds {bounds}, but got [{float(x.min()):.4g}, {float(x.max()):.4g}]; "
            "pass pixel-space images (the Classifier owns normalization)."
        )
    return x.detach(), y


ATTACKS: Registry[type[Attack]] = Registry("attack")
