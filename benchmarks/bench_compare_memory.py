"""Peak memory of ``robustness compare``'s paired analysis on 2,000 and 20,000 samples, 3 runs.

Run: ``python benchmarks/bench_compare_memory.py`` (writes the ``## Comparison memory`` section of
BENCHMARKS.md); ``--code DIR`` measures another checkout's analysis on the same stores (e.g. the
tree before the bounded bootstrap: ``git archive c127f40 | tar -x -C /tmp/old``), ``--no-write``
prints only.

A synthetic store holds 3 runs on the same samples: clean, 15 corruptions x 5 severities and 2
attacks x 5 budgets plus their worst case (91 cells). Each measurement is a fresh process that
imports the suite, notes its RSS, runs ``compare_runs`` (2,000 bootstrap replicates, 10,000
sign flips) and reports its peak RSS (``getrusage``): the growth over the imports is what the
analysis itself holds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.markdown_section import replace_section  # noqa: E402
from robustness.results.store import CellResult, Store  # noqa: E402

CORRUPTIONS = ("gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur",
               "zoom_blur", "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate",
               "jpeg_compression")  # fmt: skip
ATTACKS = ("pgd_linf", "fgsm")
EPSILONS = (0.02, 0.05, 0.1, 0.2, 0.3)
RUNS = ("base", "better", "twin")

#: the child: imports, RSS after imports, the analysis, peak RSS and wall time as one JSON line
CHILD = """
import json, resource, sys, time
import pandas, scipy.stats  # the analysis' libraries, loaded before the baseline
import robustness.compare.analysis
from robustness.compare import RunRef, compare_runs
def rss_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
before = rss_kib()
start = time.perf_counter()
cmp = compare_runs(sys.argv[1], [RunRef(r, r) for r in sys.argv[2:]])
seconds = time.perf_counter() - start
print(json.dumps({"before": before, "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "seconds": seconds, "rows": len(cmp.table)}))
"""


#: the paired bootstrap alone on 75 cells x n samples: ``reports.stats`` here, ``reports.significance`` before
BOOTSTRAP = """
import importlib, json, resource, sys, time
import numpy as np
stats = importlib.import_module("reports.stats")
if not hasattr(stats, "bootstrap_difference"):  # the tree before one statistics module
    stats = importlib.import_module("reports.significance")
rng = np.random.default_rng(0)
n = int(sys.argv[1])
a, b = rng.random((75, n)) < 0.6, rng.random((75, n)) < 0.65
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
d = stats.bootstrap_difference(a, b, stats.mean_difference, n_boot=2000)
print(json.dumps({"before": before, "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "seconds": time.perf_counter() - start, "ci": [d.ci_low, d.ci_high]}))
"""


def cells(rng: np.random.Generator, n: int, skill: float) -> list[CellResult]:
    clean = rng.random(n) < 0.9 + 0.05 * skill
    out = [CellResult("clean", "clean", "clean", "clean", clean, 0.0)]
    for k, name in enumerate(CORRUPTIONS):
        for s in range(1, 6):
            ok = clean & (rng.random(n) < 0.95 - 0.08 * s + 0.05 * skill - 0.01 * k)
            out.append(CellResult(f"corruption/{name}/{s}", "corruption", name, "noise", ok, 0.0, severity=s))
    worst = {e: clean.copy() for e in EPSILONS}
    for name in ATTACKS:
        for e in EPSILONS:
            ok = clean & (rng.random(n) < 0.9 - 2 * e + 0.1 * skill)
            worst[e] &= ok
            out.append(CellResult(f"attack/{name}/linf/{e:.6g}", "attack", name, "attack", ok, 0.0, epsilon=e,
                                  norm="linf"))  # fmt: skip
    out += [CellResult(f"attack/worst_case/linf/{e:.6g}", "attack", "worst_case", "attack", ok, 0.0, epsilon=e,
                       norm="linf") for e, ok in worst.items()]  # fmt: skip
    return out


def build_store(path: Path, n: int) -> None:
    ids = np.arange(n)
    with Store(path) as store:
        for k, run in enumerate(RUNS):
            store.begin_run(run, model="m", dataset="synthetic", seed=0, config={}, info={"model": {}},
                            sample_ids=ids, labels=ids % 10)  # fmt: skip
            store.commit_cells(run, cells(np.random.default_rng(k), n, skill=(0.0, 0.5, 0.0)[k]))


def measure(store: Path, code: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(code), "NO_ALBUMENTATIONS_UPDATE": "1"}
    # cwd=code: `python -c` puts the working folder first on sys.path, before PYTHONPATH
    out = subprocess.run([sys.executable, "-c", CHILD, str(store), *RUNS], env=env, cwd=code, capture_output=True,
                         text=True)  # fmt: skip
    if out.returncode:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure_bootstrap(n: int, code: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(code)}
    out = subprocess.run([sys.executable, "-c", BOOTSTRAP, str(n)], env=env, cwd=code, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", default="2000,20000", help="comma-separated sample counts")
    parser.add_argument("--code", type=Path, action="append", help="checkout(s) whose analysis to measure")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--bootstrap-only", action="store_true", help="time the paired bootstrap alone; print only")
    args = parser.parse_args()
    codes = args.code or [ROOT]
    if args.bootstrap_only:
        for n in (int(v) for v in args.samples.split(",")):
            for code in codes:
                m = measure_bootstrap(n, code)
                load = Path("/proc/loadavg").read_text().split()[0]
                print(f"{code} | {n:,} | {m['seconds']:.1f} s | {(m['peak'] - m['before']) / 1024:.0f} MiB over the "
                      f"inputs | ci {m['ci'][0]:.4f}..{m['ci'][1]:.4f} | load {load}")  # fmt: skip
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(v) for v in args.samples.split(",")):
            store = Path(tmp) / f"store-{n}.sqlite"
            build_store(store, n)
            for code in codes:
                m = measure(store, code)
                label = "this tree" if code == ROOT else str(code)
                load = Path("/proc/loadavg").read_text().split()[0]
                rows.append([label, f"{n:,}", f"{m['seconds']:.1f}", f"{m['peak'] / 1024:.0f}",
                             f"{(m['peak'] - m['before']) / 1024:.0f}", load])  # fmt: skip
                print(" | ".join(rows[-1]), flush=True)
    table = ["| code | samples | seconds | peak RSS (MiB) | over imports (MiB) | load avg |", "|:--|--:|--:|--:|--:|--:|"]
    table += ["| " + " | ".join(r) + " |" for r in rows]
    body = (
        f"Command: `python benchmarks/bench_compare_memory.py {' '.join(sys.argv[1:])}` (2 CPU cores shared with other "
        "work; the load average is read after each row). 3 runs x 91 cells (clean, 15 corruptions x 5 severities, "
        "2 attacks x 5 budgets + worst case); `compare_runs` with 2,000 bootstrap replicates and 10,000 sign flips.\n\n"
        + "\n".join(table)
        + "\n\nThe paired bootstrap runs `scipy.stats.bootstrap(paired=True)` in batches of about 64 MiB "
        "(`reports.stats.paired.BATCH_BYTES`), so the analysis' memory no longer grows with n_boot x n; the tree "
        "before (c127f40) built dense `[n_boot, n]` resampling counts."
    )
    if not args.no_write:
        replace_section(ROOT / "BENCHMARKS.md", "Comparison memory", body)


if __name__ == "__main__":
    main()
