"""The logit-space line behind effective robustness (Taori et al. 2020)."""

from __future__ import annotations

import numpy as np


def logit(p: np.ndarray) -> np.ndarray:
    """``log(p / (1 - p))`` with ``p`` clipped to [1e-4, 1 - 1e-4] so 0% and 100% stay finite.

    >>> logit(np.array([0.5, 0.0])).round(3).tolist()
    [0.0, -9.21]
    """
    q = np.clip(np.asarray(p, dtype=float), 1e-4, 1 - 1e-4)
    return np.log(q / (1 - q))


def expit(x: np.ndarray) -> np.ndarray:
    """The inverse of :func:`logit` (inside its clipping range)."""
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


def logit_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares line ``logit(y) = a * logit(x) + b`` (Taori et al. 2020's effective-robustness baseline).

    >>> x = np.array([0.6, 0.7, 0.8]); slope, intercept = logit_fit(x, expit(2 * logit(x) - 1))
    >>> round(slope, 6), round(intercept, 6)
    (2.0, -1.0)
    """
    slope, intercept = np.polyfit(logit(x), logit(y), 1)
    return float(slope), float(intercept)


__all__ = ["expit", "logit", "logit_fit"]
