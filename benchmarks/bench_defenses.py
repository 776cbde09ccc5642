"""Measure what defense comparison must show on ``digits`` and record it in BENCHMARKS.md.

Run from the repository root::

    python benchmarks/bench_defenses.py            # full: every defense, all 540 test digits
    python benchmarks/bench_defenses.py --quick    # smoke test: 2 epochs, 64 samples, no BENCHMARKS.md update

It trains (or loads from the model cache) every defense on the small CNN, runs
``robustness compare`` over them on the same grid (the 15 benchmark corruptions at
severities 1-5, and compare's default attacks: ``apgd_lite_linf`` and ``apgd_lite_l2``, within 1.5
points of AutoAttack), and reports:

* ``pgd-at`` vs ``standard`` under the default attacks at Linf 0.1 (target: at least +50 points);
* ``augment`` vs ``standard`` on mean corruption accuracy, with its significance;
* ``jpeg``, ``bit-depth``, ``median-filter``: naive vs adaptive robust accuracy at Linf 0.1;
* ``smoothing``: certified accuracy at L2 radius 0.25 and 0.5, and the abstain rate;
* training time of each defense and wall time of the whole comparison.

The ``## Defenses`` section of BENCHMARKS.md is replaced (other sections are left alone).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402
import torch  # noqa: E402

from benchmarks.markdown_section import replace_section  # noqa: E402
from reports.comparison import attack_metric  # noqa: E402
from robustness.compare.contenders import DEFAULT_ATTACKS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
SECTION = "Defenses"
COMMAND = "python benchmarks/bench_defenses.py"
CONTENDERS = ("standard", "pgd-at", "trades", "fgsm-rs", "augment", "jpeg", "bit-depth", "median-filter", "smoothing")
ATTACKS = DEFAULT_ATTACKS  # compare's default, as the audit's: within 1.5 points of AutoAttack (BENCHMARKS.md "AutoAttack")
LINF_CELL = attack_metric(ATTACKS[0], "linf", 0.1)


def train_all(contenders: tuple[str, ...], record: Path) -> dict[str, dict[str, Any]]:
    """Train every training defense (or find it cached); return each one's training time by label.

    Training time is measured when a recipe is trained and kept in ``record`` (JSON, next to the
    runs, keyed by the recipe's cache file) with the load average at the time, so later
    invocations that find the weights cached still report what training cost. Weights cached
    without a timing are trained again to measure it.
    """
    from robustness.defenses import training_loss
    from robustness.models import ensure_trained
    from robustness.models.training import cache_path

    seconds: dict[str, dict[str, Any]] = json.loads(record.read_text(encoding="utf-8")) if record.exists() else {}
    timed = {}
    for label in contenders:
        recipe = _recipe(label)
        if recipe is None:
            continue
        weights = cache_path("small-cnn", "digits", 0, recipe)
        cached = weights.exists() and weights.name in seconds
        start = time.perf_counter()
        loss = partial(training_loss, recipe)
        ensure_trained("small-cnn", "digits", seed=0, recipe=recipe, loss=loss, retrain=not cached)
        if not cached:
            seconds[weights.name] = {
                "seconds": round(time.perf_counter() - start, 1),
                "load": [round(v, 1) for v in os.getloadavg()],
                "threads": torch.get_num_threads(),
            }
        timed[label] = seconds[weights.name]
        state = "cached" if cached else f"{seconds[weights.name]['seconds']:.0f} s"
        print(f"trained {label}: {state}", file=sys.stderr)
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(seconds, indent=2, sort_keys=True), encoding="utf-8")
    return timed


def _recipe(label: str) -> Any:
    """The training recipe of a contender label, ``None`` for transforms."""
    from robustness.compare import parse_params
    from robustness.defenses import TrainingDefense, create

    name, _, raw = label.partition(":")
    defense = create(name, **(parse_params(raw) if raw else {}))
    return defense.recipe() if isinstance(defense, TrainingDefense) else None


def evaluation_seconds(store_path: Path, refs: list[Any]) -> dict[str, float]:
    """Seconds of cell computation per contender (its runs' cells in the store, naive run included)."""
    from robustness.results.store import Store

    out = {}
    with Store(store_path, readonly=True) as store:
        for ref in refs:
            runs = [ref.run_id, *([ref.naive_run_id] if ref.naive_run_id else [])]
            out[ref.label] = float(sum(store.cells(r)["seconds"].sum() for r in runs))
    return out


def pick(table: pd.DataFrame, metric: str, model: str) -> pd.Series:
    rows = table[(table["metric"] == metric) & (table["model"] == model)]
    if rows.empty:
        raise KeyError(f"{metric} for {model} is not in the comparison")
    return rows.iloc[0]


def diff_text(row: pd.Series, scale: float = 100.0) -> str:
    return (
        f"{scale * row['diff']:+.1f} points [{scale * row['ci_low']:+.1f}, {scale * row['ci_high']:+.1f}], "
        f"p = {row['p_value']:.2g} ({'significant' if row['significant'] else 'not significant'})"
    )


def must_show(table: pd.DataFrame, labels: dict[str, str]) -> list[str]:
    """The issue's Must-show bullets with the measured numbers."""
    out = []
    std, pgd = labels["standard"], labels["pgd-at"]
    row = pick(table, LINF_CELL, pgd)
    base = pick(table, LINF_CELL, std)
    verdict = "reached" if row["diff"] >= 0.5 else "NOT reached"
    out.append(
        f"- `pgd-at` under {ATTACKS[0]} at Linf 0.1: {100 * row['value']:.1f}% robust vs {100 * base['value']:.1f}% for "
        f"`standard`, {diff_text(row)}. Target +50 points: {verdict}."
    )
    row = pick(table, "mean corruption accuracy", labels["augment"])
    base = pick(table, "mean corruption accuracy", std)
    verdict = "raised" if row["diff"] > 0 else "NOT raised"
    out.append(
        f"- `augment` mean corruption accuracy (15 benchmark corruptions x 5 severities): {100 * row['value']:.1f}% "
        f"vs {100 * base['value']:.1f}%, {diff_text(row)}; {verdict}. mCE relative to `standard`: "
        f"{pick(table, 'mCE', labels['augment'])['value']:.1f}."
    )
    for name in ("jpeg", "bit-depth", "median-filter"):
        if name not in labels:
            continue
        label = labels[name]
        adaptive = pick(table, LINF_CELL, label)
        naive = pick(table, LINF_CELL, f"{label} (naive)")
        out.append(
            f"- `{name}` under {ATTACKS[0]} at Linf 0.1: naive {100 * naive['value']:.1f}% (flagged UNRELIABLE in the report) "
            f"vs {100 * adaptive['value']:.1f}% adaptive (BPDA; a sample counts only if the naive attack does not fool "
            f"it either); naive - adaptive {diff_text(naive)}."
        )
    cert = table[(table["kind"] == "certified") & (table["model"] == labels["smoothing"])]
    values = ", ".join(f"r = {r:g}: {100 * v:.1f}%" for r, v in zip(cert["epsilon"], cert["value"]))
    abstain = pick(table, "abstain rate", labels["smoothing"])["value"]
    out.append(f"- `smoothing` certified accuracy at L2 radius {values}; abstain rate {100 * abstain:.1f}%.")
    return out


def environment() -> str:
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return (
        f"{platform.machine()} with {os.cpu_count()} CPU cores (load average {load} at the end, shared with other "
        f"jobs), Python {platform.python_version()}, torch {torch.__version__}, {torch.get_num_threads()} torch threads"
    )


def run(args: argparse.Namespace) -> tuple[str, Any]:
    from robustness.compare import CompareConfig, compare

    epochs = 2 if args.quick else None
    contenders = tuple(
        f"{c}:epochs={epochs}" if epochs and c not in ("jpeg", "bit-depth", "median-filter") else c for c in CONTENDERS
    )
    labels = {c.partition(":")[0]: c for c in contenders}
    start = time.perf_counter()
    trained = train_all(contenders, Path(args.out) / "training-seconds.json")
    config = CompareConfig(
        contenders=contenders,
        n=64 if args.quick else args.n,
        corruptions=("benchmark",),
        attacks=ATTACKS,
        eps=(0.05, 0.1, 0.2),
        eps_l2=(0.25, 0.5, 1.0),
        out=args.out,
        command=COMMAND,
    )
    outcome = compare(config)
    total = time.perf_counter() - start
    table = outcome.comparison.table
    summary = (
        (outcome.out_dir / "report.md").read_text(encoding="utf-8").split("## Summary", 1)[1].split("Letters in parentheses", 1)[0]
    )
    body = "\n".join(
        [
            f"Command: `{COMMAND}` (trains every defense on the small CNN if not cached, then "
            f"`robustness compare {' '.join(contenders)} --corruptions benchmark --attacks {','.join(ATTACKS)} "
            "--eps 0.05,0.1,0.2 --eps-l2 0.25,0.5,1.0`; digits, all 540 test images, seed 0).",
            "",
            f"Machine: {environment()}.",
            "",
            "### Must show",
            "",
            *must_show(table, labels),
            "- Planted vs null difference: "
            "`tests/test_compare.py::test_planted_difference_is_significant_and_null_is_not` (and "
            "`tests/test_stats.py`): the planted model is significant on every metric, the null one on none.",
            "",
            "### All models",
            "",
            summary.strip(),
            "",
            "Letters are ranking groups (models sharing a letter are not significantly different; pairwise exact "
            "McNemar, sign-flip test for mean corruption accuracy, Holm-corrected). mCE relative to `standard` "
            "(100 = same errors).",
            "",
            "### Cost",
            "",
            "Training (measured when each defense was first trained; load average and torch threads at the time: "
            "on a shared machine these times say more about the other jobs than about the defense, so compare "
            "them with each other, not across machines):",
            "",
            *[
                f"- `{k}`: {v['seconds']:.0f} s (load {', '.join(map(str, v['load']))}; {v['threads']} thread(s))"
                for k, v in trained.items()
            ],
            "",
            "Evaluation (cell seconds in the store, naive contrast runs included, certification excluded): "
            + ", ".join(f"`{k}` {v:.0f} s" for k, v in evaluation_seconds(config.store_path(), outcome.refs).items())
            + f". This invocation: {total / 60:.1f} min wall time (runs already in the store are reused).",
            "",
            f"Smoothing certification: n0 = 64, n = 512, alpha = 0.001, sigma = 0.25 on the {config.n or 540} "
            "samples (max certifiable radius 0.55 with these n and alpha).",
        ]
    )
    return body, outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="2 epochs, 64 samples, no BENCHMARKS.md update (smoke test)"
    )
    parser.add_argument("--n", type=int, default=None, help="test samples (default: all 540)")
    parser.add_argument("--out", default="robustness-runs/bench-defenses")
    parser.add_argument("--benchmarks-md", type=Path, default=BENCHMARKS_MD, help="the file whose section to update")
    args = parser.parse_args(argv)
    body, outcome = run(args)
    print(body)
    print(f"report: {outcome.out_dir / 'report.md'}")
    if not args.quick:
        replace_section(args.benchmarks_md, SECTION, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
