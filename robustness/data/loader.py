"""Reading (and corrupting) batches ahead of the model: a torch DataLoader over a grid of cells.

One loader serves a whole list of jobs (the clean images, or one corruption cell each): its
items are ``(job, chunk)`` pairs in job-major order, so the worker processes decode and
corrupt the next batches -- across cell boundaries too -- while the model runs on the
current one, and no pool is started per cell. Every batch is a pure function of its chunk
of positions and its job (corruptions are seeded per sample), and the loader keeps the
order, so the results are the same for any number of workers.
"""

from __future__ import annotations

import ctypes
import functools
import multiprocessing
import multiprocessing.context
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from robustness.data.base import Batch, ImageDataset

#: the most loader processes the default asks for (image decoding rarely gains beyond this per GPU)
MAX_DEFAULT_WORKERS = 8
#: with the model on the CPU, one default loader process per this many CPUs (none below it)
CPUS_PER_WORKER_ON_CPU = 8
#: batches each worker keeps ready ahead of the model
PREFETCH_FACTOR = 2

#: glibc ``mallopt`` parameters (malloc.h) and the largest mmap threshold glibc accepts on 64-bit
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD_MAX = 32 << 20

#: what a worker does to a clean batch: ``(images N x C x H x W, sample ids) -> images``
BatchTransform = Callable[[torch.Tensor, np.ndarray], torch.Tensor]


def loader_workers(requested: int | None, *, model_on_cpu: bool = False) -> int:
    """Worker processes to use: ``requested``; by default half the CPUs (at most 8), or one per
    ``CPUS_PER_WORKER_ON_CPU`` CPUs when the model runs on the CPU.

    A model on the CPU already keeps every core busy with its own threads, and a loader process
    competes with them rather than overlapping: on this project's 2-core machine the 19 x 5 corruption
    grid at 224 px took 1.29x (ResNet-18) and 1.10x (ResNet-50) pure inference corrupting in the main
    process, 1.44x and 1.19x with one worker (BENCHMARKS.md, ``## 224 px``). With an accelerator the
    CPU is free while the model runs, and workers overlap reading and corrupting with it.
    """
    if requested is not None:
        return int(requested)
    cpus = os.cpu_count() or 1
    return min(MAX_DEFAULT_WORKERS, cpus // CPUS_PER_WORKER_ON_CPU if model_on_cpu else cpus // 2)


@dataclass(frozen=True)
class JobBatch:
    """One batch of one job: which job, and the batch (images transformed by the job)."""

    job: int
    batch: Batch


class _GridItems(Dataset):
    """Item ``k`` is chunk ``k % chunks`` of the positions under job ``k // chunks``."""

    def __init__(
        self, dataset: ImageDataset, positions: np.ndarray, batch_size: int, jobs: Sequence[BatchTransform | None]
    ) -> None:
        self.dataset = dataset
        self.chunks = [positions[lo : lo + batch_size] for lo in range(0, len(positions), batch_size)]
        self.jobs = list(jobs)

    def __len__(self) -> int:
        return len(self.jobs) * len(self.chunks)

    def __getitem__(self, item: int) -> tuple[int, torch.Tensor, torch.Tensor, np.ndarray]:
        job, chunk = divmod(item, len(self.chunks))
        positions = self.chunks[chunk]
        images, labels = self.dataset.load(positions)
        ids = self.dataset.indices[positions]
        transform = self.jobs[job]
        if transform is not None:
            images = transform(images, ids)
        return job, images, labels, ids


def _context() -> multiprocessing.context.BaseContext:
    """Workers start from a fork server that has imported the suite but run nothing: a process forked
    from the main one can hang in OpenCV's or OpenMP's thread pools, which do not survive ``fork``."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["robustness.corruptions", "robustness.data"])
    return context


@functools.cache  # once per process: grid_batches without workers and the benchmarks call it per run
def keep_batch_buffers() -> bool:
    """Let this process reuse freed batch-sized buffers instead of faulting them in again each batch.

    glibc returns the top of its heap to the kernel whenever more than its trim threshold (twice
    the dynamic mmap threshold, which follows the largest block freed) is free there: a
    corruption's batch buffers (the float32 input and output, 4.8 MB each for 8 images of 224 px,
    and the uint8 result) are freed together at the end of every batch, trimmed, and page-faulted
    back on the next one (about 1,700 faults per batch of 8, a third of the CPU time of the cheap
    corruptions on this machine). Fixing the mmap threshold at its largest (32 MB) and the trim
    threshold above it keeps them. Called in the loader's worker processes, or in the calling process
    when it reads the batches itself; returns False where there is no glibc ``mallopt`` (macOS,
    musl), where nothing changes.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)) and bool(
        mallopt(_M_TRIM_THRESHOLD, 4 * _MMAP_THRESHOLD_MAX)
    )


def _quiet_worker(_: int) -> None:
    """One thread per worker process (the workers are the parallelism), batch buffers kept."""
    import cv2

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    keep_batch_buffers()


def _identity(item: tuple[int, torch.Tensor, torch.Tensor, np.ndarray]) -> tuple[int, torch.Tensor, torch.Tensor, np.ndarray]:
    return item


def grid_batches(
    dataset: ImageDataset,
    positions: np.ndarray,
    batch_size: int,
    jobs: Sequence[BatchTransform | None],
    *,
    workers: int = 0,
    pin_memory: bool = False,
) -> Iterator[JobBatch]:
    """Batches of ``positions`` for every job in turn (``None``: the clean images), in order.

    With ``workers`` > 0 the batches are made by that many processes, up to
    ``PREFETCH_FACTOR`` batches each ahead of the consumer; ``pin_memory`` pins them for a
    fast, asynchronous copy to a GPU. With 0 everything runs in the calling process.
    """
    items = _GridItems(dataset, np.asarray(positions), batch_size, jobs)
    if not len(items):
        return
    if not workers:  # this process reads and corrupts: its batch buffers are kept as a worker's are
        keep_batch_buffers()
    loader = DataLoader(
        items,
        batch_size=None,  # items are whole batches already
        shuffle=False,
        num_workers=workers,
        collate_fn=_identity,
        pin_memory=pin_memory,
        worker_init_fn=_quiet_worker if workers else None,
        multiprocessing_context=_context() if workers else None,
        prefetch_factor=PREFETCH_FACTOR if workers else None,
    )
    for job, images, labels, ids in loader:
        yield JobBatch(int(job), Batch(images, labels, np.asarray(ids)))
