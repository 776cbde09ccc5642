"""Built-in architectures for 32 px inputs, registered by name."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from robustness.core.registry import Registry

ModelBuilder = Callable[[int, int], nn.Module]  # (in_channels, num_classes) -> module
MODELS: Registry[ModelBuilder] = Registry("model")


@MODELS.register("small-cnn")
def small_cnn(in_channels: int, num_classes: int) -> nn.Module:
    """Two conv blocks and a linear head (~0.1M parameters); the embedded default."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 32, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(4),
        nn.Flatten(),
        nn.Linear(64 * 16, 128),
        nn.ReLU(),
        nn.Linear(128, num_classes),
    )


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            if stride != 1 or cin != cout
            else nn.Identity()
        )
        self.relu = nn.ReLU()

    def forward(self, x):  # noqa: ANN001, ANN201 - nn.Module
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


@MODELS.register("resnet-small")
def resnet_small(in_channels: int, num_classes: int) -> nn.Module:
    """A ResNet-8 style residual net for 32 px inputs (three stages of one block)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 32, 3, 1, 1, bias=False),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        _Block(32, 32, 1),
        _Block(32, 64, 2),
        _Block(64, 128, 2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(128, num_classes),
    )
