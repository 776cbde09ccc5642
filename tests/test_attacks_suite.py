"""The one-call evaluation: per-attack rows, the worst case, distances and flags."""

from __future__ import annotations

import json

import numpy as np
import pytest

import attacks
from robustness.core.errors import UsageError
from tests.conftest_attacks import digits, net  # noqa: F401  (fixtures)


def test_default_suites_are_registered_and_cover_the_issue() -> None:
    from robustness.run.config import AUDIT_ATTACKS, AuditConfig

    for name in attacks.BROAD_SUITE:
        assert name in attacks.ATTACKS
    # one list: --attacks default, evaluate()'s default and the embedded audit's are the same attacks
    assert attacks.expand(["default"]) == list(attacks.DEFAULT_SUITE) == list(AUDIT_ATTACKS)
    assert AuditConfig().attacks == AUDIT_ATTACKS
    kinds = {attacks.ATTACKS.get(n) for n in attacks.DEFAULT_SUITE}
    assert any(k.minimal for k in kinds) and any(k.single_step for k in kinds)
    assert {k.norm.value for k in kinds} == {"linf", "l2"}
    # broad adds to the default, so its worst case is never above the default's, and covers gradient masking
    assert set(attacks.DEFAULT_SUITE) < set(attacks.BROAD_SUITE)
    assert any(attacks.ATTACKS.get(n).gradient_free for n in attacks.BROAD_SUITE)
    assert {n.value for n in attacks.MINIMAL} == {"linf", "l2"}


def test_evaluate_reports_rows_worst_case_distances_and_flags(net, digits) -> None:  # noqa: F811
    x, y = digits
    x, y = x[:100], y[:100]
    hyper = {"fmn_linf": {"steps": 10}, "ddn_l2": {"steps": 10}}
    suite = attacks.evaluate(
        net,
        x,
        y,
        attacks=["fgsm", "pgd_linf", "fmn_linf", "pgd_l2", "ddn_l2"],
        epsilons={"linf": (0.05, 0.1, 0.2), "l2": (0.5, 1.0)},
        hyperparameters=hyper,
        batch_size=40,
        check_samples=60,
    )
    rows = suite.records()
    assert {r["attack"] for r in rows} == {"fgsm", "pgd_linf", "fmn_linf", "pgd_l2", "ddn_l2", "suite_linf", "suite_l2"}
    by = {(r["attack"], r["epsilon"]): r["accuracy"] for r in rows}
    for e in (0.05, 0.1, 0.2):
        assert by[("suite_linf", e)] <= min(by[(a, e)] for a in ("fgsm", "pgd_linf", "fmn_linf"))
    assert all(r["n"] == 100 for r in rows)
    medians = {d["attack"]: d["median"] for d in suite.distances()}
    assert set(medians) >= {"fmn_linf", "ddn_l2", "suite_linf", "suite_l2"}
    assert medians["suite_l2"] <= medians["ddn_l2"]
    assert {f.check for f in suite.flags} >= {"zero_gradients", "not_converged", "monotone"}
    assert suite.attacks[2]["hyperparameters"]["steps"] == 10
    json.dumps({"rows": rows, "distances": suite.distances(), "flags": [f.to_dict() for f in suite.flags]})
    text = suite.summary()
    assert "suite_linf" in text and "median minimal" in text
    # batching does not change the verdict: the same samples in one batch
    one = attacks.evaluate(net, x, y, attacks=["fgsm"], epsilons={"linf": (0.1,)}, checks=False)
    assert np.array_equal(one.results[0].robust, suite.results[0].robust[[1]])


def test_evaluate_validates_its_inputs(net, digits) -> None:  # noqa: F811
    x, y = digits
    with pytest.raises(UsageError, match="l2 has none"):
        attacks.evaluate(net, x[:4], y[:4], attacks=["pgd_l2"], epsilons={"linf": (0.1,)}, checks=False)
    with pytest.raises(UsageError, match="batch_size should be a positive integer"):
        attacks.evaluate(net, x[:4], y[:4], attacks=["fgsm"], batch_size=0)
    with pytest.raises(UsageError, match="Unknown attack"):
        attacks.evaluate(net, x[:4], y[:4], attacks=["pgd"], checks=False)
