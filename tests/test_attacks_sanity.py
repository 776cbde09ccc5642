"""Sanity checks flag evaluations that fool themselves; BPDA and EOT fix what they flag."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import attacks
from attacks.sanity import SanityFlag, run_checks
from robustness.core.errors import UsageError
from tests.conftest_attacks import digits, make_quantized, make_randomized, make_softmaxed, net  # noqa: F401

LINF = (0.1, 0.2, 0.3)


def _flags(model, x, y, names=("fgsm", "pgd_linf", "noise_linf"), **kw) -> dict[str, SanityFlag]:
    results = [attacks.create(n, **({"max_samples": None} if n.startswith("noise") else {})).sweep(model, x, y, LINF) for n in names]
    return {f.check: f for f in run_checks(model, x, y, results, max_samples=120, **kw)}


def test_a_plain_model_passes(net, digits) -> None:  # noqa: F811
    x, y = digits
    flags = _flags(net, x[:120], y[:120])
    for check in ("randomized_outputs", "softmax_outputs", "zero_gradients", "gradient_free_stronger", "large_budget",
                  "single_step_beats_iterative", "monotone"):
        assert flags[check].passed, flags[check]
    assert not flags["gradient_free_stronger"].skipped
    json.dumps([f.to_dict() for f in flags.values()])  # plain values for the report layer


def test_quantizing_model_is_flagged_and_bpda_breaks_it(digits) -> None:  # noqa: F811
    x, y = digits
    x, y = x[:120], y[:120]
    quantized = make_quantized()
    flags = _flags(quantized, x, y)
    assert not flags["zero_gradients"].passed and flags["zero_gradients"].value == 1.0
    assert not flags["large_budget"].passed
    assert not flags["gradient_free_stronger"].passed
    clean = float((quantized(x).argmax(1) == y).float().mean())
    masked = attacks.create("pgd_linf").sweep(quantized, x, y, [0.3])
    assert masked.accuracy[0] > 0.5 * clean  # gradient masking: PGD alone looks robust

    bpda = attacks.BPDA(quantized)
    broken = attacks.create("pgd_linf", steps=20).sweep(bpda, x, y, [0.3, 0.5])
    assert broken.accuracy[-1] <= 0.02  # near 0% at a large budget, judged on the true model
    assert broken.clean_accuracy == pytest.approx(clean)
    flags = {f.check: f for f in run_checks(bpda, x, y, max_samples=120)}
    assert flags["zero_gradients"].passed and "100.0% on the true model" in flags["zero_gradients"].detail
    assert flags["large_budget"].passed


def test_bpda_backward_variants(digits) -> None:  # noqa: F811
    x, y = digits
    quantized = make_quantized()
    for backward in ("straight_through", lambda v: v):
        result = attacks.create("pgd_linf", steps=20).sweep(attacks.BPDA(quantized, backward=backward), x[:60], y[:60], [0.5])
        assert result.accuracy[0] <= 0.02
    with pytest.raises(UsageError, match="no InputTransform"):
        attacks.BPDA(make_randomized())
    with pytest.raises(UsageError, match="backward should be one of identity, straight_through"):
        attacks.BPDA(quantized, backward="zero")


def test_bpda_changes_gradients_not_outputs(digits) -> None:  # noqa: F811
    x, _ = digits
    quantized = make_quantized()
    with torch.no_grad():
        assert torch.equal(attacks.BPDA(quantized)(x), quantized(x))


def test_randomized_model_is_flagged_and_eot_is_recognized(digits) -> None:  # noqa: F811
    x, y = digits
    torch.manual_seed(0)
    noisy = make_randomized()
    flags = {f.check: f for f in run_checks(noisy, x[:60], y[:60], max_samples=60)}
    assert not flags["randomized_outputs"].passed
    assert "EOT" in flags["randomized_outputs"].advice
    eot = attacks.EOT(noisy, samples=4)
    flags = {f.check: f for f in run_checks(eot, x[:60], y[:60], max_samples=60)}
    assert flags["randomized_outputs"].passed and "4 draws" in flags["randomized_outputs"].detail
    result = attacks.create("pgd_linf").sweep(eot, x[:60], y[:60], [0.3])
    assert result.accuracy[0] <= result.clean_accuracy


def test_softmax_outputs_are_flagged(digits) -> None:  # noqa: F811
    x, y = digits
    flags = {f.check: f for f in run_checks(make_softmaxed(), x[:40], y[:40], max_samples=40)}
    assert not flags["softmax_outputs"].passed
    assert "logits" in flags["softmax_outputs"].advice


def test_result_checks_read_the_sweeps() -> None:
    clean = np.ones(4, dtype=bool)
    fgsm = attacks.SweepResult("fgsm", attacks.Norm.LINF, (0.1,), np.array([[False, False, True, True]]), clean)
    pgd = attacks.SweepResult("pgd_linf", attacks.Norm.LINF, (0.1,), np.array([[True, True, True, False]]), clean)
    noise = attacks.SweepResult("noise_linf", attacks.Norm.LINF, (0.1,), np.array([[True, True, False, True]]), clean)
    flags = {f.check: f for f in run_checks(_Constant(), torch.zeros(2, 1, 4, 4), torch.zeros(2, dtype=torch.long),
                                            [fgsm, pgd, noise], max_samples=2)}
    assert not flags["single_step_beats_iterative"].passed and flags["single_step_beats_iterative"].value == 0.25
    assert not flags["gradient_free_stronger"].passed and flags["gradient_free_stronger"].value == 0.25
    assert flags["monotone"].passed


class _Constant(torch.nn.Module):
    """Always predicts class 0 with a gradient (a stand-in model for result-only checks)."""

    bounds = (0.0, 1.0)

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.flatten(1).sum(1, keepdim=True) * self.w
        return torch.cat([10 + s, -s], 1)


def test_a_forward_without_any_gradient_is_flagged_not_crashed(digits) -> None:  # noqa: F811
    from tests.conftest_attacks import make_classifier

    def numpy_quantize(v: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(np.round(v.detach().numpy() * 2) / 2).to(v.dtype)

    x, y = digits
    detached = attacks.with_preprocessing(make_classifier(), numpy_quantize, name="numpy_quantize")
    flags = {f.check: f for f in run_checks(detached, x[:40], y[:40], max_samples=40)}
    assert not flags["zero_gradients"].passed and flags["zero_gradients"].value == 1.0
    assert attacks.create("fgsm").sweep(detached, x[:40], y[:40], [0.1]).accuracy[0] > 0.5
    broken = attacks.create("pgd_linf", steps=20).sweep(attacks.BPDA(detached), x[:40], y[:40], [0.5])
    assert broken.accuracy[0] <= 0.03


def test_a_starved_pgd_is_flagged_not_converged(net, digits) -> None:  # noqa: F811
    """PGD with 1 step of 5% of epsilon cannot reach the ball's edge; doubling its steps fools more samples
    (measured at Linf 1.0: 86.7% -> 58.3%). Catches a convergence check that reruns with the same steps, drops
    the sweep's hyperparameters, or compares the two runs the wrong way."""
    x, y = digits
    x, y = x[:60], y[:60]
    starved = attacks.create("pgd_linf", steps=1, rel_stepsize=0.05, random_start=False).sweep(net, x, y, (1.0,))
    flags = [f for f in run_checks(net, x, y, [starved], max_samples=60) if f.check == "not_converged"]
    assert len(flags) == 1 and not flags[0].passed
    assert flags[0].value > 0.01 and "1 steps" in flags[0].detail and "with 2" in flags[0].detail


