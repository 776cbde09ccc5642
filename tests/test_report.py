"""Reports from a synthetic store: every format, every section and plot, no torch in ``reports``."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from io import BytesIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from reports import tidy
from reports.compare import comparison_table, effective_robustness, shared_epsilons
from reports.export import json_records, latex_escape, latex_table
from reports.html import render_html
from reports.html_parts import markdown_section
from reports.images import amplified_difference, to_png, upscale
from reports.model import RunSummary
from reports.stats import mcnemar_p, mean_interval
from robustness.core.errors import UsageError
from robustness.results.records import gather_report
from robustness.results.store import CellResult, Store
from robustness.results.writer import run_record, write_comparison, write_outputs
from robustness.run.artifacts import ADVERSARIAL, FRAGILE, GRID

N = 60
CORRUPTIONS = {"gaussian_noise": "noise", "defocus_blur": "blur", "fog": "weather", "rotation": "geometric"}
LINF = (0.02, 0.1, 0.3)
L2 = (0.5, 2.0)
SANITY = [
    {
        "check": "zero_gradients",
        "passed": True,
        "value": 0.0,
        "threshold": 0.05,
        "meaning": "masking",
        "advice": "BPDA",
        "detail": "",
        "skipped": False,
    },
    {
        "check": "large_budget",
        "passed": False,
        "value": 0.4,
        "threshold": 0.1,
        "meaning": "attack failing",
        "advice": "check bounds",
        "detail": "PGD at 0.5 left 40%",
        "skipped": False,
    },
    {
        "check": "gradient_free_stronger",
        "passed": True,
        "value": None,
        "threshold": None,
        "meaning": "misleading gradients",
        "advice": "BPDA/EOT",
        "detail": "no gradient-free attack in the suite",
        "skipped": True,
    },
]


def fake_run(
    store: Store,
    run_id: str,
    *,
    strength: float,
    model: str = "small-cnn",
    seed: int = 0,
    pictures: bool = True,
    sanity: bool = True,
) -> None:
    """A plausible run: accuracy falls with severity and epsilon; bits nest like real results."""
    rng = np.random.default_rng(seed)
    labels = np.random.default_rng(12345).integers(0, 10, N)  # the same test samples in every run
    store.begin_run(
        run_id,
        model=model,
        dataset="digits",
        seed=0,
        config={"n": N, "command": "robustness audit --n 60"},
        info={"class_names": [str(i) for i in range(10)]},
        sample_ids=np.arange(N),
        labels=labels,
    )
    hardness = rng.random(N)
    clean = hardness < 0.9 + 0.05 * strength
    cells = [CellResult("clean", "clean", "clean", "clean", clean, 0.1)]
    for k, (name, family) in enumerate(CORRUPTIONS.items()):
        for s in range(1, 6):
            ok = clean & (hardness < 0.9 - (0.1 + 0.03 * k) * s * (1.2 - strength))
            cells.append(CellResult(f"corruption/{name}/{s}", "corruption", name, family, ok, 0.1, severity=s))
    for norm, budgets, names in (("linf", LINF, ("fgsm", "pgd_linf", "fmn_linf")), ("l2", L2, ("pgd_l2", "fmn_l2"))):
        worst = {e: clean.copy() for e in budgets}
        for j, name in enumerate(names):
            for e in budgets:
                ok = clean & (hardness < 0.9 - (1.5 + 0.3 * j) * e * (1.3 - strength) * (3 if norm == "linf" else 0.4))
                worst[e] &= ok
                cells.append(
                    CellResult(f"attack/{name}/{norm}/{e:.6g}", "attack", name, "attack", ok, 0.2, epsilon=e, norm=norm)
                )
            if name.startswith("fmn"):
                d = np.where(clean, 0.01 + hardness * (0.3 if norm == "linf" else 3.0), np.nan)
                store.put_artifact(run_id, f"distances/{name}", d)
        for e in budgets:
            cells.append(
                CellResult(
                    f"attack/worst_case/{norm}/{e:.6g}",
                    "attack",
                    "worst_case",
                    "attack",
                    worst[e],
                    0.0,
                    epsilon=e,
                    norm=norm,
                )
            )
    store.commit_cells(run_id, cells)
    store.put_artifact(run_id, "versions", {"python": "3", "robustness-suite": "0.1.0"})
    if sanity:
        store.put_artifact(run_id, "sanity", SANITY)
        store.put_artifact(run_id, "hyperparameters", {"pgd_linf": {"steps": 20, "rel_stepsize": 0.1}, "fgsm": {}})
    if pictures:
        put_pictures(store, run_id, rng)


def put_pictures(store: Store, run_id: str, rng: np.random.Generator) -> None:
    names = list(CORRUPTIONS)
    image = (rng.random((32, 32, 1)) * 255).astype(np.uint8)
    store.put_artifact(run_id, f"{GRID}/images", np.stack([np.stack([image] * 5)] * len(names)))
    store.put_artifact(run_id, f"{GRID}/clean", image)
    store.put_artifact(
        run_id,
        GRID,
        {
            "sample": 0,
            "sample_id": 0,
            "label": 3,
            "clean_prediction": 3,
            "corruptions": names,
            "families": [CORRUPTIONS[n] for n in names],
            "severities": [1, 2, 3, 4, 5],
            "predictions": [[3, 3, 3, 5, 8]] * len(names),
        },
    )
    for attack, norm, eps in (("pgd_linf", "linf", 0.1), ("fmn_l2", "l2", 2.0)):
        base = f"{ADVERSARIAL}/{attack}"
        originals = np.stack([image] * 2)
        delta = (rng.random((2, 32, 32, 1)) - 0.5) * 0.2
        adversarial = np.clip(originals / 255 + delta, 0, 1)
        store.put_artifact(run_id, f"{base}/originals", originals)
        store.put_artifact(run_id, f"{base}/adversarials", (adversarial * 255).astype(np.uint8))
        store.put_artifact(run_id, f"{base}/deltas", delta.astype(np.float16))
        store.put_artifact(
            run_id,
            base,
            {
                "attack": attack,
                "norm": norm,
                "epsilon": eps,
                "note": "",
                "samples": [
                    {"sample": i, "sample_id": i, "label": 3, "clean_prediction": 3, "adversarial_prediction": 5}
                    for i in range(2)
                ],
            },
        )
    store.put_artifact(run_id, f"{FRAGILE}/images", np.stack([image] * 2))
    store.put_artifact(run_id, f"{FRAGILE}/perturbed", np.stack([image] * 2))
    store.put_artifact(
        run_id,
        FRAGILE,
        [
            {
                "sample": 4,
                "sample_id": 4,
                "label": 1,
                "cause": "corruption",
                "perturbation": "fog",
                "severity": 1,
                "description": "flipped by 3 of 4 corruptions at severity 1 (fog, ...)",
                "perturbed_prediction": 7,
            },
            {
                "sample": 9,
                "sample_id": 9,
                "label": 2,
                "cause": "attack",
                "perturbation": "pgd_linf",
                "norm": "linf",
                "epsilon": 0.02,
                "description": "fooled at linf eps 0.02 by pgd_linf",
                "perturbed_prediction": None,
            },
        ],
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    path = tmp_path_factory.mktemp("store") / "store.sqlite"
    with Store(path) as s:
        fake_run(s, "run-a", strength=0.5)
        fake_run(s, "run-b", strength=0.9, model="small-cnn-at", seed=1)
        fake_run(s, "run-c", strength=0.2, model="resnet-small", seed=2, pictures=False, sanity=False)
    s = Store(path)
    yield s
    s.close()


@pytest.fixture(scope="module")
def written(store: Store, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Render once per module: run-a in every format, run-c (no sanity, no pictures), a three-run comparison."""
    root = tmp_path_factory.mktemp("out")
    write_outputs(store, "run-a", root / "a", ("csv", "md", "json", "html", "parquet", "latex"))
    write_outputs(store, "run-c", root / "c", ("html", "md"))
    write_comparison(store, ["run-a", "run-b", "run-c"], root / "cmp", ("html", "md", "csv", "json", "latex"))
    return {"a": root / "a", "c": root / "c", "cmp": root / "cmp"}


