"""AutoAttack through the suite vs the authors' ``pyautoattack``, and the default audit's distance to it.

    python benchmarks/bench_autoattack.py [--n 100] [--eps 0.05,0.1,0.2] [--no-write]

On the embedded default model (``small-cnn`` on digits, the first ``--n`` test images), per
Linf budget: robust accuracy and wall time of

1. ``autoattack_linf`` through :func:`attacks.evaluate` (one sweep over every budget: samples
   fooled at a smaller budget are not attacked again), when FAB-T and Square are registered;
2. ``pyautoattack`` standard (APGD-CE, APGD-T, FAB-T, Square), one run per budget, as its
   README shows;
3. the embedded audit's Linf attacks (``robustness.run.config.AUDIT_ATTACKS``) and their worst case.

Writes the ``## AutoAttack`` section of BENCHMARKS.md with the load average (other sections kept).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import attacks
from attacks.base import ATTACKS
from attacks.geometry import Norm
from benchmarks.bench_attacks import default_model
from benchmarks.markdown_section import replace_section
from robustness.run.config import AUDIT_ATTACKS


def pyautoattack_accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> float:
    from pyautoattack import AutoAttack

    aa = AutoAttack(model, eps=eps, norm="Linf", version="standard", seed=0, device="cpu")
    aa.verbose = False
    adv, _ = aa.run_standard_evaluation(x, y, batch_size=len(x))
    with torch.no_grad():
        return float((model(adv).argmax(1) == y).float().mean())


def suite_accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, names: list[str], eps: tuple) -> tuple:
    start = time.perf_counter()
    result = attacks.evaluate(model, x, y, attacks=names, epsilons={"linf": eps}, checks=False)
    return result.worst[0].accuracy, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--eps", default="0.05,0.1,0.2")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    eps = tuple(float(e) for e in args.eps.split(","))
    model, x, y = default_model()
    x, y = x[: args.n], y[: args.n]
    load = [Path("/proc/loadavg").read_text().split()[:3]]
    start = time.perf_counter()
    theirs = [pyautoattack_accuracy(model, x, y, e) for e in eps]
    their_time = time.perf_counter() - start
    audit = [n for n in AUDIT_ATTACKS if ATTACKS.get(n).norm is Norm.LINF]
    lite, lite_time = suite_accuracy(model, x, y, audit, eps)
    rows = [("pyautoattack standard", theirs, their_time)]
    if all(n in ATTACKS for n in ("fab_t_linf", "square_linf")):
        ours, our_time = suite_accuracy(model, x, y, ["autoattack_linf"], eps)
        rows.insert(0, ("suite `--attacks autoattack`", list(ours), our_time))
    rows.append((f"default audit ({', '.join(audit)})", list(lite), lite_time))
    load.append(Path("/proc/loadavg").read_text().split()[:3])
    head = "| evaluation | " + " | ".join(f"eps {e:g}" for e in eps) + " | seconds | x pyautoattack time |"
    lines = [head, "|---|" + "---:|" * (len(eps) + 2)]
    for label, acc, sec in rows:
        cells = " | ".join(f"{a:.1%}" for a in acc)
        lines.append(f"| {label} | {cells} | {sec:.1f} | {sec / their_time:.2f} |")
    gap = " / ".join(f"{(a - t) * 100:+.1f}" for a, t in zip(lite, theirs))
    body = "\n".join([
        f"Model: the embedded default (`small-cnn` on digits), first {args.n} test images, Linf, seed 0, CPU, "
        f"{torch.get_num_threads()} torch threads. Command: `python benchmarks/bench_autoattack.py --n {args.n} "
        f"--eps {args.eps}`. Load average (1/5/15 min) before: {' '.join(load[0])}, after: {' '.join(load[1])}.",
        "", *lines, "", f"Default audit minus AutoAttack standard, points per budget: {gap}.",
    ])  # fmt: skip
    print(body)
    if not args.no_write:
        replace_section(ROOT / "BENCHMARKS.md", "AutoAttack", body)


if __name__ == "__main__":
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    main()
