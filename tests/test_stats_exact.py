"""reports.stats, exactly: defaults, edge cases, tie handling and the numbers behind intervals and p-values.

Written for the mutants that survived the complete mutation run of the ``statistics`` target (TESTING.md,
"Mutation testing"). Every expected value is independent of the code under test: a published example
(Fagerland, Lydersen & Laake 2017, Cavo et al. 2012; Newcombe 1998 Table III), scipy (``binomtest``'s Wilson
interval), a count over all sign patterns, Holm's rule worked by hand, or the documented definition of a
bootstrap interval and p-value applied to the replicates the user's aggregate returned. Defaults are pinned
by "the default call equals the explicit documented value and differs from another value".
"""

from __future__ import annotations

import itertools
import tracemalloc
import warnings

import numpy as np
import pytest
from scipy.stats import binomtest

from reports import stats as sig
from reports.stats import multiple, paired
from tests.test_stats import outcomes as table_outcomes  # per-sample outcomes of a paired 2x2 table

# Cavo et al. (2012) in Fagerland, Lydersen & Laake (2017), ch. 8: n = [[59, 6], [16, 80]]; the book prints
# the Newcombe (method 10) interval -0.1186 to -0.0046 for the difference -10/161, and the exact McNemar
# P = 0.052479.
CAVO_2012 = (59, 6, 16, 80)


def exact_sign_flip_p(d: np.ndarray) -> float:
    """Share of all 2**n sign patterns of the non-zero differences whose |sum| reaches the observed |sum|."""
    d = d[d != 0]
    signs = np.array(list(itertools.product([1.0, -1.0], repeat=d.size)))
    return float(np.mean(np.abs(signs @ d) >= abs(d.sum())))


# one-sample intervals ------------------------------------------------------------------------


def test_wilson_interval_counts_beyond_2_to_the_31() -> None:
    """Counts pooled over many cells can pass 2**31: the interval is scipy's Wilson interval, not an int64
    overflow (4 * n**2 wraps to 0 in int64 at n = 2**31, which would give [0, 1])."""
    low, high = sig.wilson_interval(np.array([2**30, 3]), np.array([2**31, 10]))
    for k, n, lo, hi in zip([2**30, 3], [2**31, 10], low, high):
        ref = binomtest(k, n).proportion_ci(0.95, method="wilson")
        assert (lo, hi) == pytest.approx((ref.low, ref.high), abs=1e-12)


def test_wilson_interval_is_silent_on_empty_cells() -> None:
    """A table with empty cells (n = 0) gets [0, 1] there without numpy's divide/invalid warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        low, high = sig.wilson_interval(np.array([0, 3, 0]), np.array([0, 10, 0]))
    assert low[[0, 2]].tolist() == [0.0, 0.0] and high[[0, 2]].tolist() == [1.0, 1.0]
    ref = binomtest(3, 10).proportion_ci(0.95, method="wilson")
    assert (low[1], high[1]) == pytest.approx((ref.low, ref.high), abs=1e-12)


def test_mean_interval_of_values_without_spread_has_zero_width() -> None:
    """Documented: no spread gives a zero-width interval, quietly: a model that survives every sample (all 1.0)
    is common, and scipy's t-test on constant data warns of "catastrophic cancellation"."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sig.mean_interval(np.ones(5)) == (1.0, 1.0, 1.0)
        assert sig.mean_interval(np.array([0.75, 0.75, 0.75])) == (0.75, 0.75, 0.75)
        assert sig.mean_interval(np.array([0.0, 0.0, np.nan])) == (0.0, 0.0, 0.0)


# paired tests and intervals for one cell -----------------------------------------------------


