"""Every statistic of the reports, one-sample and paired side by side (numpy, scipy, pandas; no torch).

May import numpy, scipy, pandas and nothing else of the suite (it is the bottom of ``reports``).
scipy runs every procedure it has (the paired bootstrap, the sign-flip permutation test, the t
interval); the hand-written ones (Wilson, Newcombe, exact McNemar, Holm) are checked against
statsmodels and Newcombe's published example in ``tests/test_stats.py``.

==========================  =======================================  ===========================================
question                    one sample (a model)                     paired (two models, same samples)
==========================  =======================================  ===========================================
accuracy of one cell        :func:`wilson_interval`                  :func:`newcombe_interval`, :func:`mcnemar_exact`
mean of per-sample values   :func:`mean_interval` (Student's t)      :func:`sign_flip_test`
aggregates (mean, mCE)                                               :func:`bootstrap_difference`
many pairs                                                           :func:`holm`, :func:`rank_groups`
==========================  =======================================  ===========================================

:mod:`reports.stats.fits` holds the logit-space line of effective robustness.
"""

from reports.stats.fits import expit, logit, logit_fit
from reports.stats.intervals import mean_interval, wilson_interval
from reports.stats.multiple import RANK_TESTS, compact_letters, holm, rank_groups
from reports.stats.paired import (
    ALPHA,
    Aggregate,
    Difference,
    McNemarResult,
    bootstrap_difference,
    compare_cell,
    mce_aggregate,
    mcnemar_exact,
    mcnemar_p,
    mean_difference,
    newcombe_counts,
    newcombe_interval,
    sign_flip_test,
)

__all__ = [
    "ALPHA",
    "Aggregate",
    "Difference",
    "McNemarResult",
    "RANK_TESTS",
    "bootstrap_difference",
    "compact_letters",
    "compare_cell",
    "expit",
    "holm",
    "logit",
    "logit_fit",
    "mce_aggregate",
    "mcnemar_exact",
    "mcnemar_p",
    "mean_difference",
    "mean_interval",
    "newcombe_counts",
    "newcombe_interval",
    "rank_groups",
    "sign_flip_test",
    "wilson_interval",
]
