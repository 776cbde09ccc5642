"""FGSM and PGD on hand-built models whose every step can be worked out by hand.

The models below are linear (or a single bump) in two or three pixels, so the gradient's sign, the L2
direction, the iterate where a sample first crosses the decision boundary and the number of forward
passes are known before the attack runs; each assertion states the value derived in its comment.
The statistical checks against torchattacks and the trained CNN are in ``test_attacks_gradient.py``.
"""

from __future__ import annotations

import math
import re

import pytest
import torch
from torch import nn

import attacks
from attacks.geometry import SHRINK, Norm
from attacks.gradient import input_gradient, margin, objective, start_noise
from robustness.core.errors import UsageError


class Affine(nn.Module):
    """``logits = x.flatten(1) @ weight.T + bias`` with pixel ``bounds``; records every forward pass."""

    def __init__(self, weight: list[list[float]], bias: list[float], bounds: tuple[float, float] = (0.0, 1.0)) -> None:
        super().__init__()
        self.weight = torch.tensor(weight, dtype=torch.float32)
        self.bias = torch.tensor(bias, dtype=torch.float32)
        self.bounds = bounds
        self.calls: list[tuple[int, bool]] = []  # (rows, with gradient)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append((len(x), x.requires_grad))
        return x.flatten(1) @ self.weight.T + self.bias

    def grad_rows(self) -> int:
        return sum(rows for rows, grad in self.calls if grad)


def _three_class() -> Affine:
    """Class 0 is a constant 0.5, class 1 is pixel 0, class 2 is pixel 1; pixel 2 is read by nothing.

    Untargeted CE gradient (away from class 0) is ``(p1, p2, 0)``: sign ``(+1, +1, 0)``. Targeted at class 2
    (-CE towards it) it is ``(-p1, 1 - p2, 0)``: sign ``(-1, +1, 0)``. The untargeted margin is
    ``max(x0, x1) - 0.5`` (gradient ``(1, 0, 0)`` while ``x0 > x1``).
    """
    return Affine([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [0.5, 0, 0])


def _pgd(name: str, model: nn.Module, x, y, eps, *, targets=None, seed=0, **kwargs) -> torch.Tensor:
    return attacks.create(name, **kwargs).perturb(model, x, y, eps, seed=seed, targets=targets, state=None)


X3 = torch.tensor([[0.375, 0.125, 0.5]])  # logits (0.5, 0.375, 0.125): class 0, all values exact in binary
Y0 = torch.tensor([0])


# -- the objectives -------------------------------------------------------------------------------------


def test_margin_and_objectives_on_hand_computed_logits() -> None:
    logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0]])
    y = torch.tensor([0, 1])
    t = torch.tensor([2, 0])
    # untargeted: best other class minus the true one; targeted: the target minus the best other class
    assert margin(logits, y, None).tolist() == [1 - 2, 1 - 3]
    assert margin(logits, y, t).tolist() == [0 - 2, 0 - 3]
    assert objective(logits, y, None, "margin").tolist() == [-1, -2]
    assert objective(logits, y, t, "margin").tolist() == [-2, -3]

    def ce(row: list[float], cls: int) -> float:  # -log softmax(row)[cls]
        return math.log(sum(math.exp(v) for v in row)) - row[cls]

    rows = logits.tolist()
    untargeted = objective(logits, y, None, "ce")
    targeted = objective(logits, y, t, "ce")
    assert untargeted.shape == targeted.shape == (2,)  # per sample, not reduced
    torch.testing.assert_close(untargeted, torch.tensor([ce(rows[0], 0), ce(rows[1], 1)]))
    # targeted: the attack ascends towards the target, i.e. minus the cross-entropy to it
    torch.testing.assert_close(targeted, torch.tensor([-ce(rows[0], 2), -ce(rows[1], 0)]))
    assert bool((targeted < 0).all()) and bool((untargeted > 0).all())


