"""Statistics for accuracies: Wilson and mean intervals, paired tests, logit fits (numpy/scipy only, no torch)."""

from __future__ import annotations

import numpy as np
from scipy.stats import norm as _normal

Z95 = float(_normal.ppf(0.975))


def wilson_interval(
    correct: np.ndarray | int, n: np.ndarray | int, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion ``correct / n``.

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
    """Mean of per-sample values with a normal-approximation interval over samples, clipped to [0, 1].

    >>> m, lo, hi = mean_interval(np.array([0.0, 1.0] * 50))
    >>> round(m, 3), round(float(lo), 3), round(float(hi), 3)
    (0.5, 0.402, 0.598)
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(v.mean())
    if v.size < 2:
        return mean, mean, mean
    z = float(_normal.ppf(0.5 + confidence / 2))
    half = z * float(v.std(ddof=1)) / np.sqrt(v.size)
    return mean, float(max(0.0, mean - half)), float(min(1.0, mean + half))


def paired_t_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided paired t-test p-value of per-sample values (1.0 when they never differ)."""
    from scipy.stats import ttest_rel

    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if diff.size < 2 or np.allclose(diff, diff[0]):
        return 1.0 if diff.size == 0 or np.allclose(diff, 0) else 0.0
    return float(ttest_rel(a, b).pvalue)


def logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=float), 1e-4, 1 - 1e-4)
    return np.log(q / (1 - q))


def expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


def logit_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares line ``logit(y) = a * logit(x) + b`` (Taori et al. 2020's effective-robustness baseline)."""
    slope, intercept = np.polyfit(logit(x), logit(y), 1)
    return float(slope), float(intercept)
