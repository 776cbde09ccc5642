"""Hyperparameters of attacks and defenses: reading them back, building by name, validating.

Validators run at construction; ``owner`` is how their messages name what is being built:
``"pgd_linf"``, ``"defense 'jpeg'"``.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any, TypeVar

from robustness.core.errors import UsageError, unknown_name
from robustness.core.registry import Registry

T = TypeVar("T", bound="Hyperparameters")


class Hyperparameters:
    """Mixin: the keyword-only arguments of ``__init__`` are the hyperparameters, stored under their names."""

    def hyperparameters(self) -> dict[str, Any]:
        """The hyperparameters and their current values."""
        return {k: getattr(self, k) for k in self.defaults()}

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Default value of every hyperparameter, read from ``__init__``'s signature."""
        params = inspect.signature(cls.__init__).parameters.values()
        return {p.name: p.default for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}


def build(registry: Registry[type[T]], what: str, name: str, hyperparameters: dict[str, Any]) -> T:
    """Instantiate ``registry``'s ``name``; an unknown hyperparameter is refused with the known ones listed."""
    cls = registry.get(name)
    allowed = cls.defaults()
    unknown = [k for k in hyperparameters if k not in allowed]
    if unknown:
        raise unknown_name(f"hyperparameter of {what} {name!r}", unknown[0], allowed)
    return cls(**hyperparameters)


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
