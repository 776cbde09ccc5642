"""The engine end to end: results, resume, determinism, interruption."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from robustness.api import run_audit
from robustness.run.config import AuditConfig

SMALL = {
    "n": 96,
    "corruptions": ("rotation", "brighten"),
    "severities": (1, 5),
    "attacks": ("fgsm", "pgd_linf"),
    "eps": (0.05, 0.2),
    "eps_l2": (),
    "batch_size": 40,
}


def small_config(tmp_path: Path, **overrides: object) -> AuditConfig:
    return AuditConfig(**{**SMALL, "out": str(tmp_path / "out"), **overrides})  # type: ignore[arg-type]


def test_small_audit_results_are_honest(tmp_path: Path, digits_weights: str) -> None:
    outcome = run_audit(small_config(tmp_path))
    df = outcome.results
    assert set(df["n"]) == {96}
    clean = df.loc[df["kind"] == "clean", "accuracy"].item()
    attacks = df[df["kind"] == "attack"]
    assert (attacks["accuracy"] <= clean).all()
    for _, group in attacks.groupby("perturbation"):
        assert group.sort_values("epsilon")["accuracy"].is_monotonic_decreasing
    worst = attacks[attacks["perturbation"] == "worst_case"].set_index("epsilon")["accuracy"]
    for name in ("fgsm", "pgd_linf"):
        per = attacks[attacks["perturbation"] == name].set_index("epsilon")["accuracy"]
        assert (worst <= per).all()
    assert (df["ci_low"] <= df["accuracy"]).all() and (df["accuracy"] <= df["ci_high"]).all()
    files = {p.name for p in outcome.out_dir.iterdir()}
    assert {"results.csv", "report.md", "run.json"} <= files
    csv = pd.read_csv(outcome.out_dir / "results.csv")
    assert list(csv.columns)[:4] == ["run_id", "model", "dataset", "kind"]
    assert len(csv) == 1 + 2 * 2 + 2 * 2 + 2
    report = (outcome.out_dir / "report.md").read_text()
    assert "## Corruptions" in report and "## Attacks" in report and "worst_case" in report


def test_rerun_resumes_without_duplicates(tmp_path: Path, digits_weights: str) -> None:
    first = run_audit(small_config(tmp_path))
    second = run_audit(small_config(tmp_path))
    assert second.computed == 0 and second.skipped == first.computed
    pd.testing.assert_frame_equal(first.results.drop(columns="seconds"), second.results.drop(columns="seconds"))
    # a changed grid is a new run (its id hashes the grid) and recomputes every cell, the shared ones included
    # (README, "Resume"); deterministic seeding makes the shared cells come out identical
    grown = run_audit(small_config(tmp_path, severities=(1, 3, 5)))
    assert grown.run_id != first.run_id
    assert grown.skipped == 0 and grown.computed == len(grown.results)
    key = ["kind", "perturbation", "severity", "epsilon", "norm"]
    shared = first.results.merge(grown.results, on=key, suffixes=("", "_grown"))
    assert len(shared) == len(first.results)
    assert (shared["correct"] == shared["correct_grown"]).all()


def test_same_seed_twice_gives_identical_results_csv(tmp_path: Path, digits_weights: str) -> None:
    a = run_audit(small_config(tmp_path, out=str(tmp_path / "a")))
    b = run_audit(small_config(tmp_path, out=str(tmp_path / "b")))
    assert a.run_id == b.run_id
    assert (a.out_dir / "results.csv").read_bytes() == (b.out_dir / "results.csv").read_bytes()


def test_batch_size_does_not_change_corruption_results(tmp_path: Path, digits_weights: str) -> None:
    cfg = {"attacks": ("none",)}
    a = run_audit(small_config(tmp_path, out=str(tmp_path / "a"), batch_size=7, **cfg)).results
    b = run_audit(small_config(tmp_path, out=str(tmp_path / "b"), batch_size=96, **cfg)).results
    assert a["correct"].tolist() == b["correct"].tolist()


def _cells(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT COUNT(*) FROM cells").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


@pytest.mark.slow
def test_killed_audit_resumes_to_the_uninterrupted_result(tmp_path: Path, digits_weights: str) -> None:
    args = ["--n", "120", "--corruptions", "lighting,geometric,occlusion", "--severities", "1-5", "--attacks", "fgsm",
            "--eps", "0.1", "--eps-l2", "", "--batch-size", "40"]  # fmt: skip
    killed_out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "robustness", "audit", *args, "--out", str(killed_out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy())
    deadline = time.monotonic() + 240
    while _cells(killed_out / "store.sqlite") < 4:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = _cells(killed_out / "store.sqlite")
    assert not any(killed_out.glob("*/results.csv")), "a killed audit must not leave a report"
    resumed = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
    assert resumed.returncode == 0, resumed.stderr
    assert f"{partial} resumed from the store" in resumed.stdout
    fresh_out = tmp_path / "fresh"
    fresh = subprocess.run([*cmd[:-1], str(fresh_out)], capture_output=True, text=True, env=os.environ.copy())
    assert fresh.returncode == 0, fresh.stderr
    [killed_csv] = killed_out.glob("*/results.csv")
    [fresh_csv] = fresh_out.glob("*/results.csv")
    assert killed_csv.read_bytes() == fresh_csv.read_bytes()
    with sqlite3.connect(killed_out / "store.sqlite") as conn:
        dupes = conn.execute("SELECT COUNT(*) - COUNT(DISTINCT run_id || cell) FROM cells").fetchone()[0]
    assert dupes == 0


@pytest.mark.slow
def test_two_audits_writing_one_store_at_once_lose_nothing(tmp_path: Path, digits_weights: str) -> None:
    store = tmp_path / "shared.sqlite"
    base = [sys.executable, "-m", "robustness", "audit", "--n", "80", "--severities", "1-5", "--attacks", "none",
            "--store", str(store), "--out", str(tmp_path / "out")]  # fmt: skip
    procs = [
        subprocess.Popen([*base, "--corruptions", names], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy())
        for names in ("rotation,brighten", "darken,occlusion_patch")
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()
    with sqlite3.connect(store) as conn:
        per_run = conn.execute("SELECT run_id, COUNT(*) FROM cells GROUP BY run_id").fetchall()
    assert sorted(count for _, count in per_run) == [11, 11]  # clean + 2 corruptions x 5 severities


def test_sanity_checks_count_only_the_samples_a_subset_attack_ran_on(tmp_path: Path, digits_weights: str) -> None:
    from robustness.results.store import Store

    config = small_config(
        tmp_path, corruptions=("none",), attacks=("fgsm", "noise_linf"), attack_params={"noise_linf": {"max_samples": 5}}
    )
    outcome = run_audit(config)
    with Store(outcome.store, readonly=True) as store:
        skipped = store.artifact(outcome.run_id, "skipped/noise_linf")
        clean = store.bits(outcome.run_id)["clean"]
        flags = {f["check"]: f for f in store.artifact(outcome.run_id, "sanity")}
        assert store.artifact(outcome.run_id, "skipped/fgsm") is None  # fgsm ran on every sample
    attacked = clean & ~skipped
    per_batch = [min(5, int(clean[s : s + 40].sum())) for s in range(0, 96, 40)]  # max_samples applies per sweep call
    assert skipped.dtype == bool and not (skipped & ~clean).any() and attacked.sum() == sum(per_batch)
    assert f"of {int(attacked.sum())} attacked samples" in flags["gradient_free_stronger"]["detail"]
    noise = outcome.results[outcome.results["perturbation"] == "noise_linf"]
    assert (noise["extra"].map(lambda e: json.loads(e)["skipped"]) == int(skipped.sum())).all()
    report = (outcome.out_dir / "report.md").read_text()
    assert f"`noise_linf` ran on {int(attacked.sum())} of the {int(clean.sum())} clean-correct samples" in report
