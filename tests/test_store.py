"""The SQLite store: round trips, concurrent writers, all-or-nothing commits."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robustness.results.store import CellResult, Store, pack_bits, unpack_bits

IDS = np.arange(100)


def _begin(store: Store, run_id: str = "r") -> None:
    store.begin_run(run_id, model="m", dataset="d", seed=0, config={}, info={}, sample_ids=IDS, labels=IDS % 10)


def _cell(key: str, correct: np.ndarray) -> CellResult:
    return CellResult(key, "corruption", key, "noise", correct, 0.1, severity=1)


@given(st.lists(st.booleans(), max_size=3000))
def test_bits_round_trip(values: list[bool]) -> None:
    array = np.array(values, dtype=bool)
    assert np.array_equal(unpack_bits(pack_bits(array), len(array)), array)


@settings(max_examples=25, deadline=None)
@given(
    cells=st.dictionaries(
        st.text(alphabet="abcdefgh/_0123456789", min_size=1, max_size=20),
        st.lists(st.booleans(), min_size=100, max_size=100),
        max_size=6,
    ),
    extra=st.dictionaries(st.text(max_size=5), st.integers() | st.floats(allow_nan=False) | st.text(max_size=5), max_size=3),
)
def test_store_round_trip(tmp_path_factory: pytest.TempPathFactory, cells: dict, extra: dict) -> None:
    path = tmp_path_factory.mktemp("store") / "s.sqlite"
    with Store(path) as store:
        _begin(store)
        store.commit_cells("r", [_cell(k, np.array(v)) for k, v in cells.items()])
        store.put_artifact("r", "extra", extra)
    with Store(path, readonly=True) as store:
        bits = store.bits("r")
        assert set(bits) == set(cells)
        for key, values in cells.items():
            assert bits[key].tolist() == values
        frame = store.cells("r")
        assert frame["correct"].sum() == sum(sum(v) for v in cells.values())
        assert store.artifact("r", "extra") == extra
        assert np.array_equal(store.run("r")["sample_ids"], IDS)


def _writer(path: str, worker: int, cells: int) -> None:
    rng = np.random.default_rng(worker)
    with Store(path) as store:
        _begin(store, f"run{worker % 2}")
        for i in range(cells):
            store.commit_cells(f"run{worker % 2}", [_cell(f"w{worker}/c{i}", rng.random(100) < 0.5)])


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.sqlite")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, w, 40)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with Store(path, readonly=True) as store:
        assert sorted(store.run_ids()) == ["run0", "run1"]
        assert len(store.bits("run0")) + len(store.bits("run1")) == 4 * 40


def test_a_failed_commit_writes_nothing(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as store:
        _begin(store)
        good = _cell("good", np.ones(100, bool))
        bad = _cell("bad", np.ones(100, bool))
        object.__setattr__(bad, "seconds", "not a number")
        with pytest.raises(ValueError):
            store.commit_cells("r", [good, bad])
        assert store.finished_cells("r") == set()


def test_resume_with_other_samples_is_refused(tmp_path: Path) -> None:
    from robustness.core.errors import UsageError

    with Store(tmp_path / "s.sqlite") as store:
        _begin(store)
        with pytest.raises(UsageError, match="exists in the store with other samples"):
            store.begin_run("r", model="m", dataset="d", seed=0, config={}, info={}, sample_ids=IDS[:50], labels=IDS[:50])
