"""Norms, epsilon balls and pixel bounds: the geometry every attack and check shares.

All functions work on batches (``N x ...``) in pixel space. Projections keep a relative
safety margin of ``SHRINK`` on L2 balls so that float32 round-off can never push an
example past ``epsilon + EPS_TOL`` when it is re-measured.
"""

from __future__ import annotations

from enum import Enum

import torch

from robustness.core.errors import UsageError

#: absolute tolerance when checking that an example lies inside its epsilon ball or bounds
EPS_TOL = 1e-6
#: relative margin L2 projections keep inside the ball (far below any attack's resolution)
SHRINK = 1e-6


class Norm(str, Enum):
    """The threat models the suite supports."""

    LINF = "linf"
    L2 = "l2"


def as_norm(norm: Norm | str) -> Norm:
    """Parse ``norm`` (``"linf"``/``"l2"`` or a :class:`Norm`) with a helpful error."""
    try:
        return Norm(norm)
    except ValueError:
        raise UsageError(
            f"norm should be one of {', '.join(n.value for n in Norm)}, but got {norm!r}."
        ) from None


def perturbation_norm(delta: torch.Tensor, norm: Norm | str) -> torch.Tensor:
    """Per-sample norm of ``delta`` (``[N]``)."""
    flat = delta.flatten(1)
    return flat.abs().amax(1) if as_norm(norm) is Norm.LINF else flat.norm(p=2, dim=1)


def project(
    x: torch.Tensor, adv: torch.Tensor, epsilon: float | torch.Tensor, norm: Norm | str, bounds: tuple[float, float]
) -> torch.Tensor:
    """Project ``adv`` onto the ``norm`` ball of radius ``epsilon`` around ``x``, then the bounds.

    ``epsilon`` is a number or a per-sample ``[N]`` tensor. Clipping to the bounds after the
    projection only shrinks each coordinate of the perturbation, so the result stays inside
    the ball.
    """
    delta = adv - x
    eps = torch.as_tensor(epsilon, dtype=x.dtype, device=x.device)
    if eps.ndim == 1:
        eps = eps.view(-1, *([1] * (x.ndim - 1)))
    if as_norm(norm) is Norm.LINF:
        delta = torch.maximum(torch.minimum(delta, eps), -eps)
    else:
        size = delta.flatten(1).norm(p=2, dim=1).view(-1, *([1] * (x.ndim - 1)))
        factor = torch.where(size > eps, eps * (1 - SHRINK) / size.clamp_min(1e-30), torch.ones_like(size))
        delta = delta * factor
    return (x + delta).clamp(*bounds)


def normalize(grad: torch.Tensor, norm: Norm | str) -> torch.Tensor:
    """Steepest-ascent direction of unit ``norm`` size: ``sign`` for Linf, ``g/||g||`` for L2."""
    if as_norm(norm) is Norm.LINF:
        return grad.sign()
    size = grad.flatten(1).norm(p=2, dim=1).clamp_min(1e-12)
    return grad / size.view(-1, *([1] * (grad.ndim - 1)))


def random_in_ball(shape: torch.Size, norm: Norm | str, generator: torch.Generator) -> torch.Tensor:
    """One point drawn uniformly from the unit ``norm`` ball (``shape`` without batch axis)."""
    if as_norm(norm) is Norm.LINF:
        return torch.rand(shape, generator=generator) * 2 - 1
    direction = torch.randn(shape, generator=generator)
    direction = direction / direction.norm().clamp_min(1e-12)
    radius = torch.rand((), generator=generator) ** (1.0 / direction.numel())
    return direction * radius


def out_of_bounds(adv: torch.Tensor, bounds: tuple[float, float]) -> torch.Tensor:
    """Per-sample flag: some pixel lies outside ``bounds`` by more than ``EPS_TOL``."""
    lo, hi = bounds
    flat = adv.flatten(1)
    return (flat < lo - EPS_TOL).any(1) | (flat > hi + EPS_TOL).any(1)