def test_input_gradient_is_zero_where_the_model_gives_no_path() -> None:
    x = torch.full((2, 3), 0.5, requires_grad=True)
    # an output that does not require grad at all (a non-differentiable forward)
    assert torch.equal(input_gradient(torch.tensor(1.0), x), torch.zeros(2, 3))
    # an output with a graph (through a parameter) that never reads x
    w = torch.ones(3, requires_grad=True)
    assert torch.equal(input_gradient((2 * w).sum(), x), torch.zeros(2, 3))
    # a NaN gradient becomes 0, finite ones pass through
    scale = torch.tensor([[1.0, float("nan"), -2.0], [0.0, 3.0, 1.0]])
    assert torch.equal(input_gradient((x * scale).sum(), x), torch.tensor([[1.0, 0.0, -2.0], [0.0, 3.0, 1.0]]))


def test_start_noise_is_in_the_unit_ball_and_keyed_by_seed_content_and_salt() -> None:
    a, b = torch.full((1, 1, 4, 4), 0.5), torch.full((1, 1, 4, 4), 0.25)
    batch = torch.cat([a, b, a])
    linf = start_noise(batch, Norm.LINF, seed=3, salt=0)
    assert linf.shape == batch.shape and linf.dtype == batch.dtype
    assert float(linf.abs().max()) <= 1 and float(linf.abs().min()) < 0.99  # inside, not pushed to the corners
    assert len(set(linf.flatten().tolist())) == 32  # a real draw, not zeros: two distinct images of 16 pixels
    assert torch.equal(linf[0], linf[2])  # the same image gets the same start wherever it sits
    assert not torch.equal(linf[0], linf[1])
    assert torch.equal(start_noise(a, Norm.LINF, seed=3, salt=0)[0], linf[0])  # nor on the batch
    assert not torch.equal(start_noise(a, Norm.LINF, seed=4, salt=0), linf[:1])
    assert not torch.equal(start_noise(a, Norm.LINF, seed=3, salt=1), linf[:1])  # restarts are new draws
    l2 = start_noise(batch, Norm.L2, seed=3, salt=0)
    norms = l2.flatten(1).norm(dim=1)
    assert bool((norms <= 1 + 1e-6).all()) and bool((norms > 0).all())
    # the noise comes in the images' dtype (adding it keeps a float64 pipeline float64), and an empty batch works
    assert start_noise(batch.double(), Norm.LINF, seed=3, salt=0).dtype == torch.float64
    empty = start_noise(batch[:0], Norm.L2, seed=3, salt=0)
    assert empty.shape == (0, 1, 4, 4)


# -- FGSM -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("loss", "targets", "expected"),
    [
        ("ce", None, [0.625, 0.375, 0.5]),  # sign (+1, +1, 0)
        ("ce", [2], [0.125, 0.375, 0.5]),  # sign (-1, +1, 0)
        ("margin", None, [0.625, 0.125, 0.5]),  # d(max(x0, x1) - 0.5) = (1, 0, 0)
        ("margin", [2], [0.375, 0.375, 0.5]),  # d(x1 - max(0.5, x0)) = (0, 1, 0)
    ],
    ids=["ce", "ce-targeted", "margin", "margin-targeted"],
)
def test_fgsm_is_epsilon_times_the_gradient_sign(loss: str, targets, expected) -> None:
    model = _three_class()
    t = None if targets is None else torch.tensor(targets)
    attack = attacks.create("fgsm", loss=loss)
    # the unread pixel 2 has a zero gradient and stays where it is
    direct = attack.perturb(model, X3, Y0, 0.25, seed=0, targets=t, state=None)
    assert direct.tolist() == [expected]
    prepared = attack.prepare(model, X3, Y0, targets=t)
    assert attack.perturb(model, X3, Y0, 0.25, seed=0, targets=t, state=prepared).tolist() == [expected]


