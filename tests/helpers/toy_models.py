"""Importable toy models for ``package.module:Class`` specs in tests."""

from __future__ import annotations

import torch
from torch import nn


class TinyNet(nn.Module):
    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(32 * 32, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class WrongOutput(nn.Module):
    """Returns a single score per image instead of logits."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(32 * 32, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x.flatten(1))[:, 0]
