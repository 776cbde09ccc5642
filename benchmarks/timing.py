"""Timing shared by the benchmarks: CPU seconds, and runs timed twice in mirrored order.

This machine's speed drifts 2-3x over minutes (other tenants); a benchmark that times contenders one
after the other compares the machine's moods, not the contenders. Running each contender twice in
mirrored order (a, b, c, c, b, a) cancels a linear drift, and CPU seconds move less than wall time.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Hashable, Mapping
from typing import TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


def cpu_seconds() -> float:
    """CPU seconds of this process (all threads) and of its finished children (e.g. the loader's workers)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def mirrored(runs: Mapping[K, Callable[[], T]]) -> dict[K, list[tuple[T, float, float]]]:
    """Every run called twice, in mirrored order: per key, ``(result, wall seconds, CPU seconds)`` of each pass."""
    out: dict[K, list[tuple[T, float, float]]] = {key: [] for key in runs}
    for key in [*runs, *reversed(list(runs))]:
        wall, cpu = time.perf_counter(), cpu_seconds()
        result = runs[key]()
        out[key].append((result, time.perf_counter() - wall, cpu_seconds() - cpu))
    return out
