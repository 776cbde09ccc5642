"""Default attack suites and a one-call evaluation: sweeps, worst case, distances, sanity flags.

The engine may call :meth:`Attack.sweep <attacks.base.Attack.sweep>` per data batch itself
(and join with :func:`attacks.concat`); :func:`evaluate` does the same for in-memory data
and is what the benchmark times. Suites are sized for the default audit (a small CNN on
~540 32x32 grayscale digits, 2 CPU cores); BENCHMARKS.md records the measured time.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from attacks.base import ATTACKS, Attack, SweepResult
from attacks.bookkeeping import concat, distance_summary, records, worst_case
from attacks.geometry import Norm, as_norm
from attacks.sanity import SanityFlag, run_checks
from robustness.core import params
from robustness.core.budgets import DEFAULT_ATTACKS, DEFAULT_EPS_L2, DEFAULT_EPS_LINF
from robustness.core.errors import UsageError, unknown_name

#: what ``--attacks default`` and :func:`evaluate` run: the embedded audit's attacks (one owner,
#: :mod:`robustness.core.budgets`)
DEFAULT_SUITE: tuple[str, ...] = DEFAULT_ATTACKS
#: ``--attacks broad``: the default plus PGD, a gradient-free floor (uniform noise, decision-based HopSkipJump)
#: and the DDN minimum-norm attack, so its worst case is never above the default's. cw_l2 and fmn_linf are
#: registered but in neither: at audit-sized step budgets CW (4 x 25 steps) is weaker than DDN and costs more per
#: sample, and FMN adds little over DeepFool at about 7x its cost (measured on the default audit model).
BROAD_SUITE: tuple[str, ...] = (*DEFAULT_SUITE, "pgd_linf", "noise_linf", "pgd_l2", "ddn_l2", "hsj_l2")
#: named suites ``--attacks`` (and ``attacks=`` in a config) accepts besides attack names;
#: ``all`` is every registered attack that is not a composite of others
SUITES: dict[str, tuple[str, ...]] = {
    "default": DEFAULT_SUITE,
    "broad": BROAD_SUITE,
    "autoattack": ("autoattack_linf", "autoattack_l2"),
    "autoattack-rand": ("autoattack_rand_linf", "autoattack_rand_l2"),
}
#: the minimum-norm attack whose distances the report summarizes, per norm
MINIMAL: dict[Norm, str] = {Norm.LINF: "deepfool_linf", Norm.L2: "ddn_l2"}
#: the default budgets per norm (defined once in :mod:`robustness.core.budgets`)
DEFAULT_EPSILONS: dict[Norm, tuple[float, ...]] = {Norm.LINF: DEFAULT_EPS_LINF, Norm.L2: DEFAULT_EPS_L2}


def expand(names: Sequence[str]) -> list[str]:
    """Registered attack names for ``names`` (attack names, suite names, ``all``, ``none``), deduplicated.

    Unknown names raise :class:`~robustness.core.errors.UsageError` listing what exists.
    """
    out: list[str] = []
    for name in names:
        if name == "none":
            continue
        if name in SUITES:
            expanded = list(SUITES[name])
        elif name == "all":
            expanded = [n for n, cls in ATTACKS.items() if not getattr(cls, "composite", False)]
        else:
            if name not in ATTACKS:
                raise unknown_name("attack", name, [*SUITES, "all", "none", *ATTACKS])
            expanded = [name]
        out.extend(n for n in expanded if n not in out)
    return out


def create(name: str, **hyperparameters: Any) -> Attack:
    """Instantiate a registered attack; keyword arguments are its hyperparameters."""
    return params.build(ATTACKS, "attack", name, hyperparameters)


def describe_all() -> list[dict[str, Any]]:
    """Every registered attack's description with default hyperparameters (for the report)."""
    return [cls().describe() for _, cls in ATTACKS.items()]


@dataclass
class SuiteResult:
    """What :func:`evaluate` found: per-attack sweeps, the per-norm worst case, flags, timings."""

    results: list[SweepResult]
    worst: list[SweepResult]
    flags: list[SanityFlag]
    attacks: list[dict[str, Any]]
    seconds: dict[str, float] = field(default_factory=dict)

    def records(self) -> list[dict[str, Any]]:
        """Tidy rows: one per (attack or worst case, epsilon)."""
        return [row for r in [*self.results, *self.worst] for row in records(r)]

    def distances(self) -> list[dict[str, Any]]:
        """Minimal-distance summaries of every minimum-norm attack and each norm's worst case."""
        return [distance_summary(r) for r in [*self.results, *self.worst] if r.distances is not None]

    def summary(self) -> str:
        """A plain-text table for consoles and logs."""
        lines = [f"{'attack':<16}{'norm':<6}{'eps':>8}{'robust':>9}{'clean':>8}{'sec':>8}"]
        for row in self.records():
            lines.append(
                f"{row['attack']:<16}{row['norm']:<6}{row['epsilon']:>8.3g}{row['accuracy']:>9.1%}"
                f"{row['clean_accuracy']:>8.1%}{row['seconds']:>8.2f}"
            )
        for d in self.distances():
            lines.append(f"median minimal {d['norm']} distance ({d['attack']}): {d['median']:.4g}")
        for f in self.flags:
            state = "skipped" if f.skipped else ("ok" if f.passed else "FLAGGED")
            lines.append(f"[{state}] {f.check}: {f.detail}")
        return "\n".join(lines)


def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    attacks: Sequence[str] | None = None,
    epsilons: Mapping[Norm | str, Sequence[float]] | None = None,
    hyperparameters: Mapping[str, Mapping[str, Any]] | None = None,
    batch_size: int = 256,
    seed: int = 0,
    checks: bool = True,
    check_samples: int = 128,
) -> SuiteResult:
    """Run ``attacks`` (default: :data:`DEFAULT_SUITE`) over ``x`` in batches, then the checks.

    ``epsilons`` maps each norm to its budgets (default :data:`DEFAULT_EPSILONS`);
    ``hyperparameters`` maps attack names to keyword overrides.
    """
    names = list(attacks) if attacks is not None else list(DEFAULT_SUITE)
    eps = {as_norm(k): tuple(v) for k, v in (epsilons or DEFAULT_EPSILONS).items()}
    hyper = dict(hyperparameters or {})
    if batch_size < 1:
        raise UsageError(f"batch_size should be a positive integer, but got {batch_size}.")
    objs = [create(name, **hyper.get(name, {})) for name in names]
    missing = sorted({a.norm.value for a in objs if a.norm not in eps})
    if missing:
        raise UsageError(f"epsilons should give budgets for every norm attacked, but {', '.join(missing)} has none.")
    seconds: dict[str, float] = {}
    results = []
    for attack in objs:
        start = time.perf_counter()
        parts = [
            attack.sweep(model, x[i : i + batch_size], y[i : i + batch_size], eps[attack.norm], seed=seed)
            for i in range(0, len(x), batch_size)
        ]
        results.append(concat(parts))
        seconds[attack.name] = time.perf_counter() - start
    worst = worst_case(results) if results else []
    flags: list[SanityFlag] = []
    if checks:
        start = time.perf_counter()
        flags = run_checks(model, x, y, results, max_samples=check_samples, seed=seed)
        seconds["sanity_checks"] = time.perf_counter() - start
    return SuiteResult(results, worst, flags, [a.describe() for a in objs], seconds)
