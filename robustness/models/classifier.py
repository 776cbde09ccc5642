"""The ``Classifier`` wrapper: the one boundary every attack and corruption talks to.

It takes images in pixel space ``[0, 1]`` (``N x C x H x W``), owns the mean/std
normalization, knows the number of classes and the input shape, and keeps the wrapped
model in eval mode. Epsilons therefore mean what users expect: 8/255 is 8/255 of the
pixel range.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torch import nn

from robustness.core.errors import UsageError
from robustness.data.layout import canonical_nchw


class Classifier(nn.Module):
    """A PyTorch image classifier seen through pixel-space inputs in ``bounds``.

    >>> net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4))
    >>> clf = Classifier(net, num_classes=4, input_shape=(3, 8, 8))
    >>> clf(torch.zeros(2, 3, 8, 8)).shape
    torch.Size([2, 4])
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        num_classes: int,
        input_shape: Sequence[int],
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        bounds: tuple[float, float] = (0.0, 1.0),
        name: str = "model",
    ) -> None:
        super().__init__()
        if num_classes < 2:
            raise UsageError(f"num_classes should be at least 2, but got {num_classes}.")
        if len(input_shape) != 3:
            raise UsageError(f"input_shape should be (C, H, W), but got {tuple(input_shape)}.")
        channels = int(input_shape[0])
        self.model = model
        self.num_classes = int(num_classes)
        self.input_shape = tuple(int(s) for s in input_shape)
        self.bounds = (float(bounds[0]), float(bounds[1]))
        self.name = name
        mean_t = _per_channel("mean", mean, channels, 0.0)
        std_t = _per_channel("std", std, channels, 1.0)
        if bool((std_t <= 0).any()):
            raise UsageError(f"std values should be positive, but got {std_t.flatten().tolist()}.")
        self.register_buffer("mean", mean_t, persistent=False)
        self.register_buffer("std", std_t, persistent=False)
        if model.training:
            warnings.warn("the model was in train mode; Classifier switched it to eval mode", stacklevel=2)
        self.eval()

    @property
    def channels(self) -> int:
        return self.input_shape[0]

    @property
    def device(self) -> torch.device:
        for tensor in self.model.parameters():
            return tensor.device
        return self.mean.device

    def train(self, mode: bool = True) -> Classifier:  # noqa: FBT001, FBT002 - nn.Module signature
        """Evaluation wrappers stay in eval mode; train the inner model directly."""
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(canonical_nchw((x - self.mean) / self.std))  # tutorial models call x.view(N, -1)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        """Predicted labels for ``x`` (any length), computed in chunks of ``batch_size``, returned on the CPU."""
        out = [self(to_device(x[i : i + batch_size], self.device)).argmax(1).cpu() for i in range(0, len(x), batch_size)]
        return torch.cat(out) if out else torch.empty(0, dtype=torch.long)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, num_classes={self.num_classes}, input_shape={self.input_shape}"


def _per_channel(arg: str, values: Sequence[float] | None, channels: int, default: float) -> torch.Tensor:
    if values is None:
        values = [default] * channels
    values = [float(v) for v in values]
    if len(values) == 1:
        values = values * channels
    if len(values) != channels:
        raise UsageError(f"{arg} should have 1 or {channels} values (one per channel), but got {len(values)}: {values}.")
    return torch.tensor(values, dtype=torch.float32).view(1, channels, 1, 1)


def to_device(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Move ``x`` to ``device``; CPU tensors headed for CUDA go through pinned memory, non-blocking."""
    if x.device == device:
        return x
    if device.type == "cuda" and x.device.type == "cpu":
        return x.pin_memory().to(device, non_blocking=True)
    return x.to(device)
