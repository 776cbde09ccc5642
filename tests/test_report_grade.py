"""The report says whether robust accuracy is AutoAttack-grade, next to the headline (issue 11)."""

from __future__ import annotations

import pandas as pd

from reports.markdown import attack_section, summary_section
from reports.tables import evaluation_grade


def _df(attack: str) -> pd.DataFrame:
    rows = [{"kind": "clean", "perturbation": "clean", "norm": None, "epsilon": None, "accuracy": 0.9,
             "ci_low": 0.85, "ci_high": 0.95, "n": 100, "severity": None, "family": "clean"}]  # fmt: skip
    for name in (attack, "worst_case"):
        rows.append({"kind": "attack", "perturbation": name, "norm": "linf", "epsilon": 0.1, "accuracy": 0.4,
                     "ci_low": 0.3, "ci_high": 0.5, "n": 100, "severity": None, "family": "attack"})  # fmt: skip
    return pd.DataFrame(rows)


def test_grade_follows_the_attacks_that_ran() -> None:
    assert evaluation_grade(_df("autoattack_linf"), "linf")[0]
    assert evaluation_grade(_df("autoattack_rand_linf"), "linf")[0]
    ok, text = evaluation_grade(_df("apgd_lite_linf"), "linf")
    assert not ok and "weaker than AutoAttack" in text
    assert not evaluation_grade(_df("autoattack_l2"), "linf")[0]  # the other norm's AutoAttack does not count


def test_headline_and_attack_section_say_it() -> None:
    weak = "\n".join(summary_section(_df("pgd_linf")))
    assert "Robust accuracy (linf" in weak and "weaker than AutoAttack" in weak
    strong = "\n".join(attack_section(_df("autoattack_linf")))
    assert "Evaluation: AutoAttack-grade (AutoAttack standard ran" in strong
