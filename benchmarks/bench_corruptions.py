"""Milliseconds per image for every corruption at 32 px and 224 px, next to imagecorruptions 1.1.2.

Run from the repository root::

    python benchmarks/bench_corruptions.py

Both packages run in this process on the same uint8 RGB images, every severity 1..5, after
one warm-up call per corruption and severity (so caches such as the frost textures and the
zoom-blur operators are built; their one-off cost is reported separately), in CPU time of the
process (``time.process_time``, all threads; robust to other jobs' load). Ours is timed
through ``corrupt_array`` on a batch, the path the evaluation engine uses, set up as the
loader's worker processes (OpenCV on one thread, batch buffers kept; the reference runs in the
same process, so with the same allocator setting); the reference through its per-image
``corrupt`` function. imagecorruptions is a benchmark-only reference
(``pip install imagecorruptions==1.1.2 'setuptools<81'``); the suite never imports it.
Corruptions it cannot run on current numpy / scikit-image are marked as failing.

The table goes to stdout and into the ``## Corruptions`` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import robustness.corruptions as rc  # noqa: E402
from robustness.data.loader import keep_batch_buffers  # noqa: E402
from benchmarks.markdown_section import HEADER  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
SECTION = "## Corruptions"
COMMAND = "python benchmarks/bench_corruptions.py"
FAILS = "fails on current numpy/scikit-image"
#: CPU seconds of this process (all its threads), not wall time: on a shared machine other jobs'
#: load moves wall time by several times, and both packages are measured with the same clock
CLOCK = time.process_time


def structured_images(n: int, size: int, seed: int = 0) -> np.ndarray:
    """Deterministic natural-looking uint8 RGB test images (smooth shapes, edges and texture)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        image = np.zeros((size, size, 3))
        for c in range(3):
            phase = rng.uniform(0, 2 * np.pi, 2)
            image[..., c] = 0.5 + 0.25 * np.sin(5 * xx + phase[0]) * np.cos(4 * yy + phase[1])
        cy, cx, r = rng.uniform(0.3, 0.7, 2).tolist() + [rng.uniform(0.1, 0.3)]
        disk = (yy - cy) ** 2 + (xx - cx) ** 2 < r**2
        image[disk] = rng.uniform(0, 1, 3)
        image += 0.05 * rng.standard_normal(image.shape)
        out[i] = np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)
    return out


def time_ours(name: str, images: np.ndarray, repeats: int) -> float:
    """Median over repeats of ms per image, averaged over severities 1..5.

    Set up as the loader's worker processes that corrupt batches during an audit
    (``robustness.data.loader``): OpenCV on one thread (as the reference runs; its thread pool
    would add CPU time for the same work), batch buffers kept by the allocator.
    """
    keep_batch_buffers()
    indices = np.arange(len(images))
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        for severity in rc.SEVERITIES:
            rc.corrupt_array(name, images, severity, indices)
        runs = []
        for _ in range(repeats):
            start = CLOCK()
            for severity in rc.SEVERITIES:
                rc.corrupt_array(name, images, severity, indices)
            runs.append((CLOCK() - start) / (5 * len(images)) * 1e3)
    finally:
        cv2.setNumThreads(threads)
    return statistics.median(runs)


