"""Statistics for accuracies: Wilson intervals (numpy/scipy only, no torch)."""

from __future__ import annotations

import numpy as np
from scipy.stats import norm as _normal

Z95 = float(_normal.ppf(0.975))


def wilson_interval(correct: np.ndarray | int, n: np.ndarray | int, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
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
