"""Precomputed corruption sets: read CIFAR-10-C / CIFAR-100-C and ImageNet-C, write either layout.

Layouts (Hendrycks & Dietterich 2019):

* ``cifar``: ``<root>/<corruption>.npy`` holds the test set at severities 1..5 stacked in
  order (``5N x H x W x C`` uint8) and ``<root>/labels.npy`` the labels (``N`` or, as the
  published files, ``5N`` long).
* ``imagenet``: ``<root>/<corruption>/<severity>/<class>/<image>``.

:func:`export_c` writes any dataset's corruption grid in either layout, deterministically
(the suite's per-sample seeding) and atomically: everything goes to a temporary folder
beside ``out_dir`` that is renamed into place only when complete.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from robustness.core.errors import UsageError

Layout = Literal["cifar", "imagenet"]
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".webp")
MANIFEST = "export.json"


def _root(root: str | os.PathLike[str]) -> Path:
    path = Path(root)
    if not path.is_dir():
        raise UsageError(f"corruption set root should be an existing folder, but {str(path)!r} is not; check the path.")
    return path


def _check_severity(severity: int) -> int:
    if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)) or not 1 <= severity <= 5:
        raise UsageError(f"severity should be an integer between 1 and 5, but got {severity!r}.")
    return int(severity)


def cifar_c_corruptions(root: str | os.PathLike[str]) -> list[str]:
    """Corruptions present in a CIFAR-10-C style folder (``<name>.npy`` besides ``labels.npy``)."""
    return sorted(p.stem for p in _root(root).glob("*.npy") if p.stem != "labels")


def read_cifar_c(root: str | os.PathLike[str], corruption: str, severity: int) -> tuple[np.ndarray, np.ndarray]:
    """Images (``N x H x W x C`` uint8) and labels of one corruption and severity of a CIFAR-10-C folder.

    Only the requested severity is read from disk (the file is memory-mapped).
    """
    path = _root(root)
    severity = _check_severity(severity)
    file = path / f"{corruption}.npy"
    if not file.is_file():
        available = cifar_c_corruptions(path)
        raise UsageError(
            f"Unknown corruption {corruption!r} in {str(path)!r}: no {file.name}. "
            f"Available: {', '.join(available) or 'none'}."
        )
    labels_file = path / "labels.npy"
    if not labels_file.is_file():
        raise UsageError(f"{str(path)!r} should contain labels.npy next to the corruption files, but it does not.")
    stack = np.load(file, mmap_mode="r")
    if stack.ndim not in (3, 4) or stack.shape[0] % 5:
        raise UsageError(
            f"{file.name} should hold 5 severities stacked (5N x H x W [x C]), but has shape {stack.shape}."
        )
    n = stack.shape[0] // 5
    labels = np.load(labels_file)
    if len(labels) == 5 * n:
        labels = labels[(severity - 1) * n : severity * n]
    elif len(labels) != n:
        raise UsageError(
            f"labels.npy should have {n} or {5 * n} entries to match {file.name}, but has {len(labels)}."
        )
    images = np.array(stack[(severity - 1) * n : severity * n])
    return images, np.asarray(labels, dtype=np.int64)


def imagenet_c_classes(root: str | os.PathLike[str], corruption: str, severity: int) -> list[str]:
    """Class folder names (sorted) of one corruption and severity of an ImageNet-C folder."""
    folder = _root(root) / corruption / str(_check_severity(severity))
    if not folder.is_dir():
        available = sorted(p.name for p in _root(root).iterdir() if p.is_dir())
        raise UsageError(
            f"Unknown corruption or severity: {str(folder)!r} does not exist. "
            f"Corruptions in {str(root)!r}: {', '.join(available) or 'none'}."
        )
    return sorted(p.name for p in folder.iterdir() if p.is_dir())


def iter_imagenet_c(
    root: str | os.PathLike[str], corruption: str, severity: int
) -> Iterator[tuple[np.ndarray, int, Path]]:
    """Yield ``(image uint8 HxWxC, label, path)`` in class then file-name order."""
    classes = imagenet_c_classes(root, corruption, severity)
    folder = Path(root) / corruption / str(severity)
    for label, name in enumerate(classes):
        for file in sorted((folder / name).iterdir()):
            if file.suffix.lower() in IMAGE_EXTENSIONS:
                with Image.open(file) as image:
                    array = np.asarray(image.convert("L" if image.mode in ("L", "I;16", "I") else "RGB"))
                yield array, label, file


def read_imagenet_c(
    root: str | os.PathLike[str], corruption: str, severity: int
) -> tuple[np.ndarray | list[np.ndarray], np.ndarray, list[str]]:
    """Images, labels and class names of one corruption and severity of an ImageNet-C folder.

    Images come as one ``N x H x W x C`` uint8 array when they share a size, else as a list.
    """
    classes = imagenet_c_classes(root, corruption, severity)
    images, labels = [], []
    for image, label, _ in iter_imagenet_c(root, corruption, severity):
        images.append(image)
        labels.append(label)
    if not images:
        raise UsageError(f"no images found under {str(Path(root) / corruption / str(severity))!r}.")
    same = len({im.shape for im in images}) == 1
    return (np.stack(images) if same else images), np.asarray(labels, dtype=np.int64), classes


def _batches(images: np.ndarray | Iterable[np.ndarray], batch_size: int) -> Iterator[np.ndarray]:
    if isinstance(images, np.ndarray):
        for start in range(0, len(images), batch_size):
            yield images[start : start + batch_size]
    else:
        yield from (np.asarray(batch) for batch in images)


def _as_uint8(batch: np.ndarray) -> np.ndarray:
    if batch.dtype == np.uint8:
        return batch
    if not np.issubdtype(batch.dtype, np.floating):
        raise UsageError(f"images should be uint8 or float in [0, 1], but got dtype {batch.dtype}.")
    if batch.size and (float(batch.min()) < 0.0 or float(batch.max()) > 1.0):
        raise UsageError("float images should lie in [0, 1]; divide uint8 data by 255 or pass it as uint8.")
    return np.round(batch * 255.0).astype(np.uint8)


def export_c(
    images: np.ndarray | Iterable[np.ndarray],
    labels: Sequence[int] | np.ndarray,
    indices: Sequence[int] | np.ndarray | None,
    corruptions: Sequence[str] | str,
    severities: Sequence[int] = (1, 2, 3, 4, 5),
    out_dir: str | os.PathLike[str] = "corrupted",
    *,
    layout: Layout = "cifar",
    seed: int = 0,
    class_names: Sequence[str] | None = None,
    image_format: Literal["png", "jpg"] = "png",
    batch_size: int = 256,
    overwrite: bool = False,
) -> Path:
    """Write the corruption grid of a dataset in the ``cifar`` or ``imagenet`` layout.

    ``images`` is an ``N x H x W [x C]`` array (uint8 or float in [0, 1]) or an iterable of
    such batches, read once; ``indices`` are the samples' dataset indices (they seed the
    draws; default ``0..N-1``). Returns ``out_dir``. Nothing is left at ``out_dir`` unless
    the whole grid was written.
    """
    from robustness.corruptions import corrupt_array, parse_severities, select

    names = select(corruptions)
    if not names:
        raise UsageError("corruptions should name at least one corruption, but the selection is empty.")
    levels = parse_severities(list(severities) if not isinstance(severities, str) else severities)
    if layout not in ("cifar", "imagenet"):
        raise UsageError(f"layout should be 'cifar' or 'imagenet', but got {layout!r}.")
    if image_format not in ("png", "jpg"):
        raise UsageError(f"image_format should be 'png' or 'jpg', but got {image_format!r}.")
    labels = np.asarray(labels, dtype=np.int64)
    n = len(labels)
    index_array = np.arange(n) if indices is None else np.asarray(indices, dtype=np.int64)
    if len(index_array) != n:
        raise UsageError(f"indices should have one entry per label ({n}), but got {len(index_array)}.")
    target = Path(out_dir)
    if target.exists() and any(target.iterdir()) and not overwrite:
        raise UsageError(f"out_dir {str(target)!r} exists and is not empty; choose a new folder or pass overwrite.")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        _write_grid(
            staging, _batches(images, batch_size), labels, index_array, names, levels, layout=layout, seed=seed,
            class_names=class_names, image_format=image_format, corrupt=corrupt_array,
        )  # fmt: skip
        _replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _write_grid(
    staging: Path,
    batches: Iterator[np.ndarray],
    labels: np.ndarray,
    indices: np.ndarray,
    names: list[str],
    levels: list[int],
    *,
    layout: Layout,
    seed: int,
    class_names: Sequence[str] | None,
    image_format: str,
    corrupt: Callable[..., np.ndarray],
) -> None:
    n = len(labels)
    stores: dict[str, np.ndarray] = {}
    written = 0
    for raw in batches:
        batch = _as_uint8(raw)
        if written + len(batch) > n:
            raise UsageError(f"images should number {n} (one per label), but more were given.")
        batch_indices = indices[written : written + len(batch)]
        gray = batch.ndim == 3
        for name in names:
            for position, severity in enumerate(levels):
                out = corrupt(name, batch[..., None] if gray else batch, severity, batch_indices, seed=seed)
                out = out[..., 0] if gray else out
                if layout == "cifar":
                    if name not in stores:
                        shape = (len(levels) * n, *batch.shape[1:])
                        stores[name] = np.lib.format.open_memmap(
                            staging / f"{name}.npy", mode="w+", dtype=np.uint8, shape=shape
                        )
                    start = position * n + written
                    stores[name][start : start + len(out)] = out
                else:
                    batch_labels = labels[written : written + len(out)]
                    _write_images(staging, name, severity, out, batch_labels, batch_indices, class_names, image_format)
        written += len(batch)
    if written != n:
        raise UsageError(f"images should number {n} (one per label), but {written} were given.")
    for store in stores.values():
        store.flush()
    stores.clear()
    if layout == "cifar":
        label_dtype = np.uint8 if labels.max(initial=0) < 256 and labels.min(initial=0) >= 0 else np.int64
        np.save(staging / "labels.npy", np.tile(labels.astype(label_dtype), len(levels)))
    manifest = {"layout": layout, "corruptions": names, "severities": levels, "seed": seed, "samples": n}
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def _write_images(
    staging: Path,
    name: str,
    severity: int,
    images: np.ndarray,
    labels: np.ndarray,
    indices: np.ndarray,
    class_names: Sequence[str] | None,
    image_format: str,
) -> None:
    for image, label, index in zip(images, labels, indices):
        folder_name = class_names[int(label)] if class_names is not None else f"{int(label):04d}"
        folder = staging / name / str(severity) / folder_name
        folder.mkdir(parents=True, exist_ok=True)
        array = image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image
        options = {"quality": 95} if image_format == "jpg" else {}
        Image.fromarray(array).save(folder / f"{int(index):08d}.{image_format}", **options)


def _replace(staging: Path, target: Path) -> None:
    """Move the finished ``staging`` folder to ``target``, replacing any old ``target`` last."""
    if not target.exists():
        os.replace(staging, target)
        return
    retired = target.with_name(f".{target.name}.old-{os.getpid()}")
    os.replace(target, retired)
    os.replace(staging, target)
    shutil.rmtree(retired, ignore_errors=True)
