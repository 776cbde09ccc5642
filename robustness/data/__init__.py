"""Dataset registry and loading.

Layer: may import ``robustness.core`` and ``robustness.corruptions`` (precomputed -C sets); nothing of
models, attacks, runs or results.
"""

from __future__ import annotations

from pathlib import Path

from robustness.core.errors import UsageError, unknown_name
from robustness.data import builtin as _builtin  # noqa: F401  (registers digits, shapes)
from robustness.data import external as _external  # noqa: F401  (registers torchvision sets)
from robustness.data.base import DATASETS, ArrayDataset, Batch, DatasetRequest, ImageDataset
from robustness.data.external import image_folder

__all__ = ["DATASETS", "ArrayDataset", "Batch", "DatasetRequest", "ImageDataset", "load_dataset"]


def load_dataset(spec: str, request: DatasetRequest | None = None) -> ImageDataset:
    """Resolve a dataset SPEC: a registered name, ``folder:PATH`` or an existing folder path."""
    request = request or DatasetRequest()
    if request.split not in ("train", "test"):
        raise UsageError(f"split should be 'train' or 'test', but got {request.split!r}.")
    if spec.startswith("folder:") or (spec not in DATASETS and Path(spec).is_dir()):
        dataset = image_folder(spec, request)
    elif spec.split(":", 1)[0] not in DATASETS:
        raise unknown_name("dataset", spec, [*DATASETS, "folder:PATH"])
    else:
        dataset = DATASETS.get(spec.split(":", 1)[0])(spec, request)
    if len(dataset) == 0:
        raise UsageError(f"dataset {spec!r} ({request.split} split) is empty; check the path or the files in it.")
    return dataset
