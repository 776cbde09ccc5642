"""Combining verified sweep results: batches, the suite's per-example worst case, distances.

A sample is robust at epsilon only if it is correct on the clean image and no attack of the
suite fools it at that epsilon or any smaller one. :func:`worst_case` applies that rule per
norm across attacks that may have run on different epsilon grids: an attack run at
``e' <= e`` that fooled a sample counts at ``e``, and a minimum-norm attack's verified
distance ``d <= e`` counts at ``e``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from attacks.base import SweepResult
from robustness.core.errors import UsageError


def concat(results: Sequence[SweepResult]) -> SweepResult:
    """Join the results of one attack over consecutive data batches (same epsilons)."""
    if not results:
        raise UsageError("concat: results should hold at least one SweepResult, but got none.")
    first = results[0]
    for r in results[1:]:
        if (r.attack, r.norm, r.epsilons) != (first.attack, first.norm, first.epsilons):
            raise UsageError(
                f"concat: results should share attack, norm and epsilons, but got {first.attack}/{first.norm.value}/"
                f"{first.epsilons} and {r.attack}/{r.norm.value}/{r.epsilons}; concatenate per attack."
            )
    examples: dict[float, torch.Tensor] = {}
    if all(r.examples for r in results):
        examples = {e: torch.cat([r.examples[e] for r in results]) for e in first.examples}
    return SweepResult(
        attack=first.attack,
        norm=first.norm,
        epsilons=first.epsilons,
        robust=np.concatenate([r.robust for r in results], axis=1),
        clean_correct=np.concatenate([r.clean_correct for r in results]),
        distances=None if first.distances is None else np.concatenate([r.distances for r in results]),
        examples=examples,
        attacked=np.concatenate([_attacked(r) for r in results]),
        targeted=first.targeted,
        hyperparameters=first.hyperparameters,
        seconds=sum(r.seconds for r in results),
    )


def fooled_at(result: SweepResult, epsilon: float) -> np.ndarray:
    """``[N]``: samples ``result`` shows fooled at ``epsilon`` (any budget ``<= epsilon`` counts)."""
    hit = np.zeros(result.n, dtype=bool)
    fooled = result.fooled
    for k, e in enumerate(result.epsilons):
        if e <= epsilon:
            hit |= fooled[k]
    if result.distances is not None:
        hit |= result.clean_correct & (np.nan_to_num(result.distances, nan=np.inf) <= epsilon)
    return hit


def worst_case(results: Sequence[SweepResult], *, name: str = "suite") -> list[SweepResult]:
    """The suite's per-example worst case, one :class:`SweepResult` per norm (``{name}_{norm}``).

    Its epsilons are the union of the attacks' epsilons for that norm; ``clean_correct`` is
    the AND of the attacks' clean outcomes (they agree unless the model is randomized);
    ``distances`` is the per-sample minimum over the minimum-norm attacks.
    """
    if not results:
        raise UsageError("worst_case: results should hold at least one SweepResult, but got none.")
    sizes = {r.n for r in results}
    if len(sizes) != 1:
        raise UsageError(
            f"worst_case: results should cover the same samples, but got sample counts {sorted(sizes)}; "
            "concatenate each attack's batches with attacks.concat first."
        )
    out = []
    for norm in dict.fromkeys(r.norm for r in results):
        group = [r for r in results if r.norm is norm]
        epsilons = tuple(sorted({e for r in group for e in r.epsilons}))
        clean = np.logical_and.reduce([r.clean_correct for r in group])
        fooled = np.stack([np.logical_or.reduce([fooled_at(r, e) for r in group]) for e in epsilons])
        minimal = [r.distances for r in group if r.distances is not None]
        distances = None
        if minimal:
            stacked = np.stack(minimal)
            distances = np.where(np.isnan(stacked), np.inf, stacked).min(0)
            distances[np.isnan(stacked).all(0)] = np.nan
        out.append(
            SweepResult(
                attack=f"{name}_{norm.value}",
                norm=norm,
                epsilons=epsilons,
                robust=clean[None, :] & ~fooled,
                clean_correct=clean,
                distances=distances,
                attacked=np.logical_or.reduce([_attacked(r) for r in group]),
                hyperparameters={"attacks": [r.attack for r in group]},
                seconds=sum(r.seconds for r in group),
            )
        )
    return out


def distance_summary(result: SweepResult) -> dict[str, Any]:
    """Median and quantiles of the verified minimal distances, over the attacked samples.

    Samples attacked but not fooled count as ``inf`` (so the median is ``inf`` when fewer
    than half were fooled); samples not attacked (``nan``) are left out. Returns plain floats
    for the report layer.
    """
    if result.distances is None:
        raise UsageError(f"distance_summary: {result.attack} is not a minimum-norm attack (it has no distances).")
    d = result.distances[result.clean_correct & ~np.isnan(result.distances)]
    finite = d[np.isfinite(d)]
    qs = (0.1, 0.25, 0.5, 0.75, 0.9)
    values = np.quantile(d, qs, method="lower") if len(d) else np.full(len(qs), np.nan)
    return {
        "attack": result.attack,
        "norm": result.norm.value,
        "n_attacked": int(len(d)),
        "n_found": int(len(finite)),
        "median": float(values[2]),
        "mean_found": float(finite.mean()) if len(finite) else float("nan"),
        **{f"q{int(q * 100):02d}": float(v) for q, v in zip(qs, values)},
    }


def records(result: SweepResult) -> list[dict[str, Any]]:
    """Tidy rows (one per epsilon) with counts and accuracies, plain Python values."""
    rows = []
    for k, e in enumerate(result.epsilons):
        rows.append(
            {
                "attack": result.attack,
                "norm": result.norm.value,
                "epsilon": float(e),
                "n": result.n,
                "clean_correct": int(result.clean_correct.sum()),
                "attacked": int(_attacked(result).sum()),
                "correct": int(result.robust[k].sum()),
                "accuracy": float(result.accuracy[k]),
                "clean_accuracy": result.clean_accuracy,
                "targeted": result.targeted,
                "seconds": float(result.seconds),
            }
        )
    return rows


def _attacked(result: SweepResult) -> np.ndarray:
    return result.attacked if result.attacked is not None else result.clean_correct.copy()


__all__ = ["concat", "distance_summary", "fooled_at", "records", "worst_case"]