def test_fgsm_clips_to_the_bounds_and_reuses_the_gradient_across_a_sweep() -> None:
    model = _three_class()
    x = torch.tensor([[0.25, 0.125, 0.5], [0.125, 0.0, 0.5]])
    y = torch.tensor([0, 0])
    result = attacks.create("fgsm").sweep(model, x, y, [0.05, 0.1, 0.2], keep_examples=True)
    # both samples step (+e, +e, 0); pixels 0 and 1 stay below class 0's 0.5: never fooled
    assert result.fooled.sum() == 0
    for e in (0.05, 0.1, 0.2):
        torch.testing.assert_close(result.examples[e], x + e * torch.tensor([1.0, 1.0, 0.0]), rtol=0, atol=1e-7)
    # one gradient for the whole sweep: each budget then costs only the verification forward pass
    assert model.grad_rows() == 2
    # a step past the upper bound is clipped to it
    high = torch.tensor([[0.875, 0.875, 0.5]])
    out = attacks.create("fgsm").perturb(_three_class(), high, Y0, 0.25, seed=0, targets=None, state=None)
    assert out.tolist() == [[1.0, 1.0, 0.5]]


# -- PGD: step size, iteration count, projection --------------------------------------------------------


def _far() -> Affine:
    """Two classes, ``logit1 - logit0 = 3 x0 + 4 x1 - 20``: not crossed anywhere these tests reach (it needs
    3 x0 + 4 x1 > 20), so every step is taken; the CE gradient is a positive multiple of (3, 4), whose L2
    direction is (0.6, 0.8) and sign (1, 1)."""
    return Affine([[0, 0], [3, 4]], [0, -20], bounds=(-3.0, 3.0))


ORIGIN = torch.zeros(1, 2)
DIRECTION = torch.tensor([[0.6, 0.8]])


def _close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    torch.testing.assert_close(actual, expected, rtol=0, atol=2e-6)


def test_l2_pgd_step_is_rel_stepsize_times_epsilon_along_the_normalised_gradient() -> None:
    # default rel_stepsize 0.25: one step at eps 2 moves 0.5 along (0.6, 0.8); at eps 1, 0.25
    _close(_pgd("pgd_l2", _far(), ORIGIN, Y0, 2.0, steps=1), 0.5 * DIRECTION)
    _close(_pgd("pgd_l2", _far(), ORIGIN, Y0, 1.0, steps=1), 0.25 * DIRECTION)
    _close(_pgd("pgd_l2", _far(), ORIGIN, Y0, 2.0, steps=1, rel_stepsize=0.125), 0.25 * DIRECTION)
    # abs_stepsize overrides it, and the default is 10 steps: 10 x 0.1
    _close(_pgd("pgd_l2", _far(), ORIGIN, Y0, 2.0, abs_stepsize=0.1), 1.0 * DIRECTION)
    _close(_pgd("pgd_l2", _far(), ORIGIN, Y0, 2.0, abs_stepsize=0.1, steps=3), 0.3 * DIRECTION)
    # more than the ball allows: projected onto the sphere (less the documented safety margin)
    out = _pgd("pgd_l2", _far(), ORIGIN, Y0, 0.5)
    _close(out, 0.5 * (1 - SHRINK) * DIRECTION)
    assert float(out.norm()) <= 0.5


def test_l2_step_is_normalised_per_sample() -> None:
    # CE gradients differ ~1000x in size (p1 = sigmoid(-20) vs sigmoid(-13)); each sample still moves 0.5
    x = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    out = _pgd("pgd_l2", _far(), x, torch.tensor([0, 0]), 2.0, steps=1)
    _close(out - x, 0.5 * DIRECTION.expand(2, 2))


