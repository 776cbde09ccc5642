"""Bad files and settings (issue 12): one line naming the argument, exit code 2, nothing written.

Each case checks the exit code, that stderr is one ``robustness: error:`` line saying what was
wrong, and that neither the output folder nor the store file was created or changed.
"""

from __future__ import annotations

import json
import re
import socket
import sqlite3
from pathlib import Path

import pytest

from robustness.cli.main import main
from robustness.results.store import SCHEMA

FAST = ["--n", "16", "--corruptions", "rotation", "--severities", "1", "--attacks", "fgsm", "--eps", "0.1"]


def refused(args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], *, store: Path | None = None) -> str:
    """Run ``robustness audit`` with ``args``; check it is refused cleanly; return the error line."""
    out = tmp_path / "out"
    store = store or out / "store.sqlite"
    before = store.read_bytes() if store.exists() else None
    code = main(["audit", *FAST, "--out", str(out), "--store", str(store), *args])
    _, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("robustness: error: "), err
    assert not out.exists(), "no output folder may be left behind"
    assert (store.read_bytes() if store.exists() else None) == before, "the store must not be created or changed"
    return lines[0]


def test_weights_that_are_not_a_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = tmp_path / "weights.pt"
    text.write_text("hello world\n", encoding="utf-8")
    line = refused(["--weights", str(text)], tmp_path, capsys)
    assert re.search(r"--weights file .*weights\.pt' is not a PyTorch checkpoint .*torch\.save", line), line


BAD_CONFIG = """\
batch_size: '64'
n: ten
eps: [0.1, [0.2]]
seed: 'three'
corruptions: rotation
pretrained: 1
"""


def test_config_values_of_the_wrong_type_are_named_one_by_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "audit.yaml"
    config.write_text(BAD_CONFIG, encoding="utf-8")
    line = refused(["--config", str(config)], tmp_path, capsys)
    expected = {
        "batch_size": "should be an integer, but got '64'",
        "n": "should be an integer or null, but got 'ten'",
        "eps": r"should be a list of numbers, but got \[0.1, \[0.2\]\] \(list\) \(\[1\] should be a number\)",
        "seed": "should be an integer, but got 'three'",
        "corruptions": "should be a list of strings, but got 'rotation'",  # not split into letters
        "pretrained": "should be true or false, but got 1",
    }
    for key, message in expected.items():
        assert re.search(rf"'{key}' {message}", line), (key, line)
    assert len(re.findall(r"'\w+' should be", line)) == len(expected)


def test_config_types_are_checked_for_python_callers_too() -> None:
    from robustness.core.errors import UsageError
    from robustness.run.config import AuditConfig

    assert AuditConfig(eps=[0.1, 1], severities=[1, 2]).eps == (0.1, 1)  # lists become tuples, values untouched
    with pytest.raises(UsageError, match=r"'severities' should be a list of integers, but got \[1, 2.5\]"):
        AuditConfig(severities=(1, 2.5))  # type: ignore[arg-type]


def test_store_that_is_not_sqlite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "notes.sqlite"
    store.write_text("my notes, not a database\n", encoding="utf-8")
    line = refused([], tmp_path, capsys, store=store)
    assert re.search(r"--store .*notes\.sqlite' is not a SQLite database .*pass a results store", line), line


def test_store_of_another_application(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "app.db"
    with sqlite3.connect(store) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO users VALUES (1, 'ada')")
    conn.close()
    line = refused([], tmp_path, capsys, store=store)
    assert re.search(r"--store .*app\.db' is another program's SQLite database \(tables: users\)", line), line


def test_store_of_a_newer_suite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "future.sqlite"
    with sqlite3.connect(store) as conn:
        conn.executescript(SCHEMA)
        conn.execute("INSERT INTO meta VALUES ('schema_version', '99')")
    conn.close()
    line = refused([], tmp_path, capsys, store=store)
    assert "written by a newer robustness-suite (schema 99" in line and "upgrade" in line


def test_unreachable_ray_cluster_fails_fast(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("ray", reason="Ray is an optional extra")
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    line = refused(["--backend", "ray", "--address", f"127.0.0.1:{port}"], tmp_path, capsys)
    assert f"--address '127.0.0.1:{port}': no Ray cluster answers there" in line and "ray start" in line


@pytest.mark.parametrize(
    ("model", "advice"),
    [("torchvision:resnet18", "--weights FILE .* or --pretrained"), ("tests.helpers.toy_models:TinyNet", "--weights FILE")],
)
def test_a_model_without_trained_weights_is_refused(
    model: str, advice: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = refused(["--model", model], tmp_path, capsys)
    assert re.search(rf"--model '{model}' has no trained weights: pass {advice}.*pass --random-weights", line), line


def test_unknown_dataset_lists_folder_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = refused(["--dataset", "digitz"], tmp_path, capsys)
    assert "Unknown dataset 'digitz'" in line and "folder:PATH" in line.split("Available:")[1]


def test_random_weights_on_purpose_runs_and_the_report_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    args = ["audit", "--model", "tests.helpers.toy_models:TinyNet", "--random-weights", "--n", "16",
            "--corruptions", "none", "--attacks", "none", "--out", str(out)]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    markdown = (run / "report.md").read_text(encoding="utf-8")
    html = (run / "report.html").read_text(encoding="utf-8")
    assert "> **Random weights: this model was audited without trained weights (--random-weights)" in markdown
    assert '<p class="note bad">Random weights: this model was audited without trained weights' in html
    assert json.loads((run / "run.json").read_text(encoding="utf-8"))["info"]["model"]["random_weights"] is True
