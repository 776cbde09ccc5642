"""The Ray backend gives the local backend's results, cell by cell, and survives a dead worker."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from robustness.api import run_audit
from robustness.results.store import Store
from robustness.run.config import AuditConfig

ray = pytest.importorskip("ray", reason="Ray is an optional extra (pip install 'robustness-suite[ray]')")

ROOT = Path(__file__).resolve().parents[1]
GRID = {
    "n": 120,
    "corruptions": ("rotation", "occlusion_patch", "brighten"),
    "severities": (1, 4),
    "attacks": ("fgsm", "pgd_linf"),
    "eps": (0.05, 0.15),
    "eps_l2": (),
    "batch_size": 10,  # several shards per cell
}


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory: pytest.TempPathFactory):
    """A local Ray with 2 CPUs; workers inherit the environment set here (importable tests, crash marker)."""
    marker = tmp_path_factory.mktemp("ray") / "crashed"
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "CRASH_ONCE_MARKER")}
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), saved["PYTHONPATH"]]))
    os.environ["CRASH_ONCE_MARKER"] = str(marker)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield marker
    ray.shutdown()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _bits(outcome) -> dict:
    with Store(outcome.store, readonly=True) as store:
        return store.bits(outcome.run_id)


@pytest.mark.slow
def test_ray_backend_matches_local_cell_by_cell(tmp_path: Path, digits_weights: str, local_ray: Path) -> None:
    local = run_audit(AuditConfig(out=str(tmp_path / "local"), **GRID))  # type: ignore[arg-type]
    distributed = run_audit(AuditConfig(out=str(tmp_path / "ray"), backend="ray", **GRID))  # type: ignore[arg-type]
    assert local.run_id == distributed.run_id
    a, b = _bits(local), _bits(distributed)
    assert set(a) == set(b) and len(a) == 1 + 3 * 2 + 2 * 2 + 2
    for cell in a:
        assert (a[cell] == b[cell]).all(), cell
    cols = ["cell", "n", "correct", "accuracy"]
    assert local.results[cols].equals(distributed.results[cols])


@pytest.mark.slow
def test_ray_backend_matches_local_for_a_dithered_defense(
    tmp_path: Path, digits_weights: str, local_ray: Path
) -> None:
    """A random transform (EOT in the attacks) travels to the workers and draws the local backend's noise."""
    grid = {**GRID, "n": 60, "corruptions": ("rotation",), "severities": (2,), "attacks": ("pgd_linf",),
            "attack_params": {"pgd_linf": {"steps": 3}}, "defense": "bit-depth",
            "defense_params": {"bits": 2, "dither": 1.0}}  # fmt: skip
    local = run_audit(AuditConfig(out=str(tmp_path / "local"), **grid))  # type: ignore[arg-type]
    distributed = run_audit(AuditConfig(out=str(tmp_path / "ray"), backend="ray", **grid))  # type: ignore[arg-type]
    a, b = _bits(local), _bits(distributed)
    assert set(a) == set(b) and all((a[cell] == b[cell]).all() for cell in a)


@pytest.mark.slow
def test_a_dead_worker_is_retried(tmp_path: Path, local_ray: Path) -> None:
    marker = local_ray
    config = AuditConfig(
        model="tests.helpers.toy_models:CrashOnceNet", corruptions=("rotation",), severities=(1,),
        attacks=("none",), n=40, backend="ray", out=str(tmp_path / "out"), random_weights=True,
    )  # fmt: skip
    outcome = run_audit(config)
    assert marker.exists(), "the worker should have crashed once"
    assert set(outcome.results["n"]) == {40}
    assert len(outcome.results) == 2


def test_cuda_on_a_cluster_without_gpus_is_refused(tmp_path: Path, local_ray: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from robustness.cli.main import main

    out = tmp_path / "out"
    code = main(["audit", "--backend", "ray", "--device", "cuda", "--n", "8", "--corruptions", "none",
                 "--attacks", "none", "--out", str(out)])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "--device cuda with --backend ray needs GPUs, but the Ray cluster has none (CPU 2" in err
    assert not out.exists()


@pytest.mark.slow
def test_a_failed_task_cancels_the_pending_ones(tmp_path: Path, local_ray: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cancelled = []
    monkeypatch.setattr(ray, "cancel", lambda ref, **kwargs: cancelled.append(ref))
    config = AuditConfig(
        model="tests.helpers.toy_models:FailsOnWorkersNet", corruptions=("rotation", "brighten"), severities=(1, 2, 3),
        attacks=("none",), n=40, batch_size=5, backend="ray", out=str(tmp_path / "out"), random_weights=True,
    )  # fmt: skip
    with pytest.raises(Exception, match="FailsOnWorkersNet fails on Ray workers"):
        run_audit(config)
    assert cancelled, "the tasks still pending should have been cancelled"
    with Store(config.store_path(), readonly=True) as store:
        assert all(not store.finished_cells(run_id) for run_id in store.run_ids())
