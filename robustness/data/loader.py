"""Reading batches ahead of the model: a torch DataLoader with worker processes and pinned memory."""

from __future__ import annotations

import os

#: the most loader processes the default asks for (image decoding rarely gains beyond this per GPU)
MAX_DEFAULT_WORKERS = 8


def loader_workers(requested: int | None) -> int:
    """Worker processes to use: ``requested``, or half the CPUs (at most 8) when it is None."""
    if requested is not None:
        return int(requested)
    return min(MAX_DEFAULT_WORKERS, (os.cpu_count() or 1) // 2)
