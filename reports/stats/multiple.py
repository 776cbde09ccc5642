"""Many pairs at once: Holm's adjustment, compact letter displays and rankings built on them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from reports.stats.paired import ALPHA, mcnemar_exact, sign_flip_test

#: the pairwise tests :func:`rank_groups` knows
RANK_TESTS = ("mcnemar", "sign_flip")


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error control), in the input order.

    >>> holm([0.01, 0.04, 0.03]).round(2).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def compact_letters(order: Sequence[str], different: set[frozenset[str]]) -> dict[str, str]:
    """Compact letter display (Piepho 2004, insert-and-absorb) for models in ranked ``order``.

    Two models share a letter exactly when they are not in ``different``; letters are
    assigned in rank order, so the best group is ``a``.

    >>> compact_letters(["x", "y", "z"], {frozenset({"x", "z"})})
    {'x': 'a', 'y': 'ab', 'z': 'b'}
    """
    columns: list[set[str]] = [set(order)]
    for pair in different:
        i, j = sorted(pair)
        next_columns: list[set[str]] = []
        for col in columns:
            if i in col and j in col:
                next_columns += [col - {i}, col - {j}]
            else:
                next_columns.append(col)
        columns = [
            c
            for k, c in enumerate(next_columns)
            if not any(c < o or (c == o and m < k) for m, o in enumerate(next_columns))
        ]
    rank = {name: k for k, name in enumerate(order)}
    columns.sort(key=lambda c: sorted(rank[m] for m in c))
    letters = "abcdefghijklmnopqrstuvwxyz"
    out = {name: "" for name in order}
    for k, col in enumerate(columns):
        for name in col:
            out[name] += letters[k] if k < len(letters) else f"[{k}]"
    return out


def rank_groups(
    outcomes: Mapping[str, np.ndarray],
    *,
    test: str = "mcnemar",
    alpha: float = ALPHA,
    seed: int = 0,
) -> pd.DataFrame:
    """Rank models by mean per-sample outcome and group those not significantly different.

    ``outcomes`` maps each model to its per-sample outcomes on the same samples: booleans
    (right/wrong on one cell, ``test="mcnemar"``) or fractions (e.g. the share of corruption
    cells a sample survives, ``test="sign_flip"``). Rule: every pair is tested (exact
    McNemar, or the paired sign-flip test), the p-values are Holm-adjusted over all pairs,
    and a pair with adjusted p < ``alpha`` is *different*; the groups are the compact letter
    display of that relation (models sharing a letter are not significantly different).

    Returns one row per model, best first: ``model, value, rank, group``.
    """
    if test not in RANK_TESTS:
        raise ValueError(f"test should be one of {', '.join(map(repr, RANK_TESTS))}, but got {test!r}.")
    names = list(outcomes)
    values = {k: float(np.mean(v)) if np.size(v) else float("nan") for k, v in outcomes.items()}
    order = sorted(names, key=lambda k: (-values[k], names.index(k)))
    pairs = [(a, b) for i, a in enumerate(order) for b in order[i + 1 :]]
    p_values = []
    for a, b in pairs:
        if test == "mcnemar":
            p_values.append(mcnemar_exact(outcomes[a], outcomes[b]).p_value)
        else:
            diff = np.asarray(outcomes[a], dtype=float) - np.asarray(outcomes[b], dtype=float)
            p_values.append(sign_flip_test(diff, seed=seed))
    adjusted = holm(p_values) if pairs else np.empty(0)
    different = {frozenset(pair) for pair, p in zip(pairs, adjusted) if p < alpha}
    letters = compact_letters(order, different)
    # a model without outcomes (value nan) ranks last instead of breaking the integer ranks
    ranks = pd.Series([values[k] for k in order]).rank(method="min", ascending=False, na_option="bottom")
    ranks = ranks.astype(int).tolist()
    return pd.DataFrame(
        {"model": order, "value": [values[k] for k in order], "rank": ranks, "group": [letters[k] for k in order]}
    )


__all__ = ["RANK_TESTS", "compact_letters", "holm", "rank_groups"]
