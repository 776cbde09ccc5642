"""What every attack's outcome rests on: the verified result type (:class:`SweepResult`), the model
success is judged on, the per-sample keying of random draws, and the budget check every returned
adversarial passes (:func:`verify`).

:mod:`attacks.base`'s template method calls these; attacks that run their own loops use them too.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from attacks.geometry import EPS_TOL, Norm, out_of_bounds, perturbation_norm
from robustness.core.errors import UsageError

__all__ = [
    "BudgetViolation",
    "SweepResult",
    "check_batch",
    "check_budget",
    "check_epsilons",
    "model_bounds",
    "model_device",
    "sample_generators",
    "sample_seeds",
    "successful",
    "true_model",
    "verify",
]


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


def check_epsilons(epsilons: Sequence[float] | float) -> tuple[float, ...]:
    if isinstance(epsilons, (int, float)):
        epsilons = [epsilons]
    eps = tuple(float(e) for e in epsilons)
    if not eps:
        raise UsageError("epsilons should hold at least one budget, but got an empty list; pass e.g. [0.1, 0.3].")
    if any(not np.isfinite(e) or e < 0 for e in eps):
        raise UsageError(f"epsilons should be finite and non-negative, but got {list(eps)}.")
    return eps


def check_batch(
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
