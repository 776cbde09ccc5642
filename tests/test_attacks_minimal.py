"""Minimum-norm and gradient-free attacks: verified distances serve every epsilon."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import attacks
from attacks.base import MinimalAttack
from attacks.geometry import Norm
from tests.conftest_attacks import digits, net  # noqa: F401  (fixtures)

MINIMAL = [
    pytest.param("deepfool_linf", {}, id="deepfool_linf"),
    pytest.param("deepfool_l2", {}, id="deepfool_l2"),
    pytest.param("fmn_linf", {"steps": 15}, id="fmn_linf"),
    pytest.param("ddn_l2", {"steps": 15}, id="ddn_l2"),
    pytest.param("cw_l2", {"binary_search_steps": 3, "steps": 15, "max_samples": None}, id="cw_l2"),
]


@pytest.mark.parametrize(("name", "kwargs"), MINIMAL)
def test_one_run_serves_every_epsilon_consistently(name: str, kwargs: dict, net, digits, monkeypatch) -> None:  # noqa: F811
    x, y = digits
    x, y = x[:80], y[:80]
    attack = attacks.create(name, **kwargs)
    calls = []
    original = type(attack).minimize

    def counted(self, *args, **kw):  # noqa: ANN001, ANN002, ANN003, ANN202
        calls.append(1)
        return original(self, *args, **kw)

    monkeypatch.setattr(type(attack), "minimize", counted)
    eps = (0.05, 0.1, 0.2) if attack.norm is Norm.LINF else (0.3, 0.6, 1.2)
    result = attack.sweep(net, x, y, eps)
    assert len(calls) == 1
    d = result.distances
    correct = result.clean_correct
    assert np.all(np.isnan(d[~correct])) and not np.any(np.isnan(d[correct]))
    found = np.isfinite(d)
    assert found.sum() > correct.sum() // 2
    for k, e in enumerate(eps):
        # a verified distance within the budget means fooled at that budget
        assert np.all(result.fooled[k][found & (d <= e)])
        assert np.all(result.robust[k] <= correct)


def test_deepfool_matches_foolbox_at_budgets_where_it_matters(net, digits) -> None:  # noqa: F811
    """At L2 0.3 / 0.5 / 0.7 robust accuracy is ~77% / 50% / 23% (at 1.0 both attacks are near 3% and any
    weaker variant agrees). Measured: equal to foolbox's at all three; 2 candidate classes instead of 4 is
    3.4 points weaker at 0.7, 2 steps instead of 50 is 40+ points weaker, and either fails here."""
    import foolbox as fb

    x, y = digits
    x, y = x[:120], y[:120]
    epsilons = [0.3, 0.5, 0.7]
    ours = attacks.create("deepfool_l2").sweep(net, x, y, epsilons)
    fmodel = fb.PyTorchModel(net, bounds=(0, 1))
    _, _, success = fb.attacks.L2DeepFoolAttack(candidates=4)(fmodel, x, y, epsilons=epsilons)
    theirs = (1 - success.float().mean(1)).numpy()
    assert 0.3 <= theirs[1] <= 0.7
    np.testing.assert_allclose(ours.accuracy, theirs, atol=0.02)


def test_gradient_free_attacks_run_on_a_subset(net, digits) -> None:  # noqa: F811
    x, y = digits
    hsj = attacks.create("hsj_l2", max_samples=5, steps=2, initial_gradient_eval_steps=10)
    result = hsj.sweep(net, x[:60], y[:60], [1.0, 3.0], seed=0)
    assert result.attacked.sum() == 5
    assert np.all(np.isnan(result.distances[~result.attacked]))
    assert not result.fooled[:, ~result.attacked].any()
    assert np.all(np.isfinite(result.distances[result.attacked]))  # HSJ starts from an adversarial
    noise = attacks.create("noise_linf", repeats=3, max_samples=20).sweep(net, x[:60], y[:60], [0.3], seed=0)
    assert noise.attacked.sum() == 20
    assert attacks.records(noise)[0]["attacked"] == 20


def test_hsj_refuses_other_pixel_bounds(digits) -> None:  # noqa: F811
    from robustness.core.errors import UsageError
    from robustness.models.classifier import Classifier
    from tests.conftest_attacks import make_classifier

    x, y = digits
    wide = Classifier(make_classifier(), num_classes=10, input_shape=(1, 8, 8), bounds=(0.0, 2.0))
    with pytest.raises(UsageError, match="bounds should be \\(0, 1\\)"):
        attacks.create("hsj_l2").sweep(wide, x[:4], y[:4], [1.0])


def test_minimal_attack_distance_is_measured_not_trusted(net, digits) -> None:  # noqa: F811
    class Overshoot(MinimalAttack):
        """Returns a strong adversarial far away: its distance must be what was measured."""

        name = "overshoot"
        norm = Norm.LINF

        def minimize(self, model, x, y, *, seed, targets):  # noqa: ANN001, ANN202
            return attacks.create("pgd_linf", steps=20).perturb(model, x, y, 0.4, seed=seed, targets=None, state=None)

    x, y = digits
    result = Overshoot().sweep(net, x[:40], y[:40], [0.1, 0.4], keep_examples=True)
    found = np.isfinite(result.distances)
    assert np.all(result.distances[found] <= 0.4 + 1e-6)
    with torch.no_grad():
        assert bool((net(result.examples[0.4]).argmax(1)[torch.as_tensor(found)] != y[:40][found]).all())
