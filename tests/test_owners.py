"""One owner per fact (issue 13): cell keys, the attack seed and the default budgets are each defined once."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(p for pkg in ("robustness", "attacks", "reports") for p in (ROOT / pkg).rglob("*.py"))
PLAN = ROOT / "robustness" / "run" / "plan.py"


def spelled_keys(path: Path) -> list[str]:
    """f-strings (and constants) of ``path`` that spell a cell key: ``corruption/<a>/<b>`` or ``attack/<a>/<b>...``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        else:
            continue
        for prefix, slashes in (("attack/", 2), ("corruption/", 2), ("{}/", 2)):
            if text.startswith(prefix) and text.count("/") >= slashes and " " not in text:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {text}")
    return found


def test_cell_keys_are_spelled_only_in_the_plan() -> None:
    offenders = [hit for path in SOURCES if path != PLAN for hit in spelled_keys(path)]
    assert offenders == [], "build keys with robustness.run.plan (corruption_cell, attack_cell) or read them"
    assert spelled_keys(PLAN), "the plan spells the keys (this check would otherwise find nothing)"


def test_attack_randomness_is_keyed_in_one_place() -> None:
    """Attacks key every draw per sample (:func:`attacks.judge.sample_seeds`); the run layer passes the audit
    seed unchanged, with no per-batch formula of its own (that made bits depend on --batch-size)."""
    run_sources = [p for p in SOURCES if p.parts[-2] == "run"]
    assert not [p.name for p in run_sources if "1_000_003" in p.read_text(encoding="utf-8")]
    homes = [p.relative_to(ROOT).as_posix() for p in SOURCES if "def sample_seeds" in p.read_text(encoding="utf-8")]
    assert homes == ["attacks/judge.py"]


def test_default_budgets_are_defined_once() -> None:
    from attacks import DEFAULT_EPSILONS
    from attacks.geometry import Norm
    from robustness.core import budgets
    from robustness.run import config

    assert DEFAULT_EPSILONS[Norm.LINF] is budgets.DEFAULT_EPS_LINF is config.DEFAULT_EPS_LINF
    assert DEFAULT_EPSILONS[Norm.L2] is budgets.DEFAULT_EPS_L2 is config.DEFAULT_EPS_L2


@pytest.mark.parametrize("text, expected", [("1-3,5", (1, 2, 3, 5)), ("5,1", (1, 5)), ("2", (2,))])
def test_cli_severities_are_the_corruptions_parser(text: str, expected: tuple[int, ...]) -> None:
    import argparse

    from robustness.cli.args import parse_severities

    assert parse_severities(text) == expected
    with pytest.raises(argparse.ArgumentTypeError, match="between 1 and 5"):
        parse_severities("0-2")
