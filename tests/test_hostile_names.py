"""Hostile names stay text (issue 12, item 6): model specs, dataset, class names and commands holding ``|``,
``<script>``, backticks or newlines render as the same text in report.md, report.html and the CSVs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from reports.text import md_code, md_text
from robustness.results.store import Store
from robustness.results.writer import write_comparison, write_outputs
from tests.test_report import fake_run

MODEL = "evil|<script>alert(1)</script>`x`\nnext"
OTHER = "pkg.mod:Net|<b>bold</b>"
DATASET = "folder:/data/<i>x|y</i>"
CLASSES = [f"c{i}|<img src=x onerror=alert({i})>`t`\nx" for i in range(10)]
COMMAND = "robustness audit --model 'a|`b`\n<script>alert(3)</script>'"
INJECTED = ("<script>alert", "<img src=x", "<b>bold", "<i>x")


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    with Store(root / "store.sqlite") as store:
        fake_run(store, "run-a", strength=0.5, model=MODEL)
        fake_run(store, "run-b", strength=0.7, model=OTHER, seed=1)
        for run_id in ("run-a", "run-b"):
            config = {**store.run(run_id)["config"], "command": COMMAND}
            store._conn.execute(
                "UPDATE runs SET dataset = ?, info = ?, config = ? WHERE run_id = ?",
                (DATASET, json.dumps({"class_names": CLASSES}), json.dumps(config), run_id),
            )
        write_outputs(store, "run-a", root / "a", ("md", "html", "csv"))
        write_comparison(store, ["run-a", "run-b"], root / "cmp", ("md", "html", "csv"))
    return root


def _tables(markdown: str) -> list[list[str]]:
    """The Markdown tables of a document, each as its lines."""
    tables: list[list[str]] = []
    previous = False
    for line in markdown.splitlines():
        is_row = line.startswith("|")
        if is_row and not previous:
            tables.append([])
        if is_row:
            tables[-1].append(line)
        previous = is_row
    return tables


@pytest.mark.parametrize("which", ["a", "cmp"])
def test_markdown_keeps_hostile_names_as_text(written: Path, which: str) -> None:
    from markdown_it import MarkdownIt

    text = (written / which / "report.md").read_text(encoding="utf-8")
    for table in _tables(text):  # no name splits a row or a cell
        columns = {len(re.findall(r"(?<!\\)\|", row)) for row in table}
        assert len(columns) == 1, table
    rendered = MarkdownIt("commonmark").enable("table").render(text)
    for markup in INJECTED:
        assert markup not in rendered, markup
    assert "evil|&lt;script&gt;alert(1)&lt;/script&gt;`x` next" in rendered  # the name, as text, on one line
    assert "<code>robustness audit --model 'a|`b` &lt;script&gt;alert(3)&lt;/script&gt;'</code>" in rendered


def test_markdown_shows_class_names_as_text(written: Path) -> None:
    text = (written / "a" / "report.md").read_text(encoding="utf-8")
    shown = [name for name in CLASSES if md_text(name) in text]
    assert shown, "the fragile-images table names classes"
    assert md_text(shown[0]).endswith("\\`t\\` x") and not re.search(r"(?<!\\)<img", text)


@pytest.mark.parametrize("which", ["a", "cmp"])
def test_html_escapes_hostile_names(written: Path, which: str) -> None:
    html = (written / which / "report.html").read_text(encoding="utf-8")
    for markup in INJECTED:
        assert markup not in html, markup
    assert "evil|&lt;script&gt;alert(1)&lt;/script&gt;`x`" in html


@pytest.mark.parametrize("which", ["a", "cmp"])
def test_csv_round_trips_hostile_names(written: Path, which: str) -> None:
    frame = pd.read_csv(written / which / "results.csv")
    assert MODEL in set(frame["model"]) and set(frame["dataset"]) == {DATASET}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("plain", "`plain`"), ("a`b", "``a`b``"), ("`x`", "`` `x` ``"), ("two\nlines", "`two lines`")],
)
def test_code_spans_hold_any_backticks(text: str, expected: str) -> None:
    assert md_code(text) == expected
