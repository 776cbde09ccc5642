"""The ``robustness`` command line: audit, list, report, train, export-c."""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import NoReturn

from robustness.compare import add_compare_parser, add_defense_args, cmd_compare, recipe_from_args
from robustness.config import DEFAULT_OUT, AuditConfig
from robustness.errors import UsageError
from robustness.outputs import DEFAULT_FORMATS, FORMATS

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class Parser(argparse.ArgumentParser):
    """argparse, but bad input is one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(one_line(f"{self.prog}: {message} (see {self.prog} --help)"))


def one_line(text: str) -> str:
    """Collapse any whitespace (newlines in user input included) so an error stays on one line."""
    return " ".join(text.split())


def parse_floats(text: str) -> tuple[float, ...]:
    """``0.03,8/255`` -> (0.03, 0.0313...)."""
    try:
        return tuple(float(Fraction(t.strip())) for t in text.split(",") if t.strip())
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"expected numbers like 0.03,8/255, got {text!r}") from None


def parse_severities(text: str) -> tuple[int, ...]:
    """``1-5`` or ``1,3,5``; range checks happen in AuditConfig."""
    out: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part[1:]:
                lo, hi = part.split("-", 1)
                out.extend(range(int(lo), int(hi) + 1))
            elif part:
                out.append(int(part))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected severities like 1-5 or 1,3,5, got {text!r}") from None
    return tuple(out)


def parse_names(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {value}")
    return value


def add_model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--model", help="small-cnn, resnet-small, torchvision:ARCH, package.module:Class, or a TorchScript file")
    g.add_argument("--weights", help="state_dict file (loaded with weights_only=True)")
    g.add_argument("--num-classes", type=positive_int)
    g.add_argument("--mean", type=parse_floats, help="per-channel normalization mean, e.g. 0.485,0.456,0.406")
    g.add_argument("--std", type=parse_floats, help="per-channel normalization std")
    g.add_argument("--pretrained", action="store_true", default=None, help="torchvision's published weights (from the local cache)")
    g.add_argument("--unsafe-load", action="store_true", default=None, help="allow checkpoints that need pickle code (trusted files only)")


def add_data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--dataset", help="digits, shapes, cifar10, cifar100, mnist, fashionmnist, svhn, or an image folder")
    g.add_argument("--data-root", help="where torchvision datasets live")
    g.add_argument("--download", action="store_true", default=None, help="allow downloading datasets or weights")
    g.add_argument("--seed", type=int)


def build_parser() -> Parser:
    parser = Parser(prog="robustness", description="Robustness and adversarial evaluation of image classifiers.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress messages")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    p = sub.add_parser("audit", help="run corruptions and attacks against a model and write a report")
    add_model_args(p)
    add_data_args(p)
    g = p.add_argument_group("grid")
    g.add_argument("--corruptions", type=parse_names, help="all, benchmark, heldout, none, a family, or names (comma)")
    g.add_argument("--severities", type=parse_severities, help="e.g. 1-5 or 1,3,5")
    g.add_argument("--precomputed", help="read corruption cells from a CIFAR-10-C folder or an ImageNet-C tree")
    g.add_argument("--attacks", type=parse_names, help="default, all, none, or attack names (comma)")
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
                   help="processes that read and corrupt images ahead of the model (0: main process; default: from the CPU count)")
    g.add_argument("--skip-bad-images", action="store_true", default=None,
                   help="leave out image files that cannot be read (counted in the run's record) instead of stopping")
    add_defense_args(p, evaluation=True)

    p = sub.add_parser("list", help="list datasets, models, corruptions, attacks or stored runs")
    p.add_argument(
        "what", nargs="?", default="all", choices=("all", "datasets", "models", "corruptions", "attacks", "defenses", "runs")
    )
    p.add_argument("--store", default=str(Path(DEFAULT_OUT) / "store.sqlite"))

    p = sub.add_parser("report", help="regenerate a run's report from the store")
    p.add_argument("runs", nargs="+", metavar="RUN")
    p.add_argument("--store", default=str(Path(DEFAULT_OUT) / "store.sqlite"))
    p.add_argument("--out", default=DEFAULT_OUT)
    p.add_argument("--format", type=parse_names, default=DEFAULT_FORMATS, help=",".join(FORMATS))

    p = sub.add_parser("export-c", help="write a dataset's corruption grid as CIFAR-10-C files or an ImageNet-C tree")
    p.add_argument("--dataset", default="digits")
    p.add_argument("--data-root")
    p.add_argument("--download", action="store_true")
    p.add_argument("--n", type=positive_int, help="export the first N test samples")
    p.add_argument("--corruptions", type=parse_names, default=("benchmark",))
    p.add_argument("--severities", type=parse_severities, default=(1, 2, 3, 4, 5))
    p.add_argument("--layout", choices=("cifar", "imagenet"), default="cifar")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="folder to create (must not exist)")

    p = sub.add_parser("train", help="train a built-in model on a dataset and cache it")
    p.add_argument("--model", default="small-cnn")
    p.add_argument("--dataset", default="digits")
    p.add_argument("--data-root")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=positive_int)
    p.add_argument("--device", default="cpu")
    p.add_argument("--retrain", action="store_true", help="train again even when cached")
    add_defense_args(p)

    add_compare_parser(sub)
    return parser


def audit_config(args: argparse.Namespace) -> AuditConfig:
    base = AuditConfig.from_yaml(args.config) if args.config else AuditConfig()
    keys = [
        "model", "weights", "num_classes", "mean", "std", "pretrained", "download", "unsafe_load", "dataset",
        "data_root", "n", "corruptions", "precomputed", "severities", "attacks", "eps", "eps_l2", "sanity", "seed", "batch_size",
        "device", "out", "store", "backend", "address", "workers", "defense", "defense_params", "defense_eval",
        "loader_workers", "skip_bad_images",
    ]  # fmt: skip
    overrides = {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}
    merged = {**base.to_dict(), **overrides, "command": " ".join(["robustness", *map(shlex.quote, sys.argv[1:])])}
    return AuditConfig.from_dict(merged)


def cmd_audit(args: argparse.Namespace) -> int:
    from robustness.engine import run_audit
    from robustness.outputs import console_path

    config = audit_config(args)
    outcome = run_audit(config)
    clean = outcome.results[outcome.results["kind"] == "clean"]["accuracy"].iloc[0]
    print(f"run {outcome.run_id}: {outcome.computed} cells computed, {outcome.skipped} resumed from the store")
    print(f"clean accuracy {clean:.4f}; report: {console_path(outcome.out_dir / 'report.html')}")
    files = ", ".join(sorted(p.name for p in outcome.out_dir.iterdir() if p.is_file()))
    print(f"results: {console_path(outcome.out_dir)}/ ({files}); store: {console_path(outcome.store)}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    what = args.what
    if what in ("all", "datasets"):
        from robustness.data import DATASETS

        print("datasets: " + ", ".join(DATASETS) + ", folder:PATH")
    if what in ("all", "models"):
        from robustness.models import MODELS

        print("models: " + ", ".join(MODELS) + ", torchvision:ARCH, package.module:Class, FILE.pt (TorchScript)")
    if what in ("all", "corruptions"):
        from robustness.corruptions import CORRUPTIONS

        print("corruptions:")
        width = max(len(n) for n in CORRUPTIONS)
        for name, c in sorted(CORRUPTIONS.items(), key=lambda kv: (kv[1].family, kv[0])):
            tag = f" [{c.imagenet_c}]" if c.imagenet_c else ""
            print(f"  {name:<{width}}  {c.family:<10} {c.source}{tag}")
    if what in ("all", "attacks"):
        import attacks

        print("attacks:")
        for name, cls in attacks.ATTACKS.items():
            doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
            print(f"  {name:<16} {cls.norm.value:<5} {doc}")
    if what in ("all", "defenses"):
        from robustness.defenses import DEFENSES

        print("defenses:")
        for name, cls in DEFENSES.items():
            print(f"  {name:<14} {cls.kind.value:<9} {cls.summary()}")
    if what == "runs":
        from robustness.store import Store

        with Store(args.store, readonly=True) as store:
            for run_id in store.run_ids():
                run = store.run(run_id)
                print(f"{run_id}  {run['model']} on {run['dataset']}  n={run['n']}  seed={run['seed']}  {run['created']}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from robustness.outputs import check_formats, comparison_dir, console_path, write_comparison, write_outputs
    from robustness.store import Store

    formats = check_formats(tuple(args.format))
    with Store(args.store, readonly=True) as store:
        for run_id in args.runs:
            store.run(run_id)
        for run_id in args.runs:
            out_dir = Path(args.out) / run_id
            write_outputs(store, run_id, out_dir, formats)
            print(f"report: {console_path(out_dir)}/")
        if len(set(args.runs)) > 1:
            out_dir = comparison_dir(Path(args.out), args.runs)
            write_comparison(store, list(dict.fromkeys(args.runs)), out_dir, formats)
            print(f"comparison: {console_path(out_dir)}/")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from robustness.models import ensure_trained

    recipe = recipe_from_args(args)  # the defense's training recipe (standard when none is named)
    path = ensure_trained(
        args.model, args.dataset, seed=args.seed, recipe=recipe, data_root=args.data_root, device=args.device,
        retrain=args.retrain,
    )  # fmt: skip
    meta = Path(path).with_suffix(".json")
    accuracy = ""
    if meta.exists():
        import json

        accuracy = f" (test accuracy {json.loads(meta.read_text())['test_accuracy']:.4f})"
    print(f"weights: {path}{accuracy}")
    return 0


def cmd_export_c(args: argparse.Namespace) -> int:
    import numpy as np

    from robustness.data import DatasetRequest, load_dataset
    from robustness.data.cfiles import export_c
    from robustness.outputs import console_path

    dataset = load_dataset(
        args.dataset, DatasetRequest(split="test", root=args.data_root, download=args.download, seed=args.seed)
    )
    positions = np.arange(len(dataset) if args.n is None else min(args.n, len(dataset)))
    labels = np.concatenate([b.labels.numpy() for b in dataset.batches(1024, positions)])
    batches = (
        (b.images.permute(0, 2, 3, 1).numpy() * 255.0).round().astype(np.uint8)
        for b in dataset.batches(256, positions)
    )
    out = export_c(
        batches, labels, dataset.indices[positions], list(args.corruptions), list(args.severities), args.out,
        layout=args.layout, seed=args.seed, class_names=list(dataset.class_names),
    )  # fmt: skip
    print(f"wrote {len(positions)} images x {len(args.severities)} severities in the {args.layout} layout: {console_path(Path(out))}/")
    return 0


COMMANDS = {
    "export-c": cmd_export_c,
    "audit": cmd_audit,
    "list": cmd_list,
    "report": cmd_report,
    "train": cmd_train,
    "compare": cmd_compare,
}


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
        return COMMANDS[args.command](args)
    except UsageError as err:
        print(f"robustness: error: {one_line(str(err))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("robustness: interrupted; finished cells are saved in the store, re-run the same command to resume.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `robustness list runs | head`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit-time flush does not fail again
        return 141  # what a shell reports for SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
