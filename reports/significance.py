"""Paired statistics for comparing models on the same samples (numpy, scipy, pandas; no torch).

Every model of a comparison is evaluated on the same samples with the same seeds, so the
per-sample outcomes are paired and the tests below use the pairing:

* :func:`mcnemar_exact`: the exact McNemar test for one cell (a binomial test on the
  discordant pairs: samples one model gets right and the other wrong);
* :func:`paired_interval`: a 95% interval for the difference of two paired accuracies
  (Newcombe's hybrid score interval, method 10 of Newcombe 1998), for single cells;
* :func:`bootstrap_difference`: a paired bootstrap over samples for aggregates (mean
  corruption accuracy, mCE): the same resampled samples for both models, percentile interval;
* :func:`sign_flip_test`: a paired permutation test of the mean per-sample difference, for
  aggregates whose per-sample outcome is a fraction rather than right/wrong;
* :func:`rank_groups`: a ranking with a compact letter display: models that share a letter
  are not significantly different (pairwise tests, Holm-corrected; see the function).

>>> a = np.array([1, 1, 1, 1, 0, 0, 1, 0], dtype=bool)
>>> b = np.array([1, 0, 0, 0, 0, 0, 1, 0], dtype=bool)
>>> result = mcnemar_exact(a, b)
>>> result.only_a, result.only_b, round(result.p_value, 4)
(3, 0, 0.25)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import binom

from reports.stats import wilson_interval

#: an aggregate of per-cell accuracies: ``[B, cells]`` for each model -> ``[B]``
Aggregate = Callable[[np.ndarray, np.ndarray], np.ndarray]

ALPHA = 0.05


@dataclass(frozen=True)
class McNemarResult:
    """Discordant-pair counts and the exact two-sided McNemar p-value."""

    only_a: int  # samples model A gets right and model B wrong
    only_b: int  # samples model B gets right and model A wrong
    p_value: float

    @property
    def discordant(self) -> int:
        return self.only_a + self.only_b


@dataclass(frozen=True)
class Difference:
    """A difference ``estimate = stat(A) - stat(B)`` with its interval and p-value."""

    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    method: str

    @property
    def significant(self) -> bool:
        return bool(self.p_value < ALPHA)


def _paired(a: np.ndarray, b: np.ndarray, dtype: type = bool) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=dtype)
    b = np.asarray(b, dtype=dtype)
    if a.shape != b.shape:
        raise ValueError(f"paired outcomes should have the same shape, but got {a.shape} and {b.shape}.")
    return a, b


def mcnemar_exact(a: np.ndarray, b: np.ndarray) -> McNemarResult:
    """Exact McNemar test of paired right/wrong outcomes ``a`` and ``b`` (one per sample).

    Under the null (both models equally accurate) each discordant pair is a fair coin; the
    two-sided p-value doubles the smaller binomial tail (capped at 1). No discordant pairs: p = 1.
    """
    a, b = _paired(a, b)
    only_a = int(np.count_nonzero(a & ~b))
    only_b = int(np.count_nonzero(b & ~a))
    m = only_a + only_b
    p = 1.0 if m == 0 else float(min(1.0, 2.0 * binom.cdf(min(only_a, only_b), m, 0.5)))
    return McNemarResult(only_a, only_b, p)


def paired_interval(a: np.ndarray, b: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """``(mean(a) - mean(b), low, high)``: Newcombe's hybrid score interval for paired proportions.

    Built from the two Wilson intervals and the correlation of the pairs, it stays inside
    [-1, 1] and behaves at 0% and 100% accuracy, where the Wald interval collapses.

    >>> a = np.r_[np.ones(60, bool), np.zeros(40, bool)]
    >>> tuple(round(v, 3) for v in paired_interval(a, np.zeros(100, bool)))
    (0.6, 0.495, 0.691)
    """
    a, b = _paired(a, b)
    n = a.size
    if n == 0:
        return 0.0, -1.0, 1.0
    both, only_a, only_b = np.count_nonzero(a & b), np.count_nonzero(a & ~b), np.count_nonzero(~a & b)
    neither = n - both - only_a - only_b
    p1, p2 = (both + only_a) / n, (both + only_b) / n
    (l1, l2), (u1, u2) = wilson_interval(np.array([both + only_a, both + only_b]), n, confidence)
    margins = float(both + only_a) * (neither + only_b) * (both + only_b) * (neither + only_a)
    phi = 0.0 if margins == 0 else (both * neither - only_a * only_b) / np.sqrt(margins)
    d = p1 - p2
    low = d - np.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    high = d + np.sqrt(max(0.0, (p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2))
    return float(d), float(max(-1.0, low)), float(min(1.0, high))


def compare_cell(a: np.ndarray, b: np.ndarray, confidence: float = 0.95) -> Difference:
    """Accuracy of ``a`` minus accuracy of ``b`` on one cell: Newcombe interval, exact McNemar p."""
    d, lo, hi = paired_interval(a, b, confidence)
    return Difference(d, lo, hi, mcnemar_exact(a, b).p_value, "newcombe+mcnemar")


def bootstrap_weights(n: int, *, n_boot: int = 2000, seed: int = 0) -> np.ndarray:
    """``[n_boot, n]`` resampling counts: how often each sample is drawn in each replicate."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    counts = np.zeros((n_boot, n), dtype=np.float64)
    np.add.at(counts, (np.repeat(np.arange(n_boot), n), idx.ravel()), 1.0)
    return counts


