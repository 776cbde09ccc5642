"""``robustness compare``: contenders, refusals, paired statistics on stored runs, end to end."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from robustness.cli.args import Parser, add_defense_args
from robustness.cli.commands import recipe_from_args
from robustness.cli.compare import add_compare_parser, cmd_compare, compare_config
from robustness.compare import CompareConfig, RunRef, compare, compare_runs, parse_contender, parse_params
from robustness.core.errors import UsageError
from robustness.results.store import CellResult, Store
from robustness.run.config import AuditConfig

N = 300
CELLS = [
    ("clean", "clean", "clean", "clean", None, None, None),
    ("corruption/gaussian_noise/1", "corruption", "gaussian_noise", "noise", 1, None, None),
    ("corruption/gaussian_noise/3", "corruption", "gaussian_noise", "noise", 3, None, None),
    ("corruption/fog/2", "corruption", "fog", "weather", 2, None, None),
    ("attack/fgsm/linf/0.1", "attack", "fgsm", "attack", None, 0.1, "linf"),
    ("attack/pgd_linf/linf/0.1", "attack", "pgd_linf", "attack", None, 0.1, "linf"),
    ("attack/worst_case/linf/0.1", "attack", "worst_case", "attack", None, 0.1, "linf"),
]


def outcomes(kind: str, seed: int) -> dict[str, np.ndarray]:
    """Per-cell outcomes: the baseline, a planted improvement of it, or an independent null twin."""
    rng = np.random.default_rng(seed)
    base_rng = np.random.default_rng(0)
    out = {}
    for cell, *_rest in CELLS:
        base = base_rng.random(N) < (0.9 if cell == "clean" else 0.55)
        if kind == "baseline":
            out[cell] = base
        elif kind == "planted":
            better = base.copy()
            wrong = np.flatnonzero(~base)
            better[rng.choice(wrong, min(len(wrong), 25 if cell == "clean" else 70), replace=False)] = True
            out[cell] = better
        else:
            out[cell] = rng.random(N) < base.mean()
    return out


def store_run(
    store: Store, run_id: str, bits: dict[str, np.ndarray], *, dataset: str = "digits", ids: np.ndarray | None = None
) -> None:
    ids = np.arange(N) if ids is None else ids
    store.begin_run(
        run_id, model="m", dataset=dataset, seed=0, config={}, info={"model": {}}, sample_ids=ids, labels=ids % 10
    )
    results = [
        CellResult(
            cell=c, kind=k, perturbation=p, family=f, correct=bits[c], seconds=0.0, severity=s, epsilon=e, norm=n
        )
        for c, k, p, f, s, e, n in CELLS
    ]
    store.commit_cells(run_id, results)


@pytest.fixture
def planted_store(tmp_path: Path) -> Path:
    path = tmp_path / "store.sqlite"
    with Store(path) as store:
        store_run(store, "base", outcomes("baseline", 0))
        store_run(store, "planted", outcomes("planted", 1))
        store_run(store, "null", outcomes("null", 2))
    return path


def test_planted_difference_is_significant_and_null_is_not(planted_store: Path) -> None:
    cmp = compare_runs(
        planted_store, [RunRef("base", "base"), RunRef("planted", "planted"), RunRef("null", "null")], n_boot=500
    )
    t = cmp.table.set_index(["metric", "model"])
    for metric in (
        "clean accuracy",
        "mean corruption accuracy",
        "pgd_linf linf eps=0.1",
        "worst_case linf eps=0.1",
        "mCE",
    ):
        planted, null = t.loc[(metric, "planted")], t.loc[(metric, "null")]
        assert planted["significant"] and planted["p_value"] < 0.01, metric
        assert not null["significant"] and null["p_value"] > 0.05, metric
        assert null["ci_low"] < 0 < null["ci_high"], metric
    assert t.loc[("clean accuracy", "planted"), "diff"] == pytest.approx(25 / N)
    assert t.loc[("mCE", "planted"), "value"] < 100
    assert np.isnan(t.loc[("clean accuracy", "base"), "diff"])
    groups = cmp.rankings[cmp.rankings["metric"] == "worst_case linf eps=0.1"].set_index("model")["group"]
    assert set(groups["planted"]).isdisjoint(groups["base"]) and set(groups["base"]) & set(groups["null"])


def test_mce_names_the_corruptions_a_flawless_baseline_leaves_undefined(tmp_path: Path) -> None:
    base, other = outcomes("baseline", 0), outcomes("null", 2)
    base["corruption/fog/2"] = np.ones(N, dtype=bool)  # the baseline never errs on fog: CE undefined there
    with Store(tmp_path / "store.sqlite") as store:
        store_run(store, "base", base)
        store_run(store, "other", other)
    cmp = compare_runs(tmp_path / "store.sqlite", [RunRef("base", "base"), RunRef("other", "other")], n_boot=200)
    assert any(note.startswith("mCE leaves out fog: the baseline 'base' made no error there") for note in cmp.notes)


def test_cli_compares_stored_runs_and_writes_the_report(
    planted_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = Parser(prog="robustness")
    add_compare_parser(parser.add_subparsers(dest="command", parser_class=Parser))
    out = tmp_path / "out"
    args = parser.parse_args(
        [
            "compare",
            "run:base",
            "run:planted",
            "run:null",
            "--store",
            str(planted_store),
            "--out",
            str(out),
            "--n-boot",
            "300",
        ]
    )
    assert cmd_compare(args) == 0
    printed = capsys.readouterr().out
    assert "run:planted: clean accuracy" in printed and "significant" in printed
    folder = next(out.glob("compare-*"))
    report = (folder / "report.md").read_text()
    assert "## Differences to the baseline" in report and "## Ranking" in report and "**significant**" in report
    assert {"comparison.csv", "rankings.csv", "compare.json"} <= {p.name for p in folder.iterdir()}


def test_equivalent_command_round_trips_through_the_parser() -> None:
    from robustness.compare.api import equivalent_command

    config = CompareConfig(contenders=("standard", "pgd-at:epsilon=0.2"), n=32, eps=(0.1, 0.2), naive=False, seed=3)
    parser = Parser(prog="robustness")
    add_compare_parser(parser.add_subparsers(dest="command", parser_class=Parser))
    words = equivalent_command(config).split()
    assert words[:2] == ["robustness", "compare"]
    parsed = compare_config(parser.parse_args(words[1:]))
    assert parsed == CompareConfig(**{**config.__dict__, "command": parsed.command})


@pytest.mark.parametrize(
    "dataset, ids, match",
    [
        ("shapes", None, "ran on dataset 'shapes', the baseline on 'digits'"),
        ("digits", np.arange(1, N + 1), "evaluated different samples .* first different sample at position 0"),
    ],
    ids=["dataset", "samples"],
)
def test_runs_on_other_data_are_refused(tmp_path: Path, dataset: str, ids: np.ndarray | None, match: str) -> None:
    path = tmp_path / "store.sqlite"
    with Store(path) as store:
        store_run(store, "base", outcomes("baseline", 0))
        store_run(store, "other", outcomes("null", 1), dataset=dataset, ids=ids)
    with pytest.raises(UsageError, match=match):
        compare_runs(path, [RunRef("base", "base"), RunRef("other", "other")])


def test_stored_run_with_other_samples_is_refused_before_any_audit(planted_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(UsageError, match=r"cannot compare 'run:base': it evaluated other samples .* \(300 vs 24\)"):
        compare(
            contenders=("model:tests.helpers.toy_models:TinyNet", "run:base"), n=24, store=str(planted_store),
            out=str(out), attacks=("none",), corruptions=("none",), random_weights=True,
        )  # fmt: skip
    assert not list(out.glob("digits-*"))


@pytest.mark.parametrize(
    "text, expected",
    [
        ("pgd-at", ("defense", "pgd-at", {}, None, None, None)),
        ("pgd-at:epsilon=0.2,steps=5", ("defense", "pgd-at", {"epsilon": 0.2, "steps": 5}, None, None, None)),
        (
            "smoothing:radii=[0.25,0.5],sigma=0.5",
            ("defense", "smoothing", {"radii": [0.25, 0.5], "sigma": 0.5}, None, None, None),
        ),
        ("model:pkg.mod:Net@w.pt", ("model", None, {}, "pkg.mod:Net", "w.pt", None)),
        ("model:torchvision:resnet18", ("model", None, {}, "torchvision:resnet18", None, None)),
        ("run:digits-small-cnn-0123", ("run", None, {}, None, None, "digits-small-cnn-0123")),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_parse_contender(text: str, expected: tuple) -> None:
    c = parse_contender(text)
    assert (c.source, c.defense, c.params, c.spec, c.weights, c.run_id) == expected


@pytest.mark.parametrize(
    "text, match",
    [
        ("pgd_at", "Unknown defense 'pgd_at'. Did you mean pgd-at"),
        ("pgd-at:epsilon", "KEY=VALUE pairs"),
        ("pgd-at:epsilon=-1", "epsilon should be a positive number"),
        ("run:", "should name a stored run"),
    ],
    ids=["unknown", "no-value", "bad-value", "empty-run"],
)
def test_bad_contenders_say_why(text: str, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        parse_contender(text)


def test_compare_config_validation() -> None:
    with pytest.raises(UsageError, match="at least two contenders"):
        CompareConfig(contenders=("standard",))
    with pytest.raises(UsageError, match="standard is given twice"):
        CompareConfig(contenders=("standard", "standard"))
    with pytest.raises(UsageError, match="--confidence should lie in"):
        CompareConfig(contenders=("standard", "jpeg"), confidence=95)


def test_parse_params_reads_numbers_words_and_lists() -> None:
    assert parse_params("a=1,b=0.5,c=x,d=[1,2],e=true") == {"a": 1, "b": 0.5, "c": "x", "d": [1, 2], "e": True}


def test_train_defense_arguments_give_the_recipe() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int)
    add_defense_args(parser)
    args = parser.parse_args(["--defense", "trades", "--defense-params", "beta=3", "--epochs", "4"])
    recipe = recipe_from_args(args)
    assert (recipe.defense, recipe.epochs, recipe.defense_params["beta"]) == ("trades", 4, 3)
    with pytest.raises(UsageError, match="nothing to train"):
        recipe_from_args(parser.parse_args(["--defense", "median-filter"]))


def test_user_models_compare_end_to_end(tmp_path: Path) -> None:
    import torch

    from tests.helpers.toy_models import TinyNet

    torch.manual_seed(1)
    weights = tmp_path / "tiny.pt"
    torch.save(TinyNet().state_dict(), weights)
    outcome = compare(
        contenders=("model:tests.helpers.toy_models:TinyNet", f"model:tests.helpers.toy_models:TinyNet@{weights}"),
        n=24, corruptions=("gaussian_noise",), severities=(1,), attacks=("none",), out=str(tmp_path / "runs"),
        n_boot=200, random_weights=True,
    )  # fmt: skip
    table = outcome.comparison.table
    assert set(table["metric"]) >= {"clean accuracy", "mean corruption accuracy", "mCE"}
    assert len({r.run_id for r in outcome.refs}) == 2
    assert (outcome.out_dir / "report.md").exists()


def test_defenses_compare_end_to_end(tmp_path: Path) -> None:
    from robustness.api import run_audit
    from robustness.models import ensure_trained
    from robustness.models.training import TrainRecipe

    weights = ensure_trained("small-cnn", "digits", seed=0, recipe=TrainRecipe(epochs=1))
    runs = tmp_path / "runs"
    grid = {
        "n": 16, "corruptions": ("gaussian_noise",), "severities": (2,), "eps": (0.1,), "eps_l2": (),
        "attack_params": {"pgd_linf": {"steps": 5}}, "out": str(runs),
    }  # fmt: skip
    smoothing = run_audit(
        AuditConfig(
            weights=weights, attacks=("pgd_linf",), defense="smoothing",
            defense_params={"n": 32, "n0": 8, "radii": [0, 0.1]}, **grid,
        )
    )  # fmt: skip
    report = (smoothing.out_dir / "report.md").read_text()
    assert "## Defense" in report and "Randomized-smoothing certificates" in report
    outcome = compare(
        contenders=("standard", "bit-depth", f"run:{smoothing.run_id}"), weights=weights, attacks=("fgsm", "pgd_linf"),
        n_boot=200, **grid,
    )  # fmt: skip
    table = outcome.comparison.table
    naive = table[table["model"] == "bit-depth (naive)"]
    assert len(naive) and not naive["reliable"].any()
    adaptive = table[(table["model"] == "bit-depth") & (table["kind"] == "attack")]
    assert (naive["value"].to_numpy() >= adaptive["value"].to_numpy()).all()
    certified = table[table["kind"] == "certified"]
    assert sorted(certified["epsilon"]) == [0.0, 0.1] and set(certified["model"]) == {f"run:{smoothing.run_id}"}
    report = (outcome.out_dir / "report.md").read_text()
    assert "UNRELIABLE: naive evaluation" in report and "## Certified robustness" in report
    page = (outcome.out_dir / "report.html").read_text()
    assert page.count('<img src="data:image/png;base64,') == 2  # differences and robust-accuracy curves
    assert "UNRELIABLE: naive evaluation" in page and "Certified robustness" in page and "<pre><code>" in page
    assert "1 cell(s) that not every run has were left out: attack/fgsm/linf/0.1" in report
    refs = {r.label: r for r in outcome.refs}
    assert refs["bit-depth"].naive_run_id and refs["standard"].naive_run_id is None
    naive_report = (runs / str(refs["bit-depth"].naive_run_id) / "report.md").read_text()
    assert "UNRELIABLE: naive evaluation" in naive_report


def test_training_defense_on_a_user_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="contender 'pgd-at'.*trains a built-in architecture"):
        compare(contenders=("standard", "pgd-at"), model="tests.helpers.toy_models:TinyNet", n=8, out=str(tmp_path),
                random_weights=True)


def test_cli_defense_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from robustness.cli.main import main
    from robustness.models import ensure_trained
    from robustness.models.training import TrainRecipe

    assert main(["train", "--defense", "median-filter"]) == 2
    assert "input transformation" in capsys.readouterr().err
    assert main(["audit", "--defense-eval", "naive", "--out", str(tmp_path)]) == 2
    assert "--defense-eval needs --defense NAME" in capsys.readouterr().err
    assert main(["audit", "--defense-params", "quality=50", "--out", str(tmp_path)]) == 2
    assert "--defense-params needs --defense NAME" in capsys.readouterr().err
    assert main(["train", "--defense", "pgd-at", "--defense-params", "epsilon=-1"]) == 2
    assert "epsilon should be a positive number" in capsys.readouterr().err
    weights = ensure_trained("small-cnn", "digits", seed=0, recipe=TrainRecipe(epochs=1))
    args = ["audit", "--weights", weights, "--n", "8", "--corruptions", "none", "--attacks", "fgsm", "--eps", "0.1"]
    assert main([*args, "--defense", "jpeg", "--defense-eval", "naive", "--out", str(tmp_path)]) == 0
    report = next(tmp_path.glob("digits-*/report.md")).read_text()
    assert "UNRELIABLE: naive evaluation" in report
    assert main([*args, "--defense", "jpeg", "--defense-params", "quality=0", "--out", str(tmp_path)]) == 2
    assert "quality should be an integer between 1 and 100" in capsys.readouterr().err


def test_single_run_report_section_describes_the_defense() -> None:
    from reports.defense_section import defense_section

    jpeg = {"name": "jpeg", "kind": "transform", "summary": "JPEG.", "hyperparameters": {"quality": 75}}
    smoothing = {"name": "smoothing", "kind": "training", "summary": "Smoothing.", "hyperparameters": {}}
    certified = {
        "sigma": 0.25, "n0": 64, "n": 512, "alpha": 0.001, "max_radius": 0.55, "samples": 3, "abstain_rate": 0.1,
        "radii": [0.25, 0.5], "certified_accuracy": [0.8, 0.6],
    }  # fmt: skip
    assert defense_section({}, None) == []
    assert "UNRELIABLE: naive evaluation" in "\n".join(defense_section({"defense": jpeg, "defense_eval": "naive"}, None))
    assert "Attacks were adaptive" in "\n".join(defense_section({"defense": jpeg, "defense_eval": "adaptive"}, None))
    text = "\n".join(defense_section({"defense": smoothing}, certified))
    assert "| certified accuracy | 80.0% | 60.0% |" in text and "abstain rate 10.0%" in text


def test_transform_counts_a_sample_fooled_by_either_attack(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    adaptive, naive = outcomes("baseline", 0), outcomes("baseline", 0)
    cell = "attack/pgd_linf/linf/0.1"
    naive[cell] = np.ones(N, dtype=bool)  # the naive attack barely moves ...
    naive[cell][:10] = False  # ... but fools ten samples
    adaptive[cell][:10] = True  # that the adaptive one missed
    with Store(path) as store:
        store_run(store, "base", outcomes("null", 3))
        store_run(store, "jpeg", adaptive)
        store_run(store, "jpeg-naive", naive)
    cmp = compare_runs(path, [RunRef("base", "base"), RunRef("jpeg", "jpeg", naive_run_id="jpeg-naive")], n_boot=200)
    t = cmp.table.set_index(["metric", "model"])
    metric = "pgd_linf linf eps=0.1"
    assert t.loc[(metric, "jpeg"), "value"] == pytest.approx(np.mean(adaptive[cell] & naive[cell]))
    assert t.loc[(metric, "jpeg (naive)"), "reliable"] == False  # noqa: E712 - numpy bool
    assert t.loc[(metric, "jpeg (naive)"), "significant"] and t.loc[(metric, "jpeg (naive)"), "diff"] > 0.3
