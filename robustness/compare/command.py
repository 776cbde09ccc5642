"""The ``robustness compare`` command, its Python API, and the ``--defense`` arguments of other commands."""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from robustness.compare.contenders import (
    DEFAULT_ATTACKS,
    CompareConfig,
    RunRef,
    parse_contender,
    parse_params,
    run_contenders,
)
from robustness.config import DEFAULT_OUT

if TYPE_CHECKING:
    from robustness.compare.analysis import Comparison

#: kept in step with the registry by a test; the CLI parser does not import torch to build its help
DEFENSE_NAMES = "pgd-at, trades, fgsm-rs, augment, smoothing, standard (trained); jpeg, bit-depth, median-filter (wrap)"


@dataclass
class CompareOutcome:
    out_dir: Path
    comparison: Comparison
    refs: list[RunRef]


def compare(config: CompareConfig | None = None, **settings: Any) -> CompareOutcome:
    """Python API: run (or resume) every contender's audit, compare them, write the report."""
    from robustness.compare.analysis import compare_runs
    from robustness.compare.render import write_comparison
    from robustness.outputs import check_writable

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


def add_compare_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``robustness compare`` on the CLI's subparsers."""
    from robustness.cli import add_data_args, parse_floats, parse_names, parse_severities, positive_int

    p = subparsers.add_parser(
        "compare",
        help="compare defenses or models on the same grid, with paired significance tests",
        description=(
            "Run every contender through the same audit grid (same samples, same seeds) and write a comparison "
            "report. Contenders: a defense name with optional hyperparameters (pgd-at:epsilon=0.1,steps=5; "
            "trained on --model), model:SPEC[@WEIGHTS], or run:RUN_ID. The first is the baseline."
        ),
    )
    p.add_argument("contenders", nargs="+", metavar="CONTENDER")
    g = p.add_argument_group("model (the architecture defenses train or wrap)")
    g.add_argument("--model", help="built-in architecture or model SPEC (default small-cnn)")
    g.add_argument("--weights", help="state_dict for --model (transform defenses wrap it)")
    g.add_argument("--num-classes", type=positive_int)
    g.add_argument("--mean", type=parse_floats)
    g.add_argument("--std", type=parse_floats)
    add_data_args(p)
    g = p.add_argument_group("grid")
    g.add_argument("--corruptions", type=parse_names, help="default: benchmark (the 15 ImageNet-C corruptions)")
    g.add_argument("--severities", type=parse_severities)
    g.add_argument("--attacks", type=parse_names, help=f"default: {','.join(DEFAULT_ATTACKS)}")
    g.add_argument("--eps", type=parse_floats, help="Linf budgets")
    g.add_argument("--eps-l2", type=parse_floats, help="L2 budgets")
    g.add_argument("--n", type=positive_int, help="compare on the first N test samples")
    g.add_argument(
        "--no-naive",
        dest="naive",
        action="store_false",
        default=None,
        help="skip the naive contrast runs of transforms",
    )
    g = p.add_argument_group("statistics")
    g.add_argument("--n-boot", type=positive_int, help="bootstrap replicates (default 2000)")
    g.add_argument("--confidence", type=float, help="interval level (default 0.95)")
    g.add_argument("--alpha", type=float, help="significance level of tests and ranking groups (default 0.05)")
    g = p.add_argument_group("execution")
    g.add_argument("--batch-size", type=positive_int)
    g.add_argument("--device")
    g.add_argument("--out", help=f"output root (default {DEFAULT_OUT}/)")
    g.add_argument("--store", help="SQLite results store (default OUT/store.sqlite)")
    return p


def compare_config(args: argparse.Namespace) -> CompareConfig:
    keys = [f.name for f in fields(CompareConfig) if f.name not in ("contenders", "command", "attack_params")]
    settings = {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}
    command = " ".join(["robustness", *map(shlex.quote, sys.argv[1:])])
    return CompareConfig(contenders=tuple(args.contenders), command=command, **settings)


def cmd_compare(args: argparse.Namespace) -> int:
    """``robustness compare``: print where the report is and the headline differences."""
    from robustness.compare.render import _p, _points, _value
    from robustness.outputs import console_path

    outcome = compare(compare_config(args))
    table = outcome.comparison.table
    base = outcome.comparison.runs[0].label
    print(f"compared {len(outcome.refs)} models against the baseline {base!r}")
    for _, row in table[
        table["reliable"] & table["diff"].notna() & table["kind"].isin(["clean", "corruption"])
    ].iterrows():
        mark = "significant" if row["significant"] else "not significant"
        versus = f"{_points(row)} points vs baseline, p={_p(row['p_value'])}, {mark}"
        print(f"  {row['model']}: {row['metric']} {_value(row)} ({versus})")
    print(f"report: {console_path(outcome.out_dir / 'report.html')} (report.md, comparison.csv, rankings.csv, compare.json)")
    return 0


def add_defense_args(parser: argparse.ArgumentParser, *, evaluation: bool = False) -> None:
    """``--defense NAME --defense-params K=V,...`` (and ``--defense-eval`` for audits)."""
    g = parser.add_argument_group("defense")
    g.add_argument("--defense", help=DEFENSE_NAMES)
    g.add_argument("--defense-params", type=parse_params, help="hyperparameters, e.g. epsilon=0.1,steps=5")
    if evaluation:
        g.add_argument(
            "--defense-eval",
            choices=("adaptive", "naive"),
            help="how attacks see a transform defense (default adaptive)",
        )


def recipe_from_args(args: argparse.Namespace) -> Any:
    """The TrainRecipe ``robustness train`` uses: the defense's recipe, ``--epochs`` overriding it."""
    from robustness.defenses import train_recipe

    return train_recipe(getattr(args, "defense", None), getattr(args, "defense_params", None), epochs=args.epochs)
