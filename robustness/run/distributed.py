"""The Ray backend: grid cells (in shards of samples) become Ray tasks; the driver alone writes.

Each pending corruption cell and each attack task is split into shards of at most
``shard_size`` samples (a multiple of the batch size, so batches, and therefore attack seeds,
line up with the local backend). Workers compute per-sample bits; the driver collects a
cell's shards as they finish and commits the cell to the store, so the store sees exactly
what the local backend would write. Tasks whose worker dies are retried by Ray
(``max_retries``). Ray is an optional extra: ``pip install robustness-suite[ray]``.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from robustness.core.errors import UsageError
from robustness.core.progress import progress_bar
from robustness.run import cells
from robustness.run.plan import CLEAN, AttackTask, Cell

if TYPE_CHECKING:
    from robustness.results.store import Store
    from robustness.run.config import AuditConfig
    from robustness.run.prepare import Prepared

MAX_RETRIES = 3
SHARD_BATCHES = 8
#: seconds to wait for a Ray cluster's address to answer before giving up
CONNECT_TIMEOUT = 10.0


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UsageError("--backend ray needs Ray: pip install 'robustness-suite[ray]'.") from None
    return ray


def _shard(prep: Prepared, start: int, stop: int) -> Prepared:
    # a Ray task has one CPU: it reads its shard itself, with no loader processes of its own
    config = replace(prep.config, loader_workers=0)
    return replace(prep, config=config, positions=prep.positions[start:stop], labels=prep.labels[start:stop])


def _work(prep: Prepared, unit: Cell | AttackTask | str, start: int, stop: int) -> tuple[Any, Any, float]:
    """Evaluate samples ``start:stop`` of one unit on a worker: (bits or AttackOutcome, output records, seconds)."""
    import torch

    torch.set_num_threads(1)
    began = time.perf_counter()
    shard = _shard(prep, start, stop)
    if unit == CLEAN.key:
        correct, outputs = cells.evaluate_clean(shard)
        return correct, outputs, time.perf_counter() - began
    if isinstance(unit, AttackTask):
        return cells.evaluate_attack(shard, unit), None, time.perf_counter() - began
    assert isinstance(unit, Cell)
    correct, outputs = cells.evaluate_corruption(shard, unit)
    return correct, outputs, time.perf_counter() - began


def _probe(address: str) -> None:
    """Fail within :data:`CONNECT_TIMEOUT` seconds when ``HOST:PORT`` (or ``ray://HOST:PORT``) does not answer."""
    target = address.split("://", 1)[-1]
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto", "local": Ray resolves those itself, and fails fast when there is nothing to find
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as err:
        raise UsageError(
            f"--address {address!r}: no Ray cluster answers there ({err.strerror or err}, waited up to "
            f"{CONNECT_TIMEOUT:.0f} s); start one (ray start --head) or check the address, or drop --backend ray."
        ) from None


def connect(config: AuditConfig) -> None:
    """Start or join Ray for ``config`` and check the cluster can run it, before anything is written.

    A cluster address that does not answer, and ``--device cuda`` on a cluster without GPUs, are
    refused with a :class:`UsageError`.
    """
    ray = _import_ray()
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        if config.address:
            _probe(config.address)
            kwargs["address"] = config.address
        else:
            kwargs["num_cpus"] = config.workers or os.cpu_count() or 1
        try:
            ray.init(**kwargs)
        except (ConnectionError, RuntimeError, ValueError) as err:
            raise UsageError(
                f"--address {config.address!r}: could not join the Ray cluster ({str(err).splitlines()[0][:160]}); "
                "check the address or drop --backend ray."
            ) from None
    if config.device.startswith("cuda"):
        resources = ray.cluster_resources()
        if resources.get("GPU", 0) < 1:
            shown = ", ".join(f"{k} {v:g}" for k, v in sorted(resources.items()) if k in ("CPU", "GPU", "memory"))
            raise UsageError(
                f"--device {config.device} with --backend ray needs GPUs, but the Ray cluster has none ({shown}); "
                "use --device cpu or a cluster with GPUs."
            )


def run_cells_ray(prep: Prepared, store: Store) -> tuple[int, int]:
    """Ray counterpart of :func:`robustness.run.engine.run_cells`; returns (skipped, computed).

    Each task takes one CPU, and one GPU when the audit runs on CUDA. When a task fails for good,
    the tasks still pending are cancelled before the error propagates.
    """
    ray = _import_ray()
    config = prep.config
    connect(config)
    gpus = 1 if config.device.startswith("cuda") else 0
    remote = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=MAX_RETRIES)(_work)

    done = store.finished_cells(prep.run_id)
    units: list[Cell | AttackTask | str] = []
    if CLEAN.key not in done:
        units.append(CLEAN.key)
    units += [c for c in prep.plan.corruption_cells if c.key not in done]
    units += [t for t in prep.plan.attack_tasks if any(c.key not in done for c in t.cells)]

    n = len(prep.positions)
    shard_size = config.batch_size * SHARD_BATCHES
    bounds = [(s, min(s + shard_size, n)) for s in range(0, n, shard_size)] or [(0, 0)]
    prep_ref = ray.put(prep)
    pending: dict[Any, tuple[int, int]] = {}
    parts: dict[int, dict[int, tuple[Any, Any, float]]] = {}
    for u, unit in enumerate(units):
        parts[u] = {}
        for s, (start, stop) in enumerate(bounds):
            pending[remote.remote(prep_ref, unit, start, stop)] = (u, s)

    computed = 0
    with progress_bar(total=len(units), desc="audit (ray)", unit="cell") as bar:
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                ref = ready[0]
                u, s = pending.pop(ref)
                parts[u][s] = ray.get(ref)
                if len(parts[u]) < len(bounds):
                    continue
                shards = [parts[u][i] for i in range(len(bounds))]
                computed += _commit_unit(prep, store, units[u], shards)
                del parts[u]
                bar.update(1)
        except BaseException:
            for ref in pending:  # a failed task (or an interrupt) stops the rest of the grid
                ray.cancel(ref, force=True)
            raise
    computed += cells.commit_worst_case(prep, store)
    return len(done), computed


def _commit_unit(prep: Prepared, store: Store, unit: Cell | AttackTask | str, shards: list) -> int:
    seconds = sum(s[2] for s in shards)
    if isinstance(unit, AttackTask):
        return cells.commit_attack(prep, store, unit, cells.AttackOutcome.concat([s[0] for s in shards]), seconds)
    cells.commit_cell(prep, store, CLEAN if unit == CLEAN.key else unit, np.concatenate([s[1] for s in shards]), seconds)
    return 1