def decoded_images(html: str) -> list[Image.Image]:
    out = []
    for src in re.findall(r'<img [^>]*src="([^"]+)"', html):
        assert src.startswith("data:image/png;base64,"), src[:60]
        image = Image.open(BytesIO(base64.b64decode(src.split(",", 1)[1])))
        image.load()
        out.append(image)
    return out


def test_every_format_is_written(store: Store, written: dict[str, Path]) -> None:
    out = written["a"]
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {
        "results.csv",
        "report.md",
        "report.html",
        "run.json",
        "results.json",
        "results.parquet",
        "results.tex",
    } <= files
    assert {"figures/severity_curves.png", "figures/attack_curves.png", "figures/comparison.png"} <= files
    csv = pd.read_csv(out / "results.csv")
    assert len(csv) == len(store.cells("run-a"))
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"), csv, check_dtype=False)
    records = json.loads((out / "results.json").read_text())
    assert len(records) == len(csv) and records[0]["kind"] == "clean" and records[0]["severity"] is None
    tex = (out / "results.tex").read_text()
    assert r"\begin{tabular}" in tex and "gaussian\\_noise" in tex and r"\%" in tex
    md = (out / "report.md").read_text()
    for heading in (
        "## Summary",
        "## Corruptions",
        "## Attacks",
        "## Sanity checks",
        "## Comparisons",
        "## Reproducibility",
    ):
        assert heading in md
    assert "![Robust accuracy vs epsilon](figures/attack_curves.png)" in md


