"""Importable toy models for ``package.module:Class`` specs in tests."""

from __future__ import annotations

import os

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


class CrashOnceNet(TinyNet):
    """Kills the worker process the first time it runs outside the driver (a Ray retry test).

    The marker file named by ``CRASH_ONCE_MARKER`` records that the crash happened.
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__(num_classes)
        self.driver_pid = os.getpid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        marker = os.environ.get("CRASH_ONCE_MARKER")
        if marker and os.getpid() != self.driver_pid and not os.path.exists(marker):
            with open(marker, "w") as f:
                f.write(str(os.getpid()))
            os._exit(1)
        return super().forward(x)


class TutorialNet(nn.Module):
    """A CNN written as most tutorials write one: convolutions, then ``x.view(x.size(0), -1)``.

    ``view`` needs row-major strides: a channels-last batch (which convolutions propagate)
    makes it fail with "view size is not compatible with input tensor's size and stride".
    """

    channels = 1

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(self.channels, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.fc = nn.Linear(8 * 4 * 4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv1(x))
        x = self.pool(torch.relu(self.conv2(x)))
        x = x.view(x.size(0), -1)
        return self.fc(x)


class TutorialGrayNet(TutorialNet):
    channels = 1


class TutorialRgbNet(TutorialNet):
    channels = 3


class FailsOnWorkersNet(TinyNet):
    """Raises whenever it runs outside the driver process (a Ray failed-task test)."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__(num_classes)
        self.driver_pid = os.getpid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if os.getpid() != self.driver_pid:
            raise RuntimeError("FailsOnWorkersNet fails on Ray workers")
        return super().forward(x)
