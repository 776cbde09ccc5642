"""Corruption cells read from a frozen benchmark instead of computed.

``--precomputed ROOT`` points an audit at a CIFAR-10-C / CIFAR-100-C folder
(``<corruption>.npy`` with severities 1..5 stacked, ``labels.npy``) or an ImageNet-C tree
(``<corruption>/<severity>/<class>/<image>``). Rows (or sorted files) line up with the clean
test set's sample order, as in the published sets; labels are checked against the dataset's.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from robustness.core.errors import UsageError
from robustness.data.cfiles import cifar_c_corruptions, read_cifar_c
from robustness.data.external import ImageFolderDataset
from robustness.data.layout import images_from_nhwc


class PrecomputedCorruptions:
    def __init__(self, root: str | Path, input_shape: tuple[int, int, int]) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise UsageError(f"--precomputed {str(self.root)!r} is not a folder; pass a CIFAR-10-C or ImageNet-C root.")
        self.layout = "cifar" if (self.root / "labels.npy").is_file() else "imagenet"
        self.input_shape = input_shape
        self._cached: tuple[str, int, np.ndarray, np.ndarray] | None = None

    def corruptions(self) -> list[str]:
        if self.layout == "cifar":
            names = cifar_c_corruptions(self.root)
        else:
            names = sorted(p.name for p in self.root.iterdir() if p.is_dir() and (p / "1").is_dir())
        if not names:
            raise UsageError(f"--precomputed {str(self.root)!r} holds no corruption files or folders.")
        return names

    def severities(self, corruption: str) -> list[int]:
        if self.layout == "cifar":
            return [1, 2, 3, 4, 5]
        return sorted(int(p.name) for p in (self.root / corruption).iterdir() if p.name.isdigit())

    def _cifar(self, corruption: str, severity: int) -> tuple[np.ndarray, np.ndarray]:
        if self._cached is None or self._cached[:2] != (corruption, severity):
            images, labels = read_cifar_c(self.root, corruption, severity)
            self._cached = (corruption, severity, images, labels)
        return self._cached[2], self._cached[3]

    def batches(
        self, corruption: str, severity: int, positions: np.ndarray, sample_ids: np.ndarray, batch_size: int
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(images N x C x H x W float in [0, 1], labels) for ``positions`` of the clean test set.

        CIFAR-C rows and ImageNet-C files line up with the test set's order; a tree written by
        ``robustness export-c`` names files by sample id, and those are matched by id instead.
        """
        if self.layout == "cifar":
            images, labels = self._cifar(corruption, severity)
            if positions.size and positions.max() >= len(images):
                raise UsageError(
                    f"--precomputed {corruption}.npy has {len(images)} images per severity, fewer than the "
                    f"{positions.max() + 1} test samples evaluated; pass --n {len(images)} or the matching dataset."
                )
            for start in range(0, len(positions), batch_size):
                chunk = positions[start : start + batch_size]
                array = images[chunk]
                array = array[..., None] if array.ndim == 3 else array
                yield images_from_nhwc(array), torch.from_numpy(labels[chunk])
        else:
            folder = ImageFolderDataset(self.root / corruption / str(severity), self.input_shape)
            rows = self._rows(folder, positions, sample_ids)
            for start in range(0, len(rows), batch_size):
                yield folder.load(rows[start : start + batch_size])

    @staticmethod
    def _rows(folder: ImageFolderDataset, positions: np.ndarray, sample_ids: np.ndarray) -> np.ndarray:
        stems = [path.stem for path in folder.files]
        if stems and all(stem.isdigit() for stem in stems):
            by_id = {int(stem): row for row, stem in enumerate(stems)}
            missing = [int(i) for i in sample_ids if int(i) not in by_id]
            if missing:
                raise UsageError(
                    f"--precomputed folder {str(folder.name)!r} has no file for sample ids {missing[:5]}; "
                    "export the same samples (--n) that the audit evaluates."
                )
            return np.array([by_id[int(i)] for i in sample_ids], dtype=np.int64)
        if len(positions) and positions.max() >= len(folder):
            raise UsageError(f"--precomputed folder {folder.name!r} has {len(folder)} images, fewer than the test samples.")
        return positions

    def check_labels(self, labels: np.ndarray, positions: np.ndarray, sample_ids: np.ndarray, batch_size: int) -> None:
        """Fail early when the precomputed set's labels do not line up with the dataset's."""
        first = self.corruptions()[0]
        seen = np.concatenate([y.numpy() for _, y in self.batches(first, 1, positions, sample_ids, batch_size)])
        if not np.array_equal(seen, labels):
            mismatch = int(np.count_nonzero(seen != labels))
            raise UsageError(
                f"--precomputed {str(self.root)!r}: labels of {first} disagree with the dataset's on {mismatch} of "
                f"{len(labels)} samples; use the clean test set the corrupted set was made from."
            )
