"""Frozen benchmarks: export a corruption grid, then audit from it instead of computing it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robustness.api import run_audit
from robustness.cli.main import main
from robustness.core.errors import UsageError
from robustness.results.store import Store
from robustness.run.config import AuditConfig

GRID = {"n": 48, "corruptions": ("rotation", "gaussian_noise"), "severities": (1, 3, 5), "attacks": ("none",)}


@pytest.mark.parametrize("layout", ["cifar", "imagenet"])
def test_audit_from_exported_set_matches_computed(layout: str, tmp_path: Path, digits_weights: str) -> None:
    frozen = tmp_path / f"digits-c-{layout}"
    assert main(["export-c", "--n", "48", "--corruptions", "rotation,gaussian_noise", "--layout", layout, "--out", str(frozen)]) == 0
    computed = run_audit(AuditConfig(out=str(tmp_path / "a"), **GRID))  # type: ignore[arg-type]
    from_files = run_audit(AuditConfig(out=str(tmp_path / "b"), precomputed=str(frozen), **GRID))  # type: ignore[arg-type]
    assert computed.run_id != from_files.run_id
    with Store(computed.store, readonly=True) as s1, Store(from_files.store, readonly=True) as s2:
        a, b = s1.bits(computed.run_id), s2.bits(from_files.run_id)
    assert set(a) == set(b)
    for cell in a:
        # the files hold uint8 images: rounding may flip a borderline sample, never more than a few
        assert np.mean(a[cell] == b[cell]) >= 0.95, cell


def test_precomputed_labels_must_match_the_dataset(tmp_path: Path, digits_weights: str) -> None:
    frozen = tmp_path / "c"
    frozen.mkdir()
    np.save(frozen / "rotation.npy", np.zeros((5 * 48, 32, 32), np.uint8))
    np.save(frozen / "labels.npy", (np.arange(48) + 1) % 10)
    with pytest.raises(UsageError, match="labels of rotation disagree with the dataset's"):
        run_audit(AuditConfig(out=str(tmp_path / "o"), precomputed=str(frozen), **{**GRID, "corruptions": ("all",)}))  # type: ignore[arg-type]


def test_precomputed_must_hold_the_requested_corruptions(tmp_path: Path) -> None:
    frozen = tmp_path / "c"
    frozen.mkdir()
    np.save(frozen / "rotation.npy", np.zeros((5 * 4, 32, 32), np.uint8))
    np.save(frozen / "labels.npy", np.zeros(4, np.int64))
    with pytest.raises(UsageError, match="not in --precomputed"):
        run_audit(AuditConfig(out=str(tmp_path / "o"), precomputed=str(frozen), **GRID))  # type: ignore[arg-type]
