"""AutoAttack through the suite vs the authors' ``pyautoattack``, and the default audit's distance to it.

    python benchmarks/bench_autoattack.py [--n 100] [--eps 0.05,0.1,0.2] [--no-write]

On the embedded default model (``small-cnn`` on digits, the first ``--n`` test images), per
Linf budget: robust accuracy and wall time of

1. ``autoattack_linf`` through :func:`attacks.evaluate` (one sweep over every budget: samples
   fooled at a smaller budget are not attacked again), when FAB-T and Square are registered;
2. ``pyautoattack`` standard (APGD-CE, APGD-T, FAB-T, Square), one run per budget, as its
   README shows;
3. the embedded audit's Linf attacks (``robustness.run.config.AUDIT_ATTACKS``) and their worst case.

``--third-party N`` adds the cross-check models of ``tests/helpers/autoattack_ref.py`` (a
tutorial-style CNN trained here: standard, FGSM-adversarially trained, logits x 100) on the first
N test digits (8 px), Linf and L2: the same three rows per model and norm.

Writes the ``## AutoAttack`` section of BENCHMARKS.md with the load average (other sections kept).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import attacks
from attacks.base import ATTACKS
from attacks.geometry import Norm
from benchmarks.bench_attacks import default_model
from benchmarks.markdown_section import replace_section
from benchmarks.timing import mirrored
from robustness.run.config import AUDIT_ATTACKS


def pyautoattack_accuracy(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: tuple, norm: str = "linf"
) -> list[float]:
    """pyautoattack standard, one run per budget as its README shows: robust accuracy per budget."""
    from pyautoattack import AutoAttack

    out = []
    for e in eps:
        aa = AutoAttack(model, eps=e, norm={"linf": "Linf", "l2": "L2"}[norm], version="standard", seed=0, device="cpu")
        aa.verbose = False
        adv, _ = aa.run_standard_evaluation(x, y, batch_size=len(x))
        with torch.no_grad():
            out.append(float((model(adv).argmax(1) == y).float().mean()))
    return out


def suite_accuracy(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, names: list[str], eps: tuple, norm: str = "linf"
) -> list[float]:
    result = attacks.evaluate(model, x, y, attacks=names, epsilons={norm: eps}, checks=False)
    return [float(a) for a in result.worst[0].accuracy]


MIRRORED = (
    "Every evaluation ran twice in mirrored order (suite, pyautoattack, audit, audit, pyautoattack, suite), as this "
    "machine's speed drifts over minutes; the means are shown, in wall and in CPU seconds (all threads)."
)


def compare(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: tuple, norm: str
) -> list[tuple[str, list, float, float]]:
    """Rows (label, accuracy per budget, wall seconds, CPU seconds) for the suite's autoattack, pyautoattack
    and the default audit's attacks.

    Each evaluation runs twice in mirrored order (suite, pyautoattack, audit, audit, pyautoattack, suite) and
    the mean is shown: this machine's speed drifts over minutes, and the mirrored mean cancels a linear drift.
    Both passes must give the same accuracies (every evaluation is seeded).
    """
    audit = [n for n in AUDIT_ATTACKS if ATTACKS.get(n).norm is Norm(norm)]
    runs = {
        "suite `--attacks autoattack`": lambda: suite_accuracy(model, x, y, [f"autoattack_{norm}"], eps, norm),
        "pyautoattack standard": lambda: pyautoattack_accuracy(model, x, y, eps, norm),
        f"default audit ({', '.join(audit)})": lambda: suite_accuracy(model, x, y, audit, eps, norm),
    }
    rows = []
    for label, ((acc, *first), (again, *second)) in mirrored(runs).items():
        if acc != again:
            raise RuntimeError(f"{label}: the two passes disagree ({acc} vs {again}); the evaluation is not seeded")
        rows.append((label, acc, (first[0] + second[0]) / 2, (first[1] + second[1]) / 2))
    return rows


def gap(ours: list, theirs: list) -> str:
    """Points above AutoAttack per budget, e.g. ``+0.0 / +1.2``."""
    return " / ".join(f"{(a - t) * 100:+.1f}" for a, t in zip(ours, theirs))


def table(rows: list, eps: tuple) -> list[str]:
    """Markdown rows; the time ratios are to the pyautoattack row (the second)."""
    their_wall, their_cpu = rows[1][2], rows[1][3]
    head = (
        "| evaluation | "
        + " | ".join(f"eps {e:g}" for e in eps)
        + " | wall s | x pyautoattack | CPU s | x pyautoattack |"
    )
    lines = [head, "|---|" + "---:|" * (len(eps) + 4)]
    for label, acc, wall, cpu in rows:
        cells = " | ".join(f"{a:.1%}" for a in acc)
        lines.append(
            f"| {label} | {cells} | {wall:.1f} | {wall / their_wall:.2f} | {cpu:.1f} | {cpu / their_cpu:.2f} |"
        )
    return lines


def third_party(n: int) -> list[str]:
    """The cross-check models, Linf and L2: one table per model and norm, and the gaps."""
    from tests.conftest_attacks import _digits
    from tests.helpers.autoattack_ref import MODELS, make

    _, _, x, y = _digits()
    x, y = x[:n], y[:n]
    out = [
        "", f"### Third-party models (tests/helpers/autoattack_ref.py), first {len(x)} test digits at 8 px", "",
        f"Command: `python benchmarks/bench_autoattack.py --third-party {n}`. {MIRRORED}",
    ]  # fmt: skip
    for kind in MODELS:
        for norm, eps in (("linf", (0.05, 0.1, 0.15)), ("l2", (0.5, 1.0, 1.5))):
            rows = compare(make(kind), x, y, eps, norm)
            ours, theirs, lite = (r[1] for r in rows)
            out += ["", f"**{kind}, {norm}**", "", *table(rows, eps), "",
                    f"Points above AutoAttack per budget: suite autoattack {gap(ours, theirs)}; default audit {gap(lite, theirs)}."]  # fmt: skip
            print("\n".join(out[-8:]), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--eps", default="0.05,0.1,0.2")
    parser.add_argument("--third-party", type=int, default=0, help="also the cross-check models on this many digits")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    eps = tuple(float(e) for e in args.eps.split(","))
    model, x, y = default_model()
    x, y = x[: args.n], y[: args.n]
    load = [Path("/proc/loadavg").read_text().split()[:3]]
    rows = compare(model, x, y, eps, "linf")
    load.append(Path("/proc/loadavg").read_text().split()[:3])
    body = [
        (
            f"Model: the embedded default (`small-cnn` on digits, 32 px), first {args.n} test images, Linf, seed 0, CPU, "
        f"{torch.get_num_threads()} torch threads. Command: `python benchmarks/bench_autoattack.py --n {args.n} "
        f"--eps {args.eps}`. Load average (1/5/15 min) before: {' '.join(load[0])}, after: {' '.join(load[1])}. "
        f"{MIRRORED}"
        ),
        "", *table(rows, eps), "", f"Default audit minus AutoAttack standard, points per budget: {gap(rows[2][1], rows[1][1])}.",
    ]  # fmt: skip
    print("\n".join(body), flush=True)
    if args.third_party:
        body += third_party(args.third_party)
    if not args.no_write:
        replace_section(ROOT / "BENCHMARKS.md", "AutoAttack", "\n".join(body))


if __name__ == "__main__":
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    main()
