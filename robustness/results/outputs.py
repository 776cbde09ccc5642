"""Per-sample model outputs of a cell, stored compactly as a store artifact (no torch here).

Every cell keeps, beside its bit-packed correctness, one record per sample:

| field | dtype | meaning |
|---|---|---|
| ``prediction`` | int16 (int32 past 32,767 classes) | the predicted class |
| ``confidence`` | float16 | the top softmax probability |
| ``nll`` | float16 | ``-log p(true class)``: the sample's negative log-likelihood |

The true-class probability is kept as its negative log (``p_true = exp(-nll)``): float16 holds
``-log p`` to three significant digits down to ``p = exp(-65504)``, where a float16 probability
would round 0.9999 to 1 and anything below 6e-8 to 0 (an infinite NLL). Six bytes per sample and
cell; the artifact is named ``outputs/<cell key>`` (keys come from :mod:`robustness.run.plan`).

For an attack cell the record is the model's output on the example the sweep kept at that
budget: the adversarial where the attack fooled the sample, the last candidate where it did
not, the clean image where the sample was not attacked (wrong when clean, or skipped).
"""

from __future__ import annotations

import numpy as np

PREFIX = "outputs/"


def output_dtype(num_classes: int) -> np.dtype:
    """The record dtype for a model with ``num_classes`` classes."""
    label = "<i2" if num_classes <= np.iinfo(np.int16).max + 1 else "<i4"
    return np.dtype([("prediction", label), ("confidence", "<f2"), ("nll", "<f2")])


def pack_outputs(prediction: np.ndarray, confidence: np.ndarray, nll: np.ndarray, num_classes: int) -> np.ndarray:
    """One structured record per sample (see the module docstring); ``nll`` is clipped to float16's range."""
    prediction = np.asarray(prediction)
    out = np.empty(len(prediction), dtype=output_dtype(num_classes))
    out["prediction"] = prediction
    out["confidence"] = np.asarray(confidence, dtype=np.float32)
    out["nll"] = np.minimum(np.asarray(nll, dtype=np.float32), np.finfo(np.float16).max)
    return out


def empty_outputs(num_classes: int) -> np.ndarray:
    return np.empty(0, dtype=output_dtype(num_classes))


def outputs_name(cell_key: str) -> str:
    """The artifact name of a cell's per-sample outputs."""
    return PREFIX + cell_key


def cell_of(artifact_name: str) -> str | None:
    """The cell key of an outputs artifact name, or None for another artifact."""
    return artifact_name[len(PREFIX) :] if artifact_name.startswith(PREFIX) else None


__all__ = ["PREFIX", "cell_of", "empty_outputs", "output_dtype", "outputs_name", "pack_outputs"]
