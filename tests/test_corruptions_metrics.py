"""Corruption accuracy, per-family means, CE, mCE, relative and unnormalized mCE."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reports import corruption_metrics as metrics
from robustness.core.errors import UsageError

FAMILY = {
    "gaussian_noise": "noise", "shot_noise": "noise", "impulse_noise": "noise", "defocus_blur": "blur",
    "glass_blur": "blur", "motion_blur": "blur", "zoom_blur": "blur", "snow": "weather", "frost": "weather",
    "fog": "weather", "brightness": "digital", "contrast": "digital", "elastic_transform": "digital",
    "pixelate": "digital", "jpeg_compression": "digital",
}  # fmt: skip


def results(errors: dict[str, float], clean_error: float, *, extra: dict[str, float] | None = None) -> pd.DataFrame:
    """A tidy results table with the given mean error per corruption at every severity."""
    clean = {"kind": "clean", "perturbation": "clean", "family": "clean", "severity": None, "accuracy": 1 - clean_error}
    rows = [clean]
    for name, error in {**errors, **(extra or {})}.items():
        for severity in range(1, 6):
            rows.append(
                {
                    "kind": "corruption",
                    "perturbation": name,
                    "family": FAMILY.get(name, "lighting"),
                    "severity": severity,
                    "accuracy": 1 - error,
                }
            )
    rows.append({"kind": "attack", "perturbation": "pgd_linf", "family": "attack", "severity": None, "accuracy": 0.0})
    return pd.DataFrame(rows)


def test_alexnet_errors_give_mce_100() -> None:
    alexnet = results(dict(metrics.ALEXNET_ERRORS), metrics.ALEXNET_CLEAN_ERROR)
    assert metrics.mce(alexnet) == pytest.approx(100.0)
    assert metrics.relative_mce(alexnet) == pytest.approx(100.0)
    assert metrics.unnormalized_mce(alexnet) == pytest.approx(100 * np.mean(list(metrics.ALEXNET_ERRORS.values())))


def test_half_the_errors_give_mce_50() -> None:
    half = results({k: v / 2 for k, v in metrics.ALEXNET_ERRORS.items()}, metrics.ALEXNET_CLEAN_ERROR / 2)
    assert metrics.mce(half) == pytest.approx(50.0)
    assert metrics.relative_mce(half) == pytest.approx(50.0)


def test_ce_uses_per_severity_errors() -> None:
    table = results(dict(metrics.ALEXNET_ERRORS), 0.2)
    fog = table["perturbation"] == "fog"
    table.loc[fog, "accuracy"] = 1 - np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    ces = metrics.corruption_errors(table).set_index("perturbation")
    assert ces.at["fog", "ce"] == pytest.approx(100 * 1.5 / (5 * metrics.ALEXNET_ERRORS["fog"]))
    assert ces.at["fog", "relative_ce"] == pytest.approx(
        100 * (0.3 - 0.2) / (metrics.ALEXNET_ERRORS["fog"] - metrics.ALEXNET_CLEAN_ERROR)
    )


def test_baseline_from_a_stored_run() -> None:
    model = results({k: 0.5 for k in metrics.ALEXNET_ERRORS}, 0.1)
    baseline = results({k: 0.25 for k in metrics.ALEXNET_ERRORS}, 0.05)
    assert metrics.mce(model, baseline) == pytest.approx(200.0)
    assert metrics.relative_mce(model, baseline) == pytest.approx(200.0)
    assert metrics.mce(model, model) == pytest.approx(100.0)


def test_accuracy_means_and_families() -> None:
    table = results({"gaussian_noise": 0.4, "fog": 0.2}, 0.1, extra={"rotation": 0.3})
    assert metrics.corruption_accuracy(table) == pytest.approx(np.mean([0.6, 0.8, 0.7]))
    families = metrics.family_accuracy(table).set_index("family")
    assert families.at["noise", "accuracy"] == pytest.approx(0.6)
    assert families.at["weather", "accuracy"] == pytest.approx(0.8)
    assert families.at["lighting", "cells"] == 5
    grid = metrics.accuracy_table(table)
    assert list(grid.columns) == [1, 2, 3, 4, 5, "mean"]
    assert grid.at["fog", "mean"] == pytest.approx(0.8)


def test_mce_needs_all_benchmark_corruptions() -> None:
    partial = results({"gaussian_noise": 0.4}, 0.1)
    with pytest.raises(UsageError, match=r"mCE needs all 15 ImageNet-C benchmark corruptions.*shot_noise"):
        metrics.mce(partial)
    summary = metrics.summary(partial).set_index("metric")
    assert np.isnan(summary.at["mCE", "value"])
    assert summary.at["corruption accuracy", "value"] == pytest.approx(0.6)


def test_summary_labels_unnormalized_mce() -> None:
    summary = metrics.summary(results(dict(metrics.ALEXNET_ERRORS), metrics.ALEXNET_CLEAN_ERROR)).set_index("metric")
    assert summary.at["mCE", "value"] == pytest.approx(100.0)
    assert "NOT normalised" in summary.at["unnormalized mCE", "note"]
    assert "AlexNet" in summary.at["mCE", "note"]


def test_missing_columns_rejected() -> None:
    with pytest.raises(UsageError, match=r"results should have columns .* severity is missing"):
        metrics.corruption_accuracy(pd.DataFrame({"kind": [], "perturbation": [], "family": [], "accuracy": []}))


def test_relative_metrics_need_clean_row() -> None:
    table = results(dict(metrics.ALEXNET_ERRORS), 0.1)
    with pytest.raises(UsageError, match=r"no clean row"):
        metrics.relative_mce(table[table["kind"] != "clean"], metrics.Baseline.from_results(table))


def test_alexnet_normalises_only_runs_over_all_five_severities() -> None:
    half = results({c: e / 2 for c, e in metrics.ALEXNET_ERRORS.items()}, 0.1)
    mild = half[half["severity"].isna() | half["severity"].isin([1, 2])]
    errors = metrics.corruption_errors(mild)
    assert errors["ce"].isna().all()  # AlexNet's means cover severities 1-5: no CE rather than a flattering one
    with pytest.raises(UsageError, match="--severities 1-5"):
        metrics.mce(mild)
    assert metrics.mce(half) == pytest.approx(50.0)


@pytest.mark.parametrize(("side", "normalised"), [(32, False), (224, True)])
def test_reports_normalise_by_alexnet_only_at_imagenet_scale(side: int, normalised: bool) -> None:
    from robustness.results.records import corruption_metrics

    table = results({c: e / 2 for c, e in metrics.ALEXNET_ERRORS.items()}, 0.1)
    record = {"info": {"model": {"input_shape": [3, side, side]}}}
    found, note = corruption_metrics(table, record)
    assert found is not None and note == ""
    values = found.summary.set_index("metric")
    assert np.isfinite(values.loc["mCE", "value"]) == normalised
    assert np.isfinite(values.loc["unnormalized mCE", "value"])
    if not normalised:
        assert "CIFAR-10-C" in values.loc["mCE", "note"] and found.errors["ce"].isna().all()
