"""reports.stats: planted differences are significant, null ones are not; hand-written procedures match references.

References: statsmodels (Wilson: ``proportion_confint(method="wilson")``; Holm: ``multipletests(method="holm")``;
exact McNemar: ``contingency_tables.mcnemar(exact=True)``) and the published method-10 rows of Table III of
Newcombe RG (1998), "Improved confidence intervals for the difference between binomial proportions based on
paired data", Statistics in Medicine 17:2635-2650, p. 2641. (Statistics in Medicine 17:873-890, often cited
beside it, is the companion paper on *independent* proportions.)
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest, ttest_1samp

from reports import stats as sig


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
    d, lo, hi = sig.newcombe_interval(better, base)
    assert d == pytest.approx(55 / 400)
    assert lo < d < hi and lo > 0
    d, lo, hi = sig.newcombe_interval(np.ones(30, bool), np.zeros(30, bool))
    assert d == 1.0 and -1.0 <= lo < 1.0 and hi == 1.0
    d, lo, hi = sig.newcombe_interval(np.ones(30, bool), np.ones(30, bool))
    assert d == 0.0 and lo < 0 < hi


def test_paired_interval_rejects_unpaired_outcomes() -> None:
    with pytest.raises(ValueError, match="same shape"):
        sig.newcombe_interval(np.ones(3, bool), np.ones(4, bool))


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
    assert sig.sign_flip_test(np.array([0.0, 0.5, 0.0])) == 1.0  # one signed difference: both sign patterns tie


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


# references ----------------------------------------------------------------------------------
#: Newcombe 1998 (Stat Med 17:2635-2650) Table III, method 10: (both, only_a, only_b, neither) -> 95% limits
NEWCOMBE_TABLE_III = [
    ((36, 12, 2, 0), (0.0569, 0.3404)),
    ((20, 12, 2, 16), (0.0562, 0.3292)),
    ((18, 12, 2, 18), (0.0562, 0.3290)),
    ((36, 14, 0, 0), (0.1528, 0.4167)),
    ((35, 14, 0, 1), (0.1461, 0.4175)),
    ((18, 14, 0, 18), (0.1441, 0.3963)),
    ((2, 97, 1, 0), (0.8721, 0.9854)),
    ((1, 97, 1, 1), (0.8736, 0.9850)),
    ((0, 29, 1, 0), (0.6666, 0.9882)),
    ((2, 98, 0, 0), (0.9178, 0.9945)),
    ((1, 98, 0, 1), (0.9171, 0.9916)),
    ((0, 30, 0, 0), (0.8395, 1.0)),
    ((54, 0, 0, 0), (-0.0664, 0.0664)),
]


def outcomes(both: int, only_a: int, only_b: int, neither: int) -> tuple[np.ndarray, np.ndarray]:
    a = np.r_[np.ones(both + only_a, bool), np.zeros(only_b + neither, bool)]
    b = np.r_[np.ones(both, bool), np.zeros(only_a, bool), np.ones(only_b, bool), np.zeros(neither, bool)]
    return a, b


@pytest.mark.parametrize("table, limits", NEWCOMBE_TABLE_III, ids=[str(t) for t, _ in NEWCOMBE_TABLE_III])
def test_newcombe_matches_the_published_method_10_limits(
    table: tuple[int, int, int, int], limits: tuple[float, float]
) -> None:
    d, lo, hi = sig.newcombe_interval(*outcomes(*table))
    assert d == pytest.approx((table[1] - table[2]) / sum(table))
    assert (lo, hi) == pytest.approx(limits, abs=1.5e-4)  # the paper prints 4 decimals


@pytest.mark.parametrize("n", [1, 7, 40, 333])
def test_wilson_matches_statsmodels(n: int) -> None:
    from statsmodels.stats.proportion import proportion_confint

    k = np.arange(n + 1)
    for confidence in (0.9, 0.95, 0.99):
        lo, hi = sig.wilson_interval(k, n, confidence)
        ref_lo, ref_hi = proportion_confint(k, n, alpha=1 - confidence, method="wilson")
        np.testing.assert_allclose(lo, ref_lo, atol=1e-12)
        np.testing.assert_allclose(hi, ref_hi, atol=1e-12)


def test_holm_matches_statsmodels() -> None:
    from statsmodels.stats.multitest import multipletests

    p = np.random.default_rng(7).random(40) ** 3
    np.testing.assert_allclose(sig.holm(p), multipletests(p, method="holm")[1], atol=1e-12)


@pytest.mark.parametrize("only_a, only_b", [(0, 0), (1, 0), (3, 9), (12, 12), (40, 17)], ids=lambda v: str(v))
def test_mcnemar_matches_statsmodels(only_a: int, only_b: int) -> None:
    from statsmodels.stats.contingency_tables import mcnemar

    a, b = outcomes(11, only_a, only_b, 5)
    reference = mcnemar([[11, only_a], [only_b, 5]], exact=True).pvalue
    assert sig.mcnemar_exact(a, b).p_value == pytest.approx(min(1.0, reference))


def test_mean_interval_is_the_t_interval_of_the_t_test() -> None:
    values = np.random.default_rng(3).random(37)
    mean, lo, hi = sig.mean_interval(values)
    ci = ttest_1samp(values, 0.0).confidence_interval(0.95)
    assert (mean, lo, hi) == pytest.approx((values.mean(), ci.low, ci.high))
    # the interval excludes a value exactly when the t-test rejects it at 5%
    assert ttest_1samp(values, lo - 1e-9).pvalue < 0.05 < ttest_1samp(values, lo + 1e-9).pvalue


def test_bootstrap_is_batched_and_reproducible(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tiny batch budget gives the same replicates in many batches: memory is bounded, numbers unchanged."""
    from reports.stats import paired

    rng = np.random.default_rng(9)
    base = rng.random((4, 150)) < 0.6
    other = rng.random((4, 150)) < 0.7
    whole = sig.bootstrap_difference(other, base, sig.mean_difference, n_boot=300, seed=3)
    monkeypatch.setattr(paired, "BATCH_BYTES", 150 * 40)  # one replicate per batch
    assert paired._batch(150, 40) == 1
    batched = sig.bootstrap_difference(other, base, sig.mean_difference, n_boot=300, seed=3)
    fields = ("estimate", "ci_low", "ci_high", "p_value")
    # the same replicates (matrix products summed in another order differ in the last bits)
    assert [getattr(batched, f) for f in fields] == pytest.approx([getattr(whole, f) for f in fields], rel=1e-12)


def test_sign_flip_is_exact_for_few_samples() -> None:
    # 3 non-zero differences, all positive: 2 of the 2**3 sign patterns reach |mean| -> p = 0.25 exactly
    assert sig.sign_flip_test(np.array([0.2, 0.5, 0.1, 0.0])) == pytest.approx(0.25)


def test_bootstrap_resamples_samples_not_cells() -> None:
    """The interval's width is that of the mean per-sample difference (resampling cells would be far off)."""
    rng = np.random.default_rng(11)
    base = rng.random((5, 400)) < 0.5
    other = rng.random((5, 400)) < 0.6
    diff = sig.bootstrap_difference(other, base, sig.mean_difference, n_boot=2000, seed=1)
    per_sample = other.mean(0) - base.mean(0)
    expected = 2 * 1.96 * per_sample.std(ddof=1) / np.sqrt(per_sample.size)
    assert diff.ci_high - diff.ci_low == pytest.approx(expected, rel=0.15)
    assert diff.estimate == pytest.approx(per_sample.mean())