def test_linf_pgd_step_size_iteration_count_and_projection() -> None:
    no_start = {"random_start": False}
    _close(_pgd("pgd_linf", _far(), ORIGIN, Y0, 0.5, steps=1, **no_start), torch.tensor([[0.125, 0.125]]))
    _close(_pgd("pgd_linf", _far(), ORIGIN, Y0, 2.0, abs_stepsize=0.0625, **no_start), torch.full((1, 2), 0.625))
    # 10 steps of 0.125 would reach 1.25: the ball stops it at eps
    _close(_pgd("pgd_linf", _far(), ORIGIN, Y0, 0.5, **no_start), torch.full((1, 2), 0.5))


@pytest.mark.parametrize("name", ["pgd_linf", "pgd_l2"])
def test_pgd_runs_exactly_steps_gradient_passes_on_a_resisting_sample(name: str) -> None:
    model = _far()
    _pgd(name, model, ORIGIN, Y0, 0.5)  # defaults: 10 steps
    # every iterate is scored, the last one without a gradient: 10 gradient passes, 11 forward passes
    assert model.calls == [(1, True)] * 10 + [(1, False)]
    model = _far()
    _pgd(name, model, ORIGIN, Y0, 0.5, steps=3)
    assert model.calls == [(1, True)] * 3 + [(1, False)]


def test_zero_budget_and_empty_batch_cost_nothing() -> None:
    model = _far()
    x = torch.tensor([[0.5, 0.5]])
    for name in ("pgd_linf", "pgd_l2"):
        assert torch.equal(_pgd(name, model, x, Y0, 0.0), x)
        assert _pgd(name, model, x[:0], Y0[:0], 0.3).shape == (0, 2)
    assert model.calls == []


# -- PGD: early stop and the iterate kept ---------------------------------------------------------------


def test_each_sample_stops_at_its_first_iterate_past_the_boundary() -> None:
    # logit1 - logit0 = x0 + x1 - 1; Linf steps of 0.125 raise it by 0.25. From (0.25, 0.25): -0.5, -0.25,
    # 0 (a tie: keep attacking), +0.25 at step 3: fooled, stop there. From (0, 0) the ball (eps 0.5) ends on
    # the tie at (0.5, 0.5): never fooled, all 6 steps, and the highest-margin iterate, (0.5, 0.5), is kept.
    model = Affine([[0, 0], [1, 1]], [0, -1])
    x = torch.tensor([[0.25, 0.25], [0.0, 0.0]])
    out = _pgd("pgd_linf", model, x, torch.tensor([0, 0]), 0.5, steps=6, random_start=False)
    assert out.tolist() == [[0.625, 0.625], [0.5, 0.5]]
    # forward rows with a gradient: steps 0-3 for the first sample (fooled at 3), 0-5 for the second; the last
    # iterate is scored without one; the fooled sample leaves the batch
    assert model.grad_rows() == 4 + 6
    assert [rows for rows, _ in model.calls] == [2, 2, 2, 2, 1, 1, 1]