def bootstrap_difference(
    bits_a: np.ndarray,
    bits_b: np.ndarray,
    aggregate: Aggregate,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
    null: float = 0.0,
) -> Difference:
    """Paired bootstrap of ``aggregate`` over samples for two models' cells ``[cells, n]``.

    ``aggregate(acc_a, acc_b)`` maps per-cell accuracies (``[B, cells]`` each) to the
    statistic per replicate (e.g. a difference of means, or an mCE); the same resampled
    samples serve both models. The interval is the percentile interval; the p-value is the
    two-sided bootstrap p-value of ``null`` (twice the share of replicates beyond it, with
    the +1 correction), so it agrees with the interval excluding ``null``.
    """
    a, b = _paired(bits_a, bits_b, dtype=np.float64)
    a, b = np.atleast_2d(a), np.atleast_2d(b)
    n = a.shape[1]
    estimate = float(aggregate(a.mean(1)[None, :], b.mean(1)[None, :])[0])
    if n == 0:
        return Difference(estimate, float("nan"), float("nan"), 1.0, "paired bootstrap")
    weights = bootstrap_weights(n, n_boot=n_boot, seed=seed)
    reps = aggregate(weights @ a.T / n, weights @ b.T / n)
    reps = reps[np.isfinite(reps)]
    if reps.size == 0:
        return Difference(estimate, float("nan"), float("nan"), 1.0, "paired bootstrap")
    tail = (1 - confidence) / 2
    low, high = np.quantile(reps, [tail, 1 - tail])
    below = (np.count_nonzero(reps <= null) + 1) / (reps.size + 1)
    above = (np.count_nonzero(reps >= null) + 1) / (reps.size + 1)
    p = float(min(1.0, 2 * min(below, above)))
    return Difference(estimate, float(low), float(high), p, "paired bootstrap")


def mean_difference(acc_a: np.ndarray, acc_b: np.ndarray) -> np.ndarray:
    """Aggregate: mean accuracy over cells of A minus that of B."""
    return acc_a.mean(1) - acc_b.mean(1)


def mce_aggregate(groups: Sequence[int]) -> Aggregate:
    """mCE of A relative to B in %: mean over corruptions of sum_s E_A(c, s) / sum_s E_B(c, s).

    ``groups[k]`` is the corruption (an integer label) of cell ``k``. A corruption on which
    the baseline makes no error in a replicate is left out of that replicate's mean.
    """
    labels = np.asarray(groups)
    members = [np.flatnonzero(labels == g) for g in np.unique(labels)]

    def aggregate(acc_a: np.ndarray, acc_b: np.ndarray) -> np.ndarray:
        err_a, err_b = 1 - acc_a, 1 - acc_b
        with np.errstate(invalid="ignore", divide="ignore"):
            ce = np.stack([err_a[:, m].sum(1) / err_b[:, m].sum(1) for m in members], axis=1)
        ce[~np.isfinite(ce)] = np.nan
        with np.errstate(invalid="ignore"):
            return 100 * np.nanmean(ce, axis=1) if ce.size else np.full(len(acc_a), np.nan)

    return aggregate


def sign_flip_test(differences: np.ndarray, *, n_perm: int = 10000, seed: int = 0) -> float:
    """Two-sided paired permutation p-value that the mean of per-sample ``differences`` is 0.

    Each sample's difference keeps its size and gets a random sign (the null: the two models
    are exchangeable on every sample). Monte Carlo with the +1 correction, so p > 0.
    """
    d = np.asarray(differences, dtype=np.float64)
    d = d[d != 0]
    if d.size == 0:
        return 1.0
    observed = abs(d.mean())
    rng = np.random.default_rng(seed)
    hits = 0
    for start in range(0, n_perm, 1000):
        signs = rng.choice((-1.0, 1.0), size=(min(1000, n_perm - start), d.size))
        hits += int(np.count_nonzero(np.abs(signs @ d) / d.size >= observed - 1e-12))
    return float((hits + 1) / (n_perm + 1))


def holm(p_values: Sequence[float]) -> np.ndarray:
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
    if test not in ("mcnemar", "sign_flip"):
        raise ValueError(f"test should be 'mcnemar' or 'sign_flip', but got {test!r}.")
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
    ranks = pd.Series([values[k] for k in order]).rank(method="min", ascending=False).astype(int).tolist()
    return pd.DataFrame(
        {"model": order, "value": [values[k] for k in order], "rank": ranks, "group": [letters[k] for k in order]}
    )


def mcnemar_p(a: np.ndarray, b: np.ndarray) -> float:
    """Exact two-sided McNemar test of paired per-sample correctness ``a`` vs ``b``.

    >>> a = np.array([1] * 30 + [0] * 10, dtype=bool); b = np.array([1] * 20 + [0] * 20, dtype=bool)
    >>> round(mcnemar_p(a, b), 4)
    0.002
    """
    return mcnemar_exact(a, b).p_value
