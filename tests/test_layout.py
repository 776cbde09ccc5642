"""Canonical NCHW strides at the model boundary: a tutorial model that calls ``x.view(N, -1)`` runs on
grayscale and RGB batches from every dataset kind, clean, corrupted, adversarial and defended."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from robustness import corruptions
from robustness.api import run_audit
from robustness.data import DatasetRequest, ImageDataset, load_dataset
from robustness.data.cfiles import export_c
from robustness.data.layout import canonical_nchw, canonical_strides, has_canonical_strides, images_from_nhwc
from robustness.data.precomputed import PrecomputedCorruptions
from robustness.models import Classifier
from robustness.run.config import AuditConfig
from tests.helpers.toy_models import TutorialGrayNet, TutorialRgbNet


def _pixels(n: int, size: int, channels: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, channels), dtype=np.uint8)


def _write_folder(root: Path, channels: int, n_per_class: int = 3, size: int = 20) -> Path:
    mode = "L" if channels == 1 else "RGB"
    for label, cls in enumerate(("a", "b")):
        (root / cls).mkdir(parents=True)
        for i, pixels in enumerate(_pixels(n_per_class, size, channels, seed=label)):
            Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode).save(root / cls / f"{i}.png")
    return root


def _mnist(root: Path) -> ImageDataset:
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, n in (("train", 12), ("t10k", 10)):
        images = _pixels(n, 28, 1)[..., 0]
        header = np.array([2051, n, 28, 28], dtype=">i4").tobytes()
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(header + images.tobytes())
        labels = (np.arange(n) % 10).astype(np.uint8)
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(np.array([2049, n], dtype=">i4").tobytes() + labels.tobytes())
    return load_dataset("mnist", DatasetRequest(root=str(root)))


def _cifar10(root: Path, monkeypatch: pytest.MonkeyPatch) -> ImageDataset:
    import torchvision.datasets.cifar as tv_cifar

    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    data = _pixels(10, 32, 3).transpose(0, 3, 1, 2).reshape(10, -1)
    (folder / "test_batch").write_bytes(pickle.dumps({"data": data, "labels": list(range(10))}))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"c{i}" for i in range(10)]}))
    monkeypatch.setattr(tv_cifar.CIFAR10, "_check_integrity", lambda self: True)  # no published md5 here
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *args, **kwargs: True)
    return load_dataset("cifar10", DatasetRequest(root=str(root)))


KINDS: dict[str, Callable[[Path, pytest.MonkeyPatch], ImageDataset]] = {
    "digits-gray": lambda root, mp: load_dataset("digits"),
    "shapes-rgb": lambda root, mp: load_dataset("shapes:16"),
    "mnist-gray": lambda root, mp: _mnist(root),
    "cifar10-rgb": _cifar10,
    "folder-gray": lambda root, mp: load_dataset(str(_write_folder(root / "f", 1)), DatasetRequest(input_shape=(1, 16, 16))),
    "folder-rgb": lambda root, mp: load_dataset(str(_write_folder(root / "f", 3)), DatasetRequest(input_shape=(3, 16, 16))),
}


def _tutorial(dataset: ImageDataset) -> Classifier:
    torch.manual_seed(0)
    net = (TutorialGrayNet if dataset.channels == 1 else TutorialRgbNet)(num_classes=dataset.num_classes).eval()
    return Classifier(net, num_classes=dataset.num_classes, input_shape=dataset.input_shape, mean=[0.5], std=[0.25])


def test_canonical_strides_count_size_one_dimensions() -> None:
    channels_last = torch.zeros(2, 8, 8, 1).permute(0, 3, 1, 2)
    assert channels_last.is_contiguous(), "torch ignores the stride of a size-1 dimension: why .contiguous() is no fix"
    assert not has_canonical_strides(channels_last)
    fixed = canonical_nchw(channels_last)
    assert fixed.stride() == canonical_strides((2, 1, 8, 8)) == (64, 64, 8, 1)
    ready = torch.zeros(2, 3, 4, 4)
    assert canonical_nchw(ready) is ready
    gray = images_from_nhwc(np.full((2, 4, 4, 1), 255, np.uint8))
    assert has_canonical_strides(gray) and gray.dtype == torch.float32 and float(gray.max()) == 1.0


@pytest.mark.parametrize("kind", list(KINDS))
def test_tutorial_model_runs_on_every_dataset_kind(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dataset = KINDS[kind](tmp_path, monkeypatch)
    assert dataset.channels == (1 if "gray" in kind else 3)
    batch = next(dataset.batches(4))
    assert has_canonical_strides(batch.images), f"{kind}: strides {batch.images.stride()}"
    clf = _tutorial(dataset)
    corrupted = corruptions.corrupt_batch("gaussian_noise", batch.images, 3, batch.indices)
    assert has_canonical_strides(corrupted)
    channels_last = batch.images.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)  # what a user's transform may hand over
    for images in (batch.images, corrupted, channels_last):
        assert clf(images).shape == (4, dataset.num_classes)


@pytest.mark.parametrize("layout", ["cifar", "imagenet"])
@pytest.mark.parametrize("channels", [1, 3])
def test_precomputed_batches_have_canonical_strides(layout: str, channels: int, tmp_path: Path) -> None:
    images, labels = _pixels(6, 16, channels), np.arange(6) % 2
    export_c(images, labels, None, ["contrast"], [1, 2, 3, 4, 5], tmp_path / "c", layout=layout)
    pre = PrecomputedCorruptions(tmp_path / "c", (channels, 16, 16))
    batches = list(pre.batches("contrast", 2, np.arange(6), np.arange(6), batch_size=4))
    assert batches and all(has_canonical_strides(x) and x.shape[1] == channels for x, _ in batches)


@pytest.mark.parametrize("channels", [1, 3])
def test_tutorial_model_audit_clean_corrupted_adversarial_defended(channels: int, tmp_path: Path) -> None:
    folder = _write_folder(tmp_path / "imgs", channels, n_per_class=4, size=24)
    net = "TutorialGrayNet" if channels == 1 else "TutorialRgbNet"
    config = AuditConfig(
        model=f"tests.helpers.toy_models:{net}", dataset=str(folder), num_classes=2, corruptions=("gaussian_noise", "rotation"),
        severities=(2,), attacks=("fgsm", "pgd_linf"), eps=(0.05,), eps_l2=(), sanity=False, batch_size=3,
        defense="bit-depth", out=str(tmp_path / "out"), loader_workers=0, random_weights=True,
    )  # fmt: skip
    df = run_audit(config).results
    assert set(df["kind"]) == {"clean", "corruption", "attack"}
    assert (df["n"] == 8).all()