def test_compare_cell_reproduces_the_published_example() -> None:
    """compare_cell = Newcombe's interval + the exact McNemar p-value, at 95% by default (the book's numbers)."""
    a, b = table_outcomes(*CAVO_2012)
    result = sig.compare_cell(a, b)
    assert result.estimate == pytest.approx(-10 / 161)
    assert (round(result.ci_low, 4), round(result.ci_high, 4)) == (-0.1186, -0.0046)
    assert result.p_value == pytest.approx(0.052479, abs=5e-7)
    assert result.method == "newcombe+mcnemar" and not result.significant
    assert sig.mcnemar_p(a, b) == pytest.approx(0.052479, abs=5e-7)
    assert sig.compare_cell(a, b, confidence=0.95) == result
    wide = sig.compare_cell(a, b, confidence=0.99)
    assert wide.ci_low < result.ci_low and wide.ci_high > result.ci_high and wide.p_value == result.p_value
    flipped = sig.compare_cell(b, a)  # B minus A: the mirror image, the same p-value
    assert (flipped.estimate, flipped.ci_low, flipped.ci_high) == pytest.approx(
        (-result.estimate, -result.ci_high, -result.ci_low)
    )


def test_newcombe_counts_defaults_to_95_percent() -> None:
    """From the 2x2 counts directly, with the default confidence: Newcombe (1998) Table III, method 10."""
    assert sig.newcombe_counts(20, 12, 2, 16) == pytest.approx((0.2, 0.0562, 0.3292), abs=1.5e-4)
    assert sig.newcombe_counts(36, 14, 0, 0) == pytest.approx((0.28, 0.1528, 0.4167), abs=1.5e-4)
    assert sig.newcombe_counts(20, 12, 2, 16) == sig.newcombe_counts(20, 12, 2, 16, confidence=0.95)


def test_right_wrong_outcomes_given_as_0_and_1_floats() -> None:
    """Outcomes stored as 0.0 / 1.0 (a CSV column, a mean over one trial) are right/wrong flags like booleans."""
    a, b = table_outcomes(*CAVO_2012)
    assert sig.mcnemar_exact(a.astype(float), b.astype(float)) == sig.mcnemar_exact(a, b)
    assert sig.newcombe_interval(a.astype(float), b.astype(float)) == sig.newcombe_interval(a, b)


# paired bootstrap ----------------------------------------------------------------------------


def recording(aggregate: sig.Aggregate) -> tuple[sig.Aggregate, list[np.ndarray]]:
    """The user's aggregate, recording what it returns: the estimate first, then the replicates batch by batch."""
    calls: list[np.ndarray] = []

    def spy(acc_a: np.ndarray, acc_b: np.ndarray) -> np.ndarray:
        out = aggregate(acc_a, acc_b)
        calls.append(np.array(out, dtype=float))
        return out

    return spy, calls


def bootstrap_p(finite: np.ndarray, null: float) -> float:
    """The documented p-value: twice the smaller share of replicates at or beyond ``null``, +1 corrected, at most 1."""
    below = (np.count_nonzero(finite <= null) + 1) / (finite.size + 1)
    above = (np.count_nonzero(finite >= null) + 1) / (finite.size + 1)
    return min(1.0, 2 * min(below, above))


