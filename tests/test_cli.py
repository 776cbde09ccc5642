"""Bad input: one clear line on stderr, exit code 2, nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from robustness.cli.main import main
from robustness.models.zoo import MODELS

FAST = ["--n", "16", "--corruptions", "rotation", "--severities", "1", "--attacks", "fgsm", "--eps", "0.1"]


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    return tmp_path / "out"


@pytest.fixture
def gray_weights(tmp_path: Path) -> str:
    path = tmp_path / "gray.pt"
    torch.save(MODELS.get("small-cnn")(1, 10).state_dict(), path)
    return str(path)


@pytest.fixture
def pickled_checkpoint(tmp_path: Path) -> str:
    path = tmp_path / "pickled.pt"
    torch.save({"model": MODELS.get("small-cnn")(1, 10)}, path)  # a whole module: needs pickle code
    return str(path)


@pytest.fixture
def rgb_folder(tmp_path: Path) -> str:
    root = tmp_path / "rgb"
    for cls in range(3):
        (root / str(cls)).mkdir(parents=True)
        Image.new("RGB", (32, 32), (cls * 80, 0, 0)).save(root / str(cls) / "a.png")
    return str(root)


@pytest.fixture
def many_class_folder(tmp_path: Path) -> str:
    root = tmp_path / "many"
    for cls in range(12):
        (root / f"c{cls:02d}").mkdir(parents=True)
        Image.new("L", (32, 32), cls * 20).save(root / f"c{cls:02d}" / "a.png")
    return str(root)


def _bad_cases(tmp_path: Path, gray_weights: str, pickled: str, rgb_folder: str, many_folder: str) -> dict[str, tuple[list[str], str]]:
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    readonly.chmod(0o500)
    empty = tmp_path / "empty" / "cls"
    empty.mkdir(parents=True)
    wrong = tmp_path / "wrong.pt"
    torch.save(MODELS.get("small-cnn")(1, 3).state_dict(), wrong)
    return {
        "unknown-dataset": (["--dataset", "digitz"], "Unknown dataset 'digitz'.*Available"),
        "unknown-model": (["--model", "small-cn"], "Unknown model 'small-cn'.*Did you mean small-cnn"),
        "unknown-corruption": (["--corruptions", "fogg"], "Unknown corruption 'fogg'.*corruptions:"),
        "unknown-attack": (["--attacks", "pgdd"], "Unknown attack 'pgdd'.*Available"),
        "missing-weights": (["--weights", str(tmp_path / "nope.pt")], "does not exist"),
        "weights-do-not-fit": (["--weights", str(wrong)], "do not fit the architecture"),
        "pickle-checkpoint": (["--weights", pickled], "needs pickle code.*--unsafe-load"),
        "channels": (["--model", "torchvision:resnet18", "--num-classes", "10", "--random-weights"], "takes 3-channel images.*1 channel"),
        "output-shape": (["--model", "tests.helpers.toy_models:WrongOutput", "--random-weights"], r"output should be shaped \[N, num_classes\]"),
        "labels-out-of-range": (["--weights", gray_weights, "--dataset", many_folder, "--num-classes", "10"], "labels should lie in 0..9"),
        "negative-eps": (["--eps", "-0.1"], "--eps values should be non-negative"),
        "severity-0": (["--severities", "0"], "--severities: severity should be an integer between 1 and 5, but got 0"),
        "severity-6": (["--severities", "6"], "--severities: severity should be an integer between 1 and 5, but got 6"),
        "empty-dataset": (["--dataset", str(tmp_path / "empty")], "is empty"),
        "unwritable-out": (["--out", str(readonly / "sub")], "is not writable"),
        "bad-eps-syntax": (["--eps", "abc"], "expected numbers"),
        "unknown-flag": (["--frobnicate"], "unrecognized arguments"),
    }


CASES = [
    "unknown-dataset", "unknown-model", "unknown-corruption", "unknown-attack", "missing-weights",
    "weights-do-not-fit", "pickle-checkpoint", "channels", "output-shape", "labels-out-of-range", "negative-eps",
    "severity-0", "severity-6", "empty-dataset", "unwritable-out", "bad-eps-syntax", "unknown-flag",
]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    case: str, tmp_path: Path, out_dir: Path, gray_weights: str, pickled_checkpoint: str, rgb_folder: str,
    many_class_folder: str, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    if case == "unwritable-out" and os.geteuid() == 0:
        pytest.skip("root can write anywhere; the unwritable-folder path is covered by the file-as-folder case")
    args, match = _bad_cases(tmp_path, gray_weights, pickled_checkpoint, rgb_folder, many_class_folder)[case]
    full = ["audit", *FAST, "--out", str(out_dir), *args] if "--out" not in args else ["audit", *FAST, *args]
    code, out, err = run_cli(full, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("robustness: error: ")
    import re

    assert re.search(match, lines[0]), lines[0]
    assert not any(out_dir.rglob("report.md")) if out_dir.exists() else True
    assert not any(out_dir.rglob("results.csv")) if out_dir.exists() else True


def test_out_folder_that_is_a_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, _, err = run_cli(["audit", *FAST, "--out", str(blocker / "sub")], capsys)
    assert code == 2 and "is not writable" in err and len(err.strip().splitlines()) == 1


def test_list_shows_registries(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["list"], capsys)
    assert code == 0
    for word in ("digits", "small-cnn", "rotation", "pgd_linf", "pgd-at", "median-filter"):
        assert word in out
    code, out, _ = run_cli(["list", "defenses"], capsys)
    assert code == 0 and "smoothing      training" in out and "jpeg           transform" in out and "pgd_linf" not in out


def test_report_of_unknown_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["report", "nope", "--store", str(tmp_path / "none.sqlite")], capsys)
    assert code == 2 and "does not exist" in err


def test_console_script_exit_code(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("robustness")
    proc = subprocess.run([str(exe), "audit", "--severities", "9"], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "between 1 and 5" in proc.stderr
    assert not (tmp_path / "robustness-runs").exists()
    assert proc.stdout == "" and list(tmp_path.iterdir()) == []  # nothing on stdout, nothing written anywhere
