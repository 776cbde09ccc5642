"""Mutation testing (mutmut 3) of the modules whose numbers people quote: ``make mutation``, not CI.

Each target mutates a few files and runs only the test files that cover them (mutmut adds
``-x -p no:randomly`` and, per mutant, runs only the tests that reached the mutated function).
A target runs in its own copy of the working tree under ``--workdir`` (the tree's files as git
sees them, tracked and untracked-not-ignored), with the ``[tool.mutmut]`` section written
into that copy's ``pyproject.toml``, so targets never share a ``mutants/`` folder and the
repository is never written to. Each target is time-boxed (``--minutes``; mutmut's process group is
stopped with SIGTERM and the mutants it had not reached are counted as ``not run``) and runs under
``nice -n 19`` with one worker.

Usage::

    python tests/mutation.py                       # every target, 15 minutes each
    python tests/mutation.py statistics losses     # some targets
    python tests/mutation.py --minutes 5 --workdir /tmp/mut --json scores.json

The score printed is ``killed / (killed + survived)`` over the mutants that ran (timeouts
count as killed, as mutmut counts them); TESTING.md records the scores and the survivors
judged equivalent.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: target -> (files to mutate, test files that cover them)
TARGETS: dict[str, tuple[list[str], list[str]]] = {
    "bookkeeping": (
        ["attacks/base.py", "attacks/bookkeeping.py"],
        ["tests/test_attacks_bookkeeping.py", "tests/test_attacks_bookkeeping_fields.py"],
    ),
    "loops": (["attacks/gradient.py"], ["tests/test_attacks_gradient.py", "tests/test_attacks_gradient_exact.py"]),
    "statistics": (
        ["reports/stats/intervals.py", "reports/stats/paired.py", "reports/stats/multiple.py"],
        ["tests/test_stats.py", "tests/test_stats_reference.py", "tests/test_stats_exact.py"],
    ),
    "severity": (
        ["robustness/corruptions/base.py"],
        ["tests/test_corruptions_severity.py", "tests/test_corruptions.py", "tests/test_corruptions_base_exact.py"],
    ),
    "losses": (["robustness/defenses/adversarial.py"], ["tests/test_defenses_losses.py"]),
    "store": (["robustness/results/store.py"], ["tests/test_store.py"]),
}


#: extra pytest arguments per target: the slow training test of ``losses`` would eat the time box
EXTRA_PYTEST_ARGS: dict[str, list[str]] = {"losses": ["-m", "not slow"]}


def _copy_tree(dest: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


def _mutmut_section(files: list[str], tests: list[str], extra: list[str]) -> str:
    def toml_list(values: list[str]) -> str:
        return "[" + ", ".join(json.dumps(v) for v in values) + "]"

    existing = [t for t in tests if (ROOT / t).exists()]
    return (
        "\n[tool.mutmut]\n"
        'source_paths = ["attacks", "robustness", "reports"]\n'
        f"only_mutate = {toml_list(files)}\n"
        f"pytest_add_cli_args_test_selection = {toml_list(existing)}\n"
        f'pytest_add_cli_args = {toml_list(["-p", "no:cacheprovider", "-o", "addopts=-q", *extra])}\n'
        # a forked test run pays the session fixtures (a tiny model trained once per run): allow a minute on top
        "timeout_constant = 60.0\n"
    )


def _counts(tree: Path, python: str) -> dict:
    subprocess.run([python, "-m", "mutmut", "export-cicd-stats"], cwd=tree, check=True, capture_output=True)
    stats = json.loads((tree / "mutants" / "mutmut-cicd-stats.json").read_text())
    listing = subprocess.run(
        [python, "-m", "mutmut", "results", "--all", "true"], cwd=tree, check=True, capture_output=True, text=True
    ).stdout
    rows = [line.strip().rsplit(": ", 1) for line in listing.splitlines() if ": " in line]
    stats["not_run"] = sum(1 for _, status in rows if status == "not checked")
    stats["survivors"] = sorted(name for name, status in rows if status == "survived")
    ran = stats["killed"] + stats["timeout"] + stats["survived"]
    # timeouts alone (a hung run: no mutant was judged by a test) are not a score
    judged = stats["killed"] + stats["survived"]
    stats["score"] = round(100 * (stats["killed"] + stats["timeout"]) / ran, 1) if judged else None
    return stats


def run_target(name: str, *, minutes: float, workdir: Path, python: str) -> dict:
    """Mutate one target in a fresh copy of the tree; return mutmut's counts, the score and the survivors."""
    files, tests = TARGETS[name]
    tree = workdir / name
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir(parents=True)
    _copy_tree(tree)
    with open(tree / "pyproject.toml", "a") as handle:
        handle.write(_mutmut_section(files, tests, EXTRA_PYTEST_ARGS.get(name, [])))
    # one OpenMP thread: mutmut forks a child per mutant from a process whose tests already ran torch, and
    # GNU OpenMP's thread pool does not survive a fork (the child waits on threads that no longer exist: the
    # "timeouts" and the run that never returned of the torch targets, TESTING.md)
    threads = {k: "1" for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    env = dict(os.environ, NO_ALBUMENTATIONS_UPDATE="1", PYTHONPATH=".", **threads)
    command = ["nice", "-n", "19", python, "-m", "mutmut", "run", "--max-children", "1"]
    with open(tree / "mutmut.log", "w") as log:
        process = subprocess.Popen(
            command, cwd=tree, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            process.wait(timeout=minutes * 60)
        except subprocess.TimeoutExpired:  # mutmut saves each result as it comes: stop its whole group
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    stats = _counts(tree, python)
    stats["target"], stats["files"], stats["tests"] = name, files, tests
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", help=f"targets to run (default: all of {', '.join(TARGETS)})")
    parser.add_argument("--minutes", type=float, default=15.0, help="time box per target")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/robustness-mutation"))
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.targets) - set(TARGETS))
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; expected some of {', '.join(TARGETS)}")
    results = []
    for name in args.targets or list(TARGETS):
        stats = run_target(name, minutes=args.minutes, workdir=args.workdir, python=sys.executable)
        results.append(stats)
        print(
            f"{name}: {stats['total']} mutants, killed {stats['killed']}, survived {stats['survived']}, "
            f"timeout {stats['timeout']}, no tests {stats['no_tests']}, not run {stats['not_run']}, "
            f"score {stats['score']}%",
            flush=True,
        )
        for survivor in stats["survivors"]:
            print(f"    survived: {survivor}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
