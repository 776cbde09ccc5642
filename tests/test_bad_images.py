"""An image folder holding a truncated file: one line naming it, exit 2, nothing written; or skipped and counted."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from robustness.cli.main import main
from robustness.data import DatasetRequest, load_dataset
from robustness.data.external import UnreadableImage
from robustness.data.screening import screen_images


def _folder(root: Path, truncated: tuple[str, ...] = ("b/1.png",)) -> Path:
    for label, cls in enumerate(("a", "b")):
        (root / cls).mkdir(parents=True)
        for i in range(4):
            pixels = np.random.default_rng([label, i]).integers(0, 256, (32, 32), dtype=np.uint8)
            Image.fromarray(pixels, "L").save(root / cls / f"{i}.png")
    for name in truncated:
        data = (root / name).read_bytes()
        (root / name).write_bytes(data[: len(data) // 2])
    return root


AUDIT = ["audit", "--model", "tests.helpers.toy_models:TinyNet", "--num-classes", "2", "--corruptions", "rotation",
         "--severities", "1", "--attacks", "none", "--no-sanity", "--random-weights"]  # fmt: skip


def test_truncated_image_is_named_with_exit_2_and_nothing_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _folder(tmp_path / "imgs")
    out = tmp_path / "out"
    assert main([*AUDIT, "--dataset", str(folder), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(folder / "b" / "1.png") in err and "truncated" in err and "--skip-bad-images" in err
    assert not [p for p in out.rglob("*") if p.is_file()], "no store, no report, no partial output"


def test_skip_bad_images_goes_on_counts_and_records(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = _folder(tmp_path / "imgs", truncated=("a/0.png", "b/1.png"))
    out = tmp_path / "out"
    assert main([*AUDIT, "--dataset", str(folder), "--out", str(out), "--skip-bad-images"]) == 0
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("skipped 2 of 8 images" in w and "a/0.png" in w and "b/1.png" in w for w in warned)
    with sqlite3.connect(out / "store.sqlite") as db:
        (info,) = db.execute("SELECT info FROM runs").fetchone()
        counts = {n for (n,) in db.execute("SELECT n FROM cells")}
    skipped = json.loads(info)["skipped_images"]
    assert [s.split(":")[0] for s in skipped] == [str(folder / "a" / "0.png"), str(folder / "b" / "1.png")]
    assert counts == {6}
    run_json = json.loads(next(out.rglob("run.json")).read_text())
    assert len(run_json["info"]["skipped_images"]) == 2


def test_screening_keeps_sample_ids_and_positions(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "imgs", truncated=("a/2.png",))
    dataset = load_dataset(str(folder), DatasetRequest(input_shape=(1, 16, 16)))
    with pytest.raises(UnreadableImage, match=r"a/2\.png.*truncated"):
        screen_images(dataset, np.arange(8), skip=False)
    assert screen_images(dataset, np.arange(2), skip=False).dataset is dataset, "only the evaluated files are read"
    screened = screen_images(dataset, np.array([1, 2, 3, 5]), skip=True, threads=2)
    kept = screened.dataset
    assert len(kept) == 7 and len(screened.skipped) == 1
    assert kept.indices[screened.positions].tolist() == [1, 3, 5], "survivors keep their sample ids (corruption seeds)"
    images, labels = kept.load(screened.positions)
    reference, _ = dataset.load(np.array([1, 3, 5]))
    assert bool((images == reference).all()) and labels.tolist() == [0, 0, 1]
