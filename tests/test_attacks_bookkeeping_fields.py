"""Bookkeeping, field by field: what each SweepResult, row and summary holds, on hand-checkable cases.

The attacks here are tiny hand-written subclasses on a "brightest pixel" classifier (3 pixels, 3 classes:
the predicted class is the index of the largest pixel), so every projection, verification and distance
below can be worked out on paper; the combining functions get hand-built :class:`SweepResult` objects.
Pixel values are dyadic (multiples of 1/16) so float32 holds them exactly.
"""

from __future__ import annotations

import math
import re
import time
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import attacks
from attacks.base import FixedBudgetAttack, MinimalAttack, SweepResult
from attacks.geometry import Norm
from robustness.core.errors import UsageError
from robustness.models.classifier import Classifier

T, F_ = True, False


def _brightest(num_classes: int = 3) -> Classifier:
    """The predicted class is the brightest of the image's ``num_classes`` pixels (an identity linear layer)."""
    layer = nn.Linear(num_classes, num_classes, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.eye(num_classes))
    model = nn.Sequential(nn.Flatten(), layer).eval()
    return Classifier(model, num_classes=num_classes, input_shape=(1, 1, num_classes), name="brightest")


class _Band(nn.Module):
    """Two classes: 1 when the first pixel lies strictly inside (0.375, 0.625), else 0 (not monotone)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = x.flatten(1)[:, 0]
        inside = ((v > 0.375) & (v < 0.625)).to(x.dtype)
        return torch.stack([1 - inside, inside], 1)


def _band() -> Classifier:
    return Classifier(_Band().eval(), num_classes=2, input_shape=(1, 1, 2), name="band")


def _images(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32).view(len(rows), 1, 1, -1)


def _labels(values: list[int]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.long)


def _exactly(message: str) -> str:
    """A ``pytest.raises`` pattern for the whole message, nothing before or after it."""
    return f"^{re.escape(message)}$"


class _Toward(FixedBudgetAttack):
    """Moves each sample by epsilon from its class's pixel to the next class's pixel; records what it was asked.

    The direction is computed once per sweep by ``prepare`` (like FGSM's gradient sign) and ignores any
    target, so a targeted run lands on the wrong class whenever the target is not the next class.
    """

    name = "toward"
    norm = Norm.LINF
    supports_targeted = True

    def __init__(self, *, target: int | str | None = None, max_samples: int | None = None) -> None:
        self.target = target
        self.max_samples = max_samples
        self.prepared: list[list[int] | None] = []
        self.calls: list[dict] = []

    def prepare(self, model, x, y, *, targets):
        self.prepared.append(None if targets is None else targets.tolist())
        classes = x.flatten(1).shape[1]
        step = F.one_hot((y + 1) % classes, classes) - F.one_hot(y, classes)
        return step.to(x.dtype).view(x.shape)

    def perturb(self, model, x, y, epsilon, *, seed, targets, state):
        self.calls.append(
            {"epsilon": epsilon, "n": len(x), "seed": seed, "targets": None if targets is None else targets.tolist()}
        )
        return (x + epsilon * state).clamp(0, 1)


class _UntargetedToward(_Toward):
    """The same moves, for an attack that cannot take targets."""

    name = "untargeted_toward"
    supports_targeted = False


class _Planted(MinimalAttack):
    """Returns planted answers, looked up by image content, as float64 (the way numpy-backed attacks return)."""

    name = "planted"
    norm = Norm.LINF
    supports_targeted = True

    def __init__(self, x_all: torch.Tensor, answers: list[list[float]], *, target: int | str | None = None) -> None:
        self.x_all = x_all.flatten(1)
        self.answers = torch.tensor(answers, dtype=torch.float64).view(x_all.shape)
        self.target = target
        self.calls: list[dict] = []

    def minimize(self, model, x, y, *, seed, targets):
        self.calls.append({"n": len(x), "seed": seed, "targets": None if targets is None else targets.tolist()})
        rows = [int(torch.nonzero((self.x_all == row.flatten()).all(1))[0]) for row in x]
        return self.answers[rows]


# ---------------------------------------------------------------------------------------------------------------
# MinimalAttack: one minimize, verified, then served to every budget (shrunk and re-verified outside the ball)


def test_minimal_attack_is_shrunk_and_reverified_at_each_budget() -> None:
    model = _brightest()
    x = _images([[0.5, 0.25, 0], [0.75, 0.125, 0], [0.5, 0, 0.25], [0, 0.5, 0]])
    y = _labels([0, 0, 0, 0])  # the last image is predicted 1: clean-incorrect, never attacked
    answers = [
        [0, 1, 0],  # class 1 at Linf 0.75; its projection on the 0.25 ball, [0.25, 0.5, 0], still fools
        [0.25, 0.875, 0],  # class 1 at Linf 0.75; [0.5, 0.375, 0] at 0.25 does not: fooled from 0.75 on
        [1, 0, 0.25],  # class 0: nothing found
        [0, 0.5, 0],
    ]
    attack = _Planted(x, answers)
    result = attack.sweep(model, x, y, (1.0, 0.0625, 0.25), keep_examples=True)
    assert attack.calls == [{"n": 3, "seed": 0, "targets": None}]  # the clean-correct ones, sweep's seed 0
    assert result.epsilons == (1.0, 0.0625, 0.25)  # the caller's order
    assert result.clean_correct.tolist() == [T, T, T, F_]
    assert result.attacked.tolist() == [T, T, T, F_]
    assert result.robust.tolist() == [[F_, F_, T, F_], [T, T, T, F_], [F_, T, T, F_]]
    # the distance is the smallest verified one: the 0.25 projection for the first sample
    np.testing.assert_array_equal(result.distances, [0.25, 0.75, np.inf, np.nan])
    assert not result.targeted
    # what is served at each budget: the answer inside the ball, its projection outside, x where not attacked
    ex = {e: v.flatten(1).tolist() for e, v in result.examples.items()}
    assert set(ex) == {1.0, 0.0625, 0.25}
    assert ex[1.0] == [[0, 1, 0], [0.25, 0.875, 0], [1, 0, 0.25], [0, 0.5, 0]]
    assert ex[0.25] == [[0.25, 0.5, 0], [0.5, 0.375, 0], [0.75, 0, 0.25], [0, 0.5, 0]]
    assert ex[0.0625] == [[0.4375, 0.3125, 0], [0.6875, 0.1875, 0], [0.5625, 0, 0.25], [0, 0.5, 0]]
    assert all(v.dtype == torch.float32 for v in result.examples.values())
    # the distances and the budget rows tell the same story
    assert attacks.fooled_at(result, 0.25).tolist() == [T, F_, F_, F_]
    assert attacks.fooled_at(result, 0.75).tolist() == [T, T, F_, F_]


def test_minimal_attack_counts_only_what_the_attack_found() -> None:
    # a non-monotone decision: the answer [1, 0] is class 0 (nothing found), although the point [0.5, 0]
    # between it and x is class 1; the bookkeeping shrinks found adversarials, it never searches itself
    model = _band()
    x = _images([[0.25, 0], [0.75, 0.5]])
    y = _labels([0, 0])
    attack = _Planted(x, [[1, 0], [0.5, 0.5]])  # the second: class 1 at Linf 0.25
    result = attack.sweep(model, x, y, (0.0625, 0.25, 1.0))
    assert result.robust.tolist() == [[T, T], [T, F_], [T, F_]]
    np.testing.assert_array_equal(result.distances, [np.inf, 0.25])
    assert result.examples == {}  # keep_examples defaults to False


def test_targeted_minimal_attack_counts_the_target_only() -> None:
    model = _brightest()
    x = _images([[0.5, 0.25, 0], [0.75, 0.125, 0], [0, 0.25, 0.5], [0, 0.5, 0.25]])
    y = _labels([0, 0, 2, 0])  # the last is predicted 1: clean-incorrect
    targets = _labels([2, 2, 2, 2])  # the third already is its target: nothing to attack
    answers = [
        [0, 0.5, 1],  # the target 2, at Linf 1.0; its projection on the 0.375 ball, [0.125, 0.5, 0.375], is 1
        [0.25, 0.875, 0],  # class 1, not the target: nothing found
        [0, 0.25, 0.5],
        [0, 0.5, 0.25],
    ]
    attack = _Planted(x, answers)
    result = attack.sweep(model, x, y, (0.375, 1.0), targets=targets)
    assert attack.calls == [{"n": 2, "seed": 0, "targets": [2, 2]}]
    assert result.targeted
    assert result.attacked.tolist() == [T, T, F_, F_]
    assert result.robust.tolist() == [[T, T, T, F_], [F_, T, T, F_]]
    np.testing.assert_array_equal(result.distances, [1.0, np.inf, np.nan, np.nan])


# ---------------------------------------------------------------------------------------------------------------
# FixedBudgetAttack: prepare once, then each budget on the samples not yet fooled, verified


def test_fixed_budget_targeted_run_is_verified_against_the_target() -> None:
    model = _brightest()
    x = _images([[0.5, 0.125, 0], [0.5, 0.375, 0], [0, 0.25, 0.5]])
    y = _labels([0, 0, 2])
    targets = _labels([2, 1, 2])
    attack = _Toward(max_samples=5)
    start = time.perf_counter()
    result = attack.sweep(model, x, y, [0.25, 0.125], targets=targets)
    elapsed = time.perf_counter() - start
    # prepare sees the attackable samples and their targets; each budget only the ones not yet fooled
    assert attack.prepared == [[2, 1]]
    assert attack.calls == [
        {"epsilon": 0.125, "n": 2, "seed": 0, "targets": [2, 1]},
        {"epsilon": 0.25, "n": 1, "seed": 0, "targets": [2]},
    ]
    # the first lands on class 1 at 0.25, not its target 2: not fooled; the second reaches its target at 0.125
    assert result.robust.tolist() == [[T, F_, T], [T, F_, T]]
    assert result.attacked.tolist() == [T, T, F_]
    assert result.targeted
    assert result.attack == "toward" and result.norm is Norm.LINF and result.epsilons == (0.25, 0.125)
    assert result.hyperparameters == {"target": None, "max_samples": 5}
    assert result.distances is None
    assert result.examples == {}
    assert 0 < result.seconds <= elapsed


def test_sweep_passes_its_seed_and_keeps_examples_on_request() -> None:
    model = _brightest()
    x = _images([[0.5, 0.375, 0], [0.75, 0, 0.125]])
    y = _labels([0, 0])
    attack = _Toward()
    result = attack.sweep(model, x, y, [0.125], seed=7, keep_examples=True)
    assert [c["seed"] for c in attack.calls] == [7]
    assert result.robust.tolist() == [[F_, T]]
    assert result.examples[0.125].flatten(1).tolist() == [[0.375, 0.5, 0], [0.625, 0.125, 0.125]]


def test_fixed_target_class() -> None:
    model = _brightest()
    x = _images([[0.25, 0.5, 0], [0.375, 0, 0.5], [0.5, 0.25, 0]])
    y = _labels([1, 2, 0])
    attack = _Toward(target=0)  # class 0 is a valid target
    result = attack.sweep(model, x, y, [0.125])
    assert attack.prepared == [[0, 0]]  # the third is of class 0 already
    assert result.targeted
    assert result.attacked.tolist() == [T, T, F_]
    # the first still reads 1 ([0.25, 0.375, 0.125]), the second becomes 0 ([0.5, 0, 0.375]): its target
    assert result.robust.tolist() == [[T, F_, T]]
    with pytest.raises(UsageError, match=_exactly("target should be a class index in [0, 3), but got 3.")):
        _Toward(target=3).sweep(model, x, y, [0.125])


def test_random_targets_are_uniform_over_the_wrong_classes_and_keyed_by_content() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(300, 1, 1, 3, generator=gen)
    model = _brightest()
    y = x.flatten(1).argmax(1)  # every sample is clean-correct
    attack = _Toward(target="random")
    result = attack.sweep(model, x, y, [0.0625], seed=3)
    assert result.targeted and result.attacked.all()  # a random target is never the label
    drawn = torch.tensor(attack.prepared[0])
    offset = ((drawn - y) % 3).tolist()
    assert set(offset) <= {1, 2}
    # uniform over the two wrong classes: Binomial(300, 1/2) lies in [100, 200] but with probability ~1e-8
    assert 100 <= offset.count(1) <= 200
    # reproducible, keyed by the image (not its position), and a new seed draws anew
    perm = torch.randperm(300, generator=gen)
    attack.sweep(model, x[perm], y[perm], [0.0625], seed=3)
    assert attack.prepared[1] == drawn[perm].tolist()
    attack.sweep(model, x, y, [0.0625], seed=4)
    assert attack.prepared[2] != attack.prepared[0]


def test_target_refusals_name_the_problem() -> None:
    model = _brightest()
    x = _images([[0.5, 0.25, 0], [0.25, 0.5, 0], [0, 0.25, 0.5], [0.5, 0, 0.25]])
    y = _labels([0, 1, 2, 0])
    with pytest.raises(UsageError, match=_exactly("targets should have shape (4,) (one per sample), but got (3,).")):
        _Toward().sweep(model, x, y, [0.1], targets=_labels([1, 2, 0]))
    with pytest.raises(UsageError) as info:
        _UntargetedToward().sweep(model, x, y, [0.1], targets=_labels([1, 2, 0, 1]))
    message = str(info.value)
    assert message.startswith("attack 'untargeted_toward' is untargeted only, but targets were given; ")
    listed = re.search(r"use a targeted-capable attack \((.*)\)\.$", message).group(1).split(", ")
    capable = {n for n, c in attacks.ATTACKS.items() if c.supports_targeted}
    assert "pgd_linf" in capable and "deepfool_linf" not in capable
    assert sorted(listed) == sorted(capable)


def test_max_samples_attacks_a_content_keyed_subset_of_the_clean_correct() -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(12, 1, 1, 3, generator=gen)
    y = x.flatten(1).argmax(1)
    y[[2, 7]] = (y[[2, 7]] + 1) % 3  # two clean-incorrect samples
    model = _brightest()
    attack = _Toward(max_samples=4)
    result = attack.sweep(model, x, y, [0.05, 0.5])
    assert attack.calls[0]["n"] == 4
    assert result.attacked.dtype == bool
    assert int(result.attacked.sum()) == 4
    assert not (result.attacked & ~result.clean_correct).any()
    left_out = result.clean_correct & ~result.attacked
    assert int(left_out.sum()) == 6
    assert result.robust[:, left_out].all()  # samples not attacked count as robust
    assert attacks.records(result)[0]["attacked"] == 4
    # which samples are drawn depends on their content, not their position in the batch
    perm = torch.randperm(12, generator=gen)
    again = _Toward(max_samples=4).sweep(model, x[perm], y[perm], [0.05, 0.5])
    assert again.attacked.tolist() == result.attacked[perm.numpy()].tolist()
    # a cap at or above the number of clean-correct samples attacks them all
    assert np.array_equal(_Toward(max_samples=10).sweep(model, x, y, [0.05]).attacked, result.clean_correct)


def test_repr_and_describe() -> None:
    assert repr(_Toward()) == "toward"
    assert repr(_Toward(max_samples=5)) == "toward(max_samples=5)"
    assert repr(_Toward(target="random", max_samples=5)) == "toward(target='random', max_samples=5)"
    assert _Toward(max_samples=5).describe() == {
        "name": "toward",
        "norm": "linf",
        "minimal": False,
        "gradient_free": False,
        "targeted_supported": True,
        "backend": "torch",
        "summary": "Moves each sample by epsilon from its class's pixel to the next class's pixel; records what it was asked.",
        "hyperparameters": {"target": None, "max_samples": 5},
        "defaults": {"target": None, "max_samples": None},
    }
    assert _Planted(_images([[0, 0, 0]]), [[0, 0, 0]]).describe()["minimal"] is True


# ---------------------------------------------------------------------------------------------------------------
# records, concat, fooled_at, worst_case, distance_summary on hand-built results


def test_records_rows_hold_counts_accuracies_and_labels() -> None:
    result = SweepResult(
        "pgd_linf", Norm.LINF, (0.1, 0.3),
        robust=np.array([[T, F_, T, F_], [F_, F_, T, F_]]), clean_correct=np.array([T, T, T, F_]),
        attacked=np.array([T, T, F_, F_]), targeted=True, seconds=2.5,
    )  # fmt: skip
    common = {"attack": "pgd_linf", "norm": "linf", "n": 4, "clean_correct": 3, "attacked": 2,
              "clean_accuracy": 0.75, "targeted": True, "seconds": 2.5}  # fmt: skip
    assert attacks.records(result) == [
        {**common, "epsilon": 0.1, "correct": 2, "accuracy": 0.5},
        {**common, "epsilon": 0.3, "correct": 1, "accuracy": 0.25},
    ]
    # a result that does not say which samples were attacked: all clean-correct ones were
    result.attacked = None
    assert [r["attacked"] for r in attacks.records(result)] == [3, 3]


def _minimal_part(robust, clean, distances, attacked, seconds, examples=True) -> SweepResult:
    n = len(clean)
    return SweepResult(
        "fmn_linf", Norm.LINF, (0.1, 0.3), np.array(robust, dtype=bool), np.array(clean, dtype=bool),
        distances=np.array(distances, dtype=float),
        examples={e: torch.full((n, 1, 1, 3), k + seconds) for k, e in enumerate((0.1, 0.3))} if examples else {},
        attacked=None if attacked is None else np.array(attacked, dtype=bool),
        targeted=True, hyperparameters={"steps": 10}, seconds=seconds,
    )  # fmt: skip


def test_concat_joins_every_field() -> None:
    a = _minimal_part([[T, F_], [F_, F_]], [T, T], [0.2, 0.05], [T, T], 1.5)
    b = _minimal_part([[F_, T, F_], [F_, T, F_]], [F_, T, T], [np.nan, np.inf, 0.1], [F_, T, T], 2.25)
    joined = attacks.concat([a, b])
    assert (joined.attack, joined.norm, joined.epsilons) == ("fmn_linf", Norm.LINF, (0.1, 0.3))
    assert joined.robust.tolist() == [[T, F_, F_, T, F_], [F_, F_, F_, T, F_]]
    assert joined.clean_correct.tolist() == [T, T, F_, T, T]
    np.testing.assert_array_equal(joined.distances, [0.2, 0.05, np.nan, np.inf, 0.1])
    assert joined.attacked.tolist() == [T, T, F_, T, T]
    assert joined.targeted is True
    assert joined.hyperparameters == {"steps": 10}
    assert joined.seconds == 3.75
    assert set(joined.examples) == {0.1, 0.3}
    assert joined.examples[0.1].flatten(1)[:, 0].tolist() == [1.5, 1.5, 2.25, 2.25, 2.25]
    assert joined.examples[0.3].flatten(1)[:, 0].tolist() == [2.5, 2.5, 3.25, 3.25, 3.25]
    # examples only when every part kept them; a part without `attacked` counts its clean-correct samples
    c = _minimal_part([[T], [T]], [T], [np.inf], None, 1.0, examples=False)
    partial = attacks.concat([a, c])
    assert partial.examples == {}
    assert partial.attacked.tolist() == [T, T, T]
    # results without distances stay without
    plain = [SweepResult("fgsm", Norm.LINF, (0.1,), np.array([[T]]), np.array([T])) for _ in range(2)]
    assert attacks.concat(plain).distances is None


def test_concat_refusals() -> None:
    with pytest.raises(
        UsageError, match=_exactly("concat: results should hold at least one SweepResult, but got none.")
    ):
        attacks.concat([])
    a = SweepResult("fgsm", Norm.LINF, (0.1,), np.array([[T]]), np.array([T]))
    b = SweepResult("fgsm", Norm.LINF, (0.2,), np.array([[T]]), np.array([T]))
    expected = "concat: results should share attack, norm and epsilons, but got fgsm/linf/(0.1,) and fgsm/linf/(0.2,); "
    with pytest.raises(UsageError, match=_exactly(expected + "concatenate per attack.")):
        attacks.concat([a, b])


def test_fooled_at_counts_every_smaller_budget_and_verified_distances() -> None:
    robust = [[F_, F_, F_, T, T, F_], [F_, T, T, T, T, F_]]  # rows in the caller's order: 0.3, then 0.1
    clean = [T, T, T, T, T, F_]
    # a Linf retry at 0.1 measures its example at float32(0.1) = 0.10000000149 > 0.1: the row still counts
    distances = [float(np.float32(0.1)), 0.3, 0.2, np.nan, np.inf, 0.0]
    minimal = SweepResult("fmn_linf", Norm.LINF, (0.3, 0.1), np.array(robust), np.array(clean), np.array(distances))
    assert attacks.fooled_at(minimal, 0.0).tolist() == [F_] * 6  # not attacked (nan), clean-incorrect: never
    assert attacks.fooled_at(minimal, 0.1).tolist() == [T, F_, F_, F_, F_, F_]
    assert attacks.fooled_at(minimal, 0.2).tolist() == [T, F_, T, F_, F_, F_]  # a distance equal to the budget
    assert attacks.fooled_at(minimal, 0.3).tolist() == [T, T, T, F_, F_, F_]
    grid = SweepResult("pgd_linf", Norm.LINF, (0.3, 0.1), np.array(robust), np.array(clean))
    assert attacks.fooled_at(grid, 0.05).tolist() == [F_] * 6
    assert attacks.fooled_at(grid, 0.2).tolist() == [T, F_, F_, F_, F_, F_]
    assert attacks.fooled_at(grid, 0.3).tolist() == [T, T, T, F_, F_, F_]
    assert attacks.fooled_at(grid, 1.0).tolist() == [T, T, T, F_, F_, F_]


def test_worst_case_fields() -> None:
    clean = np.array([T, T, T, T])
    m1 = SweepResult(
        "fmn_linf",
        Norm.LINF,
        (0.3,),
        np.array([[T, T, T, T]]),
        clean,
        distances=np.array([0.5, np.nan, np.nan, 0.4]),
        attacked=np.array([T, F_, F_, T]),
        seconds=1.0,
    )
    grid = SweepResult(
        "pgd_linf", Norm.LINF, (0.1,), np.array([[T, T, T, F_]]), clean, attacked=np.array([F_, F_, F_, T]), seconds=2.0
    )
    l2 = SweepResult("pgd_l2", Norm.L2, (1.0,), np.array([[F_, T, T, T]]), clean, seconds=4.0)
    m2 = SweepResult(
        "fab_t_linf",
        Norm.LINF,
        (0.3,),
        np.array([[T, F_, T, T]]),
        clean,
        distances=np.array([0.75, 0.25, np.nan, np.inf]),
        attacked=np.array([T, T, F_, T]),
        seconds=0.5,
    )
    linf, l2w = attacks.worst_case([m1, grid, l2, m2], name="mine")
    assert (linf.attack, linf.norm, linf.epsilons) == ("mine_linf", Norm.LINF, (0.1, 0.3))
    assert linf.robust.tolist() == [[T, T, T, F_], [T, F_, T, F_]]
    # per sample the smallest distance any minimal attack verified; nan only where none attacked it
    np.testing.assert_array_equal(linf.distances, [0.5, 0.25, np.nan, 0.4])
    assert linf.attacked.tolist() == [T, T, F_, T]
    assert linf.hyperparameters == {"attacks": ["fmn_linf", "pgd_linf", "fab_t_linf"]}
    assert linf.seconds == 3.5
    assert (l2w.attack, l2w.epsilons, l2w.robust.tolist()) == ("mine_l2", (1.0,), [[F_, T, T, T]])
    assert l2w.distances is None
    assert l2w.attacked.tolist() == [T, T, T, T]  # no attacked mask: its clean-correct samples
    assert l2w.hyperparameters == {"attacks": ["pgd_l2"]}
    assert l2w.seconds == 4.0


def test_worst_case_refusals() -> None:
    with pytest.raises(
        UsageError, match=_exactly("worst_case: results should hold at least one SweepResult, but got none.")
    ):
        attacks.worst_case([])
    a = SweepResult("fgsm", Norm.LINF, (0.1,), np.array([[T, T]]), np.array([T, T]))
    b = SweepResult("pgd_linf", Norm.LINF, (0.1,), np.array([[T]]), np.array([T]))
    expected = (
        "worst_case: results should cover the same samples, but got sample counts [1, 2]; "
        "concatenate each attack's batches with attacks.concat first."
    )
    with pytest.raises(UsageError, match=_exactly(expected)):
        attacks.worst_case([a, b])


def _with_distances(clean: list[bool], distances: list[float]) -> SweepResult:
    robust = np.array([clean], dtype=bool)
    return SweepResult("fmn_linf", Norm.LINF, (0.3,), robust, np.array(clean), distances=np.array(distances))


def test_distance_summary_values() -> None:
    # attacked: the clean-correct samples with a distance (nan: not attacked); inf: attacked, nothing found
    result = _with_distances([T, T, T, T, T, F_], [0.5, 0.25, np.inf, 1.0, np.nan, 0.0])
    # sorted [0.25, 0.5, 1.0, inf]; "lower" quantiles pick the element at floor(q * 3)
    assert attacks.distance_summary(result) == {
        "attack": "fmn_linf", "norm": "linf", "n_attacked": 4, "n_found": 3,
        "median": 0.5, "mean_found": pytest.approx(1.75 / 3),
        "q10": 0.25, "q25": 0.25, "q50": 0.5, "q75": 1.0, "q90": 1.0,
    }  # fmt: skip
    mostly_unfooled = attacks.distance_summary(_with_distances([T, T, T], [np.inf, 0.5, np.inf]))
    assert mostly_unfooled["median"] == math.inf and mostly_unfooled["q10"] == 0.5
    assert mostly_unfooled["mean_found"] == 0.5


def test_distance_summary_of_nothing_found_or_nothing_attacked() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "mean of empty slice" noise in the report
        nothing_found = attacks.distance_summary(_with_distances([T, T], [np.inf, np.inf]))
        nothing_attacked = attacks.distance_summary(_with_distances([T, F_], [np.nan, 0.5]))
    assert (nothing_found["n_attacked"], nothing_found["n_found"]) == (2, 0)
    assert nothing_found["median"] == math.inf and math.isnan(nothing_found["mean_found"])
    assert (nothing_attacked["n_attacked"], nothing_attacked["n_found"]) == (0, 0)
    assert set(nothing_attacked) == {"attack", "norm", "n_attacked", "n_found", "median", "mean_found",
                                     "q10", "q25", "q50", "q75", "q90"}  # fmt: skip
    assert all(isinstance(v, float) and math.isnan(v) for k, v in nothing_attacked.items() if k[0] in "mq")
    plain = SweepResult("pgd_linf", Norm.LINF, (0.3,), np.array([[T]]), np.array([T]))
    expected = "distance_summary: pgd_linf is not a minimum-norm attack (it has no distances)."
    with pytest.raises(UsageError, match=_exactly(expected)):
        attacks.distance_summary(plain)
