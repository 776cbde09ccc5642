"""Precomputed corruption sets: CIFAR-10-C and ImageNet-C readers, export in both layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import robustness.corruptions as rc
from robustness.core.errors import UsageError
from robustness.data import cfiles


@pytest.fixture
def dataset() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(6, 16, 16, 3), dtype=np.uint8)
    return images, np.array([0, 1, 2, 0, 1, 2])


def test_read_cifar_c_published_layout(tmp_path: Path) -> None:
    stack = np.stack([np.full((4, 8, 8, 3), s, np.uint8) for s in range(1, 6)]).reshape(20, 8, 8, 3)
    np.save(tmp_path / "fog.npy", stack)
    np.save(tmp_path / "labels.npy", np.tile(np.arange(4, dtype=np.uint8), 5))
    images, labels = cfiles.read_cifar_c(tmp_path, "fog", 3)
    assert images.shape == (4, 8, 8, 3) and (images == 3).all()
    assert labels.tolist() == [0, 1, 2, 3]
    np.save(tmp_path / "labels.npy", np.arange(4))  # labels stored once are accepted too
    assert cfiles.read_cifar_c(tmp_path, "fog", 5)[1].tolist() == [0, 1, 2, 3]
    assert cfiles.cifar_c_corruptions(tmp_path) == ["fog"]


def test_read_cifar_c_errors(tmp_path: Path) -> None:
    np.save(tmp_path / "fog.npy", np.zeros((10, 8, 8, 3), np.uint8))
    np.save(tmp_path / "labels.npy", np.zeros(2, np.uint8))
    with pytest.raises(UsageError, match=r"Unknown corruption 'frost'.*Available: fog"):
        cfiles.read_cifar_c(tmp_path, "frost", 1)
    with pytest.raises(UsageError, match=r"severity should be an integer between 1 and 5, but got 6"):
        cfiles.read_cifar_c(tmp_path, "fog", 6)
    with pytest.raises(UsageError, match=r"should be an existing folder"):
        cfiles.read_cifar_c(tmp_path / "nope", "fog", 1)
    with pytest.raises(UsageError, match=r"labels.npy should have 2 or 10 entries"):
        np.save(tmp_path / "labels.npy", np.zeros(3, np.uint8))
        cfiles.read_cifar_c(tmp_path, "fog", 1)


def test_export_cifar_layout_round_trip(tmp_path: Path, dataset: tuple[np.ndarray, np.ndarray]) -> None:
    images, labels = dataset
    out = cfiles.export_c(images, labels, None, ["fog", "rotation"], [1, 3], tmp_path / "c10c", layout="cifar", seed=4)
    assert sorted(p.name for p in out.iterdir()) == ["export.json", "fog.npy", "labels.npy", "rotation.npy"]
    assert np.load(out / "fog.npy").shape == (12, 16, 16, 3)
    for position, severity in enumerate((1, 3)):
        expected = rc.corrupt_array("fog", images, severity, np.arange(6), seed=4)
        stored = np.load(out / "fog.npy")[position * 6 : (position + 1) * 6]
        assert np.array_equal(stored, expected)
    # read back with the published reader: two severities stored, so read via the raw array
    assert np.load(out / "labels.npy").tolist() == labels.tolist() * 2


def test_export_then_read_cifar_c_full_grid(tmp_path: Path, dataset: tuple[np.ndarray, np.ndarray]) -> None:
    images, labels = dataset
    out = cfiles.export_c(images, labels, np.arange(100, 106), "contrast", "1-5", tmp_path / "grid", seed=1)
    read, read_labels = cfiles.read_cifar_c(out, "contrast", 4)
    assert np.array_equal(read, rc.corrupt_array("contrast", images, 4, np.arange(100, 106), seed=1))
    assert read_labels.tolist() == labels.tolist()


def test_export_imagenet_layout_round_trip(tmp_path: Path, dataset: tuple[np.ndarray, np.ndarray]) -> None:
    images, labels = dataset
    names = ["cat", "dog", "eel"]
    out = cfiles.export_c(
        images, labels, None, "gaussian_noise", [2], tmp_path / "inc", layout="imagenet", class_names=names
    )
    assert sorted(p.name for p in (out / "gaussian_noise" / "2").iterdir()) == names
    read, read_labels, classes = cfiles.read_imagenet_c(out, "gaussian_noise", 2)
    assert classes == names
    order = np.argsort(labels, kind="stable")
    assert read_labels.tolist() == labels[order].tolist()
    assert np.array_equal(read, rc.corrupt_array("gaussian_noise", images, 2, np.arange(6))[order])


def test_export_streams_batches_like_an_array(tmp_path: Path, dataset: tuple[np.ndarray, np.ndarray]) -> None:
    images, labels = dataset
    whole = cfiles.export_c(images, labels, None, ["glass_blur"], [5], tmp_path / "a")
    streamed = cfiles.export_c(iter([images[:4], images[4:]]), labels, None, ["glass_blur"], [5], tmp_path / "b")
    assert np.array_equal(np.load(whole / "glass_blur.npy"), np.load(streamed / "glass_blur.npy"))


def test_export_float_and_gray_images(tmp_path: Path) -> None:
    gray = np.random.default_rng(1).random((3, 12, 12), dtype=np.float32)
    out = cfiles.export_c(gray, [0, 1, 0], None, ["pixelate"], [2], tmp_path / "g")
    stored = np.load(out / "pixelate.npy")
    assert stored.shape == (3, 12, 12) and stored.dtype == np.uint8


def test_export_is_atomic(tmp_path: Path, dataset: tuple[np.ndarray, np.ndarray]) -> None:
    images, labels = dataset

    def failing() -> object:
        yield images[:3]
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        cfiles.export_c(failing(), labels, None, ["fog"], [1], tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_export_refuses_to_overwrite(tmp_path: Path, dataset: tuple[np.ndarray, np.ndarray]) -> None:
    images, labels = dataset
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("precious")
    with pytest.raises(UsageError, match=r"exists and is not empty"):
        cfiles.export_c(images, labels, None, ["fog"], [1], target)
    assert (target / "keep.txt").read_text() == "precious"
    cfiles.export_c(images, labels, None, ["fog"], [1], target, overwrite=True)
    assert sorted(p.name for p in target.iterdir()) == ["export.json", "fog.npy", "labels.npy"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_export_rejects_bad_arguments(tmp_path: Path, dataset: tuple[np.ndarray, np.ndarray]) -> None:
    images, labels = dataset
    with pytest.raises(UsageError, match=r"Unknown corruption 'smog'"):
        cfiles.export_c(images, labels, None, ["smog"], [1], tmp_path / "x")
    with pytest.raises(UsageError, match=r"layout should be 'cifar' or 'imagenet'"):
        cfiles.export_c(images, labels, None, ["fog"], [1], tmp_path / "x", layout="tfrecord")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=r"images should number 6 \(one per label\), but 5 were given"):
        cfiles.export_c(images[:5], labels, None, ["fog"], [1], tmp_path / "x")
    assert list(tmp_path.iterdir()) == []


def test_read_imagenet_c_unknown_corruption(tmp_path: Path) -> None:
    (tmp_path / "fog" / "1" / "cat").mkdir(parents=True)
    with pytest.raises(UsageError, match=r"Corruptions in .*: fog"):
        cfiles.read_imagenet_c(tmp_path, "snow", 1)
