"""Issue 12 item 7: attack results do not depend on --batch-size (randomness keyed per sample)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robustness.api import run_audit
from robustness.results.store import Store
from robustness.run.config import AuditConfig

ATTACKS = ("fgsm", "pgd_linf", "pgd_l2", "apgd_ce_linf", "apgd_t_l2", "noise_linf")
PARAMS = {
    "pgd_l2": {"target": "random", "random_start": True},  # a random target class and a random start per sample
    "apgd_ce_linf": {"n_iter": 5, "n_restarts": 2},
    "apgd_t_l2": {"n_iter": 4, "n_target_classes": 2},
}


def _bits(tmp_path: Path, batch_size: int) -> dict[str, np.ndarray]:
    config = AuditConfig(
        n=48, corruptions=("none",), attacks=ATTACKS, attack_params=PARAMS, eps=(0.05, 0.1), eps_l2=(1.0,),
        batch_size=batch_size, sanity=False, out=str(tmp_path / f"out{batch_size}"),
        store=str(tmp_path / f"store{batch_size}.sqlite"),
    )  # fmt: skip
    outcome = run_audit(config)
    with Store(outcome.store, readonly=True) as store:
        return {k: v for k, v in store.bits(outcome.run_id).items() if k.startswith("attack/")}


def test_attack_bits_are_the_same_at_two_batch_sizes(tmp_path: Path, digits_weights: str) -> None:
    small, large = _bits(tmp_path, 7), _bits(tmp_path, 48)
    assert set(small) == set(large) and len(small) == 4 * 2 + 2 * 1 + 2 + 1  # attack x eps cells, worst cases
    differ = {k: int((small[k] != large[k]).sum()) for k in small}
    assert not any(differ.values()), differ
    assert any(not v.all() for v in small.values())  # the attacks did fool something: the bits carry information
