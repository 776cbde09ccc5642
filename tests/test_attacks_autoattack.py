"""AutoAttack: the suites' composition and cross-checks against the authors' ``pyautoattack``.

On three digit models trained here (standard, adversarially trained, logits x 100) and the
same samples, per budget: ``autoattack`` through the suite is at most 0.5 points above
pyautoattack's AutoAttack standard, and the embedded default audit's attacks of that norm at
most 1.5 points above it (issue 11).

CI runs each model at one Linf budget where its robust accuracy is mid-range (where attacks
differ), on 60 samples: pyautoattack's Square (5,000 queries per sample still robust) makes a
budget cost about 10 s on 2 cores. ``make crosscheck`` runs the full grid: every test digit,
three budgets per norm, Linf and L2, and the suite's APGD alone against the authors' APGD
(within 1.5 points either way: different random starts, the same algorithm).
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest
import torch

import attacks
from attacks.autoattack import component_names
from attacks.base import ATTACKS
from attacks.geometry import Norm
from robustness.core.errors import UsageError
from robustness.run.config import AUDIT_ATTACKS
from tests.helpers.autoattack_ref import MODELS, make, pyautoattack_robust

pytest.importorskip("pyautoattack")

#: CI: 60 samples, one Linf budget per model where its robust accuracy is between 20% and 80%
CI_N = 60
CI_EPS = {"standard": 0.1, "adversarial": 0.15, "flat": 0.1}
#: make crosscheck: every test digit, three budgets per norm
FULL_N = 240
FULL_EPS = {"linf": (0.05, 0.1, 0.15), "l2": (0.5, 1.0, 1.5)}


@functools.cache
def _data(n: int = CI_N) -> tuple[torch.Tensor, torch.Tensor]:
    from tests.conftest_attacks import _digits

    _, _, x, y = _digits()
    return x[:n].clone(), y[:n].clone()


@functools.cache
def _reference(kind: str, norm: str, eps: tuple[float, ...], n: int, version: str = "standard") -> np.ndarray:
    """pyautoattack's robust accuracy per budget (standard, or ``apgd``: its APGD-CE + APGD-T alone)."""
    x, y = _data(n)
    custom = {"version": "custom", "attacks": ["apgd-ce", "apgd-t"]} if version == "apgd" else {}
    return np.array([float(pyautoattack_robust(make(kind), x, y, e, norm, **custom).float().mean()) for e in eps])


def _suite(kind: str, names: list[str], norm: str, eps: tuple[float, ...], n: int) -> np.ndarray:
    x, y = _data(n)
    result = attacks.evaluate(make(kind), x, y, attacks=names, epsilons={norm: eps}, checks=False)
    return result.worst[0].accuracy


def _default(norm: str) -> list[str]:
    return [n for n in AUDIT_ATTACKS if ATTACKS.get(n).norm is Norm(norm)]


@pytest.mark.parametrize("kind", MODELS)
def test_autoattack_and_default_audit_against_pyautoattack(kind: str) -> None:
    eps = (CI_EPS[kind],)
    theirs = _reference(kind, "linf", eps, CI_N)
    assert 0.2 <= theirs[0] <= 0.8, theirs  # a budget where attacks differ
    ours = _suite(kind, ["autoattack_linf"], "linf", eps, CI_N)
    default = _suite(kind, _default("linf"), "linf", eps, CI_N)
    assert np.all(ours <= theirs + 0.005), (ours, theirs)
    assert np.all(default <= theirs + 0.015), (default, theirs)


@pytest.mark.crosscheck
@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("kind", MODELS)
def test_full_grid_against_pyautoattack(kind: str, norm: str) -> None:
    eps = FULL_EPS[norm]
    theirs = _reference(kind, norm, eps, FULL_N)
    ours = _suite(kind, [f"autoattack_{norm}"], norm, eps, FULL_N)
    default = _suite(kind, _default(norm), norm, eps, FULL_N)
    assert np.all(ours <= theirs + 0.005), (ours, theirs)
    assert np.all(default <= theirs + 0.015), (default, theirs)


@pytest.mark.crosscheck
@pytest.mark.parametrize("kind", MODELS)
def test_apgd_alone_matches_the_authors_apgd(kind: str) -> None:
    eps = FULL_EPS["linf"]
    ours = _suite(kind, ["apgd_ce_linf", "apgd_t_linf"], "linf", eps, FULL_N)
    theirs = _reference(kind, "linf", eps, FULL_N, "apgd")
    assert np.all(np.abs(ours - theirs) <= 0.015), (ours, theirs)
    assert theirs[0] > 0.2  # budgets where the comparison means something


