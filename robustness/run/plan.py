"""Plan an audit grid: the clean cell, corruption cells and attack cells.

The only place a cell key (``clean``, ``corruption/<name>/<severity>``,
``attack/<name>/<norm>/<epsilon>``) is spelled: everything else builds keys with
:func:`corruption_cell`/:func:`attack_cell` or reads them from stored cells.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from robustness import corruptions
from robustness.core.enums import WORST_CASE, CellKind
from robustness.core.errors import UsageError
from robustness.run.config import AuditConfig


@dataclass(frozen=True)
class Cell:
    """One evaluation cell; ``key`` identifies it in the store."""

    key: str
    kind: CellKind
    perturbation: str
    family: str
    severity: int | None = None
    epsilon: float | None = None
    norm: str | None = None


@dataclass(frozen=True)
class AttackTask:
    """One attack swept over all budgets of its norm; yields one cell per epsilon."""

    name: str
    norm: str
    epsilons: tuple[float, ...]
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def cells(self) -> list[Cell]:
        return [attack_cell(self.name, self.norm, e) for e in self.epsilons]


@dataclass(frozen=True)
class Plan:
    corruption_cells: list[Cell]
    attack_tasks: list[AttackTask]

    @property
    def norms(self) -> dict[str, tuple[float, ...]]:
        out: dict[str, tuple[float, ...]] = {}
        for task in self.attack_tasks:
            out[task.norm] = tuple(sorted(set(out.get(task.norm, ())) | set(task.epsilons)))
        return out

    def worst_case_cells(self) -> list[Cell]:
        return [attack_cell(WORST_CASE, norm, e) for norm, eps in self.norms.items() for e in eps]

    def all_cells(self) -> list[Cell]:
        attack = [c for t in self.attack_tasks for c in t.cells]
        return [CLEAN, *self.corruption_cells, *attack, *self.worst_case_cells()]


CLEAN = Cell(CellKind.CLEAN.value, CellKind.CLEAN, "clean", "clean")


def corruption_cell(name: str, severity: int) -> Cell:
    family = corruptions.get(name).family if name in corruptions.CORRUPTIONS else "precomputed"
    return Cell(f"{CellKind.CORRUPTION.value}/{name}/{severity}", CellKind.CORRUPTION, name, family, severity=severity)


def attack_cell(name: str, norm: str, epsilon: float) -> Cell:
    key = f"{CellKind.ATTACK.value}/{name}/{norm}/{epsilon:.6g}"
    return Cell(key, CellKind.ATTACK, name, "attack", epsilon=float(epsilon), norm=norm)


def resolve_attacks(names: tuple[str, ...]) -> list[str]:
    """Expand suite names (``default``, ``autoattack``, ...), ``none`` and ``all``; check names against the registry."""
    import attacks

    return attacks.expand(names)


def make_plan(config: AuditConfig) -> Plan:
    import attacks

    if config.precomputed:
        from robustness.data.precomputed import PrecomputedCorruptions

        source = PrecomputedCorruptions(config.precomputed, (3, 1, 1))
        names = source.corruptions()
        wanted = [t for t in config.corruptions if t != "all"]
        if wanted:
            missing = [t for t in wanted if t not in names]
            if missing:
                raise UsageError(
                    f"--corruptions {', '.join(missing)} not in --precomputed {config.precomputed!r}; "
                    f"it holds: {', '.join(names)}."
                )
            names = wanted
        cells = [
            corruption_cell(n, s) for n in names for s in sorted(set(config.severities)) if s in source.severities(n)
        ]
    else:
        names = corruptions.select(list(config.corruptions))
        cells = [corruption_cell(n, s) for n in names for s in sorted(set(config.severities))]
    tasks = []
    budgets = {"linf": tuple(sorted(set(config.eps))), "l2": tuple(sorted(set(config.eps_l2)))}
    for name in resolve_attacks(config.attacks):
        cls = attacks.ATTACKS.get(name)
        norm = cls.norm.value
        params = dict(config.attack_params.get(name, {}))
        try:
            cls(**params)
        except TypeError as err:
            raise UsageError(f"attack_params for {name!r} are not accepted: {err}.") from None
        if budgets[norm]:
            tasks.append(AttackTask(name, norm, budgets[norm], params))
    return Plan(cells, tasks)
