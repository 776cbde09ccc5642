"""Calibration and per-class differences between compared runs: planted differences are found, equal runs are not."""

from __future__ import annotations

import numpy as np
import pandas as pd

from reports.explain_compare import calibration_differences, comparison_lines, comparison_pools, per_class_differences
from robustness.results.outputs import pack_outputs

N, K = 600, 4


def records(confidence: np.ndarray, correct: np.ndarray, labels: np.ndarray) -> np.ndarray:
    prediction = np.where(correct, labels, (labels + 1) % K)
    return pack_outputs(prediction, confidence, -np.log(np.where(correct, confidence, 0.01)), K)


def planted_runs() -> tuple[np.ndarray, dict, dict]:
    rng = np.random.default_rng(0)
    labels = np.arange(N) % K
    conf = rng.uniform(0.3, 1.0, N)
    calibrated = rng.uniform(size=N) < conf  # right with probability = confidence
    overconfident = np.minimum(conf + 0.3, 1.0)  # the same predictions, 30 points surer
    fails_two = calibrated & (labels != 2)  # the contender loses class 2 under corruption
    outputs = {
        "base": {"clean": records(conf, calibrated, labels), "corruption/x/1": records(conf, calibrated, labels)},
        "sure": {"clean": records(overconfident, calibrated, labels), "corruption/x/1": records(conf, fails_two, labels)},
    }
    bits = {run: {cell: rec["prediction"] == labels for cell, rec in cells.items()} for run, cells in outputs.items()}
    return labels, outputs, bits


def test_overconfident_contender_has_a_higher_ece_with_an_interval_above_zero() -> None:
    labels, outputs, _ = planted_runs()
    table = calibration_differences(labels, outputs, {"clean": ["clean"]}, n_boot=300).set_index("run")
    assert table.loc["base", "ece"] < 0.06 and table.loc["base", "difference"] == 0
    sure = table.loc["sure"]
    assert sure["ece"] > 0.2 and sure["diff_low"] > 0.1, "the planted +30 point overconfidence is detected"
    assert sure["ci_low"] <= sure["ece"] <= sure["ci_high"]


def test_per_class_difference_finds_the_failing_class_only() -> None:
    labels, _, bits = planted_runs()
    table = per_class_differences(labels, bits, {"clean": ["clean"], "corr": ["corruption/x/1"]}, n_boot=300)
    sure = table[table["run"] == "sure"].set_index(["pool", "class"])
    clear = sure[(sure["diff_low"] > 0) | (sure["diff_high"] < 0)]
    assert list(clear.index) == [("corr", 2)], "only class 2 under the corruption differs"
    assert sure.loc[("corr", 2), "accuracy"] == 0
    lines = "\n".join(comparison_lines(calibration_differences(labels, planted_runs()[1], {"clean": ["clean"]},
                                                               n_boot=100), table))  # fmt: skip
    assert "## Calibration" in lines and "| corr | 2 | sure |" in lines


def test_pools_come_from_the_shared_cells() -> None:
    cells = pd.DataFrame(
        {
            "cell": ["clean", "corruption/fog/1", "corruption/rotation/1", *[f"attack/worst_case/linf/{e}" for e in (0.1, 0.2, 0.3)]],
            "kind": ["clean", "corruption", "corruption", "attack", "attack", "attack"],
            "family": ["clean", "weather", "geometric", "attack", "attack", "attack"],
            "perturbation": ["clean", "fog", "rotation", "worst_case", "worst_case", "worst_case"],
            "norm": [None, None, None, "linf", "linf", "linf"],
            "epsilon": [np.nan, np.nan, np.nan, 0.1, 0.2, 0.3],
        }
    )
    pools = comparison_pools(cells, "weather")
    assert pools["weather (worst family)"] == ["corruption/fog/1"]
    assert pools["linf worst case ε 0.2"] == ["attack/worst_case/linf/0.2"]
    assert len(pools["corruptions (all cells)"]) == 2
