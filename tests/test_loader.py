"""The input loader: worker processes read and corrupt batches ahead of the model; results never
depend on the number of workers."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from robustness import corruptions
from robustness.api import run_audit
from robustness.core.errors import UsageError
from robustness.data import DatasetRequest, load_dataset
from robustness.data.layout import has_canonical_strides
from robustness.data.loader import grid_batches, loader_workers
from robustness.results.store import Store
from robustness.run.config import AuditConfig


def _folder(root: Path, n_per_class: int = 5) -> Path:
    for label, cls in enumerate(("a", "b", "c")):
        (root / cls).mkdir(parents=True)
        for i in range(n_per_class):
            pixels = np.random.default_rng([label, i]).integers(0, 256, (30, 40, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / cls / f"{i}.png")
    return root


def test_grid_batches_are_the_same_for_any_worker_count(tmp_path: Path) -> None:
    dataset = load_dataset(str(_folder(tmp_path / "imgs")), DatasetRequest(input_shape=(3, 24, 24)))
    positions = np.arange(2, 15)
    jobs = [None, corruptions.BatchCorrupter("shot_noise", 4, seed=3), corruptions.BatchCorrupter("rotation", 2, seed=3)]
    runs = {w: list(grid_batches(dataset, positions, 4, jobs, workers=w)) for w in (0, 2)}
    assert [item.job for item in runs[0]] == [0] * 4 + [1] * 4 + [2] * 4, "job-major order, 4 chunks per job"
    for serial, parallel in zip(runs[0], runs[2], strict=True):
        assert serial.job == parallel.job
        assert torch.equal(serial.batch.images, parallel.batch.images)
        assert torch.equal(serial.batch.labels, parallel.batch.labels)
        assert np.array_equal(serial.batch.indices, parallel.batch.indices)
        assert has_canonical_strides(parallel.batch.images)
    clean = torch.cat([item.batch.images for item in runs[2] if item.job == 0])
    direct, _ = dataset.load(positions)
    assert torch.equal(clean, direct)
    shot = torch.cat([item.batch.images for item in runs[2] if item.job == 1])
    assert torch.equal(shot, corruptions.corrupt_batch("shot_noise", direct, 4, dataset.indices[positions], seed=3))


def test_default_worker_count_and_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    assert loader_workers(None) == 8 and loader_workers(0) == 0 and loader_workers(3) == 3
    # a model on the CPU uses every core itself: one default loader process per 8 CPUs
    assert loader_workers(None, model_on_cpu=True) == 2 and loader_workers(3, model_on_cpu=True) == 3
    monkeypatch.setattr("os.cpu_count", lambda: 64)
    assert loader_workers(None) == 8 and loader_workers(None, model_on_cpu=True) == 8
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert loader_workers(None) == 1 and loader_workers(None, model_on_cpu=True) == 0
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    assert loader_workers(None) == 0
    with pytest.raises(UsageError, match="--loader-workers should be 0 .* but got -1"):
        AuditConfig(loader_workers=-1)


def test_audit_bits_do_not_depend_on_loader_workers(tmp_path: Path, digits_weights: str) -> None:
    bits = {}
    for workers in (0, 2):
        config = AuditConfig(
            n=60, corruptions=("glass_blur", "impulse_noise", "rotation"), severities=(3,), attacks=("none",),
            batch_size=16, sanity=False, out=str(tmp_path / f"out{workers}"), loader_workers=workers,
        )  # fmt: skip
        outcome = run_audit(config)
        with Store(outcome.store) as store:
            bits[workers] = store.bits(outcome.run_id)
    assert set(bits[0]) == set(bits[2]) and len(bits[0]) == 4
    for key in bits[0]:
        assert np.array_equal(bits[0][key], bits[2][key]), key


def test_audit_without_corruption_cells_and_resumed(tmp_path: Path) -> None:
    config = AuditConfig(
        model="tests.helpers.toy_models:TutorialRgbNet", dataset="shapes:12", num_classes=8, corruptions=("none",),
        attacks=("none",), sanity=False, out=str(tmp_path / "out"), loader_workers=0, random_weights=True,
    )  # fmt: skip
    assert list(run_audit(config).results["kind"]) == ["clean"]
    with_cells = replace(config, corruptions=("contrast",), severities=(2,))
    first = run_audit(with_cells)
    again = run_audit(with_cells)  # every cell in the store: nothing left to evaluate
    assert first.computed == 2 and again.computed == 0 and again.skipped == 2


_FAULTS_PER_BATCH = """
import resource, sys
import numpy as np
from robustness.data.loader import keep_batch_buffers
kept = keep_batch_buffers() if sys.argv[1] == "keep" else None
if sys.argv[1] == "grid":  # a loader without workers reads in this process: it keeps the buffers too
    from robustness.data import ArrayDataset
    from robustness.data.loader import grid_batches
    tiny = ArrayDataset("tiny", np.zeros((2, 16, 16, 3), np.uint8), np.zeros(2, int), ["0"])
    kept = len(list(grid_batches(tiny, np.arange(2), 2, [None], workers=0))) == 1
x = np.ones((8, 224, 224, 3), dtype=np.uint8)
def batch():  # as a corruption does: the float32 input, the float32 output, the uint8 result
    work = x * np.float32(1 / 255)
    out = work + np.float32(0.1)
    return (out * 255).astype(np.uint8)
for _ in range(3):  # warm up: the first batches map memory either way
    batch()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    batch()
print(kept, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20)
"""


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="glibc allocator behaviour (Linux)")
def test_loader_workers_reuse_batch_buffers_instead_of_faulting_them_in() -> None:
    """A corruption's batch buffers, freed together after each batch, are trimmed off the heap and
    faulted back in on the next batch by default; in a loader worker (keep_batch_buffers), or in a process that
    read batches through a loader without workers, they stay."""
    import subprocess
    import sys

    def faults(mode: str) -> tuple[str, float]:
        out = subprocess.run([sys.executable, "-c", _FAULTS_PER_BATCH, mode], capture_output=True, text=True, check=True)
        kept, per_batch = out.stdout.split()
        return kept, float(per_batch)

    kept, with_setting = faults("keep")
    if kept != "True":
        pytest.skip("no glibc mallopt here")
    _, default = faults("default")
    assert default > 500  # the page faults the setting exists to avoid (~1,700: 10.8 MB / 4 kB pages, per batch)
    assert with_setting < 50
    read_here, after_grid = faults("grid")
    assert read_here == "True" and after_grid < 50
