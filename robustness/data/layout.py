"""Canonical memory layout of image batches: ``N x C x H x W`` with standard (row-major) strides.

A batch made by ``torch.from_numpy(nhwc).permute(0, 3, 1, 2)`` holds channels-last strides.
For one channel PyTorch calls such a tensor contiguous (the channel dimension has size 1, its
stride is ignored), so ``.contiguous()`` keeps it as it is; convolutions then propagate the
channels-last layout and a model that flattens with ``x.view(x.size(0), -1)`` (as most
tutorials write it) fails. Every batch the suite makes goes through :func:`images_from_nhwc`
or :func:`canonical_nchw`, and the ``Classifier`` applies :func:`canonical_nchw` to what it
hands the wrapped model.
"""

from __future__ import annotations

import numpy as np
import torch


def canonical_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Row-major strides of a tensor of ``shape``, counted for every dimension (size 1 included).

    >>> canonical_strides((2, 1, 8, 8))
    (64, 64, 8, 1)
    """
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(int(size), 1)
    return tuple(reversed(strides))


def has_canonical_strides(x: torch.Tensor) -> bool:
    """Whether ``x`` has exactly the row-major strides, size-1 dimensions included."""
    return tuple(x.stride()) == canonical_strides(tuple(x.shape))


def canonical_nchw(x: torch.Tensor) -> torch.Tensor:
    """``x`` itself when its strides are row-major, else a row-major copy (differentiable)."""
    if has_canonical_strides(x):
        return x
    return x.clone(memory_format=torch.contiguous_format)


def images_from_nhwc(array: np.ndarray) -> torch.Tensor:
    """``N x H x W x C`` uint8 (or float in [0, 1]) images as a float32 ``N x C x H x W`` batch in [0, 1].

    One pass: the layout change and the dtype conversion happen in the same copy, and the
    result has canonical strides for any number of channels.
    """
    tensor = torch.from_numpy(np.asarray(array)).permute(0, 3, 1, 2)
    out = tensor.to(torch.float32, memory_format=torch.contiguous_format, copy=True)
    return out.div_(255.0) if array.dtype == np.uint8 else out
