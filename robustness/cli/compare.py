"""``robustness compare``: contenders on the same grid, with paired statistics."""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import fields
from typing import Any

from robustness.cli.args import add_data_args, parse_floats, parse_names, parse_severities, positive_int
from robustness.compare.contenders import DEFAULT_ATTACKS, CompareConfig
from robustness.run.config import DEFAULT_OUT


def add_compare_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``robustness compare`` on the CLI's subparsers."""
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
    g.add_argument(
        "--random-weights", action="store_true", default=None,
        help="allow architectures without trained weights, on purpose (timing runs)",
    )  # fmt: skip
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
    from reports.tables import difference_text, p_text, value_text
    from robustness.compare.api import compare
    from robustness.results.writer import console_path

    outcome = compare(compare_config(args))
    table = outcome.comparison.table
    base = outcome.comparison.runs[0].label
    print(f"compared {len(outcome.refs)} models against the baseline {base!r}")
    for _, row in table[
        table["reliable"] & table["diff"].notna() & table["kind"].isin(["clean", "corruption"])
    ].iterrows():
        mark = "significant" if row["significant"] else "not significant"
        versus = f"{difference_text(row)} points vs baseline, p={p_text(row['p_value'])}, {mark}"
        print(f"  {row['model']}: {row['metric']} {value_text(row)} ({versus})")
    print(f"report: {console_path(outcome.out_dir / 'report.html')} (report.md, comparison.csv, rankings.csv, compare.json)")
    return 0