class _Bump(nn.Module):
    """Two classes; ``logit1 - logit0 = -(x - 0.6)^2 - 1``: never fooled, the margin peaks at 0.6."""

    bounds = (0.0, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x0 = x.flatten(1)[:, :1]
        return torch.cat([torch.zeros_like(x0), -((x0 - 0.6) ** 2) - 1], dim=1)


def test_a_resisting_sample_keeps_its_highest_margin_iterate_not_the_last() -> None:
    # Linf steps of 0.25 from 0.25: 0.25 (margin -1.1225), 0.5 (-1.01, the best), 0.75 (-1.0225)
    x = torch.tensor([[0.25]])
    out = _pgd("pgd_linf", _Bump(), x, Y0, 0.5, steps=2, abs_stepsize=0.25, random_start=False)
    assert out.tolist() == [[0.5]]


def test_pgd_stops_calling_the_model_once_every_sample_is_fooled() -> None:
    # logit1 - logit0 = x0 + x1 - 0.75. Any start in the eps 0.25 ball plus a 0.5 step projects to (0.5, 0.5),
    # margin +0.25: everything is fooled by step 1 of the first restart; the other restarts never run.
    x = torch.tensor([[0.25, 0.25]])
    for name, kwargs in [("pgd_linf", {"restarts": 3}), ("pgd_linf", {"random_start": False}), ("pgd_l2", {})]:
        model = Affine([[0, 0], [1, 1]], [0, -0.75])
        eps = 0.25 if name == "pgd_linf" else 0.5
        out = _pgd(name, model, x, Y0, eps, abs_stepsize=0.5, **kwargs)
        assert isinstance(out, torch.Tensor) and int(model(out).argmax(1)) == 1
        assert 1 <= len(model.calls) - 1 <= 2, model.calls  # step 0 (and step 1 if the start was not enough)
        assert model.calls[-2][0] == 1


# -- PGD: targeted, loss, random start ------------------------------------------------------------------


def test_targeted_pgd_follows_the_target_gradient_to_the_target() -> None:
    # _three_class, target 2, Linf steps of 0.125 signed (-1, +1, 0): (0.375, 0.125) -> (0.25, 0.25) ->
    # (0.125, 0.375) -> (0, 0.5) (a tie with class 0) -> (0, 0.625): class 2. Untargeted steps would go (+1, +1)
    # and reach class 1 instead.
    model = _three_class()
    out = _pgd("pgd_linf", model, X3, Y0, 0.5, targets=torch.tensor([2]), random_start=False)
    assert out.tolist() == [[0.0, 0.625, 0.5]]
    untargeted = _pgd("pgd_linf", model, X3, Y0, 0.5, random_start=False)
    assert untargeted.tolist() == [[0.625, 0.375, 0.5]]  # (0.5, 0.25) ties, (0.625, 0.375) is class 1


def test_targeted_pgd_does_not_stop_at_another_wrong_class() -> None:
    # class 0: 0.5, class 1: x1 / 2 + 0.3, class 2: x1 (x0 is read by nothing). Steps of 0.125 on x1 from 0.125:
    # at x1 = 0.5 class 1 leads (0.55): fooled, but not into the target 2, which leads from x1 = 0.625 on.
    model = Affine([[0, 0], [0, 0.5], [0, 1]], [0.5, 0.3, 0])
    x = torch.tensor([[0.375, 0.125], [0.375, 0.125]])
    out = _pgd("pgd_linf", model, x, torch.tensor([0, 0]), 0.5, targets=torch.tensor([2, 1]), random_start=False)
    assert out.tolist() == [[0.375, 0.625], [0.375, 0.5]]  # each sample's own target
    assert model(out).argmax(1).tolist() == [2, 1]
    sweep = attacks.create("pgd_linf", random_start=False, target=2).sweep(model, x[:1], torch.tensor([0]), [0.5])
    assert sweep.targeted and sweep.fooled.tolist() == [[True]]


def test_pgd_margin_loss_takes_the_margin_gradient() -> None:
    # untargeted on _three_class, one step of 0.125: CE moves (+1, +1, 0), the margin max(x0, x1) - 0.5 only x0
    model = _three_class()
    assert _pgd("pgd_linf", model, X3, Y0, 0.5, steps=1, random_start=False).tolist() == [[0.5, 0.25, 0.5]]
    margin_out = _pgd("pgd_linf", model, X3, Y0, 0.5, steps=1, random_start=False, loss="margin")
    assert margin_out.tolist() == [[0.5, 0.125, 0.5]]


class _Flat(nn.Module):
    """Two classes, class 0 by 1 everywhere, zero gradient: PGD never moves off its start."""

    bounds = (0.0, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        return torch.stack([1 + 0 * flat.sum(1), 0 * flat.sum(1)], dim=1)


@pytest.mark.parametrize(("name", "norm"), [("pgd_linf", Norm.LINF), ("pgd_l2", Norm.L2)])
def test_random_start_is_eps_times_the_keyed_draw_inside_the_ball(name: str, norm: Norm) -> None:
    x = torch.cat([torch.full((1, 1, 4, 4), 0.5), torch.full((1, 1, 4, 4), 0.375)])
    y = torch.tensor([0, 0])
    eps = 0.125
    out = _pgd(name, _Flat(), x, y, eps, steps=1, seed=7, random_start=True)
    delta = out - x
    _close(delta, eps * start_noise(x, norm, 7, 0))
    if norm is Norm.LINF:
        assert float(delta.abs().max()) <= eps and float(delta.abs().min()) < 0.9 * eps
    else:
        assert bool((delta.flatten(1).norm(dim=1) <= eps + 1e-6).all())
    assert bool((delta.flatten(1).abs().amax(1) > 0).all())
    # keyed by content and seed: the second image alone gets the same start, another seed another one
    alone = _pgd(name, _Flat(), x[1:], y[1:], eps, steps=1, seed=7, random_start=True)
    assert torch.equal(alone, out[1:])
    assert not torch.equal(_pgd(name, _Flat(), x, y, eps, steps=1, seed=8, random_start=True), out)


def test_random_start_defaults_on_for_linf_and_off_for_l2() -> None:
    x = torch.full((1, 1, 4, 4), 0.5)
    linf = _pgd("pgd_linf", _Flat(), x, Y0, 0.125, steps=1)
    assert not torch.equal(linf, x)
    assert torch.equal(_pgd("pgd_l2", _Flat(), x, Y0, 0.125, steps=1), x)


# -- hyperparameters ------------------------------------------------------------------------------------


def test_hyperparameters_defaults_and_given_values_are_stored() -> None:
    base = {"steps": 10, "rel_stepsize": 0.25, "abs_stepsize": None, "restarts": 1, "loss": "ce", "target": None}
    assert attacks.create("pgd_linf").hyperparameters() == {**base, "random_start": True}
    assert attacks.create("pgd_l2").hyperparameters() == {**base, "random_start": False}
    assert attacks.create("fgsm").hyperparameters() == {"loss": "ce", "target": None}
    given = {
        "steps": 3,
        "rel_stepsize": 0.5,
        "abs_stepsize": 0.01,
        "random_start": True,
        "restarts": 2,
        "loss": "margin",
        "target": 4,
    }
    for name in ("pgd_linf", "pgd_l2"):
        assert attacks.create(name, **given).hyperparameters() == given
    assert attacks.create("pgd_l2", random_start=False).random_start is False
    assert attacks.create("fgsm", loss="margin", target="random").hyperparameters() == {
        "loss": "margin",
        "target": "random",
    }


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("pgd_linf", {"steps": 0}, "pgd_linf: steps should be a positive integer, but got 0."),
        ("pgd_l2", {"rel_stepsize": 0}, "pgd_l2: rel_stepsize should be a positive number, but got 0."),
        ("pgd_linf", {"abs_stepsize": -0.1}, "pgd_linf: abs_stepsize should be a positive number, but got -0.1."),
        ("pgd_l2", {"restarts": 0}, "pgd_l2: restarts should be a positive integer, but got 0."),
        ("pgd_linf", {"loss": "hinge"}, "pgd_linf: loss should be one of ce, margin, but got 'hinge'."),
        ("pgd_l2", {"target": -1}, "pgd_l2: target should be None (untargeted), 'random' or a class index >= 0"),
        ("fgsm", {"loss": "hinge"}, "fgsm: loss should be one of ce, margin, but got 'hinge'."),
        ("fgsm", {"target": 1.5}, "fgsm: target should be None (untargeted), 'random' or a class index >= 0"),
        ("pgd_linf", {"restarts": 2, "random_start": False}, "pgd_linf: restarts > 1 needs random_start=True"),
    ],
)
def test_refusals_name_the_attack_and_the_parameter(name: str, kwargs: dict, message: str) -> None:
    with pytest.raises(UsageError, match="^" + re.escape(message)):
        attacks.create(name, **kwargs)
