"""AutoAttack: the suites' composition and cross-checks against the authors' ``pyautoattack``.

On three digit models trained here (standard, adversarially trained, logits x 100) and the
same 60 samples, per budget: the suite's APGD-CE + APGD-T is at most 0.5 points above
pyautoattack's, ``autoattack`` at most 0.5 points above AutoAttack standard, and the embedded
default audit at most 1.5 points above it. The FAB-T/Square test is skipped while those attacks
are not registered in this build (they come from attacks.fab / attacks.square).
"""

from __future__ import annotations

import functools

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

EPS = (0.05, 0.1, 0.15)
N = 60


@functools.cache
def _data() -> tuple[torch.Tensor, torch.Tensor]:
    from tests.conftest_attacks import _digits

    _, _, x, y = _digits()
    return x[:N].clone(), y[:N].clone()


@functools.cache
def _reference(kind: str, version: str) -> np.ndarray:
    """pyautoattack's robust accuracy per budget (standard, or custom APGD-CE + APGD-T)."""
    x, y = _data()
    custom = {"version": "custom", "attacks": ["apgd-ce", "apgd-t"]} if version == "apgd" else {}
    return np.array([float(pyautoattack_robust(make(kind), x, y, e, "linf", **custom).float().mean()) for e in EPS])


def _suite(kind: str, names: list[str], hyper: dict | None = None) -> np.ndarray:
    x, y = _data()
    result = attacks.evaluate(make(kind), x, y, attacks=names, epsilons={"linf": EPS}, hyperparameters=hyper, checks=False)
    return result.worst[0].accuracy


@pytest.mark.crosscheck
@pytest.mark.parametrize("kind", MODELS)
def test_apgd_matches_pyautoattack(kind: str) -> None:
    ours, theirs = _suite(kind, ["apgd_ce_linf", "apgd_t_linf"]), _reference(kind, "apgd")
    assert np.all(ours <= theirs + 0.005), (ours, theirs)
    assert theirs[0] > 0.2  # budgets where the comparison means something


@pytest.mark.crosscheck
@pytest.mark.parametrize("kind", MODELS)
def test_default_audit_within_one_and_a_half_points_of_autoattack(kind: str) -> None:
    names = [n for n in AUDIT_ATTACKS if ATTACKS.get(n).norm is Norm.LINF]
    ours, theirs = _suite(kind, names), _reference(kind, "standard")
    assert np.all(ours <= theirs + 0.015), (ours, theirs)


@pytest.mark.crosscheck
@pytest.mark.parametrize("kind", MODELS)
def test_autoattack_suite_matches_pyautoattack_standard(kind: str) -> None:
    missing = [n for n in component_names("standard", Norm.LINF) if n not in ATTACKS]
    if missing:
        pytest.skip(f"{', '.join(missing)} not registered in this build (attacks.fab / attacks.square)")
    ours, theirs = _suite(kind, ["autoattack_linf"]), _reference(kind, "standard")
    assert np.all(ours <= theirs + 0.005), (ours, theirs)


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
    if "fab_t_linf" in ATTACKS:
        pytest.skip("FAB-T is registered in this build")
    x, y = _data()
    with pytest.raises(UsageError, match="'fab_t_linf' is not registered"):
        attacks.create("autoattack_linf").sweep(make("standard"), x, y, [0.1])
