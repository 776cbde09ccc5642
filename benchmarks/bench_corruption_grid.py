"""Cost of a full 19 x 5 ImageNet-C corruption grid evaluation against pure inference.

Run from the repository root::

    python benchmarks/bench_corruption_grid.py

A torchvision ResNet-18 (10 classes, random init, nothing downloaded) in eval mode on
32 px RGB images. For every one of the 19 corruptions at severities 1..5:

* grid: clean batch -> ``corrupt_batch`` -> model -> correct count (what an audit does),
* pure inference: the same number of already-corrupted images -> model -> correct count.

The ratio grid / inference is the goal metric (at most 1.3x). The two measurements
alternate cell by cell and the fastest of a few runs per cell counts, so changes in machine
load affect both alike.
The result goes to stdout and into the ``## Corruptions`` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_corruptions import environment, structured_images, update_section  # noqa: E402

import robustness.corruptions as rc  # noqa: E402

COMMAND = "python benchmarks/bench_corruption_grid.py"


def model() -> torch.nn.Module:
    import torchvision

    torch.manual_seed(0)
    return torchvision.models.resnet18(num_classes=10).eval()


def grid_cells() -> list[tuple[str, int]]:
    return [(name, severity) for name in rc.select("benchmark,heldout") for severity in rc.SEVERITIES]


def infer(net: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, batch: int) -> int:
    """Correct predictions on ``images``, in batches."""
    correct = 0
    for lo in range(0, len(images), batch):
        correct += int((net(images[lo : lo + batch]).argmax(1) == labels[lo : lo + batch]).sum())
    return correct


def corrupt_and_infer(
    net: torch.nn.Module, cell: tuple[str, int], images: torch.Tensor, labels: torch.Tensor, batch: int
) -> tuple[float, int]:
    """What an audit does for one cell: corrupt each batch, then infer; return (corruption seconds, correct)."""
    name, severity = cell
    indices = np.arange(len(images))
    correct, corrupting = 0, 0.0
    for lo in range(0, len(images), batch):
        start = time.perf_counter()
        x = rc.corrupt_batch(name, images[lo : lo + batch], severity, indices[lo : lo + batch], seed=0)
        corrupting += time.perf_counter() - start
        correct += int((net(x).argmax(1) == labels[lo : lo + batch]).sum())
    return corrupting, correct


def measure(
    net: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, corrupted: list[torch.Tensor], batch: int,
    runs: int,
) -> tuple[float, float, float]:
    """(pure inference, grid, corruption) seconds summed over cells, best of ``runs`` per cell.

    The two kinds alternate cell by cell, so a change in machine load hits both alike.
    """
    inference = grid = corrupting = 0.0
    with torch.inference_mode():
        for cell, ready in zip(grid_cells(), corrupted):
            best_inf, best_grid, best_corrupt = float("inf"), float("inf"), 0.0
            for _ in range(runs):
                start = time.perf_counter()
                correct_inf = infer(net, ready, labels, batch)
                best_inf = min(best_inf, time.perf_counter() - start)
                start = time.perf_counter()
                spent, correct_grid = corrupt_and_infer(net, cell, images, labels, batch)
                elapsed = time.perf_counter() - start
                if elapsed < best_grid:
                    best_grid, best_corrupt = elapsed, spent
                if correct_grid != correct_inf:
                    raise AssertionError(f"{cell}: grid and pure inference disagree ({correct_grid} vs {correct_inf})")
            inference, grid, corrupting = inference + best_inf, grid + best_grid, corrupting + best_corrupt
    return inference, grid, corrupting


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256, help="images per cell (default 256)")
    parser.add_argument("--batch", type=int, default=256, help="batch size (default 256)")
    parser.add_argument("--runs", type=int, default=2, help="runs per cell, fastest counts (default 2)")
    parser.add_argument("--quick", action="store_true", help="64 images, one run, no BENCHMARKS.md update")
    args = parser.parse_args(argv)
    n = 64 if args.quick else args.images
    runs = 1 if args.quick else args.runs

    net = model()
    uint8 = structured_images(n, 32, seed=1)
    images = torch.from_numpy(uint8).permute(0, 3, 1, 2).float().div(255).contiguous()
    labels = torch.from_numpy(np.arange(n) % 10)
    indices = np.arange(n)
    cells = grid_cells()

    start = time.perf_counter()
    corrupted = [
        torch.cat([rc.corrupt_batch(c, images[lo : lo + args.batch], s, indices[lo : lo + args.batch])
                   for lo in range(0, n, args.batch)])
        for c, s in cells
    ]  # fmt: skip
    precompute = time.perf_counter() - start
    with torch.inference_mode():
        infer(net, corrupted[0], labels, args.batch)  # warm up the model

    inference, grid, corrupting = measure(net, images, labels, corrupted, args.batch, runs)
    evaluated = n * len(cells)
    ratio = grid / inference
    body = "\n".join(
        [
            f"Command: `{COMMAND}` ({n} images per cell, batch {args.batch}, fastest of {runs} runs per cell, "
            "the two measurements alternating cell by cell).",
            "",
            f"Machine: {environment()} torch {torch.__version__} with {torch.get_num_threads()} threads.",
            "",
            "| measurement | seconds | ms per image |",
            "|---|---:|---:|",
            f"| pure inference, {evaluated} pre-corrupted 32 px images (19 x 5 cells) | {inference:.2f} | "
            f"{1e3 * inference / evaluated:.3f} |",
            f"| grid evaluation (corrupt_batch + inference) | {grid:.2f} | {1e3 * grid / evaluated:.3f} |",
            f"| of which corrupt_batch | {corrupting:.2f} | {1e3 * corrupting / evaluated:.3f} |",
            "",
            f"Grid / pure inference: **{ratio:.2f}x** (goal: at most 1.3x; "
            f"{'met' if ratio <= 1.3 else 'not met'}). Precomputing the 95 corrupted cells took "
            f"{precompute:.1f} s (includes one-off cache builds such as the frost textures).",
        ]
    )
    print(body)
    if not args.quick:
        update_section("Full 19 x 5 grid against pure inference (ResNet-18, 32 px)", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
