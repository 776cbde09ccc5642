"""The comparison's output folder: report.md, report.html, tidy CSVs and a JSON record, written atomically.

The report itself is rendered in :mod:`reports.comparison_render`; this module only names the
folder and writes the files.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

from reports.comparison import Comparison
from reports.comparison_render import render_html, render_markdown
from robustness.compare.contenders import CompareConfig, RunRef
from robustness.results.writer import atomic_folder


def comparison_id(refs: list[RunRef]) -> str:
    blob = json.dumps([asdict(r) for r in refs], sort_keys=True).encode()
    return f"compare-{hashlib.sha256(blob).hexdigest()[:10]}"


def write_comparison(cmp: Comparison, config: CompareConfig, refs: list[RunRef]) -> Path:
    """Write the comparison's folder under ``config.out`` and return it."""
    out_dir = Path(config.out) / comparison_id(refs)
    record = {
        "command": config.command, "confidence": config.confidence, "alpha": config.alpha,
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()},
        "contenders": [asdict(r) for r in refs], "notes": cmp.notes, "dropped_cells": cmp.dropped,
        "methods": cmp.methods,
    }  # fmt: skip
    files = {
        "report.md": render_markdown(cmp, record),
        "report.html": render_html(cmp, record),
        "comparison.csv": cmp.table.to_csv(index=False, float_format="%.6g"),
        "rankings.csv": cmp.rankings.to_csv(index=False, float_format="%.6g"),
        "compare.json": json.dumps(record, indent=2, sort_keys=True, default=str),
        **{f"{name}_differences.csv": frame.to_csv(index=False, float_format="%.6g") for name, frame in cmp.explain.items()},
    }
    atomic_folder(out_dir, files)
    return out_dir


__all__ = ["comparison_id", "write_comparison"]
