"""Cost of the per-sample outputs and attribution maps (issue 14): store bytes and seconds per run.

Run: ``python benchmarks/bench_explain.py STORE RUN_ID [ATTACK,...]`` on a finished default audit
(``robustness audit``), e.g. ``python benchmarks/bench_explain.py robustness-runs/store.sqlite <run id> fgsm,pgd_linf``
(the attacks to re-time; default: every attack of the run).

* storage: the store file size as written, and the size of a copy with the run's ``outputs/*``
  and ``report/attribution*`` artifacts deleted and both copies vacuumed (so only the new rows differ);
* time: the run's cells re-timed two ways on the same prepared audit: the default attacks with
  the sweep keeping its examples and computing output records (today) vs the bare sweep
  (before), and the clean cell with records vs argmax only; plus the attribution maps.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np


def vacuumed_size(path: Path, drop_new: bool) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "store.sqlite"
        src = sqlite3.connect(path)
        dst = sqlite3.connect(copy)
        src.backup(dst)
        src.close()
        if drop_new:
            dst.execute("DELETE FROM artifacts WHERE name LIKE 'outputs/%' OR name LIKE 'report/attribution%'")
            dst.commit()
        dst.execute("VACUUM")
        dst.close()
        return copy.stat().st_size


def timed(fn, *args, **kwargs) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def bare_attack(prep, task) -> None:  # type: ignore[no-untyped-def]
    """The attack cell as it ran before the output records: the sweep without kept examples."""
    import attacks
    from robustness import defenses

    attack = attacks.create(task.name, **task.params)
    model = defenses.attack_model(prep.config, prep.classifier)
    for batch in prep.dataset.batches(prep.config.batch_size, prep.positions):
        attack.sweep(model, batch.images, batch.labels, task.epsilons, seed=prep.config.seed * 1_000_003 + int(batch.indices[0]))


def bare_clean(prep) -> None:  # type: ignore[no-untyped-def]
    for b in prep.dataset.batches(prep.config.batch_size, prep.positions):
        prep.classifier.predict(b.images)


def main() -> None:
    import torch

    from robustness.results.store import Store
    from robustness.run import cells
    from robustness.run.attribution import save_attributions
    from robustness.run.config import AuditConfig
    from robustness.run.prepare import prepare

    store_path, run_id = Path(sys.argv[1]), sys.argv[2]
    torch.set_num_threads(2)
    with_new, without = vacuumed_size(store_path, False), vacuumed_size(store_path, True)
    with Store(store_path, readonly=True) as store:
        config = AuditConfig.from_dict(store.run(run_id)["config"])
        n_cells = len(store.finished_cells(run_id))
    prep = prepare(config)
    assert prep.run_id == run_id, f"the store's run {run_id} is not the default audit ({prep.run_id})"
    rows = [f"store: {with_new / 1e6:.2f} MB with, {without / 1e6:.2f} MB without ({(with_new - without) / 1e3:.0f} kB "
            f"more for {n_cells} cells x {len(prep.positions)} samples)"]  # fmt: skip
    new = timed(cells.evaluate_clean, prep)
    old = timed(bare_clean, prep)
    rows.append(f"clean cell: {new:.2f} s with records, {old:.2f} s argmax only")
    chosen = sys.argv[3].split(",") if len(sys.argv) > 3 else [t.name for t in prep.plan.attack_tasks]
    for task in [t for t in prep.plan.attack_tasks if t.name in chosen]:
        new, old = timed(cells.evaluate_attack, prep, task), timed(bare_attack, prep, task)
        rows.append(f"{task.name}: {new:.1f} s with records (kept examples), {old:.1f} s bare sweep")
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "store.sqlite"
        shutil.copy(store_path, copy)
        with Store(copy) as store:
            store._conn.execute("DELETE FROM artifacts WHERE name LIKE 'report/attribution%'")
            rows.append(f"attribution maps: {timed(save_attributions, prep, store):.1f} s")
    rows.append(f"load average: {open('/proc/loadavg').read().strip()}")
    print("\n".join(rows))


if __name__ == "__main__":
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    np.seterr(all="ignore")
    main()
