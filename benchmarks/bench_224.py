"""ImageNet-scale (224 px) figures: corruptions against imagecorruptions, the 19 x 5 grid against pure
inference with torchvision ResNet-18 / ResNet-50, and an image-folder audit's images per second by
loader workers.

Run from the repository root (each part alone with ``--part``)::

    python benchmarks/bench_224.py [--part table|grid|folder] [--images 8]

Results go to stdout and into the ``## 224 px`` section of BENCHMARKS.md, with the load average
(``/proc/loadavg``) next to each figure: on a shared machine the absolute times move with it.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("ROBUSTNESS_PROGRESS", "0")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_corruptions import environment, run, structured_images, update_section  # noqa: E402

import robustness.corruptions as rc  # noqa: E402
from benchmarks.timing import mirrored  # noqa: E402
from robustness.data import ArrayDataset  # noqa: E402
from robustness.data.loader import grid_batches, loader_workers  # noqa: E402

SECTION = "## 224 px"
COMMAND = "python benchmarks/bench_224.py"


def load() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 1)[0] if Path("/proc/loadavg").exists() else "?"


def table_part() -> str:
    names = rc.select("benchmark,heldout")
    before = load()
    table, _ = run((224,), quick=False, names=names)
    return (
        f"Command: `{COMMAND} --part table` (CPU ms per image, `time.process_time`, uint8 RGB 224 px, mean over severities 1-5; "
        f"8 images each; ours set up as a loader worker: one OpenCV thread, batch buffers kept). Load average {before} at the start, {load()} at the end.\n\n{table}"
    )


def resnet(arch: str) -> torch.nn.Module:
    import torchvision

    torch.manual_seed(0)
    return getattr(torchvision.models, arch)(num_classes=10).eval()  # random weights: timing only


def grid_part(n: int, batch: int, worker_counts: tuple[int, ...]) -> str:
    uint8 = structured_images(n, 224, seed=1)
    dataset = ArrayDataset("structured-224", uint8, np.arange(n) % 10, [str(c) for c in range(10)])
    cells = [(name, s) for name in rc.select("benchmark,heldout") for s in rc.SEVERITIES]
    jobs = [rc.BatchCorrupter(name, s, 0) for name, s in cells]
    positions = np.arange(n)
    ready = [torch.cat([b.batch.images for b in grid_batches(dataset, positions, batch, [job])]) for job in jobs]
    rows = []
    for arch in ("resnet18", "resnet50"):
        net = resnet(arch)
        settings: list[int | None] = [None, *worker_counts]  # None: pure inference on the corrupted images

        def one_pass(workers: int | None, net: torch.nn.Module = net) -> None:
            if workers is None:
                [int((net(x[lo : lo + batch]).argmax(1) == lo).sum()) for x in ready for lo in range(0, n, batch)]
            else:
                [int((net(item.batch.images).argmax(1) == 0).sum())
                 for item in grid_batches(dataset, positions, batch, jobs, workers=workers)]  # fmt: skip

        with torch.inference_mode():
            net(ready[0][:batch])  # warm up
            before = load()
            # pure, grids..., then grids reversed, pure: the sums of both passes (benchmarks.timing)
            passes = mirrored({w: functools.partial(one_pass, w) for w in settings})
            totals = {w: np.sum([(wall, cpu) for _, wall, cpu in timed], axis=0) for w, timed in passes.items()}
            inference, inference_cpu = totals[None]
            for w in worker_counts:
                seconds, grid_cpu = totals[w]
                row = (
                    f"| {arch} | {w} | {n * len(cells)} | {inference:.1f} | {seconds:.1f} | **{seconds / inference:.2f}x** "
                    f"| {inference_cpu:.1f} | {grid_cpu:.1f} | **{grid_cpu / inference_cpu:.2f}x** "
                )
                rows.append(row + f"| {before} / {load()} |")
    return "\n".join(
        [
            (
                f"Command: `{COMMAND} --part grid --images {n}` ({n} structured 224 px RGB images, batch {batch}, "
                f"the 19 ImageNet-C corruptions x 5 severities; random weights, 10 classes). Pure inference runs "
                "the model on the same images corrupted beforehand; the grid reads, corrupts and infers "
                "through the audit's loader (`grid_batches`), with the workers given. Each setting runs twice, in "
                "mirrored order (pure, grids, grids reversed, pure); times are the sums of both passes: wall time, "
                "and CPU seconds of the process and its loader workers."
            ),
            "",
            f"Machine: {environment()} torch {torch.__version__}, {torch.get_num_threads()} threads.",
            "",
            "| model | loader workers | images per pass | pure inference s | grid s | grid / inference | pure inference CPU s "
            "| grid CPU s | grid / inference, CPU | load average (start / end) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
            *rows,
        ]
    )


def folder_part(n: int) -> str:
    from PIL import Image

    from robustness.api import run_audit
    from robustness.run.config import AuditConfig

    root = Path(tempfile.mkdtemp(prefix="bench224-"))
    for i, image in enumerate(structured_images(n, 256, seed=2)):
        (root / "imgs" / f"c{i % 4}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(root / "imgs" / f"c{i % 4}" / f"{i}.jpg", quality=90)
    corruptions = ("gaussian_noise", "motion_blur", "jpeg_compression")
    counts = (0, 2, 4)

    def audit(workers: int) -> int:
        """Images evaluated by one whole audit, into a fresh output folder (nothing resumed from a store)."""
        config = AuditConfig(
            model="torchvision:resnet18", dataset=str(root / "imgs"), num_classes=4, corruptions=corruptions,
            severities=(3,), attacks=("none",), sanity=False, batch_size=16, out=tempfile.mkdtemp(dir=root),
            random_weights=True, loader_workers=workers,
        )  # fmt: skip
        return int(run_audit(config).results["n"].sum())

    before = load()
    passes = mirrored({w: functools.partial(audit, w) for w in counts})  # 0, 2, 4, 4, 2, 0
    rows = []
    for workers, timed in passes.items():
        images, seconds = timed[0][0], sum(wall for _, wall, _ in timed)
        rows.append(f"| {workers} | {images} | {seconds / 2:.1f} | {2 * images / seconds:.1f} | {before} / {load()} |")
    return "\n".join(
        [
            (
                f"Command: `{COMMAND} --part folder --folder-images {n}` (a folder of {n} JPEG files, 256 px, "
                f"resized and cropped to 224 px; ResNet-18 with random weights; clean + {', '.join(corruptions)} "
                "at severity 3; whole `run_audit` wall time, model building and report writing included; each count run "
                "twice in mirrored order 0, 2, 4, 4, 2, 0, the mean shown)."
            ),
            "",
            "| loader workers | images evaluated | seconds | images / s | load average (start / end) |",
            "|---:|---:|---:|---:|---|",
            *rows,
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("table", "grid", "folder", "all"), default="all")
    parser.add_argument("--images", type=int, default=8, help="images per grid cell (default 8)")
    parser.add_argument("--folder-images", type=int, default=64, help="images in the folder audit (default 64)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--grid-workers", type=int, nargs="*", help="loader workers for the grid (default: the audit's default for a model on the CPU, and 1)")
    parser.add_argument("--dry-run", action="store_true", help="print, do not update BENCHMARKS.md")
    args = parser.parse_args(argv)
    parts = {
        "table": ("Milliseconds per image against imagecorruptions 1.1.2", table_part),
        "grid": (
            "19 x 5 grid against pure inference (ResNet-18, ResNet-50)",
            lambda: grid_part(
                args.images, args.batch, tuple(args.grid_workers or sorted({loader_workers(None, model_on_cpu=True), 1}))
            ),
        ),
        "folder": ("Image-folder audit by loader workers", lambda: folder_part(args.folder_images)),
    }
    for key, (title, make) in parts.items():
        if args.part not in (key, "all"):
            continue
        body = make()
        print(f"### {title}\n\n{body}\n", flush=True)
        if not args.dry_run:
            update_section(title, body, section=SECTION)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
