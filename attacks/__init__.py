"""Gradient-based attacks with honest robust-accuracy bookkeeping (foolbox underneath)."""

from __future__ import annotations

from attacks import gradient as _gradient  # noqa: F401  (registers attacks)
from attacks.base import ATTACKS, EPS_TOL, Attack, BudgetViolation, Found, Norm, SweepResult, verify

__all__ = ["ATTACKS", "EPS_TOL", "Attack", "BudgetViolation", "Found", "Norm", "SweepResult", "create", "verify"]


def create(name: str, **kwargs: object) -> Attack:
    """Instantiate a registered attack; keyword arguments are its hyperparameters."""
    return ATTACKS.get(name)(**kwargs)