def test_html_has_every_section_plot_and_picture(store: Store, written: dict[str, Path]) -> None:
    html = (written["a"] / "report.html").read_text()
    for anchor in ("summary", "corruptions", "attacks", "fragile", "sanity", "comparisons", "reproducibility"):
        assert f'<section id="{anchor}">' in html
    for alt in (
        "accuracy vs severity per corruption",
        "corruption x severity heatmap",
        "robust accuracy vs epsilon",
        "minimal perturbation distribution",
        "comparison bars with 95% intervals",
        "effective robustness",
    ):
        assert f'alt="{alt}"' in html, alt
    images = decoded_images(html)
    # 6 plots + the per-class drop heatmap (from the bits: this fake run stored no outputs or attribution maps),
    # clean + 4 x 5 grid, 2 attacks x 2 examples x 3 tiles, 2 fragile + 1 perturbed
    assert len(images) == 7 + 1 + 20 + 12 + 3
    assert 'alt="accuracy drop per class and family"' in html and "No attribution maps were stored" in html
    assert min(min(im.size) for im in images) >= 64  # small images are upscaled
    # filled with this run's numbers
    cells = store.cells("run-a")
    clean = cells.loc[cells["kind"] == "clean", "correct"].item() / N
    assert f"{100 * clean:.1f}%" in html
    assert "FLAGGED" in html and "large_budget" in html and "rel_stepsize=0.1" in html
    assert '<span class="badge skip">skipped</span>' in html and "1 of 3 checks flagged" in html
    assert "robustness audit --n 60" in html and "run-a" in html
    # the two other runs on the same samples appear in the comparison
    assert "small-cnn-at" in html and "resnet-small" in html


@pytest.mark.parametrize("which", ["a", "cmp"])
def test_html_is_self_contained(written: dict[str, Path], which: str) -> None:
    html = (written[which] / "report.html").read_text()
    assert "<script" not in html.lower()
    assert not re.search(r'(src|href)="(?!data:|#)', html), "only data: URIs and in-page anchors"
    assert "http://" not in html and "https://" not in html and "url(" not in html


def test_missing_sanity_and_pictures_say_not_run(written: dict[str, Path]) -> None:
    html = (written["c"] / "report.html").read_text()
    assert "Not run: this run has no attack sanity checks" in html
    assert "Not run: no attack hyperparameters were recorded" in html
    assert "No adversarial examples were stored" in html
    assert "Not run" in (written["c"] / "report.md").read_text()


