"""Input-transformation defenses: JPEG compression, bit-depth reduction, median filtering.

Each wraps any model (:meth:`~robustness.defenses.base.TransformDefense.wrap`) and is
evaluated twice (Athalye et al. 2018):

* **adaptive**: attacks take gradients through BPDA (the transform's backward pass replaced
  by the identity) and, when the transform is random, EOT; success is judged on the true
  defended model. This is the number to trust.
* **naive**: attacks take autograd's gradient of the defended model as it is. Rounding
  (JPEG, bit depth) has zero gradient almost everywhere, so the attack barely moves and the
  robust accuracy looks high: the report shows this number only as a flagged contrast.
"""

from __future__ import annotations

import torch
from torch import nn

from robustness.core import params
from robustness.core.errors import UsageError
from robustness.defenses import codec
from robustness.defenses.base import DEFENSES, TransformDefense

BACKWARDS = ("identity", "straight_through", "exact")


@DEFENSES.register("jpeg")
class JPEGDefense(TransformDefense):
    """JPEG compression of the input (Das et al. 2017; Guo et al. 2018), at a fixed quality.

    Args:
        quality: JPEG quality, 1..100 (lower compresses more).
        backward: BPDA backward pass for adaptive attacks ("identity", "straight_through",
            or "exact" for autograd's own gradient).
    """

    name = "jpeg"

    def __init__(self, *, quality: int = 75, backward: str = "identity") -> None:
        if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
            raise UsageError(f"defense 'jpeg': quality should be an integer between 1 and 100, but got {quality!r}.")
        self.quality = quality
        self.backward = params.choice(self.label, "backward", backward, BACKWARDS)

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        return codec.jpeg(x, self.quality)

    def check_model(self, classifier: nn.Module) -> None:
        super().check_model(classifier)
        channels = int(getattr(classifier, "input_shape", (1,))[0])
        if channels not in (1, 3):
            raise UsageError(
                f"defense 'jpeg' compresses greyscale or RGB images (1 or 3 channels), but the model takes "
                f"{channels} channels; use bit-depth or median-filter, which work per channel."
            )


@DEFENSES.register("bit-depth")
class BitDepthDefense(TransformDefense):
    """Bit-depth reduction (Xu et al. 2018, feature squeezing): round each pixel to ``bits`` bits.

    Args:
        bits: bits per pixel kept, 1..8.
        dither: uniform noise added before rounding, in quantization steps (0 = none); a
            dithered transform is random, so adaptive attacks add EOT.
        seed: seed of the dithering noise, which is keyed per image by its content, so runs
            are reproducible across batch sizes, backends and resumes.
        backward: BPDA backward pass for adaptive attacks.
    """

    name = "bit-depth"

    def __init__(self, *, bits: int = 3, dither: float = 0.0, seed: int = 0, backward: str = "identity") -> None:
        if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 8:
            raise UsageError(f"defense 'bit-depth': bits should be an integer between 1 and 8, but got {bits!r}.")
        self.bits = bits
        self.dither = params.non_negative_float(self.label, "dither", dither)
        self.seed = int(seed)
        self.backward = params.choice(self.label, "backward", backward, BACKWARDS)

    @property
    def randomized(self) -> bool:
        return self.dither > 0

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        return codec.bit_depth(x, self.bits, dither=self.dither, seed=self.seed)


@DEFENSES.register("median-filter")
class MedianFilterDefense(TransformDefense):
    """Median filtering of the input (Xu et al. 2018, feature squeezing), ``size`` x ``size`` windows.

    Args:
        size: odd window size, 3..9.
        backward: BPDA backward pass for adaptive attacks (the median is differentiable
            almost everywhere, so "exact" is a fair choice too).
    """

    name = "median-filter"

    def __init__(self, *, size: int = 3, backward: str = "identity") -> None:
        params.in_range(self.label, "size", size, 3, 9)
        if isinstance(size, bool) or not isinstance(size, int) or size % 2 == 0:
            raise UsageError(f"defense 'median-filter': size should be an odd integer (3, 5, 7, 9), but got {size!r}.")
        self.size = params.positive_int(self.label, "size", size)
        self.backward = params.choice(self.label, "backward", backward, BACKWARDS)

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        return codec.median_filter(x, self.size)

    def check_model(self, classifier: nn.Module) -> None:
        super().check_model(classifier)
        shape = tuple(getattr(classifier, "input_shape", (1, self.size, self.size)))
        if min(shape[1:]) <= self.size // 2:
            raise UsageError(
                f"defense 'median-filter': size {self.size} needs images larger than {self.size // 2} pixels, but the "
                f"model takes {shape[1]}x{shape[2]}; pass a smaller size."
            )
