"""The attack sanity checks of a run, computed once from the stored bits and stored as an artifact."""

from __future__ import annotations

import numpy as np

import attacks
from robustness import defenses
from robustness.results.store import Store
from robustness.run.plan import CLEAN
from robustness.run.prepare import Prepared

SANITY_SAMPLES = 128


def run_sanity_checks(prep: Prepared, store: Store) -> None:
    """Evaluate the attack sanity checks once per run and store the flags (artifact ``sanity``).

    The result-level checks read the attacks' verified per-sample outcomes back from the store,
    so they work the same after a resume or on the Ray backend.
    """
    if not prep.config.sanity or not prep.plan.attack_tasks or store.artifact(prep.run_id, "sanity") is not None:
        return
    bits = store.bits(prep.run_id)
    clean = bits[CLEAN.key]
    results = []
    for task in prep.plan.attack_tasks:
        robust = np.stack([bits[c.key] for c in task.cells])
        distances = store.artifact(prep.run_id, f"distances/{task.name}")
        skipped = store.artifact(prep.run_id, f"skipped/{task.name}")  # absent: the attack ran on every sample
        attacked = None if skipped is None else ~skipped
        results.append(
            attacks.SweepResult(
                task.name, attacks.Norm(task.norm), task.epsilons, robust, clean, distances, attacked=attacked
            )
        )
    sample = prep.positions[:SANITY_SAMPLES]
    x, y = prep.dataset.load(sample)
    model = defenses.attack_model(prep.config, prep.classifier)  # the gradients the attacks saw
    flags = attacks.run_checks(model, x, y, results, seed=prep.config.seed)
    store.put_artifact(prep.run_id, "sanity", [flag.to_dict() for flag in flags])