def check_against_replicates(bits_a, bits_b, aggregate, n_boot: int, confidence: float, seed: int = 0):
    """Run the bootstrap with the aggregate recorded; check the interval and p-values of several nulls
    (attained replicate values in both tails and the median, where ties decide the count) against the
    definitions applied to the recorded replicates. Returns the finite replicates."""
    spy, calls = recording(aggregate)
    result = sig.bootstrap_difference(bits_a, bits_b, spy, n_boot=n_boot, seed=seed, confidence=confidence)
    reps = np.concatenate(calls[1:])
    assert reps.size == n_boot  # the first call is the estimate on the full sample, the rest are the replicates
    finite = np.sort(reps[np.isfinite(reps)])
    tail = (1 - confidence) / 2
    assert (result.ci_low, result.ci_high) == pytest.approx(tuple(np.quantile(finite, [tail, 1 - tail])), abs=1e-12)
    assert result.estimate == pytest.approx(float(calls[0][0]))
    assert result.method == "paired bootstrap"
    for null in (finite[finite.size // 10], finite[finite.size // 2], finite[(9 * finite.size) // 10]):
        spy, calls = recording(aggregate)
        tested = sig.bootstrap_difference(bits_a, bits_b, spy, n_boot=n_boot, seed=seed, null=float(null))
        assert np.array_equal(np.concatenate(calls[1:]), reps, equal_nan=True)  # the null does not move the replicates
        assert tested.p_value == pytest.approx(bootstrap_p(finite, float(null)), abs=1e-12)
    return finite


@pytest.mark.parametrize("confidence", [0.95, 0.8])
def test_bootstrap_interval_and_p_value_are_those_of_the_replicates(confidence: float) -> None:
    """The percentile interval of the replicates the aggregate returned, at the requested confidence, and the
    two-sided +1-corrected p-value of each null, ties counted on both sides (30 samples: many tied replicates)."""
    rng = np.random.default_rng(5)
    a, b = rng.random((2, 30)) < 0.6, rng.random((2, 30)) < 0.5
    finite = check_against_replicates(a, b, sig.mean_difference, n_boot=400, confidence=confidence)
    assert finite.size == 400
    assert np.unique(finite).size < 100  # discrete replicates: the nulls above are tied values


# numpy's "mean of empty slice" for a replicate whose every corruption is left out, and scipy noting it could not
# compute a BCa interval (which the percentile interval used here does not need)
@pytest.mark.filterwarnings("ignore:Mean of empty slice:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:The BCa confidence interval cannot be calculated")
def test_bootstrap_leaves_out_undefined_replicates() -> None:
    """An mCE (one corruption, 4 cells) whose baseline errs twice in all: replicates that draw neither erring sample
    are undefined (x / 0) and are left out of the interval and the p-value (not counted as extreme, not turned
    into nan limits). 16 samples: accuracies are multiples of 1/16, exact in binary, so "no error" is exactly 0
    here (the test below covers an n where 1/n is inexact)."""
    baseline = np.ones((4, 16), bool)
    baseline[0, 3] = baseline[1, 8] = False
    model = np.random.default_rng(0).random((4, 16)) < 0.8
    finite = check_against_replicates(model, baseline, sig.mce_aggregate([0, 0, 0, 0]), n_boot=300, confidence=0.9)
    assert 0 < finite.size < 300
    assert np.unique(finite).size > 20  # enough distinct values that the interval's quantile levels matter
    # a defined replicate is 100 * (errors of A) / (errors of B) on the drawn samples, B erring at least once
    assert finite.min() >= 0 and finite.max() <= 100 * 4 * 16


@pytest.mark.filterwarnings("ignore:Mean of empty slice:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:The BCa confidence interval cannot be calculated")
def test_mce_bootstrap_leaves_out_replicates_without_baseline_errors_whatever_n() -> None:
    """The same rule as above with 20 samples: an mCE is a ratio of error counts, so no defined replicate can be
    negative or above 100 * n; a replicate whose baseline makes no error must be left out, not be huge. (Found
    by this test: replicate accuracies summed as counts @ (bits / n) left "no baseline error" at 1 - acc =
    +-2.2e-16 when 1/n is inexact, and the ratio at +-4.5e17.)"""
    baseline = np.ones((2, 20), bool)
    baseline[0, 3] = baseline[1, 8] = False
    model = np.ones((2, 20), bool)
    model[1, 8] = model[0, 5] = False
    result = sig.bootstrap_difference(model, baseline, sig.mce_aggregate([0, 0]), n_boot=300, null=100.0)
    assert 0 <= result.ci_low <= result.ci_high <= 100 * 20


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy's "mean of empty slice" for the nan estimates
def test_bootstrap_without_any_defined_replicate_or_sample() -> None:
    """No samples, or a baseline that never errs (every mCE replicate undefined): nan estimate and interval,
    p = 1, the method still named."""
    for a, b, aggregate in [
        (np.zeros((3, 0), bool), np.zeros((3, 0), bool), sig.mean_difference),
        (np.zeros((2, 16), bool), np.ones((2, 16), bool), sig.mce_aggregate([0, 1])),  # exact: see above
    ]:
        result = sig.bootstrap_difference(a, b, aggregate, n_boot=50)
        assert np.isnan([result.estimate, result.ci_low, result.ci_high]).all()
        assert result.p_value == 1.0 and not result.significant
        assert result.method == "paired bootstrap"


def test_bootstrap_defaults_are_2000_replicates_seed_0() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.random((2, 30)) < 0.6, rng.random((2, 30)) < 0.5
    default = sig.bootstrap_difference(a, b, sig.mean_difference)
    assert default == sig.bootstrap_difference(a, b, sig.mean_difference, n_boot=2000, seed=0)
    assert default == sig.bootstrap_difference(a, b, sig.mean_difference, n_boot=2000, seed=0, confidence=0.95)
    assert default != sig.bootstrap_difference(a, b, sig.mean_difference, n_boot=2001, seed=0)
    assert default != sig.bootstrap_difference(a, b, sig.mean_difference, n_boot=2000, seed=1)


def test_bootstrap_and_sign_flip_memory_stays_within_the_batch_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """BATCH_BYTES bounds what one batch of replicates holds: with a 1 MiB budget, 4000 bootstrap replicates
    of 300 samples (about 40 MiB if held at once) and 3000 sign patterns of 300 differences (about 50 MiB)
    peak at a few MiB."""
    monkeypatch.setattr(paired, "BATCH_BYTES", 2**20)
    rng = np.random.default_rng(5)
    a, b = rng.random((3, 300)) < 0.6, rng.random((3, 300)) < 0.5
    d = rng.standard_normal(300)
    for run in (
        lambda: sig.bootstrap_difference(a, b, sig.mean_difference, n_boot=4000, seed=1),
        lambda: sig.sign_flip_test(d, n_perm=3000, seed=1),
    ):
        tracemalloc.start()
        try:
            run()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 8 * 2**20


# mCE -----------------------------------------------------------------------------------------


def test_mce_aggregate_by_hand() -> None:
    """Cells grouped by corruption label (labels in any order), errors summed per corruption, ratios averaged.

    cells:      0     1     2     3        labels 2, 0, 2, 1
    err A:     0.1   0.3   0.2   0.25
    err B:     0.2   0.4   0.4   0.25
    corruption 2 (cells 0, 2): 0.3 / 0.6 = 0.5; corruption 0 (cell 1): 0.3 / 0.4 = 0.75; corruption 1: 1.0
    -> mCE = 100 * (0.5 + 0.75 + 1.0) / 3 = 75. Row 2: B never errs on corruption 1 and A does (0.5 / 0):
    left out -> 100 * (0.5 + 0.75) / 2 = 62.5. Row 3: neither errs there (0 / 0): also 62.5. Row 4: A = B: 100.
    """
    mce = sig.mce_aggregate([2, 0, 2, 1])
    acc_a = np.array([[0.9, 0.7, 0.8, 0.75], [0.9, 0.7, 0.8, 0.5], [0.9, 0.7, 0.8, 1.0], [0.6, 0.6, 0.6, 0.6]])
    acc_b = np.array([[0.8, 0.6, 0.6, 0.75], [0.8, 0.6, 0.6, 1.0], [0.8, 0.6, 0.6, 1.0], [0.6, 0.6, 0.6, 0.6]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a corruption left out is no numpy divide/invalid warning
        values = mce(acc_a, acc_b)
    assert values == pytest.approx([75.0, 62.5, 62.5, 100.0])


# sign-flip test ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "d, expected",
    [
        ([0.5, 0.25], 0.5),  # two of the four sign patterns (++ and --) reach |0.75|
        ([0.5, -0.25], 1.0),  # every pattern reaches |0.25|
        ([0.5, 0.25, 0.0, 0.0], 0.5),  # zeros carry no sign: the same two differences
        ([1.0, 1.0, 1.0, 0.5], 0.125),  # 2 of 16; differences of exactly 1 are differences like any other
        ([0.5, 0.25, 0.125, -0.125], 0.375),  # |sum| >= 0.75: +.5 +.25 with any signs on the two eighths but
        # both negative (3 patterns), and the mirror images: 6 of 16
    ],
)
def test_sign_flip_small_cases_by_hand(d: list[float], expected: float) -> None:
    assert sig.sign_flip_test(np.array(d)) == pytest.approx(expected)


def test_sign_flip_is_the_exact_count_over_sign_patterns() -> None:
    """Up to 2**n <= n_perm the p-value is the share of all 2**n sign patterns (13 differences: 8192 <= 10000)."""
    rng = np.random.default_rng(8)
    for n in (5, 9, 13):
        d = rng.integers(-8, 9, n) / 8  # dyadic: sums are exact, ties are ties
        assert sig.sign_flip_test(d) == pytest.approx(exact_sign_flip_p(d), abs=1e-12)


def test_sign_flip_monte_carlo_is_plus_one_corrected() -> None:
    """Beyond 2**n > n_perm: twice the smaller tail share, each (draws at least as extreme + 1) / (n_perm + 1)
    (scipy's two-sided Monte Carlo p-value), so p > 0 even when no draw is as extreme (then 2 / (n_perm + 1)),
    and close to the exact p (16 differences: 65536 patterns, counted here)."""
    rng = np.random.default_rng(9)
    d = rng.integers(-8, 9, 16) / 8 + 0.25
    exact = exact_sign_flip_p(d)
    p = sig.sign_flip_test(d, n_perm=2000)
    assert p * 2001 == pytest.approx(round(p * 2001), abs=1e-9)
    assert abs(p - exact) < 4 * np.sqrt(exact * (1 - exact) / 2000) + 1 / 2001
    all_positive = np.arange(1, 17) / 16  # exact p = 2 / 65536: almost surely no draw reaches it
    assert sig.sign_flip_test(all_positive, n_perm=500) == pytest.approx(2 / 501)


def test_sign_flip_defaults_are_10000_patterns_seed_0() -> None:
    d = np.random.default_rng(10).integers(-8, 9, 14) / 8 + 0.2  # 2**14 > 10000: Monte Carlo
    default = sig.sign_flip_test(d)
    assert sig.sign_flip_test(d, seed=3) == sig.sign_flip_test(d, seed=3)  # reproducible
    assert default == sig.sign_flip_test(d, n_perm=10000, seed=0)
    assert default != sig.sign_flip_test(d, n_perm=10001, seed=0)
    assert default != sig.sign_flip_test(d, n_perm=10000, seed=1)


# Holm, letters, rankings ---------------------------------------------------------------------


def test_compact_letters_beyond_26_groups() -> None:
    """27 models all different from each other: letters a to z, then the 27th group as "[26]"."""
    names = [f"m{k:02d}" for k in range(27)]
    different = {frozenset(pair) for pair in itertools.combinations(names, 2)}
    letters = sig.compact_letters(names, different)
    assert [letters[name] for name in names] == list("abcdefghijklmnopqrstuvwxyz") + ["[26]"]


def test_rank_groups_holm_over_three_pairs_by_hand() -> None:
    """12 samples: A right on all, B wrong on the first 6, C wrong on the first 7.

    Exact McNemar: A-B 6 discordant pairs all one way, p = 2 / 2**6 = 1/32; A-C 7, p = 1/64; B-C one, p = 1.
    Holm over 3 pairs: 3 * 1/64 = 0.047 (< 0.05: A and C differ), max(0.047, 2 * 1/32) = 0.0625 (A-B do not),
    1. Letters in rank order: A "a", B "ab", C "b". The sign-flip test on these +-1 differences is the same
    exact binomial count, so it gives the same table."""
    a = np.ones(12, bool)
    b = np.r_[np.zeros(6, bool), np.ones(6, bool)]
    c = np.r_[np.zeros(7, bool), np.ones(5, bool)]
    expected = {"model": ["A", "B", "C"], "value": [1.0, 0.5, 5 / 12], "rank": [1, 2, 3], "group": ["a", "ab", "b"]}
    for test in ("mcnemar", "sign_flip"):
        frame = sig.rank_groups({"C": c, "A": a, "B": b}, test=test)
        assert frame.columns.tolist() == ["model", "value", "rank", "group"]
        assert frame.to_dict("list") == expected
        assert frame["rank"].dtype.kind == "i"


def test_rank_groups_sign_flip_ties_share_the_lowest_rank() -> None:
    """Fractional outcomes on 8 samples, in eighths (exact): top 0.875 everywhere; m1 = m2 = 0.5 everywhere;
    m3 alternates 0.625 / 0.375 (mean 0.5). top minus any other is positive on all 8 samples: sign-flip
    p = 2 / 2**8 = 1/128; m1 - m2 is all zeros (p = 1), m1 - m3 and m2 - m3 sum to 0 (p = 1). Holm over 6 pairs:
    6/128 = 0.047 < 0.05 for the three pairs with top. The three at 0.5 tie: they keep their input order and
    share rank 2 (the lowest of ranks 2-4), then rank 5 would follow."""
    outcomes = {
        "m3": np.tile([0.625, 0.375], 4),
        "top": np.full(8, 0.875),
        "m1": np.full(8, 0.5),
        "m2": np.full(8, 0.5),
    }
    frame = sig.rank_groups(outcomes, test="sign_flip")
    assert frame.to_dict("list") == {
        "model": ["top", "m3", "m1", "m2"],
        "value": [0.875, 0.5, 0.5, 0.5],
        "rank": [1, 2, 2, 2],
        "group": ["a", "b", "b", "b"],
    }
    assert frame["rank"].dtype.kind == "i"


def test_rank_groups_default_test_is_the_exact_mcnemar() -> None:
    """A right and B wrong on all 20 samples: exact McNemar p = 2 / 2**20 = 1.9e-6, below alpha = 1e-5, so A and B
    differ; the Monte Carlo sign-flip test cannot go below 2 / 10001 and keeps them together."""
    outcomes = {"B": np.zeros(20, bool), "A": np.ones(20, bool)}
    frame = sig.rank_groups(outcomes, alpha=1e-5)
    assert dict(zip(frame["model"], frame["group"])) == {"A": "a", "B": "b"}
    assert frame["value"].tolist() == [1.0, 0.0] and frame["rank"].tolist() == [1, 2]
    flip = sig.rank_groups(outcomes, test="sign_flip", alpha=1e-5)
    assert flip["group"].tolist() == ["a", "a"]


def test_rank_groups_difference_needs_p_strictly_below_alpha() -> None:
    """5 discordant pairs all one way: p = 2 / 2**5 = 0.0625; one pair, so Holm leaves it. At alpha = p the two
    models share a group; just above it they do not."""
    a, b = table_outcomes(3, 5, 0, 2)
    p = sig.mcnemar_exact(a, b).p_value
    assert p == pytest.approx(0.0625)
    assert sig.rank_groups({"a": a, "b": b}, alpha=p)["group"].tolist() == ["a", "a"]
    assert sig.rank_groups({"a": a, "b": b}, alpha=float(np.nextafter(p, 1)))["group"].tolist() == ["a", "b"]


def test_rank_groups_of_one_model() -> None:
    frame = sig.rank_groups({"only": np.array([True, False, True, True])})
    assert frame.to_dict("list") == {"model": ["only"], "value": [0.75], "rank": [1], "group": ["a"]}


def test_rank_groups_names_the_tests_it_knows() -> None:
    with pytest.raises(ValueError, match=r"one of 'mcnemar', 'sign_flip', but got 't'"):
        sig.rank_groups({"a": np.ones(3, bool)}, test="t")


def test_rank_groups_passes_its_seed_to_every_sign_flip_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reproducible rankings: each pair's sign-flip test runs with rank_groups' seed (0 by default), on the
    per-sample difference of the better-ranked model minus the other."""
    seen: list[tuple[float, object]] = []
    real = multiple.sign_flip_test

    def spy(differences: np.ndarray, **options: object) -> float:
        seen.append((float(np.mean(differences)), options.get("seed")))
        return real(differences, **options)

    monkeypatch.setattr(multiple, "sign_flip_test", spy)
    outcomes = {"low": np.full(6, 0.25), "high": np.full(6, 0.75)}
    sig.rank_groups(outcomes, test="sign_flip")
    assert seen == [(0.5, 0)]
    seen.clear()
    sig.rank_groups(outcomes, test="sign_flip", seed=7)
    assert seen == [(0.5, 7)]


def test_rank_groups_of_models_without_outcomes() -> None:
    """Models evaluated on no samples have no value (nan) and rank last, tied; nothing separates them."""
    table = sig.rank_groups({"a": np.zeros(0, bool), "b": np.zeros(0, bool)})
    assert table["model"].tolist() == ["a", "b"]
    assert np.isnan(table["value"]).all()
    assert table["rank"].tolist() == [1, 1]
    assert table["group"].tolist() == ["a", "a"]
