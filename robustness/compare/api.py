"""The Python API of ``robustness compare``: run every contender's audit, compare them, write the report."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from robustness.compare.analysis import Comparison, compare_runs
from robustness.compare.contenders import CompareConfig, RunRef, parse_contender, run_contenders
from robustness.compare.write import write_comparison
from robustness.results.writer import check_writable


@dataclass
class CompareOutcome:
    out_dir: Path
    comparison: Comparison
    refs: list[RunRef]


def compare(config: CompareConfig | None = None, **settings: Any) -> CompareOutcome:
    """Python API: run (or resume) every contender's audit, compare them, write the report."""
    config = replace(config, **settings) if config else CompareConfig(**settings)
    if not config.command:
        config = replace(config, command=equivalent_command(config))
    contenders = [parse_contender(c) for c in config.contenders]
    check_writable(Path(config.out))
    refs = run_contenders(config, contenders)
    cmp = compare_runs(
        config.store_path(),
        refs,
        n_boot=config.n_boot,
        confidence=config.confidence,
        alpha=config.alpha,
        seed=config.seed,
    )
    return CompareOutcome(write_comparison(cmp, config, refs), cmp, refs)


def equivalent_command(config: CompareConfig) -> str:
    """The ``robustness compare`` command line that reproduces ``config`` (settings that differ from defaults)."""
    defaults = CompareConfig(contenders=("a", "b"))
    words = ["robustness", "compare", *config.contenders]
    for f in fields(CompareConfig):
        value = getattr(config, f.name)
        if f.name in ("contenders", "command", "attack_params") or value == getattr(defaults, f.name):
            continue
        flag = "--" + f.name.replace("_", "-")
        if isinstance(value, bool):
            words.append(flag if value else f"--no-{f.name}")
        elif isinstance(value, tuple):
            words += [flag, ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)]
        else:
            words += [flag, str(value)]
    return " ".join(shlex.quote(w) for w in words)
