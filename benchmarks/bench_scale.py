"""Scale: peak memory for 2,000 vs 20,000 images, and Ray with 1 vs 2 workers.

Run: ``python benchmarks/bench_scale.py`` (writes the ``## Scale`` section of BENCHMARKS.md).

Each measurement is a separate ``robustness audit`` process (peak RSS from ``getrusage`` of
the child), on the lazily rendered ``shapes:N`` dataset with a random-init small CNN (no
training, so only the audit is measured).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.markdown_section import replace_section  # noqa: E402
from robustness.models.zoo import MODELS  # noqa: E402
from robustness.run.plan import make_plan  # noqa: E402

GRID = ["--corruptions", "gaussian_noise,rotation", "--severities", "1", "--attacks", "none", "--batch-size", "256"]
RAY_GRID = ["--corruptions", "lighting,geometric,occlusion", "--severities", "1-5", "--attacks", "fgsm,pgd_linf",
            "--eps", "0.03,0.1", "--batch-size", "100"]  # fmt: skip


#: runs the command given as its arguments and prints the peak RSS (KiB) of that one child: a
#: process's RUSAGE_CHILDREN is the maximum over every child it waited for, so each audit
#: gets a fresh parent of its own
PEAK_RSS = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:]).returncode\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def audit(args: list[str], workdir: Path) -> tuple[float, float]:
    """Run one audit in a child process; return (wall seconds, peak RSS in MiB of that child)."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, sys.executable, "-m", "robustness", "audit", *args],
        cwd=workdir, capture_output=True, text=True, env={**os.environ, "ROBUSTNESS_PROGRESS": "0"},
    )  # fmt: skip
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"audit failed: {proc.stderr}")
    return wall, int(proc.stderr.strip().splitlines()[-1]) / 1024


def ray_grid_size() -> str:
    """The cell count of RAY_GRID, read from the audit's own plan."""
    from robustness.cli.main import audit_config, build_parser

    plan = make_plan(audit_config(build_parser().parse_args(["audit", *RAY_GRID])))
    corruptions = len({c.perturbation for c in plan.corruption_cells})
    attack_cells = sum(len(t.cells) for t in plan.attack_tasks)
    return f"{len(plan.corruption_cells)} corruption cells ({corruptions} corruptions x 5 severities) + {attack_cells} attack cells"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        weights = work / "cnn.pt"
        torch.manual_seed(0)
        torch.save(MODELS.get("small-cnn")(3, 8).state_dict(), weights)
        common = ["--model", "small-cnn", "--weights", str(weights), "--out", str(work / "out")]
        rows = []
        for n in (2000, 20000):
            wall, rss = audit([*common, "--dataset", f"shapes:{n}", "--n", str(n), *GRID], work)
            rows.append((n, wall, rss))
        mem_ratio = rows[1][2] / rows[0][2]
        ray_rows = []
        for workers in (1, 2):
            wall, _ = audit(
                [*common, "--dataset", "shapes:2000", "--n", "2000", *RAY_GRID, "--backend", "ray",
                 "--workers", str(workers), "--store", str(work / f"ray{workers}.sqlite")],
                work,
            )  # fmt: skip
            ray_rows.append((workers, wall))
        local_wall, _ = audit(
            [*common, "--dataset", "shapes:2000", "--n", "2000", *RAY_GRID, "--store", str(work / "local.sqlite")], work
        )
    lines = [
        "Command: `python benchmarks/bench_scale.py` (2 CPU cores; each row is one `robustness audit` process).",
        "",
        "### Peak memory does not grow with dataset size",
        "",
        f"Grid: clean + `{' '.join(GRID)}` on lazily rendered `shapes:N`, random-init small CNN.",
        "",
        "| images | wall time (s) | peak RSS (MiB) |",
        "|--:|--:|--:|",
        *[f"| {n:,} | {wall:.1f} | {rss:.0f} |" for n, wall, rss in sorted(rows)],
        "",
        f"Peak RSS ratio 20,000 / 2,000 images: **{mem_ratio:.2f}x** (goal: at most 1.2x). Per-sample results are "
        "bit-packed in the store and images are rendered batch by batch.",
        "",
        "### Ray: the same grid with 1 and 2 workers",
        "",
        f"Grid: 2,000 `shapes` images, `{' '.join(RAY_GRID)}` ({ray_grid_size()}).",
        "",
        "| backend | wall time (s) |",
        "|:--|--:|",
        f"| local (one process) | {local_wall:.1f} |",
        *[f"| ray, {w} worker{'s' if w > 1 else ''} | {wall:.1f} |" for w, wall in ray_rows],
        "",
        f"Speed-up 2 vs 1 Ray workers: **{ray_rows[0][1] / ray_rows[1][1]:.2f}x** (wall time includes Ray start-up). "
        "A Ray worker runs torch on one thread (workers share the cores), so one worker is slower than the local "
        "backend, which gives torch both cores.",
    ]
    replace_section(ROOT / "BENCHMARKS.md", "Scale", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
