"""Datasets the user brings: torchvision datasets from a local root, and image folders."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from robustness.core.errors import UsageError
from robustness.data.base import DATASETS, ArrayDataset, DatasetRequest, ImageDataset
from robustness.data.layout import images_from_nhwc

DEFAULT_ROOT = "data"


def _torchvision_set(name: str, request: DatasetRequest):  # noqa: ANN202 - torchvision dataset types vary
    import torchvision.datasets as tvd

    root = request.root or DEFAULT_ROOT
    train = request.split == "train"
    builders = {
        "cifar10": lambda: tvd.CIFAR10(root, train=train, download=request.download),
        "cifar100": lambda: tvd.CIFAR100(root, train=train, download=request.download),
        "mnist": lambda: tvd.MNIST(root, train=train, download=request.download),
        "fashionmnist": lambda: tvd.FashionMNIST(root, train=train, download=request.download),
        "svhn": lambda: tvd.SVHN(root, split="train" if train else "test", download=request.download),
    }
    try:
        return builders[name]()
    except RuntimeError as err:
        if "not found" in str(err).lower() or "download" in str(err).lower():
            raise UsageError(
                f"dataset {name!r} was not found under root {root!r}; point --data-root at a folder that "
                f"holds it, or pass --download to fetch it there."
            ) from None
        raise


def _as_array_dataset(name: str, request: DatasetRequest) -> ImageDataset:
    ds = _torchvision_set(name, request)
    data = ds.data.numpy() if isinstance(ds.data, torch.Tensor) else np.asarray(ds.data)
    if name == "svhn":
        data = data.transpose(0, 2, 3, 1)  # SVHN is stored N x C x H x W
        labels = np.asarray(ds.labels)
    else:
        labels = np.asarray(ds.targets)
    classes = getattr(ds, "classes", None) or [str(c) for c in range(int(labels.max()) + 1)]
    return ArrayDataset(name, data, labels, classes)


for _name in ("cifar10", "cifar100", "mnist", "fashionmnist", "svhn"):
    DATASETS.add(_name, _as_array_dataset)


IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class ImageFolderDataset(ImageDataset):
    """``root/<class>/<image>`` images, loaded lazily, resized and center-cropped to ``input_shape``."""

    resizable = True

    def __init__(self, root: Path, input_shape: tuple[int, int, int], resize: int | None = None) -> None:
        classes = sorted(p.name for p in root.iterdir() if p.is_dir())
        files: list[tuple[Path, int]] = []
        for label, cls in enumerate(classes):
            for path in sorted((root / cls).rglob("*")):
                if path.suffix.lower() in IMAGE_EXTENSIONS:
                    files.append((path, label))
        self.name = f"folder:{root}"
        self.class_names = tuple(classes)
        self.channels = int(input_shape[0])
        self.image_size = (int(input_shape[1]), int(input_shape[2]))
        self._resize = resize or min(self.image_size)
        self._files = files
        self._indices = np.arange(len(files), dtype=np.int64)

    def __len__(self) -> int:
        return len(self._files)

    @property
    def files(self) -> list[Path]:
        return [path for path, _ in self._files]

    @property
    def indices(self) -> np.ndarray:
        return self._indices

    def _read(self, path: Path) -> np.ndarray:
        try:
            with Image.open(path) as img:
                return self._fit(img)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
            raise UnreadableImage(path, err) from None

    def _fit(self, img: Image.Image) -> np.ndarray:
        """Convert to the dataset's channels, resize the short side, center-crop to ``image_size``."""
        img = img.convert("L" if self.channels == 1 else "RGB")
        w, h = img.size
        scale = self._resize / min(w, h)
        img = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BILINEAR)
        w, h = img.size
        th, tw = self.image_size
        left, top = (w - tw) // 2, (h - th) // 2
        array = np.asarray(img.crop((left, top, left + tw, top + th)), dtype=np.uint8)
        return array[..., None] if array.ndim == 2 else array

    def read_one(self, position: int) -> tuple[np.ndarray, int]:
        """The ``H x W x C`` uint8 image and label at ``position`` (what a loader worker calls)."""
        path, label = self._files[position]
        return self._read(path), label

    def load(self, positions: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        arrays = np.stack([self._read(self._files[p][0]) for p in positions])
        return images_from_nhwc(arrays), self.labels_at(positions)

    def labels_at(self, positions: np.ndarray) -> torch.Tensor:
        return torch.tensor([self._files[p][1] for p in positions], dtype=torch.int64)

    def unreadable(self, positions: np.ndarray, *, threads: int = 1) -> list[tuple[int, str]]:
        """``(position, reason)`` of every image among ``positions`` that cannot be decoded.

        Every image is decoded once, as :meth:`load` would (PIL decodes with the GIL
        released, so ``threads`` > 1 reads several at a time).
        """

        def problem(position: int) -> str | None:
            try:
                self._read(self._files[position][0])
            except UnreadableImage as err:
                return err.reason
            return None

        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            reasons = list(pool.map(problem, (int(p) for p in positions)))
        return [(int(p), r) for p, r in zip(positions, reasons) if r is not None]

    def without(self, positions: Sequence[int]) -> ImageFolderDataset:
        """The same folder without the images at ``positions``; the others keep their sample ids."""
        drop = {int(p) for p in positions}
        keep = [p for p in range(len(self._files)) if p not in drop]
        out = copy.copy(self)
        out._files = [self._files[p] for p in keep]
        out._indices = self._indices[keep]
        return out


class UnreadableImage(UsageError):
    """An image file that PIL cannot decode (truncated, corrupt, not an image)."""

    def __init__(self, path: Path, err: BaseException) -> None:
        self.path = path
        self.reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        super().__init__(
            f"image file {str(path)!r} cannot be read ({self.reason}); replace or remove it, or pass "
            "--skip-bad-images to audit without the files that cannot be read."
        )


def natural_shape(root: Path) -> tuple[int, int, int]:
    """(C, H, W) of the folder's first image: 1 channel for grayscale files, else 3."""
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() in IMAGE_EXTENSIONS:
            try:
                with Image.open(path) as img:
                    return (1 if img.mode in ("L", "I", "I;16", "1") else 3, img.height, img.width)
            except (OSError, SyntaxError, ValueError):
                continue  # unreadable files are reported (or skipped) when the images are screened
    return (3, 224, 224)


def image_folder(spec: str, request: DatasetRequest) -> ImageDataset:
    """An image folder, resized to ``request.input_shape`` or, without one, to its first image's shape."""
    root = Path(spec.split(":", 1)[1] if spec.startswith("folder:") else spec)
    if not root.is_dir():
        raise UsageError(f"image folder {str(root)!r} does not exist; pass a folder laid out as root/<class>/<image>.")
    return ImageFolderDataset(root, request.input_shape or natural_shape(root))