def test_a_well_run_pgd_is_not_flagged_not_converged(net, digits) -> None:  # noqa: F811
    x, y = digits
    x, y = x[:60], y[:60]
    pgd = attacks.create("pgd_linf", steps=20).sweep(net, x, y, LINF)
    (flag,) = [f for f in run_checks(net, x, y, [pgd], max_samples=60) if f.check == "not_converged"]
    assert flag.passed and flag.value <= 0.01


@pytest.mark.parametrize(
    "robust, clean",
    [
        ([[True, False, False], [True, True, False]], [True, True, True]),  # rises with epsilon
        ([[True, True, True]], [True, False, True]),  # robust where the clean image was wrong
    ],
    ids=["rises-with-epsilon", "above-clean"],
)
def test_monotone_flags_results_the_sweep_did_not_make(robust: list, clean: list) -> None:
    """``Attack.sweep`` makes its own results monotone, so the flag is kept for results built any other way
    (joined with ``concat``, read back from a store, made by a third-party attack): a hand-built result that
    rises with epsilon, or is robust above clean accuracy, must raise it. Catches a check that looks only at
    one of the two conditions, or at unsorted epsilons."""
    epsilons = (0.1, 0.2, 0.3)[: len(robust)]
    order = list(reversed(range(len(robust))))  # epsilons stored in decreasing order: the check must sort
    result = attacks.SweepResult(
        "pgd_linf", attacks.Norm.LINF, tuple(epsilons[k] for k in order),
        np.array([robust[k] for k in order]), np.array(clean),
    )
    flags = {f.check: f for f in run_checks(_Constant(), torch.zeros(2, 1, 4, 4), torch.zeros(2, dtype=torch.long),
                                            [result], max_samples=2)}
    assert not flags["monotone"].passed and flags["monotone"].value > 0


