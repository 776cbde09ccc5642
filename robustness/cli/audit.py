"""``robustness audit``: run corruptions and attacks against a model and write a report."""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from robustness.cli.args import (
    add_data_args,
    add_defense_args,
    add_model_args,
    non_negative_int,
    parse_floats,
    parse_names,
    parse_severities,
    positive_int,
)
from robustness.run.config import DEFAULT_OUT, AuditConfig


def add_audit_parser(sub: Any) -> None:
    """Register ``robustness audit``."""
    p = sub.add_parser("audit", help="run corruptions and attacks against a model and write a report")
    add_model_args(p)
    add_data_args(p)
    g = p.add_argument_group("grid")
    g.add_argument("--corruptions", type=parse_names, help="all, benchmark, heldout, none, a family, or names (comma)")
    g.add_argument("--severities", type=parse_severities, help="e.g. 1-5 or 1,3,5")
    g.add_argument("--precomputed", help="read corruption cells from a CIFAR-10-C folder or an ImageNet-C tree")
    g.add_argument("--attacks", type=parse_names,
                   help="default (the audit's own), broad, autoattack, autoattack-rand, all, none, or names (comma)")
    g.add_argument("--eps", type=parse_floats, help="Linf budgets, e.g. 0.02,0.05,8/255")
    g.add_argument("--eps-l2", type=parse_floats, help="L2 budgets, e.g. 0.5,1.0")
    g.add_argument("--no-sanity", dest="sanity", action="store_false", default=None, help="skip the attack sanity checks")
    g.add_argument("--n", type=positive_int, help="evaluate the first N test samples")
    g = p.add_argument_group("execution")
    g.add_argument("--config", help="YAML file with any of these settings (flags override it)")
    g.add_argument("--batch-size", type=positive_int)
    g.add_argument("--device", help="cpu or cuda[:N]")
    g.add_argument("--out", help=f"output root (default {DEFAULT_OUT}/); the run folder is OUT/RUN_ID")
    g.add_argument("--store", help="SQLite results store (default OUT/store.sqlite)")
    g.add_argument("--backend", choices=("local", "ray"))
    g.add_argument("--address", help="Ray cluster address (with --backend ray)")
    g.add_argument("--workers", type=positive_int, help="CPUs for a local Ray (with --backend ray)")
    g.add_argument("--loader-workers", type=non_negative_int,
                   help="processes that read and corrupt images ahead of the model (0: main process; default: half the CPUs, "
                        "or one per 8 CPUs when the model runs on the CPU)")
    g.add_argument("--skip-bad-images", action="store_true", default=None,
                   help="leave out image files that cannot be read (counted in the run's record) instead of stopping")
    add_defense_args(p, evaluation=True)


def audit_config(args: argparse.Namespace) -> AuditConfig:
    base = AuditConfig.from_yaml(args.config) if args.config else AuditConfig()
    keys = [
        "model", "weights", "num_classes", "mean", "std", "pretrained", "download", "unsafe_load", "random_weights", "dataset",
        "data_root", "n", "corruptions", "precomputed", "severities", "attacks", "eps", "eps_l2", "sanity", "seed", "batch_size",
        "device", "out", "store", "backend", "address", "workers", "defense", "defense_params", "defense_eval",
        "loader_workers", "skip_bad_images",
    ]  # fmt: skip
    overrides = {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}
    merged = {**base.to_dict(), **overrides, "command": " ".join(["robustness", *map(shlex.quote, sys.argv[1:])])}
    return AuditConfig.from_dict(merged)


def cmd_audit(args: argparse.Namespace) -> int:
    from robustness.api import run_audit
    from robustness.results.writer import console_path

    config = audit_config(args)
    outcome = run_audit(config)
    clean = outcome.results[outcome.results["kind"] == "clean"]["accuracy"].iloc[0]
    print(f"run {outcome.run_id}: {outcome.computed} cells computed, {outcome.skipped} resumed from the store")
    print(f"clean accuracy {clean:.4f}; report: {console_path(outcome.out_dir / 'report.html')}")
    files = ", ".join(sorted(p.name for p in outcome.out_dir.iterdir() if p.is_file()))
    print(f"results: {console_path(outcome.out_dir)}/ ({files}); store: {console_path(outcome.store)}")
    return 0
