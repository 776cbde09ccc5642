"""Paired tests and intervals for two models scored on the same samples (numpy, scipy; no torch).

* :func:`mcnemar_exact`: the exact McNemar test for one cell (a binomial test on the
  discordant pairs: samples one model gets right and the other wrong);
* :func:`newcombe_interval`: a 95% interval for the difference of two paired accuracies
  (Newcombe's hybrid score interval, method 10 of Newcombe 1998), for single cells;
* :func:`bootstrap_difference`: a paired bootstrap over samples for aggregates (mean
  corruption accuracy, mCE): ``scipy.stats.bootstrap(paired=True)`` in bounded batches;
* :func:`sign_flip_test`: the paired permutation test of the mean per-sample difference
  (``scipy.stats.permutation_test``), for outcomes that are fractions rather than right/wrong.

>>> a = np.array([1, 1, 1, 1, 0, 0, 1, 0], dtype=bool)
>>> b = np.array([1, 0, 0, 0, 0, 0, 1, 0], dtype=bool)
>>> result = mcnemar_exact(a, b)
>>> result.only_a, result.only_b, round(result.p_value, 4)
(3, 0, 0.25)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import binom, bootstrap, permutation_test

from reports.stats.intervals import wilson_interval

#: an aggregate of per-cell accuracies: ``[B, cells]`` for each model -> ``[B]``
Aggregate = Callable[[np.ndarray, np.ndarray], np.ndarray]

#: the default significance level of every test and ranking
ALPHA = 0.05
#: bytes one batch of bootstrap or permutation replicates may hold; memory stays flat in n_boot
BATCH_BYTES = 64 * 2**20


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


def mcnemar_p(a: np.ndarray, b: np.ndarray) -> float:
    """The exact two-sided McNemar p-value of paired per-sample correctness ``a`` vs ``b``.

    >>> a = np.array([1] * 30 + [0] * 10, dtype=bool); b = np.array([1] * 20 + [0] * 20, dtype=bool)
    >>> round(mcnemar_p(a, b), 4)
    0.002
    """
    return mcnemar_exact(a, b).p_value


def newcombe_counts(
    both: int, only_a: int, only_b: int, neither: int, confidence: float = 0.95
) -> tuple[float, float, float]:
    """``(p_a - p_b, low, high)`` from the 2x2 table of paired outcomes (Newcombe 1998, method 10).

    Built from the two Wilson intervals and the phi correlation of the pairs (a positive phi
    continuity-corrected: its numerator ``both * neither - only_a * only_b`` less ``n / 2``, not
    below 0), it stays inside [-1, 1] and behaves at 0% and 100% accuracy, where the Wald
    interval collapses. ``tests/test_stats.py`` reproduces the method-10 rows of the paper's
    Table III (Newcombe 1998, Statistics in Medicine 17:2635-2650).

    >>> tuple(round(v, 4) for v in newcombe_counts(20, 12, 2, 16))
    (0.2, 0.0562, 0.3292)
    """
    n = both + only_a + only_b + neither
    if n == 0:
        return 0.0, -1.0, 1.0
    p1, p2 = (both + only_a) / n, (both + only_b) / n
    (l1, l2), (u1, u2) = wilson_interval(np.array([both + only_a, both + only_b]), n, confidence)
    margins = float(both + only_a) * (neither + only_b) * (both + only_b) * (neither + only_a)
    association = float(both * neither - only_a * only_b)
    if association > 0:  # Newcombe's continuity correction of a positive phi (part of method 10)
        association = max(association - n / 2, 0.0)
    phi = 0.0 if margins == 0 else association / np.sqrt(margins)
    d = p1 - p2
    low = d - np.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    high = d + np.sqrt(max(0.0, (p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2))
    return float(d), float(max(-1.0, low)), float(min(1.0, high))


def newcombe_interval(a: np.ndarray, b: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """``(mean(a) - mean(b), low, high)``: Newcombe's hybrid score interval for paired right/wrong outcomes.

    >>> a = np.r_[np.ones(60, bool), np.zeros(40, bool)]
    >>> tuple(round(v, 3) for v in newcombe_interval(a, np.zeros(100, bool)))
    (0.6, 0.495, 0.691)
    """
    a, b = _paired(a, b)
    both, only_a, only_b = np.count_nonzero(a & b), np.count_nonzero(a & ~b), np.count_nonzero(~a & b)
    return newcombe_counts(int(both), int(only_a), int(only_b), int(a.size - both - only_a - only_b), confidence)


def compare_cell(a: np.ndarray, b: np.ndarray, confidence: float = 0.95) -> Difference:
    """Accuracy of ``a`` minus accuracy of ``b`` on one cell: Newcombe interval, exact McNemar p."""
    d, lo, hi = newcombe_interval(a, b, confidence)
    return Difference(d, lo, hi, mcnemar_exact(a, b).p_value, "newcombe+mcnemar")


def _batch(n: int, bytes_per_sample: int) -> int:
    """Replicates per batch so one batch holds about :data:`BATCH_BYTES`."""
    return max(1, BATCH_BYTES // max(1, n * bytes_per_sample))


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
    """Paired bootstrap of ``aggregate`` over samples for two models' right/wrong cells ``[cells, n]``.

    ``aggregate(acc_a, acc_b)`` maps per-cell accuracies (``[B, cells]`` each) to the
    statistic per replicate (e.g. a difference of means, or an mCE); the same resampled
    samples serve both models (``scipy.stats.bootstrap(paired=True)`` resamples the sample
    indices; a replicate's per-cell accuracies are its draw counts times the bits), in batches
    that hold about :data:`BATCH_BYTES` whatever ``n_boot`` and ``n``. The interval is the percentile
    interval of the finite replicates; the p-value is the two-sided bootstrap p-value of
    ``null`` (twice the share of replicates beyond it, with the +1 correction), so it agrees
    with the interval excluding ``null``.
    """
    a, b = _paired(bits_a, bits_b)
    a, b = np.atleast_2d(a), np.atleast_2d(b)
    cells, n = a.shape
    estimate = float(aggregate(a.mean(1)[None, :], b.mean(1)[None, :])[0])
    if n == 0:
        return Difference(estimate, float("nan"), float("nan"), 1.0, "paired bootstrap")

    bits_a, bits_b = a.T.astype(np.float64), b.T.astype(np.float64)  # [n, cells]

    def statistic(index: np.ndarray, axis: int = -1) -> np.ndarray:
        """Replicates from resampled sample indices ``[B, n]``: how often each sample is drawn, times its bits.

        The products are integer counts (exact in float64) divided by ``n`` once: summing ``bits / n``
        instead left a cell the baseline got all right at an error of -2e-16, not 0, and an mCE
        replicate dividing by it at -4e17 instead of leaving it out.
        """
        rows = np.atleast_2d(index)
        draws = rows + n * np.arange(len(rows))[:, None]
        counts = np.bincount(draws.ravel(), minlength=rows.size).reshape(rows.shape).astype(np.float64)
        out = aggregate((counts @ bits_a) / n, (counts @ bits_b) / n)
        return out if index.ndim > 1 else out[0]

    # the samples' indices are the one paired sample: both models see the same resampled samples
    result = bootstrap(
        (np.arange(n),), statistic, paired=True, vectorized=True, axis=-1, n_resamples=n_boot, method="percentile",
        confidence_level=confidence, batch=_batch(n, 40), rng=np.random.default_rng(seed),
    )  # fmt: skip
    reps = result.bootstrap_distribution
    reps = reps[np.isfinite(reps)]
    if reps.size == 0:
        return Difference(estimate, float("nan"), float("nan"), 1.0, "paired bootstrap")
    if reps.size == n_boot:
        low, high = result.confidence_interval
    else:  # replicates where the aggregate is undefined (an mCE whose baseline made no error) are left out
        tail = (1 - confidence) / 2
        low, high = np.quantile(reps, [tail, 1 - tail])
    below = (np.count_nonzero(reps <= null) + 1) / (reps.size + 1)
    above = (np.count_nonzero(reps >= null) + 1) / (reps.size + 1)
    p = float(min(1.0, 2 * min(below, above)))
    return Difference(estimate, float(low), float(high), p, "paired bootstrap")


def mean_difference(acc_a: np.ndarray, acc_b: np.ndarray) -> np.ndarray:
    """Aggregate: mean accuracy over cells of A minus that of B."""
    return acc_a.mean(1) - acc_b.mean(1)


def mce_aggregate(groups: Sequence[int] | np.ndarray) -> Aggregate:
    """mCE of A relative to B in %: mean over corruptions of sum_s E_A(c, s) / sum_s E_B(c, s).

    ``groups[k]`` is the corruption (an integer label) of cell ``k``. A corruption on which
    the baseline makes no error in a replicate is left out of that replicate's mean.

    >>> mce = mce_aggregate([0, 0, 1])
    >>> mce(np.array([[0.9, 0.8, 0.5]]), np.array([[0.8, 0.6, 0.5]])).round(1).tolist()
    [75.0]
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
    are exchangeable on every sample): ``scipy.stats.permutation_test`` with one sample and
    ``permutation_type="samples"``, exact when 2**n <= ``n_perm`` and Monte Carlo with the
    +1 correction otherwise, so p > 0. Zero differences carry no sign and are dropped; with fewer
    than two left every sign pattern is as extreme as the observed one, so p = 1.

    >>> round(sign_flip_test(np.array([0.5, 1.0, 0.25, 0.0])), 3)  # exact: 2 of the 8 sign patterns
    0.25
    """
    d = np.asarray(differences, dtype=np.float64)
    d = d[d != 0]
    if d.size < 2:  # (scipy's permutation_test wants two observations)
        return 1.0
    result = permutation_test(
        (d,), lambda x, axis=-1: np.mean(x, axis=axis), permutation_type="samples", vectorized=True,
        n_resamples=n_perm, alternative="two-sided", batch=_batch(d.size, 24), rng=np.random.default_rng(seed),
    )  # fmt: skip
    return float(result.pvalue)


__all__ = [
    "ALPHA",
    "Aggregate",
    "Difference",
    "McNemarResult",
    "bootstrap_difference",
    "compare_cell",
    "mce_aggregate",
    "mcnemar_exact",
    "mcnemar_p",
    "mean_difference",
    "newcombe_counts",
    "newcombe_interval",
    "sign_flip_test",
]
