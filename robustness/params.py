"""Validation of attack and defense hyperparameters at construction; messages name the owner and argument.

``owner`` is how the message names what is being built: ``"pgd_linf"``, ``"defense 'jpeg'"``.
"""

from __future__ import annotations

from collections.abc import Sequence

from robustness.errors import UsageError


def positive_int(owner: str, name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"{owner}: {name} should be a positive integer, but got {value!r}.")
    return value


def optional_positive_int(owner: str, name: str, value: object) -> int | None:
    return None if value is None else positive_int(owner, name, value)


def non_negative_int(owner: str, name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UsageError(f"{owner}: {name} should be a non-negative integer, but got {value!r}.")
    return value


def positive_float(owner: str, name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise UsageError(f"{owner}: {name} should be a positive number, but got {value!r}.")
    return float(value)


def non_negative_float(owner: str, name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise UsageError(f"{owner}: {name} should be a non-negative number, but got {value!r}.")
    return float(value)


def optional_positive_float(owner: str, name: str, value: object) -> float | None:
    return None if value is None else positive_float(owner, name, value)


def in_range(owner: str, name: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise UsageError(f"{owner}: {name} should be between {low} and {high}, but got {value!r}.")
    return float(value)


def choice(owner: str, name: str, value: object, options: Sequence[str]) -> str:
    if value not in options:
        raise UsageError(f"{owner}: {name} should be one of {', '.join(options)}, but got {value!r}.")
    return str(value)


def target(owner: str, value: object) -> int | str | None:
    """``None`` (untargeted), ``"random"`` or a non-negative class index."""
    if value is None or value == "random":
        return value  # type: ignore[return-value]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UsageError(
            f"{owner}: target should be None (untargeted), 'random' or a class index >= 0, but got {value!r}."
        )
    return value
