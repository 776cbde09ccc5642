"""Adversarial evaluation with honest bookkeeping (foolbox underneath).

Layer: may import ``robustness.core`` and the ``Classifier`` wrapper (``robustness.models``), torch and
foolbox; nothing of datasets, runs, results or reports.

Entry points for the engine::

    attack = attacks.create("pgd_linf", steps=20)
    result = attack.sweep(classifier, x, y, epsilons, seed=0, keep_examples=False)   # SweepResult
    joined = attacks.concat([result_batch1, result_batch2, ...])                      # per attack
    worst = attacks.worst_case([joined_fgsm, joined_pgd, ...])                       # one per norm
    flags = attacks.sanity.run_checks(classifier, x_sample, y_sample, joined_results)

or all at once for in-memory data: ``attacks.evaluate(classifier, x, y)``.
"""

from __future__ import annotations

from attacks import apgd as _apgd  # noqa: F401  (registers attacks)
from attacks import autoattack as _autoattack  # noqa: F401
from attacks import fab as _fab  # noqa: F401  (registers attacks)
from attacks import gradient as _gradient  # noqa: F401
from attacks import gradient_free as _gradient_free  # noqa: F401
from attacks import minimal as _minimal  # noqa: F401
from attacks import sanity
from attacks import square as _square  # noqa: F401
from attacks.adaptive import BPDA, EOT, InputTransform, with_preprocessing
from attacks.base import (
    ATTACKS,
    EPS_TOL,
    Attack,
    BudgetViolation,
    FixedBudgetAttack,
    MinimalAttack,
    Norm,
    SweepResult,
    true_model,
    verify,
)
from attacks.bookkeeping import concat, distance_summary, fooled_at, records, worst_case
from attacks.sanity import SanityFlag, run_checks
from attacks.suite import (
    BROAD_SUITE,
    DEFAULT_EPSILONS,
    DEFAULT_SUITE,
    MINIMAL,
    SUITES,
    SuiteResult,
    create,
    describe_all,
    evaluate,
    expand,
)

__all__ = [
    "ATTACKS",
    "BPDA",
    "BROAD_SUITE",
    "DEFAULT_EPSILONS",
    "DEFAULT_SUITE",
    "EOT",
    "EPS_TOL",
    "MINIMAL",
    "SUITES",
    "Attack",
    "BudgetViolation",
    "FixedBudgetAttack",
    "InputTransform",
    "MinimalAttack",
    "Norm",
    "SanityFlag",
    "SuiteResult",
    "SweepResult",
    "concat",
    "create",
    "describe_all",
    "distance_summary",
    "evaluate",
    "expand",
    "fooled_at",
    "records",
    "run_checks",
    "sanity",
    "true_model",
    "verify",
    "with_preprocessing",
    "worst_case",
]
