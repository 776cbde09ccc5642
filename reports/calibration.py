"""Confidence under shift: calibration error, NLL, confident errors, reliability bins, selective accuracy.

Computed in numpy from the stored per-sample records (top softmax probability, correctness and
the true-class negative log-likelihood), because ``reports`` never imports torch. The binning
is torchmetrics' (``torchmetrics.functional.classification.multiclass_calibration_error`` with
``norm="l1"``): ``n_bins`` equal-width bins of ``[0, 1]`` closed on the left, confidence 1 in a
bin of its own; ``tests/test_explain.py`` checks the two agree on random predictions.

>>> import numpy as np
>>> round(expected_calibration_error(np.array([0.9, 0.9, 0.6, 0.6]), np.array([1, 1, 1, 0]), n_bins=10), 3)
0.1
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

#: the reliability binning of every ECE in the reports (Guo et al. 2017 and torchmetrics' default is 15)
N_BINS = 15
#: a wrong prediction above this top probability counts as a confident error
CONFIDENT = 0.9
#: the coverages of the selective-prediction table (abstain on the least confident rest)
COVERAGES = (0.8, 0.9, 0.95)


def _check(confidence: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    conf = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=bool)
    if conf.shape != ok.shape or conf.ndim != 1:
        raise ValueError(f"confidence and correct should be 1-d of one length, but got {conf.shape} and {ok.shape}.")
    return conf, ok


def reliability_bins(confidence: np.ndarray, correct: np.ndarray, *, n_bins: int = N_BINS) -> pd.DataFrame:
    """Per bin: its range, sample count, mean confidence and accuracy (empty bins have count 0, NaN means)."""
    if n_bins < 1:
        raise ValueError(f"n_bins should be a positive number of bins, but got {n_bins}.")
    conf, ok = _check(confidence, correct)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.searchsorted(edges, conf, side="right") - 1  # [low, high); confidence 1 -> bin n_bins
    count = np.bincount(index, minlength=n_bins + 1).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(index, weights=conf, minlength=n_bins + 1) / count
        accuracy = np.bincount(index, weights=ok.astype(float), minlength=n_bins + 1) / count
    upper = np.append(edges[1:], 1.0)
    return pd.DataFrame(
        {"low": edges, "high": upper, "count": count.astype(int), "confidence": mean_conf, "accuracy": accuracy}
    )


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, *, n_bins: int = N_BINS) -> float:
    """ECE: the count-weighted mean gap between accuracy and confidence over ``n_bins`` equal-width bins."""
    bins = reliability_bins(confidence, correct, n_bins=n_bins)
    total = bins["count"].sum()
    if total == 0:
        return float("nan")
    gap = (bins["accuracy"] - bins["confidence"]).abs().fillna(0.0)
    return float((gap * bins["count"]).sum() / total)


def confident_error_share(confidence: np.ndarray, correct: np.ndarray, *, threshold: float = CONFIDENT) -> float:
    """The share of the wrong predictions made with top probability above ``threshold`` (NaN: none wrong)."""
    conf, ok = _check(confidence, correct)
    wrong = ~ok
    return float((conf[wrong] > threshold).mean()) if wrong.any() else float("nan")


def selective_accuracy(confidence: np.ndarray, correct: np.ndarray, coverage: float) -> float:
    """Accuracy on the ``coverage`` share of samples with the highest confidence (ties: sample order).

    The model abstains on the rest: ``ceil(coverage * N)`` samples are kept.
    """
    if not 0 < coverage <= 1:
        raise ValueError(f"coverage should lie in (0, 1], but got {coverage}.")
    conf, ok = _check(confidence, correct)
    if not len(conf):
        return float("nan")
    keep = int(np.ceil(coverage * len(conf) - 1e-9))
    order = np.lexsort((np.arange(len(conf)), -conf))[:keep]
    return float(ok[order].mean())


def calibration_row(
    confidence: np.ndarray, correct: np.ndarray, nll: np.ndarray, *, n_bins: int = N_BINS
) -> dict[str, float]:
    """Every per-cell number of the confidence tables, for one set of samples."""
    conf, ok = _check(confidence, correct)
    return {
        "n": len(conf),
        "accuracy": float(ok.mean()) if len(ok) else float("nan"),
        "mean_confidence": float(conf.mean()) if len(conf) else float("nan"),
        "ece": expected_calibration_error(conf, ok, n_bins=n_bins),
        "nll": float(np.asarray(nll, dtype=np.float64).mean()) if len(conf) else float("nan"),
        "confident_errors": confident_error_share(conf, ok),
        "bins": n_bins,
    }


def selective_rows(
    label: str, confidence: np.ndarray, correct: np.ndarray, coverages: Sequence[float] = COVERAGES
) -> list[dict[str, object]]:
    """The selective-prediction rows of one set of samples: accuracy at full and each partial coverage."""
    full = float(np.mean(correct)) if len(correct) else float("nan")
    return [
        {"samples": label, "coverage": c, "accuracy": selective_accuracy(confidence, correct, c), "full_accuracy": full}
        for c in coverages
    ]


__all__ = [
    "CONFIDENT",
    "COVERAGES",
    "N_BINS",
    "calibration_row",
    "confident_error_share",
    "expected_calibration_error",
    "reliability_bins",
    "selective_accuracy",
    "selective_rows",
]
