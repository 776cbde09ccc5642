"""The baseline: no defense, plain cross-entropy training."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from robustness.core import params
from robustness.defenses.base import DEFENSES, LossFn, TrainingDefense


@DEFENSES.register("standard")
class Standard(TrainingDefense):
    """No defense: plain cross-entropy training (the usual baseline of a comparison).

    With the default epochs its recipe is the default ``TrainRecipe``, so it shares the
    cached weights of a plain audit.
    """

    name = "standard"

    def __init__(self, *, epochs: int = 15) -> None:
        self.epochs = params.positive_int(self.label, "epochs", epochs)

    def loss(self, *, num_classes: int) -> LossFn:
        def cross_entropy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return F.cross_entropy(model(x), y)

        return cross_entropy
