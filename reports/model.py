"""What a report is made of: plain records read from the store (numpy, pandas, dicts; no torch).

``robustness.results.writer`` gathers these from the store; the renderers in this package only
read them, so a report can be regenerated anywhere the store can be opened.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class CorruptionGrid:
    """One test image under every corruption at every severity."""

    sample_id: int
    label: int
    clean: np.ndarray  # H x W x C uint8
    clean_prediction: int
    corruptions: list[str]
    families: list[str]
    severities: list[int]
    images: np.ndarray  # [corruptions, severities, H, W, C] uint8
    predictions: np.ndarray  # [corruptions, severities] int


@dataclass(frozen=True)
class AdversarialExamples:
    """A few adversarial examples of one attack at one budget, beside their originals."""

    attack: str
    norm: str
    epsilon: float
    sample_ids: np.ndarray  # [k]
    labels: np.ndarray  # [k]
    clean_predictions: np.ndarray  # [k]
    adversarial_predictions: np.ndarray  # [k]
    originals: np.ndarray  # [k, H, W, C] uint8
    adversarials: np.ndarray  # [k, H, W, C] uint8
    deltas: np.ndarray  # [k, H, W, C] float: adversarial - original, pixel units in [0, 1]
    note: str = ""


@dataclass(frozen=True)
class FragileImage:
    """A test image classified correctly when clean and flipped by a small perturbation."""

    sample_id: int
    label: int
    cause: str  # "corruption" or "attack"
    description: str  # e.g. "flipped by 6 corruptions at severity 1: fog, contrast, ..."
    image: np.ndarray  # H x W x C uint8
    perturbation: str = ""
    severity: int | None = None
    epsilon: float | None = None
    norm: str | None = None
    perturbed: np.ndarray | None = None  # the flipping corruption's image, when stored
    perturbed_prediction: int | None = None


@dataclass(frozen=True)
class CorruptionMetrics:
    """Hendrycks & Dietterich metrics computed by ``reports.corruption_metrics``."""

    summary: pd.DataFrame  # metric, value, note
    errors: pd.DataFrame  # per corruption: perturbation, family, error, baseline_error, ce, relative_ce, benchmark
    families: pd.DataFrame  # family, accuracy, cells
    baseline: str = "AlexNet (ImageNet-C, published)"


@dataclass
class RunSummary:
    """One run as the comparison needs it: tidy results plus per-sample arrays when available."""

    run_id: str
    label: str
    results: pd.DataFrame
    sample_ids: np.ndarray | None = None
    #: per-sample correctness of ``clean``, the ``corruption/...`` and ``attack/worst_case/...`` cells, by cell id
    bits: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class SampleRecords:
    """Per-sample labels, correctness and outputs of a run's cells (what ``reports.explain`` reads).

    ``outputs[cell]`` is a structured array with fields ``prediction`` (int), ``confidence`` (top
    softmax probability) and ``nll`` (``-log p(true class)``), one record per sample in the run's
    order; cells stored before these records existed have correctness only.
    """

    labels: np.ndarray  # [N] int
    correct: dict[str, np.ndarray]  # cell key -> [N] bool
    outputs: dict[str, np.ndarray] = field(default_factory=dict)  # cell key -> [N] records


@dataclass(frozen=True)
class AttributionExamples:
    """Where the model looked: per example image, one map for the true class and one for the predicted class."""

    images: np.ndarray  # [k, H, W, C] uint8: what the model saw
    maps: np.ndarray  # [k, 2, H, W] uint8: attribution of the true class, of the predicted class (255 = most)
    examples: list[dict[str, Any]]  # per image: title, label, prediction
    method: str  # e.g. "Grad-CAM on features.3 (captum LayerGradCam)"
    note: str = ""  # why a method was not available (TorchScript and Grad-CAM, ...)


@dataclass
class RunReport:
    """Everything one run's report shows."""

    results: pd.DataFrame  # the tidy record (reports.tidy)
    run: dict[str, Any]  # run id, model, dataset, n, seed, config, command, store, versions, created
    class_names: list[str] = field(default_factory=list)
    sanity: list[dict[str, Any]] | None = None  # None: the checks were not run
    hyperparameters: dict[str, dict[str, Any]] | None = None
    distances: dict[str, np.ndarray] = field(default_factory=dict)  # minimum-norm attack -> [N]
    corruption_metrics: CorruptionMetrics | None = None
    corruption_metrics_note: str = ""
    grid: CorruptionGrid | None = None
    adversarial: list[AdversarialExamples] = field(default_factory=list)
    fragile: list[FragileImage] = field(default_factory=list)
    #: this run first, then other runs on the same samples (the comparison section)
    peers: list[RunSummary] = field(default_factory=list)
    #: per-sample records for per-class, calibration and selective-prediction sections (None: not gathered)
    samples: SampleRecords | None = None
    attributions: AttributionExamples | None = None

    def class_name(self, label: int | None) -> str:
        if label is None:
            return "?"
        label = int(label)
        if 0 <= label < len(self.class_names):
            return str(self.class_names[label])
        return str(label)


__all__ = ["AttributionExamples", "SampleRecords", "AdversarialExamples", "CorruptionGrid", "CorruptionMetrics", "FragileImage", "RunReport", "RunSummary"]