def reference() -> Callable[..., np.ndarray] | None:
    """imagecorruptions' ``corrupt``, or None when it is not installed."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from imagecorruptions import corrupt
    except ImportError:
        return None
    return corrupt


def time_reference(corrupt: Callable[..., np.ndarray], name: str, images: np.ndarray) -> float | None:
    """ms per image of imagecorruptions over severities 1..5, or None if it fails."""
    np.random.seed(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for severity in rc.SEVERITIES:
                corrupt(images[0], severity=severity, corruption_name=name)
            start = CLOCK()
            for severity in rc.SEVERITIES:
                for image in images:
                    corrupt(image, severity=severity, corruption_name=name)
    except Exception:  # noqa: BLE001 - any failure of the reference is the finding we report
        return None
    return (CLOCK() - start) / (5 * len(images)) * 1e3


def first_use_costs() -> dict[str, float]:
    """Seconds spent once per process building cached assets."""
    from robustness.corruptions import _textures, blur

    _textures.frost_texture.cache_clear()
    blur._zoom_operator.cache_clear()
    start = time.perf_counter()
    for index in range(len(_textures.FROST_PHOTO_STATS)):
        _textures.frost_texture(index)
    frost = time.perf_counter() - start
    start = time.perf_counter()
    rc.corrupt_array("zoom_blur", structured_images(1, 32), 5, [0])
    zoom = time.perf_counter() - start
    return {"frost textures (5)": frost, "zoom-blur operator, 32 px, one severity": zoom}


def _fmt(value: float | None) -> str:
    return FAILS if value is None else f"{value:.3f}"


def run(sizes: tuple[int, ...], *, quick: bool, names: list[str] | None = None) -> tuple[str, dict[int, float]]:
    corrupt = reference()
    names = names or rc.select("all")
    imagenet_c = set(rc.select("benchmark,heldout"))
    counts = {32: (64, 16), 224: (8, 8)} if not quick else {32: (8, 2), 224: (2, 1)}
    results: dict[tuple[str, int], tuple[float, float | None]] = {}
    for size in sizes:
        n_ours, n_ref = counts[size]
        images = structured_images(n_ours, size)
        for name in names:
            ours = time_ours(name, images, repeats=1 if quick else 3)
            ref = time_reference(corrupt, name, images[:n_ref]) if corrupt and name in imagenet_c else None
            results[(name, size)] = (ours, ref)
            print(f"  {name:22s} {size:3d} px  ours {ours:9.3f} ms  ref {_fmt(ref) if name in imagenet_c else '-'}",
                  file=sys.stderr)  # fmt: skip

    header = "| corruption | family | " + " | ".join(
        f"ours {s} px | imagecorruptions {s} px | speed-up {s} px" for s in sizes
    )
    lines = [header + " |", "|---|---|" + "---:|---:|---:|" * len(sizes)]
    medians: dict[int, float] = {}
    ratios: dict[int, list[float]] = {s: [] for s in sizes}
    for name in names:
        cells = [f"`{name}`", rc.get(name).family]
        for size in sizes:
            ours, ref = results[(name, size)]
            if name not in imagenet_c:
                cells += [f"{ours:.3f}", "-", "-"]
            elif ref is None:
                cells += [f"{ours:.3f}", FAILS if corrupt else "not installed", "-"]
            else:
                ratios[size].append(ref / ours)
                cells += [f"{ours:.3f}", f"{ref:.3f}", f"{ref / ours:.1f}x"]
        lines.append("| " + " | ".join(cells) + " |")
    for size in sizes:
        if ratios[size]:
            medians[size] = statistics.median(ratios[size])
    every = [r for size in sizes for r in ratios[size]]
    summary = [
        "",
        "Median speed-up over imagecorruptions 1.1.2 on the corruptions it can still run: "
        + ", ".join(f"{medians[s]:.1f}x at {s} px ({len(ratios[s])} corruptions)" for s in sizes if s in medians)
        + (f"; {statistics.median(every):.1f}x over both sizes." if every else "."),
    ]
    costs = first_use_costs()
    summary.append(
        "One-off cost per process, excluded above: "
        + "; ".join(f"{label} {seconds:.2f} s" for label, seconds in costs.items())
        + "."
    )
    return "\n".join(lines + summary), medians


def environment() -> str:
    import albumentations
    import cv2
    import scipy

    versions = (
        f"Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"OpenCV {cv2.__version__}, albumentations {albumentations.__version__}"
    )
    try:
        import skimage

        versions += f", scikit-image {skimage.__version__} (reference only)"
    except ImportError:
        pass
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return f"{platform.machine()} with {os.cpu_count()} CPU cores (load average {load} at the end), {versions}."


def update_section(subsection: str, body: str, path: Path = BENCHMARKS_MD, *, section: str = SECTION) -> None:
    """Replace (or add) ``### subsection`` inside ``section`` (``## Corruptions``) of BENCHMARKS.md.

    Other sections, and other subsections of ``section``, are kept.
    """
    text = path.read_text(encoding="utf-8") if path.exists() else HEADER
    block = f"### {subsection}\n\n{body.strip()}\n"
    section_re = re.compile(rf"^{re.escape(section)}\n.*?(?=^## |\Z)", re.S | re.M)
    found = section_re.search(text)
    if not found:
        text = text.rstrip() + f"\n\n{section}\n\n{block}"
    else:
        section = found.group(0)
        sub_re = re.compile(rf"^### {re.escape(subsection)}\n.*?(?=^### |\Z)", re.S | re.M)
        if sub_re.search(section):
            section = sub_re.sub(lambda _: block + "\n", section)
        else:
            section = section.rstrip() + "\n\n" + block
        text = text[: found.start()] + section.rstrip() + "\n\n" + text[found.end() :].lstrip()
    path.write_text(text.rstrip() + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few images, no BENCHMARKS.md update (smoke test)")
    args = parser.parse_args(argv)
    table, _ = run((32, 224), quick=args.quick)
    body = (
        f"Command: `{COMMAND}` (CPU milliseconds per image, mean over severities 1-5, lower is better).\n\n"
        f"Machine: {environment()}\n\n{table}"
    )
    print(body)
    if not args.quick:
        update_section("Milliseconds per image (32 px and 224 px)", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
