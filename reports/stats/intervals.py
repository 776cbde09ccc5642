"""One-sample intervals: Wilson for a proportion, Student's t for a mean (numpy/scipy only)."""

from __future__ import annotations

import numpy as np
from scipy.stats import norm as _normal
from scipy.stats import ttest_1samp


def wilson_interval(
    correct: np.ndarray | int, n: np.ndarray | int, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion ``correct / n`` (elementwise over arrays).

    Hand-written because scipy has it only for one count at a time (``binomtest``);
    ``tests/test_stats.py`` checks it against statsmodels' ``proportion_confint(method="wilson")``.

    >>> lo, hi = wilson_interval(50, 100)
    >>> round(float(lo), 4), round(float(hi), 4)
    (0.4038, 0.5962)
    """
    k = np.asarray(correct, dtype=float)
    m = np.asarray(n, dtype=float)
    z = float(_normal.ppf(0.5 + confidence / 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(m > 0, k / m, np.nan)
        denom = 1 + z**2 / m
        centre = (p + z**2 / (2 * m)) / denom
        half = z * np.sqrt(p * (1 - p) / m + z**2 / (4 * m**2)) / denom
    lo = np.where(k <= 0, 0.0, np.clip(centre - half, 0.0, 1.0))
    hi = np.where(k >= m, 1.0, np.clip(centre + half, 0.0, 1.0))
    return lo, hi


def mean_interval(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean of per-sample values in [0, 1] with Student's t interval, clipped to [0, 1].

    The interval is scipy's ``ttest_1samp(...).confidence_interval``, so it excludes a value
    exactly when the one-sample t-test rejects it. NaNs are dropped; fewer than two values
    or no spread give a zero-width interval.

    >>> m, lo, hi = mean_interval(np.array([0.0, 1.0] * 50))
    >>> round(m, 3), round(lo, 3), round(hi, 3)
    (0.5, 0.4, 0.6)
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(v.mean())
    if v.size < 2 or np.all(v == v[0]):
        return mean, mean, mean
    ci = ttest_1samp(v, 0.0).confidence_interval(confidence)
    return mean, float(max(0.0, ci.low)), float(min(1.0, ci.high))


__all__ = ["mean_interval", "wilson_interval"]
