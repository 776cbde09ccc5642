"""Bookkeeping: robust <= clean, monotone in epsilon, verified budgets, worst case, joins."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import attacks
from attacks.base import FixedBudgetAttack, MinimalAttack, SweepResult
from attacks.geometry import EPS_TOL, Norm, perturbation_norm
from robustness.core.errors import UsageError
from tests.conftest_attacks import digits, net  # noqa: F401  (fixtures)

LINF = (0.05, 0.1, 0.2, 0.3)
L2 = (0.5, 1.0, 2.0)
FAST = {
    "fgsm": {},
    "pgd_linf": {},
    "pgd_l2": {},
    "deepfool_linf": {},
    "deepfool_l2": {},
    "fmn_linf": {"steps": 10},
    "ddn_l2": {"steps": 10},
    "cw_l2": {"binary_search_steps": 2, "steps": 10, "max_samples": 48},
    "noise_linf": {"repeats": 4, "max_samples": 48},
    "noise_l2": {"repeats": 4, "max_samples": 48},
    "hsj_l2": {"max_samples": 6, "steps": 2, "initial_gradient_eval_steps": 10},
    "hsj_linf": {"max_samples": 6, "steps": 2, "initial_gradient_eval_steps": 10},
    "apgd_ce_linf": {"n_iter": 5},
    "apgd_ce_l2": {"n_iter": 5},
    "apgd_dlr_linf": {"n_iter": 5},
    "apgd_dlr_l2": {"n_iter": 5},
    "apgd_t_linf": {"n_iter": 5, "n_target_classes": 2},
    "apgd_t_l2": {"n_iter": 5, "n_target_classes": 2},
    "apgd_lite_linf": {"n_iter": 5},
    "apgd_lite_l2": {"n_iter": 5},
    "fab_t_linf": {"n_iter": 5, "n_target_classes": 2},
    "fab_t_l2": {"n_iter": 5, "n_target_classes": 2},
    "square_linf": {"n_queries": 50},
    "square_l2": {"n_queries": 50},
}
#: AutoAttack's composites run the components above in order (tests/test_attacks_autoattack.py)
COMPOSITES = {"autoattack_linf", "autoattack_l2", "autoattack_rand_linf", "autoattack_rand_l2"}
ATTACK_CASES = [pytest.param(attacks.create(n, **kw), id=repr(attacks.create(n, **kw))) for n, kw in FAST.items()]


def test_every_registered_attack_is_covered() -> None:
    assert set(FAST) == set(attacks.ATTACKS) - COMPOSITES


@pytest.mark.parametrize("attack", ATTACK_CASES)
def test_robust_never_above_clean_and_non_increasing(attack: attacks.Attack, net, digits) -> None:  # noqa: F811
    x, y = digits
    x, y = x[:96], y[:96]
    eps = LINF if attack.norm is Norm.LINF else L2
    shuffled = (eps[2], eps[0], *eps[3:], eps[1])  # callers may pass any order
    result = attack.sweep(net, x, y, shuffled, seed=1, keep_examples=True)
    order = np.argsort(result.epsilons)
    acc = result.accuracy[order]
    assert np.all(np.diff(acc) <= 0)
    assert np.all(result.robust <= result.clean_correct[None, :])
    assert acc[0] <= result.clean_accuracy
    for e, adv in result.examples.items():
        dist = perturbation_norm(adv - x, attack.norm)
        assert float(dist.max()) <= e + EPS_TOL
        assert float(adv.min()) >= -EPS_TOL and float(adv.max()) <= 1 + EPS_TOL
        k = result.epsilons.index(e)
        fooled = result.fooled[k]
        with torch.no_grad():
            pred = net(adv).argmax(1).numpy()
        # every sample counted as fooled at e has a verified adversarial inside the e ball
        assert np.all(pred[fooled] != y.numpy()[fooled])


class _Cheat(FixedBudgetAttack):
    """Plants a perturbation of twice the budget: the sweep must raise, never count it."""

    name = "cheat"
    norm = Norm.LINF

    def __init__(self, *, factor: float = 2.0, outside_bounds: bool = False) -> None:
        self.factor = factor
        self.outside_bounds = outside_bounds

    def perturb(self, model, x, y, epsilon, *, seed, targets, state):  # noqa: ANN001, ANN201
        if self.outside_bounds:
            return x + 0.5
        return (x + self.factor * epsilon * torch.sign(torch.randn_like(x))).clamp(0, 1)


def test_budget_violation_raises(net, digits) -> None:  # noqa: F811
    x, y = digits
    with pytest.raises(attacks.BudgetViolation, match="beyond epsilon 0.1"):
        _Cheat().sweep(net, x[:32], y[:32], [0.1])


def test_bounds_violation_raises(net, digits) -> None:  # noqa: F811
    x, y = digits
    with pytest.raises(attacks.BudgetViolation, match="outside the pixel bounds"):
        _Cheat(outside_bounds=True).sweep(net, x[:32], y[:32], [0.6])


class _LyingMinimal(MinimalAttack):
    """Returns the clean image as its 'adversarial': verification must count nothing."""

    name = "liar"
    norm = Norm.L2

    def minimize(self, model, x, y, *, seed, targets):  # noqa: ANN001, ANN201
        return x.clone()


def test_unverified_claims_are_not_counted(net, digits) -> None:  # noqa: F811
    x, y = digits
    result = _LyingMinimal().sweep(net, x[:64], y[:64], [0.5, 10.0])
    assert np.array_equal(result.robust, np.stack([result.clean_correct] * 2))
    assert np.all(np.isinf(result.distances[result.clean_correct]))
    assert np.all(np.isnan(result.distances[~result.clean_correct]))


class _Recorder(FixedBudgetAttack):
    """Fools nothing at the first budget and everything after; records what it was asked."""

    name = "recorder"
    norm = Norm.LINF

    def __init__(self) -> None:
        self.calls: list[tuple[float, int]] = []

    def perturb(self, model, x, y, epsilon, *, seed, targets, state):  # noqa: ANN001, ANN201
        self.calls.append((epsilon, len(x)))
        if epsilon < 0.2:
            return x.clone()
        return attacks.create("fgsm").perturb(model, x, y, epsilon / 3, seed=seed, targets=None, state=None)


def test_only_clean_correct_and_not_yet_fooled_samples_are_attacked(net, digits) -> None:  # noqa: F811
    x, y = digits
    rec = _Recorder()
    result = rec.sweep(net, x, y, [0.5, 0.1, 0.3])
    n_correct = int(result.clean_correct.sum())
    assert rec.calls[0] == (0.1, n_correct)
    fooled_03 = int(result.fooled[result.epsilons.index(0.3)].sum())
    assert 0 < fooled_03 < n_correct
    assert rec.calls[1] == (0.3, n_correct)
    assert rec.calls[2] == (0.5, n_correct - fooled_03)
    assert np.all(result.fooled[2] <= result.fooled[0])  # fooled at 0.3 counts at 0.5


def test_duplicate_epsilons_share_one_outcome(net, digits) -> None:  # noqa: F811
    x, y = digits
    result = attacks.create("fgsm").sweep(net, x[:64], y[:64], [0.1, 0.05, 0.1])
    assert np.array_equal(result.robust[0], result.robust[2])


@pytest.mark.parametrize(
    ("epsilons", "match"),
    [([], "at least one budget"), ([-0.1], "non-negative"), ([float("nan")], "finite")],
    ids=["empty", "negative", "nan"],
)
def test_bad_epsilons_are_refused(epsilons: list[float], match: str, net, digits) -> None:  # noqa: F811
    x, y = digits
    with pytest.raises(UsageError, match=match):
        attacks.create("fgsm").sweep(net, x[:8], y[:8], epsilons)


def test_inputs_outside_bounds_are_refused(net, digits) -> None:  # noqa: F811
    x, y = digits
    with pytest.raises(UsageError, match="should lie in the model bounds"):
        attacks.create("fgsm").sweep(net, x[:8] * 255, y[:8], [0.1])


def _result(name: str, norm: Norm, eps: tuple[float, ...], robust: list[list[bool]], clean: list[bool], distances=None) -> SweepResult:  # noqa: ANN001
    return SweepResult(
        name, norm, eps, np.array(robust, dtype=bool), np.array(clean, dtype=bool),
        None if distances is None else np.array(distances, dtype=float),
    )


def test_worst_case_is_per_example_and_monotone_across_grids() -> None:
    clean = [True, True, True, False]
    a = _result("pgd_linf", Norm.LINF, (0.1, 0.3), [[False, True, True, False], [False, True, True, False]], clean)
    b = _result("fgsm", Norm.LINF, (0.2,), [[True, False, True, False]], clean)
    c = _result("fmn_linf", Norm.LINF, (0.3,), [[True, True, True, False]], clean, [0.5, 0.9, 0.25, np.nan])
    d = _result("pgd_l2", Norm.L2, (1.0,), [[True, True, False, False]], clean)
    worst = {w.norm: w for w in attacks.worst_case([a, b, c, d])}
    linf = worst[Norm.LINF]
    assert linf.attack == "suite_linf"
    assert linf.epsilons == (0.1, 0.2, 0.3)
    # sample 0 fooled by pgd at 0.1 -> counts at 0.2 and 0.3; sample 1 by fgsm at 0.2;
    # sample 2 by fmn's verified distance 0.25 <= 0.3 although fmn ran at 0.3 only
    assert linf.robust.tolist() == [[False, True, True, False], [False, False, True, False], [False, False, False, False]]
    assert np.all(np.diff(linf.accuracy) <= 0)
    assert linf.distances.tolist()[:3] == [0.5, 0.9, 0.25]
    assert worst[Norm.L2].robust.tolist() == [[True, True, False, False]]


def test_worst_case_refuses_mismatched_samples() -> None:
    a = _result("fgsm", Norm.LINF, (0.1,), [[True, True]], [True, True])
    b = _result("pgd_linf", Norm.LINF, (0.1,), [[True]], [True])
    with pytest.raises(UsageError, match="same samples"):
        attacks.worst_case([a, b])


def test_concat_joins_batches_in_order(net, digits) -> None:  # noqa: F811
    x, y = digits
    attack = attacks.create("deepfool_l2")
    parts = [attack.sweep(net, x[i : i + 40], y[i : i + 40], L2) for i in range(0, 120, 40)]
    joined = attacks.concat(parts)
    assert joined.robust.shape == (3, 120)
    assert np.array_equal(joined.robust[:, 40:80], parts[1].robust)
    assert np.array_equal(joined.distances[80:], parts[2].distances, equal_nan=True)
    with pytest.raises(UsageError, match="share attack"):
        attacks.concat([parts[0], attacks.create("fgsm").sweep(net, x[:8], y[:8], [0.1])])


def test_records_and_distance_summary_are_plain_values(net, digits) -> None:  # noqa: F811
    x, y = digits
    result = attacks.create("deepfool_linf").sweep(net, x[:64], y[:64], LINF)
    rows = attacks.records(result)
    assert [r["epsilon"] for r in rows] == list(LINF)
    assert all(isinstance(r["accuracy"], float) and r["accuracy"] <= r["clean_accuracy"] for r in rows)
    summary = attacks.distance_summary(result)
    assert summary["q10"] <= summary["median"] <= summary["q90"]
    assert summary["n_found"] <= summary["n_attacked"] == int(result.clean_correct.sum())


def test_targeted_attacks_reach_their_target(net, digits) -> None:  # noqa: F811
    x, y = digits
    x, y = x[:64], y[:64]
    targets = (y + 1 + torch.arange(len(y)) % 9) % 10
    result = attacks.create("pgd_linf", steps=20).sweep(net, x, y, [0.3], targets=targets, keep_examples=True)
    assert result.targeted
    with torch.no_grad():
        pred = net(result.examples[0.3]).argmax(1)
    fooled = torch.as_tensor(result.fooled[0])
    assert int(fooled.sum()) > len(x) // 2
    assert bool((pred[fooled] == targets[fooled]).all())


def test_random_targets_are_wrong_classes_and_reproducible(net, digits) -> None:  # noqa: F811
    x, y = digits
    attack = attacks.create("fgsm", target="random")
    first = attack.sweep(net, x[:64], y[:64], [0.2], seed=5)
    again = attack.sweep(net, x[:64], y[:64], [0.2], seed=5)
    assert first.targeted
    assert np.array_equal(first.robust, again.robust)
    assert first.accuracy[0] <= first.clean_accuracy


def test_given_targets_and_untargeted_only_attacks(net, digits) -> None:  # noqa: F811
    x, y = digits
    targets = torch.full_like(y[:16], 3)
    result = attacks.create("fmn_linf", steps=10).sweep(net, x[:16], y[:16], [0.3], targets=targets)
    assert not result.attacked[(y[:16] == 3).numpy()].any()
    with pytest.raises(UsageError, match="untargeted only"):
        attacks.create("deepfool_linf").sweep(net, x[:16], y[:16], [0.1], targets=targets)
