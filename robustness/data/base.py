"""Datasets: images in [0, 1], labels, class names and a stable sample index."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from robustness.core.errors import UsageError
from robustness.core.registry import Registry
from robustness.data.layout import images_from_nhwc


@dataclass(frozen=True)
class Batch:
    images: torch.Tensor  # N x C x H x W float32 in [0, 1]
    labels: torch.Tensor  # N, int64
    indices: np.ndarray  # N, int64: stable sample index within the dataset


class ImageDataset(ABC):
    """A finite, indexable set of labelled images.

    Subclasses implement :meth:`__len__` and :meth:`load` (images for positions); ``indices``
    maps positions to stable sample ids used for seeding corruptions and for storage.
    """

    name: str
    class_names: tuple[str, ...]
    channels: int
    image_size: tuple[int, int]
    #: whether the dataset can be reloaded at the model's input shape (image folders can)
    resizable: bool = False

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.channels, *self.image_size)

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def load(self, positions: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (N x C x H x W float in [0, 1]) and labels for ``positions``."""

    @property
    @abstractmethod
    def indices(self) -> np.ndarray:
        """Stable sample id of each position."""

    def labels_at(self, positions: np.ndarray) -> torch.Tensor:
        """Labels for ``positions`` (int64); subclasses that know them without decoding override this."""
        return self.load(positions)[1]

    def batches(self, batch_size: int, positions: np.ndarray | None = None) -> Iterator[Batch]:
        positions = np.arange(len(self)) if positions is None else np.asarray(positions)
        for start in range(0, len(positions), batch_size):
            chunk = positions[start : start + batch_size]
            images, labels = self.load(chunk)
            yield Batch(images, labels, self.indices[chunk])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, n={len(self)}, shape={self.input_shape})"


class ArrayDataset(ImageDataset):
    """A dataset held in memory as ``uint8`` N x H x W x C (or float in [0, 1])."""

    def __init__(
        self,
        name: str,
        images: np.ndarray,
        labels: Sequence[int] | np.ndarray,
        class_names: Sequence[str],
        indices: np.ndarray | None = None,
    ) -> None:
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[..., None]
        if images.ndim != 4:
            raise UsageError(f"dataset {name!r}: images should be N x H x W x C, but got shape {images.shape}.")
        self.name = name
        self._images = images
        self._labels = np.asarray(labels, dtype=np.int64)
        self.class_names = tuple(class_names)
        self.channels = int(images.shape[3])
        self.image_size = (int(images.shape[1]), int(images.shape[2]))
        self._indices = np.arange(len(images), dtype=np.int64) if indices is None else np.asarray(indices, np.int64)
        if not (len(self._labels) == len(images) == len(self._indices)):
            raise UsageError(
                f"dataset {name!r}: images ({len(images)}), labels ({len(self._labels)}) and indices "
                f"({len(self._indices)}) should have the same length."
            )

    def __len__(self) -> int:
        return len(self._images)

    @property
    def indices(self) -> np.ndarray:
        return self._indices

    @property
    def labels(self) -> np.ndarray:
        return self._labels

    def labels_at(self, positions: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(self._labels[positions])

    def load(self, positions: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return images_from_nhwc(self._images[positions]), torch.from_numpy(self._labels[positions])

    def subset(self, positions: np.ndarray) -> ArrayDataset:
        return ArrayDataset(
            self.name, self._images[positions], self._labels[positions], self.class_names, self._indices[positions]
        )


@dataclass(frozen=True)
class DatasetRequest:
    """What a dataset factory is asked for."""

    split: str = "test"  # "train" or "test"
    root: str | None = None
    download: bool = False
    seed: int = 0
    #: the model's expected (C, H, W) where the dataset can adapt (image folders), else None
    input_shape: tuple[int, int, int] | None = None


DatasetFactory = Callable[[str, DatasetRequest], ImageDataset]
DATASETS: Registry[DatasetFactory] = Registry("dataset")