def test_comparison_of_three_runs(written: dict[str, Path]) -> None:
    table = pd.read_csv(written["cmp"] / "comparison.csv")
    assert set(table["label"]) == {"small-cnn", "small-cnn-at", "resnet-small"}
    assert table.loc[table["run_id"] == "run-a", "p_value"].isna().all()
    assert table.loc[table["run_id"] != "run-a", "p_value"].between(0, 1).all()
    assert ((table["ci_low"] <= table["accuracy"]) & (table["accuracy"] <= table["ci_high"])).all()
    html = (written["cmp"] / "report.html").read_text()
    assert len(decoded_images(html)) == 2 and "Effective robustness" in html
    er = json.loads((written["cmp"] / "comparison.json").read_text())["effective_robustness"]
    assert all(row["effective_robustness"] is not None for row in er)  # three runs: a baseline fit exists
    assert {"results.csv", "comparison.csv", "comparison.tex", "report.md", "differences.csv", "rankings.csv"} <= {
        p.name for p in written["cmp"].iterdir()
    }
    # the paired analysis of `robustness compare`, rendered from its tables in both formats
    differences = pd.read_csv(written["cmp"] / "differences.csv")
    others = differences[differences["model"] != "small-cnn"]
    assert set(others["test"]) == {"newcombe+mcnemar", "paired bootstrap + sign-flip", "paired bootstrap"}
    assert ((others["ci_low"] <= others["diff"]) & (others["diff"] <= others["ci_high"])).all()
    md = (written["cmp"] / "report.md").read_text()
    for heading in ("## Differences to the baseline", "## Ranking", "## Methods"):
        assert heading in md and md.count(heading) == 1
    for anchor in ("differences", "ranking", "methods"):
        assert f'<section id="{anchor}">' in html and f'href="#{anchor}"' in html
    clean_b = others[(others["metric"] == "clean accuracy") & (others["model"] == "small-cnn-at")].iloc[0]
    assert f"{100 * clean_b['diff']:+.1f} [{100 * clean_b['ci_low']:+.1f}, {100 * clean_b['ci_high']:+.1f}]" in html


def test_comparison_of_unpaired_runs_says_why_it_has_no_paired_analysis(tmp_path: Path) -> None:
    with Store(tmp_path / "store.sqlite") as s:
        fake_run(s, "run-a", strength=0.5)
        fake_run(s, "run-x", strength=0.5)
        s.begin_run("run-y", model="m", dataset="shapes", seed=0, config={}, info={}, sample_ids=np.arange(N),
                    labels=np.zeros(N, dtype=int))  # fmt: skip
        s.commit_cells("run-y", [CellResult("clean", "clean", "clean", "clean", np.ones(N, dtype=bool), 0.1)])
        write_comparison(s, ["run-a", "run-y"], tmp_path / "cmp", ("md", "json"))
    md = (tmp_path / "cmp" / "report.md").read_text()
    assert "No paired analysis: cannot compare" in md and "dataset 'shapes'" in md
    assert json.loads((tmp_path / "cmp" / "comparison.json").read_text())["differences"].startswith("No paired")


@pytest.mark.parametrize(
    ("runs", "match"),
    [(["run-a"], "at least two runs"), (["run-a", "run-a"], "distinct")],
    ids=["one-run", "duplicate"],
)
def test_comparison_rejects_bad_run_lists(store: Store, tmp_path: Path, runs: list[str], match: str) -> None:
    with pytest.raises(UsageError, match=match):
        write_comparison(store, runs, tmp_path / "x")


