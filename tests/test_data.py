from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from robustness.core.errors import UsageError
from robustness.data import DATASETS, DatasetRequest, load_dataset


def test_digits_is_a_fixed_stratified_split_of_real_digits() -> None:
    test = load_dataset("digits")
    train = load_dataset("digits", DatasetRequest(split="train"))
    assert len(test) + len(train) == 1797
    assert len(test) == 540
    assert test.input_shape == (1, 32, 32)
    assert not set(test.indices) & set(train.indices)
    counts = np.bincount(test.labels, minlength=10)
    assert counts.min() >= 52 and counts.max() <= 56  # stratified: about 54 per class
    images, labels = test.load(np.arange(8))
    assert images.shape == (8, 1, 32, 32)
    assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
    again = load_dataset("digits", DatasetRequest(seed=123))
    assert np.array_equal(again.indices, test.indices)


def test_shapes_are_deterministic_by_seed_and_balanced() -> None:
    a = load_dataset("shapes", DatasetRequest(seed=1))
    b = load_dataset("shapes", DatasetRequest(seed=1))
    c = load_dataset("shapes", DatasetRequest(seed=2))
    xa, ya = a.load(np.arange(16))
    xb, yb = b.load(np.arange(16))
    xc, _ = c.load(np.arange(16))
    assert a.input_shape == (3, 32, 32) and a.num_classes == 8
    assert bool((xa == xb).all()) and bool((ya == yb).all())
    assert not bool((xa == xc).all())
    assert np.bincount(a.labels).tolist() == [125] * 8
    big = load_dataset("shapes:20000", DatasetRequest(seed=1))
    assert len(big) == 20000
    xbig, _ = big.load(np.arange(16))
    assert bool((xbig == xa).all()), "image i depends only on (seed, split, i)"


def test_batches_carry_stable_indices() -> None:
    ds = load_dataset("digits")
    seen = np.concatenate([b.indices for b in ds.batches(100)])
    assert np.array_equal(seen, ds.indices)


def _write_folder(root, size=(40, 30), mode="RGB") -> None:
    for cls in ("cat", "dog"):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            Image.new(mode, size, color=(i * 60, 10, 200) if mode == "RGB" else i * 60).save(root / cls / f"{i}.png")


def test_image_folder_resizes_and_converts_to_the_model_input(tmp_path) -> None:
    _write_folder(tmp_path / "imgs")
    ds = load_dataset(str(tmp_path / "imgs"), DatasetRequest(input_shape=(1, 16, 16)))
    assert ds.class_names == ("cat", "dog") and len(ds) == 6
    images, labels = ds.load(np.arange(6))
    assert images.shape == (6, 1, 16, 16)
    assert labels.tolist() == [0, 0, 0, 1, 1, 1]


def test_empty_image_folder_is_refused(tmp_path) -> None:
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(UsageError, match="is empty"):
        load_dataset(f"folder:{tmp_path / 'empty'}")


def test_missing_torchvision_dataset_names_download(tmp_path) -> None:
    with pytest.raises(UsageError, match="--download"):
        load_dataset("cifar10", DatasetRequest(root=str(tmp_path)))


def test_unknown_dataset_lists_what_exists() -> None:
    with pytest.raises(UsageError, match="Unknown dataset 'digit'.*Did you mean digits.*Available"):
        load_dataset("digit")
    assert {"digits", "shapes", "cifar10", "mnist"} <= set(DATASETS)