# AutoAttack's checks (issue 11): each raised on a model or result made for it, and quiet on a plain one
def _aa_flags(model, x, y, results=()) -> dict[str, SanityFlag]:
    return {f.check: f for f in run_checks(model, x, y, list(results), max_samples=40)}


def test_too_few_classes_for_targeted_attacks(digits) -> None:  # noqa: F811
    x, y = digits
    wide = attacks.SweepResult("apgd_t_linf", attacks.Norm.LINF, (0.1,), np.ones((1, 4), dtype=bool),
                               np.ones(4, dtype=bool), hyperparameters={"n_target_classes": 9})  # fmt: skip
    few = _Constant()  # two classes
    flag = _aa_flags(few, x[:8], torch.zeros(8, dtype=torch.long), [wide])["too_few_classes"]
    assert not flag.passed and "apgd_t_linf wants 9 targets" in flag.detail
    from tests.conftest_attacks import make_classifier

    assert _aa_flags(make_classifier(), x[:8], y[:8], [wide])["too_few_classes"].passed


class _Dynamic(torch.nn.Module):
    """Runs an extra layer on every other call: a forward pass that changes between calls."""

    bounds = (0.0, 1.0)

    def __init__(self) -> None:
        super().__init__()
        self.lin, self.extra, self.calls = torch.nn.Linear(64, 10), torch.nn.Identity(), 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        out = self.lin(x.flatten(1))
        return self.extra(out) if self.calls % 2 else out


def test_dynamic_forward_is_flagged(net, digits) -> None:  # noqa: F811
    x, y = digits
    assert not _aa_flags(_Dynamic(), x[:8], y[:8])["dynamic_forward"].passed
    assert _aa_flags(net, x[:8], y[:8])["dynamic_forward"].passed


def test_square_stronger_than_gradient_attacks(monkeypatch: pytest.MonkeyPatch) -> None:
    class Square(attacks.FixedBudgetAttack):  # stands in for attacks.square until it is registered
        name, norm, gradient_free = "square_linf", attacks.Norm.LINF, True

        def perturb(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            raise NotImplementedError

    if "square_linf" not in attacks.ATTACKS:
        monkeypatch.setitem(attacks.ATTACKS._items, "square_linf", Square)
    clean = np.ones(4, dtype=bool)
    grad = attacks.SweepResult("apgd_ce_linf", attacks.Norm.LINF, (0.1,), np.array([[True, True, True, False]]), clean)
    caught = attacks.SweepResult("square_linf", attacks.Norm.LINF, (0.1,), np.array([[True, False, True, False]]), clean)
    same = attacks.SweepResult("square_linf", attacks.Norm.LINF, (0.1,), np.array([[True, True, True, False]]), clean)
    x, y = torch.zeros(2, 1, 4, 4), torch.zeros(2, dtype=torch.long)
    flag = _aa_flags(_Constant(), x, y, [grad, caught])["square_stronger"]
    assert not flag.passed and flag.value == 0.25
    assert _aa_flags(_Constant(), x, y, [grad, same])["square_stronger"].passed


def test_flat_cross_entropy_is_flagged(net, digits) -> None:  # noqa: F811
    from tests.helpers.autoattack_ref import make

    x, y = digits
    flag = _aa_flags(make("flat"), x[:40], y[:40])["flat_loss"]
    assert not flag.passed and flag.value > 0.5
    assert _aa_flags(net, x[:40], y[:40])["flat_loss"].passed
