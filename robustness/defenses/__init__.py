"""Defenses: one registry of training-time and input-transformation defenses.

Layer: may import ``robustness.core``, ``robustness.models`` and ``attacks`` (adversarial training,
BPDA/EOT); nothing of runs, results or reports.

========================  =========  ==========================================================
name                      kind       what
========================  =========  ==========================================================
``standard``              training   plain cross-entropy (the baseline)
``pgd-at``                training   PGD adversarial training (Madry et al. 2018)
``trades``                training   TRADES: clean CE + beta * KL to the adversarial output
``fgsm-rs``               training   fast adversarial training, FGSM from a random start
``augment``               training   AugMix-style augmentation with JSD consistency
``smoothing``             training   Gaussian-noise training + randomized-smoothing certification
``jpeg``                  transform  JPEG compression of the input
``bit-depth``             transform  bit-depth reduction of the input
``median-filter``         transform  median filtering of the input
========================  =========  ==========================================================

>>> create("pgd-at", epsilon=0.1, steps=5)
pgd-at(steps=5)
>>> DEFENSES.get("jpeg").kind.value
'transform'
"""

from __future__ import annotations

from robustness.defenses import adversarial as _adversarial  # noqa: F401  (registers defenses)
from robustness.defenses import augment as _augment  # noqa: F401
from robustness.defenses import smoothing as _smoothing  # noqa: F401
from robustness.defenses import standard as _standard  # noqa: F401
from robustness.defenses import transforms as _transforms  # noqa: F401
from robustness.defenses.base import DEFENSES, Defense, DefenseKind, LossFn, TrainingDefense, TransformDefense
from robustness.defenses.integration import (
    CERTIFIED,
    EVALUATIONS,
    attack_model,
    create,
    defend,
    finish_run,
    from_config,
    prepare_request,
    train_recipe,
    training_loss,
)
from robustness.defenses.smoothing import Certificate, RandomizedSmoothing

__all__ = [
    "CERTIFIED",
    "DEFENSES",
    "EVALUATIONS",
    "Certificate",
    "Defense",
    "DefenseKind",
    "LossFn",
    "RandomizedSmoothing",
    "TrainingDefense",
    "TransformDefense",
    "attack_model",
    "create",
    "defend",
    "finish_run",
    "from_config",
    "prepare_request",
    "train_recipe",
    "training_loss",
]
