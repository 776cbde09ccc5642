"""Screening a dataset's files before an audit writes anything: unreadable images are named or skipped."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from robustness.core.errors import UsageError
from robustness.data.base import ImageDataset
from robustness.data.external import ImageFolderDataset, UnreadableImage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Screened:
    """The dataset and positions to evaluate, and the files left out (``path: reason``)."""

    dataset: ImageDataset
    positions: np.ndarray
    skipped: tuple[str, ...] = field(default=())


def screen_images(dataset: ImageDataset, positions: np.ndarray, *, skip: bool, threads: int = 1) -> Screened:
    """Decode every image file among ``positions`` once; datasets held in memory pass as they are.

    An unreadable file raises :class:`UnreadableImage` naming it (the first one, in file
    order), unless ``skip``: then the files are left out, the others keep their sample ids,
    and ``skipped`` lists them for the run's record and the console.
    """
    if not isinstance(dataset, ImageFolderDataset) or not len(positions):
        return Screened(dataset, positions)
    bad = dataset.unreadable(positions, threads=threads)
    if not bad:
        return Screened(dataset, positions)
    files = dataset.files
    if not skip:
        first, reason = bad[0]
        others = f" ({len(bad) - 1} more file(s) cannot be read either)" if len(bad) > 1 else ""
        raise UnreadableImage(files[first], OSError(reason + others))
    skipped = tuple(f"{files[p]}: {reason}" for p, reason in bad)
    if len(bad) == len(positions):
        raise UsageError(
            f"none of the {len(bad)} image files of {dataset.name!r} can be read (first: {skipped[0]}); "
            "check that the folder holds images."
        )
    dropped = np.array(sorted(p for p, _ in bad), dtype=np.int64)
    positions = np.asarray(positions, dtype=np.int64)
    survivors = positions[~np.isin(positions, dropped)]
    moved = survivors - np.searchsorted(dropped, survivors)  # positions in the folder without the dropped files
    log.warning("skipped %d of %d images that cannot be read: %s", len(bad), len(positions), "; ".join(skipped))
    return Screened(dataset.without(dropped.tolist()), moved, skipped)
