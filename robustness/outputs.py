"""Write a run's output folder (results.csv, report.md, run.json) from the store, atomically.

The files are written into a temporary sibling folder that replaces the run folder only
when everything is written: a failure never leaves a half-written report.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from robustness.errors import UsageError
from robustness.store import Store

PACKAGES = ("robustness-suite", "torch", "torchvision", "foolbox", "albumentations", "numpy", "pandas", "scikit-learn")

#: extra report sections, each ``(store, run_id, tidy results) -> markdown lines``; modules register here
SECTION_HOOKS: list[Callable[[Store, str, pd.DataFrame], list[str]]] = []


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def check_writable(folder: Path) -> None:
    """Fail early, before any computation, when ``folder`` cannot be created or written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as err:
        raise UsageError(
            f"--out folder {str(folder)!r} is not writable ({err.strerror or err}); pass --out with a folder you can write."
        ) from None


def run_record(store: Store, run_id: str) -> dict[str, Any]:
    run = store.run(run_id)
    config = run["config"]
    return {
        "run_id": run_id,
        "created": run["created"],
        "model": run["model"],
        "dataset": run["dataset"],
        "n": run["n"],
        "seed": run["seed"],
        "config": config,
        "info": run["info"],
        "command": config.get("command") or "robustness audit",
        "store": str(store.path),
        "versions": store.artifact(run_id, "versions", {}),
    }


def write_outputs(store: Store, run_id: str, out_dir: Path, formats: tuple[str, ...] = ("csv", "md", "json")) -> pd.DataFrame:
    """Regenerate ``out_dir`` for ``run_id``; return the tidy results."""
    from reports import render_markdown, results_csv_frame, tidy

    if not store.artifact(run_id, "versions"):
        store.put_artifact(run_id, "versions", package_versions())
    record = run_record(store, run_id)
    cells = store.cells(run_id)
    if cells.empty:
        raise UsageError(f"run {run_id!r} has no finished cells yet; run the audit first.")
    results = tidy(cells)
    sections = [hook(store, run_id, results) for hook in SECTION_HOOKS]
    files: dict[str, str] = {}
    if "csv" in formats:
        files["results.csv"] = results_csv_frame(results).to_csv(index=False, float_format="%.6g")
    if "md" in formats:
        files["report.md"] = render_markdown(results, record, sections)
    if "json" in formats:
        timing = results.set_index("cell")["seconds"].round(4).to_dict() if "cell" in results else {}
        files["run.json"] = json.dumps({**record, "cell_seconds": timing}, indent=2, sort_keys=True, default=str)
    atomic_folder(out_dir, files)
    return results


def atomic_folder(out_dir: Path, files: dict[str, str | bytes]) -> None:
    """Write ``files`` into ``out_dir`` all at once: a temp folder renamed into place."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        for name, content in files.items():
            path = tmp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)
        if out_dir.exists():
            # keep files from other formats that this call did not regenerate
            for old in out_dir.iterdir():
                if not (tmp / old.name).exists():
                    os.replace(old, tmp / old.name)
            trash = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
            os.replace(out_dir, trash)
            os.replace(tmp, out_dir)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    os.chmod(out_dir, 0o755)


def console_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path.resolve())


__all__ = ["SECTION_HOOKS", "atomic_folder", "check_writable", "console_path", "package_versions", "write_outputs"]
