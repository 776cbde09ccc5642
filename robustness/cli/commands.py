"""``robustness list``, ``report``, ``train`` and ``export-c``: the catalogue, stored runs, models and -C files."""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path
from typing import Any

from robustness.cli.args import add_defense_args, parse_names, parse_severities, positive_int
from robustness.results.writer import DEFAULT_FORMATS, FORMATS
from robustness.run.config import DEFAULT_OUT


def add_parsers(sub: Any) -> None:
    """Register ``list``, ``report``, ``export-c`` and ``train``."""
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


def cmd_list(args: argparse.Namespace) -> int:
    what = args.what
    if what in ("all", "datasets"):
        from robustness.data import DATASETS

        print("datasets: " + ", ".join(DATASETS) + ", folder:PATH")
    if what in ("all", "models"):
        from robustness.models import MODELS

        print("models: " + ", ".join(MODELS) + ", torchvision:ARCH, timm:NAME, package.module:Class, FILE.pt (TorchScript)")
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
        from robustness.results.store import Store

        with Store(args.store, readonly=True) as store:
            for run_id in store.run_ids():
                run = store.run(run_id)
                print(f"{run_id}  {run['model']} on {run['dataset']}  n={run['n']}  seed={run['seed']}  {run['created']}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from robustness.results.store import Store
    from robustness.results.writer import check_formats, comparison_dir, console_path, write_comparison, write_outputs

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
    from robustness.defenses import training_loss
    from robustness.models import ensure_trained

    recipe = recipe_from_args(args)  # the defense's training recipe (standard when none is named)
    path = ensure_trained(
        args.model, args.dataset, seed=args.seed, recipe=recipe, loss=partial(training_loss, recipe),
        data_root=args.data_root, device=args.device, retrain=args.retrain,
    )  # fmt: skip
    meta = Path(path).with_suffix(".json")
    accuracy = ""
    if meta.exists():
        import json

        accuracy = f" (test accuracy {json.loads(meta.read_text(encoding='utf-8'))['test_accuracy']:.4f})"
    print(f"weights: {path}{accuracy}")
    return 0


def recipe_from_args(args: argparse.Namespace) -> Any:
    """The TrainRecipe ``robustness train`` uses: the defense's recipe, ``--epochs`` overriding it."""
    from robustness.defenses import train_recipe

    return train_recipe(getattr(args, "defense", None), getattr(args, "defense_params", None), epochs=args.epochs)


def cmd_export_c(args: argparse.Namespace) -> int:
    import numpy as np

    from robustness.data import DatasetRequest, load_dataset
    from robustness.data.cfiles import export_c
    from robustness.results.writer import console_path

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