def test_unknown_format_is_refused(store: Store, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--format should be among"):
        write_outputs(store, "run-a", tmp_path / "x", ("pdf",))
    assert not (tmp_path / "x").exists()


def test_comparison_statistics() -> None:
    a = np.array([True] * 40 + [False] * 10)
    b = np.array([True] * 25 + [False] * 25)
    assert mcnemar_p(a, a) == 1.0 and mcnemar_p(a, b) < 0.001
    mean, lo, hi = mean_interval(np.full(50, 0.7))
    assert (mean, lo, hi) == pytest.approx((0.7, 0.7, 0.7))
    rows = [
        {
            "kind": "clean",
            "perturbation": "clean",
            "family": "clean",
            "severity": None,
            "epsilon": None,
            "norm": None,
            "n": 50,
            "correct": 40,
        }
    ]
    rows += [
        {
            "kind": "attack",
            "perturbation": "worst_case",
            "family": "attack",
            "severity": None,
            "epsilon": e,
            "norm": "linf",
            "n": 50,
            "correct": c,
        }
        for e, c in ((0.1, 20), (0.2, 10), (0.3, 5))
    ]
    df = tidy(pd.DataFrame(rows))
    runs = [
        RunSummary("r1", "one", df, np.arange(50), {"clean": a}),
        RunSummary("r2", "two", df, np.arange(50), {"clean": b}),
    ]
    assert shared_epsilons(runs) == {"linf": 0.2}
    table = comparison_table(runs)
    assert list(table["metric"].unique()) == ["clean", "worst case linf eps 0.2"]
    assert effective_robustness(table)["predicted"].isna().all()  # two runs: no baseline fit


def test_images_upscale_and_amplify() -> None:
    small = np.arange(64, dtype=np.uint8).reshape(8, 8)
    big = upscale(small, 32)
    assert big.shape == (32, 32, 1) and (big[::4, ::4, 0] == small).all()
    png = Image.open(BytesIO(to_png(np.zeros((3, 10, 10), dtype=np.float32), 40)))
    assert png.size == (40, 40) and png.mode == "RGB"
    vis, factor = amplified_difference(np.zeros((4, 4)), np.zeros((4, 4)), np.full((4, 4), 0.01))
    assert vis.max() == 255 and factor == pytest.approx(100)


def test_exports_escape_and_serialise() -> None:
    assert latex_escape("a_b & 5%") == r"a\_b \& 5\%"
    assert latex_table(["x"], [["1"]]).count(r"\\") == 2
    df = pd.DataFrame({"a": [1.0, np.nan], "b": pd.array([1, None], dtype="Int64")})
    assert json.loads(json_records(df)) == [{"a": 1.0, "b": 1}, {"a": None, "b": None}]


def test_reports_never_import_torch() -> None:
    """Nor the runtime: below ``reports`` lies only ``robustness.core`` (errors, enums)."""
    code = (
        "import sys, reports, reports.html, reports.html_compare, reports.plots, reports.images, reports.export\n"
        "import reports.comparison, reports.comparison_render, reports.corruption_metrics\n"
        "runtime = [m for m in sys.modules if m.startswith('robustness.') and not m.startswith('robustness.core')]\n"
        "bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')) + sorted(runtime)\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"reports imported {out.stdout.strip()}"


def test_extra_markdown_sections_become_html_sections(store: Store) -> None:
    lines = [
        "## Defense",
        "",
        "**pgd-at** (training): `eps=0.1`.",
        "",
        "| | L2 r=0.5 |",
        "|:--|--:|",
        "| certified | 61.0% |",
    ]
    anchor, title, body = markdown_section(lines)
    assert (anchor, title) == ("extra-defense", "Defense")
    assert "<b>pgd-at</b>" in body and "<code>eps=0.1</code>" in body and "<td>61.0%</td>" in body
    report = gather_report(store, "run-a", tidy(store.cells("run-a")), run_record(store, "run-a"))
    html = render_html(report, {}, [lines])
    assert '<section id="extra-defense">' in html and '<a href="#extra-defense">Defense</a>' in html
    assert html.index('id="sanity"') < html.index('id="extra-defense"') < html.index('id="comparisons"')


def test_most_damaging_lists_distinct_perturbations(store: Store) -> None:
    from reports.tables import most_damaging

    top = most_damaging(tidy(store.cells("run-a")), 5)
    assert len(top) == 5 and top[["perturbation", "norm"]].drop_duplicates().shape[0] == 5
    assert top["drop"].is_monotonic_decreasing
    pgd = top[top["perturbation"] == "pgd_linf"]
    assert pgd.empty or float(pgd["epsilon"].iloc[0]) == 0.3  # the smallest budget reaching its lowest accuracy


def test_subset_attack_rows_are_marked_as_upper_bounds() -> None:
    import json

    from reports.tables import skipped_notes

    rows = [{"kind": "clean", "perturbation": "clean", "norm": None, "epsilon": None, "correct": 90, "extra": None}]
    for eps in (0.5, 1.0):
        rows.append({"kind": "attack", "perturbation": "hsj_l2", "norm": "l2", "epsilon": eps, "correct": 80,
                     "extra": json.dumps({"skipped": 60})})  # fmt: skip
    for name in ("pgd_l2", "worst_case"):
        rows.append({"kind": "attack", "perturbation": name, "norm": "l2", "epsilon": 0.5, "correct": 70, "extra": "{}"})
    (note,) = skipped_notes(pd.DataFrame(rows))
    assert "`hsj_l2` ran on 30 of the 90 clean-correct samples" in note and "upper bounds" in note
    assert "`worst_case` at eps 1," in note  # at 0.5 pgd_l2 covered every sample
    assert skipped_notes(pd.DataFrame(rows[:1] + rows[3:])) == []


def test_report_command_reads_the_store_without_torch(store: Store, tmp_path: Path) -> None:
    """`robustness report` regenerates a run (mCE included) from the store alone: no torch, no model."""
    code = (
        "import sys\nfrom robustness.cli.main import main\n"
        f"code = main(['report', 'run-a', 'run-b', '--store', {str(store.path)!r}, '--out', {str(tmp_path)!r}])\n"
        "print(code, sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))[:3])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "0 []", out.stdout + out.stderr
    assert "mCE" in (tmp_path / "run-a" / "report.md").read_text()


def test_comparison_means_corruptions_over_the_cells_every_run_has() -> None:
    from reports.compare import comparison_table

    def summary(name: str, accuracy: dict[str, float]) -> RunSummary:
        n = 100
        bits = {"clean": np.ones(n, dtype=bool)}
        common = {"ci_low": 0.0, "ci_high": 1.0, "n": n, "norm": None, "epsilon": np.nan}
        rows = [{"cell": "clean", "kind": "clean", "perturbation": "clean", "accuracy": 1.0, **common}]
        for cell, acc in accuracy.items():
            bits[cell] = np.arange(n) < int(acc * n)
            rows.append({"cell": cell, "kind": "corruption", "perturbation": cell.split("/")[1], "accuracy": acc,
                         **common})  # fmt: skip
        return RunSummary(name, name, pd.DataFrame(rows), np.arange(n), bits)

    a = summary("a", {"corruption/fog/1": 0.8, "corruption/snow/1": 0.6})
    b = summary("b", {"corruption/fog/1": 0.7, "corruption/snow/1": 0.6, "corruption/rotation/1": 0.0})
    table = comparison_table([a, b]).set_index(["label", "metric"])
    assert table.loc[("a", "corruptions (mean)"), "accuracy"] == pytest.approx(0.7)
    assert table.loc[("b", "corruptions (mean)"), "accuracy"] == pytest.approx(0.65)  # rotation is b's alone


def test_report_leaves_a_read_only_store_byte_for_byte_unchanged(tmp_path: Path) -> None:
    """`robustness report` opens the store read-only: a write-protected store file stays exactly as it was."""
    from robustness.cli.main import main

    path = tmp_path / "store.sqlite"
    with Store(path) as s:
        fake_run(s, "run-a", strength=0.5)
    path.chmod(0o444)
    before = path.read_bytes()
    try:
        assert main(["report", "run-a", "--store", str(path), "--out", str(tmp_path / "out")]) == 0
    finally:
        path.chmod(0o644)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "store.sqlite"]  # no -wal/-shm left behind
    assert (tmp_path / "out" / "run-a" / "report.html").is_file()
