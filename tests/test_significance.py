"""Paired statistics: planted differences are significant, null ones are not."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from reports import significance as sig


def planted(
    n: int = 400, acc: float = 0.6, flips: int = 60, back: int = 5, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Baseline outcomes and a model that fixes ``flips`` of its errors and breaks ``back`` of its successes."""
    rng = np.random.default_rng(seed)
    base = rng.random(n) < acc
    better = base.copy()
    wrong, right = np.flatnonzero(~base), np.flatnonzero(base)
    better[rng.choice(wrong, flips, replace=False)] = True
    better[rng.choice(right, back, replace=False)] = False
    return base, better


def null_pair(n: int = 400, acc: float = 0.6, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Two models with the same accuracy whose errors fall on different samples at random."""
    rng = np.random.default_rng(seed)
    return rng.random(n) < acc, rng.random(n) < acc


def test_mcnemar_planted_difference_is_significant() -> None:
    base, better = planted()
    result = sig.mcnemar_exact(better, base)
    assert (result.only_a, result.only_b) == (60, 5)
    assert result.p_value < 1e-6


def test_mcnemar_null_is_not_significant() -> None:
    a, b = null_pair()
    assert sig.mcnemar_exact(a, b).p_value > 0.05


@pytest.mark.parametrize("only_a, only_b", [(0, 0), (3, 0), (7, 2), (10, 10), (25, 40)], ids=lambda v: str(v))
def test_mcnemar_matches_binomial_test(only_a: int, only_b: int) -> None:
    a = np.r_[np.ones(only_a, bool), np.zeros(only_b, bool), np.ones(20, bool)]
    b = np.r_[np.zeros(only_a, bool), np.ones(only_b, bool), np.ones(20, bool)]
    result = sig.mcnemar_exact(a, b)
    expected = 1.0 if only_a + only_b == 0 else binomtest(only_a, only_a + only_b, 0.5).pvalue
    assert result.p_value == pytest.approx(expected)
    assert sig.mcnemar_exact(b, a).p_value == pytest.approx(result.p_value)


def test_paired_interval_covers_the_difference_and_stays_in_range() -> None:
    base, better = planted()
    d, lo, hi = sig.paired_interval(better, base)
    assert d == pytest.approx(55 / 400)
    assert lo < d < hi and lo > 0
    d, lo, hi = sig.paired_interval(np.ones(30, bool), np.zeros(30, bool))
    assert d == 1.0 and -1.0 <= lo < 1.0 and hi == 1.0
    d, lo, hi = sig.paired_interval(np.ones(30, bool), np.ones(30, bool))
    assert d == 0.0 and lo < 0 < hi


def test_paired_interval_rejects_unpaired_outcomes() -> None:
    with pytest.raises(ValueError, match="same shape"):
        sig.paired_interval(np.ones(3, bool), np.ones(4, bool))


def test_bootstrap_aggregate_planted_vs_null() -> None:
    rng = np.random.default_rng(2)
    base = rng.random((6, 300)) < 0.6
    better = base | (rng.random((6, 300)) < 0.3)
    diff = sig.bootstrap_difference(better, base, sig.mean_difference, n_boot=1000)
    assert diff.ci_low > 0 and diff.significant
    other = rng.random((6, 300)) < 0.6
    null = sig.bootstrap_difference(other, base, sig.mean_difference, n_boot=1000)
    assert null.ci_low < 0 < null.ci_high and not null.significant


def test_mce_aggregate_is_100_for_the_baseline_and_lower_for_fewer_errors() -> None:
    rng = np.random.default_rng(3)
    base = rng.random((10, 200)) < 0.7
    groups = np.repeat(np.arange(5), 2)
    mce = sig.mce_aggregate(groups)
    same = sig.bootstrap_difference(base, base, mce, n_boot=200, null=100.0)
    assert same.estimate == pytest.approx(100.0) and same.ci_low == pytest.approx(100.0)
    better = base | (rng.random((10, 200)) < 0.5)
    result = sig.bootstrap_difference(better, base, mce, n_boot=500, null=100.0)
    assert result.estimate < 100 and result.ci_high < 100 and result.significant


def test_sign_flip_planted_vs_null() -> None:
    rng = np.random.default_rng(4)
    assert sig.sign_flip_test(0.2 + 0.1 * rng.standard_normal(200), n_perm=2000) < 0.01
    assert sig.sign_flip_test(rng.standard_normal(200), n_perm=2000) > 0.05
    assert sig.sign_flip_test(np.zeros(10)) == 1.0


def test_holm_adjustment() -> None:
    assert sig.holm([0.01, 0.04, 0.03]).tolist() == pytest.approx([0.03, 0.06, 0.06])
    assert sig.holm([0.5]).tolist() == [0.5]


@pytest.mark.parametrize(
    "different, expected",
    [
        (set(), {"x": "a", "y": "a", "z": "a"}),
        ({frozenset({"x", "z"})}, {"x": "a", "y": "ab", "z": "b"}),
        ({frozenset({"x", "y"}), frozenset({"x", "z"}), frozenset({"y", "z"})}, {"x": "a", "y": "b", "z": "c"}),
        ({frozenset({"x", "y"}), frozenset({"x", "z"})}, {"x": "a", "y": "b", "z": "b"}),
    ],
    ids=["none", "ends", "all", "top"],
)
def test_compact_letters(different: set[frozenset[str]], expected: dict[str, str]) -> None:
    assert sig.compact_letters(["x", "y", "z"], different) == expected


def test_rank_groups_separates_planted_and_joins_null() -> None:
    base, better = planted()
    _, twin = null_pair(acc=float(base.mean()), seed=5)
    frame = sig.rank_groups({"base": base, "better": better, "twin": twin})
    groups = dict(zip(frame["model"], frame["group"]))
    assert frame["model"].iloc[0] == "better"
    assert set(groups["better"]).isdisjoint(groups["base"])
    assert set(groups["base"]) & set(groups["twin"])


def test_rank_groups_validates_test() -> None:
    with pytest.raises(ValueError, match="test should be"):
        sig.rank_groups({"a": np.ones(3, bool)}, test="t")