def test_suite_names_expand() -> None:
    assert attacks.expand(["autoattack"]) == ["autoattack_linf", "autoattack_l2"]
    assert attacks.expand(["autoattack-rand", "fgsm"]) == ["autoattack_rand_linf", "autoattack_rand_l2", "fgsm"]
    assert not any(n.startswith("autoattack") for n in attacks.expand(["all"]))
    with pytest.raises(UsageError, match="Unknown attack 'autoatack'. Did you mean autoattack"):
        attacks.expand(["autoatack"])


def test_rand_runs_apgd_ce_then_dlr_with_eot_and_names_the_suite() -> None:
    attack = attacks.create("autoattack_rand_linf", n_iter=3)
    parts = attack.components()
    assert [p.name for p in parts] == ["apgd_ce_linf", "apgd_dlr_linf"]
    assert all(p.eot_iter == 20 and p.n_iter == 3 for p in parts)
    described = attack.describe()
    assert described["suite"] == "autoattack-rand" and described["components"] == ["apgd_ce_linf", "apgd_dlr_linf"]


def test_components_run_in_order_on_the_samples_still_robust(monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = _data()
    model = make("standard")
    seen: list[tuple[str, int]] = []
    for name in ("apgd_ce_linf", "apgd_dlr_linf"):
        cls = ATTACKS.get(name)
        original = cls.perturb

        def spy(self, model, x, y, epsilon, *, _orig=original, **kw):  # type: ignore[no-untyped-def]
            seen.append((self.name, len(x)))
            return _orig(self, model, x, y, epsilon, **kw)

        monkeypatch.setattr(cls, "perturb", spy)
    attack = attacks.create("autoattack_rand_linf", n_iter=5)
    monkeypatch.setattr(type(attack), "components", lambda self: [attacks.create("apgd_ce_linf", n_iter=5),
                                                                    attacks.create("apgd_dlr_linf", n_iter=5)])  # fmt: skip
    result = attack.sweep(model, x, y, [0.1], seed=0)
    order = list(seen)  # the suite's calls only (the reference run below is spied too)
    alone = attacks.create("apgd_ce_linf", n_iter=5).sweep(model, x, y, [0.1], seed=0)
    assert [s[0] for s in order] == ["apgd_ce_linf", "apgd_dlr_linf"]
    assert order[1][1] == int(alone.robust[0].sum())  # DLR ran only on what CE left robust
    assert np.all(result.robust <= alone.robust)


def test_missing_component_is_refused_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(ATTACKS._items, "fab_t_linf")  # a build without attacks.fab
    x, y = _data()
    with pytest.raises(UsageError, match="'fab_t_linf' is not registered"):
        attacks.create("autoattack_linf").sweep(make("standard"), x, y, [0.1])


@pytest.mark.parametrize("name", ["autoattack_linf", "autoattack_l2"])
def test_standard_suite_runs_every_component_per_budget_on_what_is_left(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    x, y = _data()
    x, y = x[:20], y[:20]
    model = make("flat")  # cross-entropy gradients vanish: the parts after APGD-CE have wins to add
    eps = [0.03, 0.06] if name.endswith("linf") else [0.3, 0.6]
    calls: list[tuple[str, int, tuple[float, ...], set[int], set[int]]] = []  # ..., samples handed, fooled
    index = {row.numpy().tobytes(): i for i, row in enumerate(x)}
    for part in component_names("standard", ATTACKS.get(name).norm):
        cls = ATTACKS.get(part)
        original = cls._search

        def spy(self, model, x, y, targets, epsilons, *, _orig=original, **kw):  # type: ignore[no-untyped-def]
            out = _orig(self, model, x, y, targets, epsilons, **kw)
            handed = [index[row.numpy().tobytes()] for row in x]
            fooled = {i for i, hit in zip(handed, out.fooled[-1]) if hit}
            calls.append((self.name, len(x), tuple(epsilons), set(handed), fooled))
            return out

        monkeypatch.setattr(cls, "_search", spy)
    result = attacks.create(name, n_iter=5, n_queries=300).sweep(model, x, y, eps, seed=0, keep_examples=True)
    suite = [c for c in calls if c[0] in component_names("standard", ATTACKS.get(name).norm)]
    assert [c[0] for c in suite][:1] == [component_names("standard", ATTACKS.get(name).norm)[0]]
    assert {c[0] for c in suite} == set(component_names("standard", ATTACKS.get(name).norm))  # FAB-T and Square ran
    ce = attacks.create(component_names("standard", ATTACKS.get(name).norm)[0], n_iter=5).sweep(
        model, x, y, eps, seed=0
    )
    assert np.all(result.robust <= ce.robust) and result.robust.sum() < ce.robust.sum()  # later parts add wins
    assert np.all(result.accuracy <= result.clean_accuracy)
    for k, e in enumerate(eps):  # every counted win is a verified adversarial inside the ball
        adv = result.examples[e]
        fooled = result.clean_correct & ~result.robust[k]
        with torch.no_grad():
            assert bool((model(adv[fooled]).argmax(1) != y[fooled]).all())
        assert float(attacks.geometry.perturbation_norm(adv[fooled] - x[fooled], result.norm).max()) <= e * (1 + 1e-5)
    # the second part runs once per budget, ascending, in one batch: on every sample the first part left robust
    # there, minus the ones it fooled itself at a smaller budget (a win inside a smaller ball stands)
    second = [c for c in suite if c[0] == component_names("standard", ATTACKS.get(name).norm)[1]]
    assert [c[2] for c in second] == [(e,) for e in eps]
    won: set[int] = set()
    for k, call in enumerate(second):
        assert call[3] == set(np.flatnonzero(ce.robust[k])) - won
        won |= call[4]
    # FAB-T (minimum-norm) once, over every budget, on what APGD left robust at the smallest
    fab = [c for c in suite if c[0].startswith("fab_t")]
    assert len(fab) == 1 and fab[0][2] == tuple(eps)


@pytest.mark.parametrize("name", ["apgd_lite_linf", "apgd_lite_l2"])
def test_lite_runs_its_apgd_parts_largest_budget_first(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """apgd_lite's APGD parts attack a sample at the largest budget where it is still robust, and one budget
    lower only if they fooled it there; FAB-T (minimum-norm) runs once, over every budget."""
    x, y = _data()
    x, y = x[:40], y[:40]
    norm = ATTACKS.get(name).norm
    eps = [0.05, 0.1, 0.15] if norm is Norm.LINF else [0.5, 1.0, 1.5]
    parts = component_names("lite", norm)
    calls: list[tuple[str, tuple[float, ...], int, int]] = []  # part, epsilons, samples handed, fooled at the last
    for part in parts:
        cls = ATTACKS.get(part)
        original = cls._search

        def spy(self, model, x, y, targets, epsilons, *, _orig=original, **kw):  # type: ignore[no-untyped-def]
            out = _orig(self, model, x, y, targets, epsilons, **kw)
            calls.append((self.name, tuple(epsilons), len(x), int(out.fooled[-1].sum())))
            return out

        monkeypatch.setattr(cls, "_search", spy)
    model = make("standard")
    result = attacks.create(name, n_iter=5).sweep(model, x, y, eps, seed=0, keep_examples=True)
    ce, targeted, fab = ([c for c in calls if c[0] == p] for p in parts)
    # APGD-CE: every clean-correct sample at the largest budget, then exactly the ones it fooled one budget down
    assert [c[1] for c in ce] == [(e,) for e in reversed(eps)][: len(ce)]
    assert ce[0][2] == int(result.clean_correct.sum())
    assert all(lower[2] == upper[3] for upper, lower in itertools.pairwise(ce))
    assert len(ce) == len(eps) or ce[-1][3] == 0  # it stops going down when nothing was fooled
    # APGD-T: single budgets, largest first; FAB-T: one call over all budgets
    assert all(len(c[1]) == 1 for c in targeted) and [c[1] for c in targeted] == sorted((c[1] for c in targeted), reverse=True)
    assert len(fab) == 1 and fab[0][1] == tuple(eps)
    assert np.all(result.accuracy <= result.clean_accuracy)
    assert np.all(np.diff(result.robust.sum(1)) <= 0)
    for k, e in enumerate(eps):  # every counted win is a verified adversarial inside its ball
        fooled = result.clean_correct & ~result.robust[k]
        adv = result.examples[e][fooled]
        with torch.no_grad():
            assert bool((model(adv).argmax(1) != y[fooled]).all())
        assert bool((attacks.geometry.perturbation_norm(adv - x[fooled], norm) <= e * (1 + 1e-5)).all())
    # the standard suite keeps AutoAttack's per-budget runs
    assert not ATTACKS.get(f"autoattack_{norm.value}").largest_first and ATTACKS.get(name).largest_first
