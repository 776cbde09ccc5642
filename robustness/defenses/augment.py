"""Augmentation training in the style of AugMix (Hendrycks et al. 2020).

Each training image is augmented by ``width`` random chains of ``depth`` operations, the
chains are mixed with Dirichlet weights, and the mix is blended with the original image
with a Beta weight. With ``jsd=True`` the loss adds a Jensen-Shannon consistency term
between the clean image and two independent AugMix views (weight ``jsd_weight``).

The operations are AugMix's own: autocontrast, equalize, posterize, solarize, rotate,
shear and translate. AugMix chose them to be disjoint from ImageNet-C's corruptions, and
none of them is one of the 15 benchmark corruptions the comparison averages over, so the
evaluation stays honest. The suite's extra geometric corruptions *do* resemble some of them
(:data:`OVERLAPS`); a comparison that evaluates those flags their numbers as seen in training.

Operations run batched in torch with per-sample random parameters from torch's global
generator, which the training loop seeds: training is deterministic given its seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from robustness.core import params
from robustness.core.errors import UsageError
from robustness.defenses.base import DEFENSES, LossFn, TrainingDefense

#: batch [N, C, H, W] in [0, 1], per-sample levels [N] in (0, 1] -> augmented batch
Op = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _signed(levels: torch.Tensor) -> torch.Tensor:
    sign = torch.where(torch.rand_like(levels) < 0.5, -1.0, 1.0)
    return levels * sign


def _affine(x: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Apply per-sample 2x3 affine matrices (normalized coordinates), bilinear, black fill."""
    grid = F.affine_grid(matrix, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _identity_matrices(n: int, device: torch.device) -> torch.Tensor:
    return torch.eye(2, 3, device=device).repeat(n, 1, 1)


def autocontrast(x: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Stretch each channel to the full range (no parameter)."""
    lo = x.amin(dim=(2, 3), keepdim=True)
    hi = x.amax(dim=(2, 3), keepdim=True)
    span = hi - lo
    return torch.where(span > 1e-6, (x - lo) / span.clamp_min(1e-6), x)


def equalize(x: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Histogram equalization per channel on 256 grey levels (no parameter)."""
    n, c, h, w = x.shape
    q = (x * 255).round().long().clamp(0, 255).view(n * c, h * w)
    hist = torch.zeros(n * c, 256, device=x.device).scatter_add_(1, q, torch.ones_like(q, dtype=torch.float32))
    cdf = hist.cumsum(1)
    cdf_min = torch.where(hist > 0, cdf, torch.full_like(cdf, float("inf"))).amin(1, keepdim=True)
    denom = (h * w - cdf_min).clamp_min(1.0)
    lut = ((cdf - cdf_min) / denom).clamp(0.0, 1.0)
    return lut.gather(1, q).view(n, c, h, w)


def posterize(x: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Keep 4 - int(4 * level) bits per pixel (AugMix's mapping)."""
    bits = (4 - (levels * 4).long().clamp(0, 4)).clamp_min(1).view(-1, 1, 1, 1)
    shift = (8 - bits).to(x.dtype)
    q = (x * 255).round()
    step = torch.pow(2.0, shift)
    return (torch.floor(q / step) * step) / 255


def solarize(x: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Invert pixels above ``1 - level`` (AugMix: threshold 256 - 256 * level)."""
    threshold = (1 - levels).view(-1, 1, 1, 1)
    return torch.where(x >= threshold, 1 - x, x)


def rotate(x: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Rotate by up to 30 degrees times level, random sign."""
    angle = _signed(levels) * math.radians(30)
    m = _identity_matrices(len(x), x.device)
    m[:, 0, 0], m[:, 0, 1] = torch.cos(angle), -torch.sin(angle)
    m[:, 1, 0], m[:, 1, 1] = torch.sin(angle), torch.cos(angle)
    return _affine(x, m)


def shear_x(x: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Shear horizontally by up to 0.3 times level, random sign."""
    m = _identity_matrices(len(x), x.device)
    m[:, 0, 1] = _signed(levels) * 0.3
    return _affine(x, m)


def shear_y(x: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Shear vertically by up to 0.3 times level, random sign."""
    m = _identity_matrices(len(x), x.device)
    m[:, 1, 0] = _signed(levels) * 0.3
    return _affine(x, m)


def translate_x(x: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Shift horizontally by up to a third of the width times level, random sign."""
    m = _identity_matrices(len(x), x.device)
    m[:, 0, 2] = _signed(levels) * (2 / 3)
    return _affine(x, m)


def translate_y(x: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Shift vertically by up to a third of the height times level, random sign."""
    m = _identity_matrices(len(x), x.device)
    m[:, 1, 2] = _signed(levels) * (2 / 3)
    return _affine(x, m)


OPERATIONS: dict[str, Op] = {
    "autocontrast": autocontrast,
    "equalize": equalize,
    "posterize": posterize,
    "solarize": solarize,
    "rotate": rotate,
    "shear_x": shear_x,
    "shear_y": shear_y,
    "translate_x": translate_x,
    "translate_y": translate_y,
}
#: suite corruptions that resemble an operation (none of them is an ImageNet-C benchmark corruption)
OVERLAPS: dict[str, tuple[str, ...]] = {
    "rotate": ("rotation",),
    "shear_x": ("shear",),
    "shear_y": ("shear",),
    "translate_x": ("translation",),
    "translate_y": ("translation",),
}


def augmix(
    x: torch.Tensor,
    *,
    ops: Sequence[str],
    severity: int,
    width: int,
    depth: int,
    alpha: float,
) -> torch.Tensor:
    """One AugMix view of the batch ``x`` (per-sample random chains, weights and blend)."""
    n = len(x)
    weights = torch.distributions.Dirichlet(torch.full((width,), alpha)).sample((n,)).to(x.device)
    blend = torch.distributions.Beta(alpha, alpha).sample((n,)).to(x.device).view(-1, 1, 1, 1)
    mix = torch.zeros_like(x)
    table = [OPERATIONS[o] for o in ops]
    for k in range(width):
        chain = x
        lengths = torch.full((n,), depth) if depth > 0 else torch.randint(1, 4, (n,))
        for step in range(int(lengths.max())):
            active = (lengths > step).to(x.device)
            choice = torch.randint(0, len(table), (n,), device=x.device)
            levels = torch.empty(n, device=x.device).uniform_(0.1, float(severity)) / 10
            out = chain.clone()
            for j, op in enumerate(table):
                rows = ((choice == j) & active).nonzero().flatten()
                if len(rows):
                    out[rows] = op(chain[rows], levels[rows]).clamp(0.0, 1.0)
            chain = out
        mix = mix + weights[:, k].view(-1, 1, 1, 1) * chain
    return (1 - blend) * x + blend * mix


@DEFENSES.register("augment")
class AugMixTraining(TrainingDefense):
    """Augmentation training in the style of AugMix: mixed random chains of operations + JSD consistency.

    Args:
        ops: operation names (default: all of AugMix's, see :data:`OPERATIONS`).
        severity: operation strength, 1..10 (AugMix's default 3).
        width: chains mixed per view; depth: operations per chain (-1: random 1..3).
        alpha: Dirichlet and Beta concentration of the mixing weights.
        jsd: add the Jensen-Shannon consistency loss over (clean, view 1, view 2).
        jsd_weight: its weight (12 in the paper).
        epochs: training epochs.
    """

    name = "augment"

    def __init__(
        self,
        *,
        ops: Sequence[str] | None = None,
        severity: int = 3,
        width: int = 3,
        depth: int = -1,
        alpha: float = 1.0,
        jsd: bool = True,
        jsd_weight: float = 12.0,
        epochs: int = 15,
    ) -> None:
        chosen = list(OPERATIONS) if ops is None else [ops] if isinstance(ops, str) else list(ops)
        unknown = [o for o in chosen if o not in OPERATIONS]
        if unknown or not chosen:
            raise UsageError(
                f"defense 'augment': ops should be names among {', '.join(OPERATIONS)}, but got {chosen!r}; "
                "leave ops unset for all of them."
            )
        self.ops = None if ops is None else tuple(chosen)
        if isinstance(severity, bool) or not isinstance(severity, int) or not 1 <= severity <= 10:
            raise UsageError(
                f"defense 'augment': severity should be an integer between 1 and 10, but got {severity!r}."
            )
        self.severity = severity
        self.width = params.positive_int(self.label, "width", width)
        if isinstance(depth, bool) or not isinstance(depth, int) or not (depth == -1 or depth >= 1):
            raise UsageError(
                f"defense 'augment': depth should be -1 (random 1..3) or a positive integer, but got {depth!r}."
            )
        self.depth = depth
        self.alpha = params.positive_float(self.label, "alpha", alpha)
        self.jsd = bool(jsd)
        self.jsd_weight = params.positive_float(self.label, "jsd_weight", jsd_weight)
        self.epochs = params.positive_int(self.label, "epochs", epochs)

    @property
    def operations(self) -> tuple[str, ...]:
        return tuple(OPERATIONS) if self.ops is None else self.ops

    def overlapping_corruptions(self) -> set[str]:
        """Suite corruptions that resemble one of the training operations."""
        return {c for op in self.operations for c in OVERLAPS.get(op, ())}

    def describe(self) -> dict[str, Any]:
        """The base description plus ``seen_corruptions``: evaluated corruptions its operations resemble."""
        return {**super().describe(), "seen_corruptions": sorted(self.overlapping_corruptions())}

    def view(self, x: torch.Tensor) -> torch.Tensor:
        return augmix(
            x, ops=self.operations, severity=self.severity, width=self.width, depth=self.depth, alpha=self.alpha
        )

    def loss(self, *, num_classes: int) -> LossFn:
        def augmix_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            if not self.jsd:
                return F.cross_entropy(model(self.view(x)), y)
            logits = model(torch.cat([x, self.view(x), self.view(x)]))
            clean, aug1, aug2 = logits.chunk(3)
            probs = [F.softmax(t, dim=1) for t in (clean, aug1, aug2)]
            mixture = torch.clamp(sum(probs) / 3, 1e-7, 1.0).log()
            jsd = sum(F.kl_div(mixture, p, reduction="batchmean") for p in probs) / 3
            return F.cross_entropy(clean, y) + self.jsd_weight * jsd

        return augmix_loss
