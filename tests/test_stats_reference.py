"""Statistics against published worked examples (numbers printed in a textbook, not recomputed here).

Reference: Fagerland, Lydersen & Laake (2017), *Statistical Analysis of Contingency Tables*,
chapter 8 (the paired 2x2 table), example of Cavo et al. (2012): complete response before
and after consolidation therapy, ``n = [[59, 6], [16, 80]]`` (rows: before, columns: after).
The book reports, at 95%:

* Newcombe's square-and-add interval (Newcombe 1998, method 10) for ``pi_1+ - pi_+1``:
  estimate -0.0621, interval -0.1186 to -0.0046;
* the exact conditional McNemar test: P = 0.052479.

The tests go through the public names of :mod:`reports.stats` (``newcombe_interval``, imported here as
``paired_interval``, and ``mcnemar_exact``).
"""

from __future__ import annotations

import numpy as np
import pytest

from reports.stats import expit, logit, logit_fit, mcnemar_exact, mean_interval, wilson_interval
from reports.stats import newcombe_interval as paired_interval

CAVO_2012 = ((59, 6), (16, 80))


def paired_outcomes(table: tuple[tuple[int, int], tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample outcomes ``(a, b)`` whose paired 2x2 table is ``table`` (rows: a, columns: b)."""
    (both, only_a), (only_b, neither) = table
    a = np.r_[np.ones(both + only_a, bool), np.zeros(only_b + neither, bool)]
    b = np.r_[np.ones(both, bool), np.zeros(only_a, bool), np.ones(only_b, bool), np.zeros(neither, bool)]
    return a, b


def test_mcnemar_exact_matches_the_published_example() -> None:
    """Catches a one-sided p (0.026), a mid-p (0.0347) or swapped discordant counts."""
    a, b = paired_outcomes(CAVO_2012)
    result = mcnemar_exact(a, b)
    assert (result.only_a, result.only_b) == (6, 16)
    assert result.p_value == pytest.approx(0.052479, abs=5e-7)


def test_newcombe_paired_interval_matches_the_published_example() -> None:
    """Catches a wrong correlation term, swapped Wilson limits or a Wald interval (-0.1184 to -0.0058)."""
    a, b = paired_outcomes(CAVO_2012)
    estimate, low, high = paired_interval(a, b)
    assert estimate == pytest.approx(-10 / 161)
    assert (round(low, 4), round(high, 4)) == (-0.1186, -0.0046)


def test_newcombe_paired_interval_is_square_and_add_of_the_wilson_limits() -> None:
    """With no correlation (phi = 0: a table with AD = BC) the interval is the plain square-and-add of the
    two Wilson intervals, so the limits are fixed by ``wilson_interval`` (checked against its own published
    value in its doctest): catches a wrong Wilson limit paired with the wrong margin or a sign error."""
    a, b = paired_outcomes(((10, 20), (10, 20)))  # p1 = 30/60, p2 = 20/60, AD - BC = 200 - 200 = 0
    estimate, low, high = paired_interval(a, b)
    (l1, l2), (u1, u2) = wilson_interval(np.array([a.sum(), b.sum()]), a.size)
    p1, p2 = a.mean(), b.mean()
    assert estimate == pytest.approx(p1 - p2)
    assert low == pytest.approx(p1 - p2 - np.hypot(p1 - l1, u2 - p2))
    assert high == pytest.approx(p1 - p2 + np.hypot(p2 - l2, u1 - p1))
    assert high - estimate != pytest.approx(estimate - low)  # asymmetric, unlike a Wald interval


def test_positive_correlation_narrows_the_paired_interval() -> None:
    """Same margins (p1 = 1/2, p2 = 1/3), concordant pairs vs independent ones: the correlation term must
    narrow the interval (catches a dropped or sign-flipped phi term, which the phi = 0 case cannot see)."""
    _, low_corr, high_corr = paired_interval(*paired_outcomes(((20, 10), (0, 30))))
    _, low_free, high_free = paired_interval(*paired_outcomes(((10, 20), (10, 20))))
    assert high_corr - low_corr < 0.8 * (high_free - low_free)
    assert low_corr > low_free and high_corr < high_free


def test_wilson_interval_matches_newcombes_single_proportion_example() -> None:
    """Newcombe (1998, single proportion, method 3) example 81/263: 0.2553 to 0.3662 (catches a Wald interval,
    0.2522 to 0.3638, or a continuity-corrected one, 0.2535 to 0.3682)."""
    low, high = wilson_interval(81, 263)
    assert (round(float(low), 4), round(float(high), 4)) == (0.2553, 0.3662)


def test_wilson_interval_edges_and_confidence() -> None:
    """0 of n and n of n pin one end exactly; a 99% interval contains the 95% one; n = 0 is undefined (nan).
    Catches the edge cases swapped, or the confidence level ignored."""
    low, high = wilson_interval(np.array([0, 10, 5]), np.array([10, 10, 10]))
    assert low[0] == 0.0 and high[1] == 1.0
    assert high[0] == pytest.approx(3.8415 / (10 + 3.8415), abs=1e-4)  # z^2 / (n + z^2) for 0 successes
    wide_low, wide_high = wilson_interval(5, 10, confidence=0.99)
    assert wide_low < low[2] and wide_high > high[2]
    assert tuple(float(v) for v in wilson_interval(0, 0)) == (0.0, 1.0)


def test_mean_interval_is_the_t_interval_of_the_mean() -> None:
    """Mean +/- t(0.975, n - 1) * sd / sqrt(n) with the sample sd (ddof=1), clipped to [0, 1]; nan values
    dropped; one value gives a zero-width interval. Catches the population sd, a normal quantile, n - 1 in the
    root, or no clipping."""
    from scipy.stats import t

    values = np.array([0.2, 0.4, 0.6, 0.8, np.nan])
    mean, low, high = mean_interval(values)
    half = t.ppf(0.975, 3) * np.std([0.2, 0.4, 0.6, 0.8], ddof=1) / 2
    assert (mean, low, high) == pytest.approx((0.5, 0.5 - half, 0.5 + half), abs=1e-6)
    assert mean_interval(np.array([0.3])) == (0.3, 0.3, 0.3)
    assert np.isnan(mean_interval(np.array([np.nan]))[0])
    assert mean_interval(np.array([1.0, 1.0, 0.9]))[2] == 1.0
    assert mean_interval(np.array([0.2, 0.4]), confidence=0.5)[2] < mean_interval(np.array([0.2, 0.4]))[2]


def test_logit_fit_recovers_a_planted_line() -> None:
    """Points on logit(y) = 0.8 logit(x) - 0.3 give back (0.8, -0.3); logit and expit invert each other and
    clip at 1e-4. Catches swapped axes or the clip dropped (infinite logit at 0 and 1)."""
    x = np.array([0.2, 0.4, 0.6, 0.8, 0.9])
    y = expit(0.8 * logit(x) - 0.3)
    assert logit_fit(x, y) == pytest.approx((0.8, -0.3))
    np.testing.assert_allclose(expit(logit(x)), x)
    assert logit(np.array([0.0, 1.0])) == pytest.approx([np.log(1e-4 / (1 - 1e-4)), np.log((1 - 1e-4) / 1e-4)])


def test_edge_cases_survivors_pointed_at() -> None:
    """Written for mutants that survived the first mutation run: one success has a positive Wilson lower limit
    (closed form), no pairs give the whole [-1, 1] range, and a 99% paired interval contains the 95% one."""
    z2 = 1.959964**2
    low, high = wilson_interval(1, 10)
    closed = (0.1 + z2 / 20 - np.sqrt(z2) * np.sqrt(0.1 * 0.9 / 10 + z2 / 400)) / (1 + z2 / 10)
    assert float(low) == pytest.approx(closed, abs=1e-6) and float(low) > 0
    assert paired_interval(np.array([], bool), np.array([], bool)) == (0.0, -1.0, 1.0)
    x, y = paired_outcomes(((20, 10), (4, 26)))
    _, low95, high95 = paired_interval(x, y)
    _, low99, high99 = paired_interval(x, y, confidence=0.99)
    assert low99 < low95 and high99 > high95
