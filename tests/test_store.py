"""The SQLite store: round trips, concurrent writers, all-or-nothing commits."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robustness.core.errors import UsageError
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


def _v1_store(path: Path) -> None:
    """A store as schema 1 wrote it: the same tables, no application_id."""
    import sqlite3

    from robustness.results.store import SCHEMA

    with sqlite3.connect(path) as conn:
        conn.executescript(SCHEMA)
        conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    conn.close()
    with Store(path) as store:  # a run written through the current code, then the version set back to 1
        _begin(store)
        store.commit_cells("r", [_cell("a", IDS % 2 == 0)])
        store._conn.execute("PRAGMA application_id = 0")
        store._conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")


def test_an_older_store_is_read_as_is_and_migrated_when_opened_writable(tmp_path: Path) -> None:
    from robustness.results.store import APPLICATION_ID, SCHEMA_VERSION, inspect_store

    path = tmp_path / "v1.sqlite"
    _v1_store(path)
    assert inspect_store(path) == 1
    before = path.read_bytes()
    with Store(path, readonly=True) as store:
        assert store.schema_version() == 1 and store.finished_cells("r") == {"a"}
    assert path.read_bytes() == before
    with Store(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert store._conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert np.array_equal(store.bits("r")["a"], IDS % 2 == 0)  # the data survived the migration
    assert inspect_store(path) == SCHEMA_VERSION


@pytest.mark.parametrize("name", ["with space", "what?", "hash#tag", "100%", "a%20b"])
def test_any_path_is_a_valid_store_path(tmp_path: Path, name: str) -> None:
    folder = tmp_path / name
    path = folder / "store.sqlite"
    with Store(path) as store:
        _begin(store)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name], "the store is where it was asked to be"
    with Store(path, readonly=True) as store:
        assert store.run_ids() == ["r"]


def test_readonly_open_of_another_programs_database_is_refused(tmp_path: Path) -> None:
    import sqlite3

    from robustness.core.errors import UsageError

    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE runs (x)")
    conn.close()
    with pytest.raises(UsageError, match="another program's SQLite database"):
        Store(path, readonly=True)


def test_run_record_and_artifacts_round_trip_through_a_reopen(tmp_path: Path) -> None:
    """Everything begin_run and put_artifact were given comes back after the file is closed and reopened:
    the run's fields, its samples and labels, arrays (dtype and shape kept) and JSON values."""
    path = tmp_path / "s.sqlite"
    ids, labels = np.array([7, 3, 11], dtype=np.int64), np.array([1, 0, 2])
    arrays = {
        "outputs/x": np.array([[0.25, 0.5], [1.0, 0.125]], dtype=np.float16),
        "distances/a": np.array([0.1, np.inf, np.nan]),
        "skipped/a": np.array([True, False, True]),
    }
    with Store(path) as store:
        assert store.begin_run("r1", model="m", dataset="d", seed=5, config={"b": 2, "a": [1, 2]},
                               info={"torch": "x"}, sample_ids=ids, labels=labels)  # fmt: skip
        assert store.begin_run("r2", model="m2", dataset="d", seed=6, config={}, info={}, sample_ids=ids[:1],
                               labels=labels[:1])  # fmt: skip
        for name, value in arrays.items():
            store.put_artifact("r1", name, value)
        store.put_artifact("r1", "meta/json", {"z": 1, "a": [0.5, None], "n": np.int64(4)})
    with Store(path, readonly=True) as store:
        run = store.run("r1")
        assert (run["run_id"], run["model"], run["dataset"], run["n"], run["seed"]) == ("r1", "m", "d", 3, 5)
        assert run["config"] == {"a": [1, 2], "b": 2} and run["info"] == {"torch": "x"}
        assert run["sample_ids"].tolist() == [7, 3, 11] and run["labels"].tolist() == [1, 0, 2]
        assert isinstance(run["created"], str) and run["created"]
        assert store.run("r2")["model"] == "m2" and store.run("r2")["n"] == 1
        assert store.run_ids() == ["r1", "r2"]
        for name, value in arrays.items():
            back = store.artifact("r1", name)
            assert back.dtype == value.dtype and back.shape == value.shape
            np.testing.assert_array_equal(back, value)
        assert store.artifact("r1", "meta/json") == {"a": [0.5, None], "n": 4, "z": 1}
        assert store.artifact("r1", "missing", default="none") == "none"
        assert store.artifact("r2", "outputs/x") is None  # artifacts belong to their run
        assert store.artifact_names("r1") == sorted([*arrays, "meta/json"])
        with pytest.raises(UsageError, match=r"Unknown run 'r11'\. Did you mean r1\? Available: r1, r2\."):
            store.run("r11")


def test_resume_with_the_same_samples_returns_false_and_keeps_the_record(tmp_path: Path) -> None:
    ids = np.arange(4)
    with Store(tmp_path / "s.sqlite") as store:
        assert store.begin_run("r", model="m", dataset="d", seed=0, config={"k": 1}, info={}, sample_ids=ids,
                               labels=ids)  # fmt: skip
        assert not store.begin_run("r", model="other", dataset="d", seed=1, config={"k": 2}, info={}, sample_ids=ids,
                                   labels=ids)  # fmt: skip
        assert store.run("r")["model"] == "m" and store.run("r")["config"] == {"k": 1}
        assert store.run_ids() == ["r"]


# refusals: each names the file and says why, before anything is written -----------------------------
def _sqlite(path: Path, *statements: str) -> Path:
    import sqlite3

    conn = sqlite3.connect(path)
    with conn:
        for statement in statements:
            conn.execute(statement)
    conn.close()
    return path


def _refused(path: Path, match: str, **kwargs: bool) -> str:
    from robustness.results.store import check_store

    before = path.read_bytes() if path.is_file() else None
    with pytest.raises(UsageError, match=match) as err:
        check_store(path, **kwargs)
    assert str(path) in str(err.value), "the message names the file"
    assert (path.read_bytes() if path.is_file() else None) == before, "nothing was written"
    return str(err.value)


def test_files_that_are_not_stores_are_refused_with_the_reason(tmp_path: Path) -> None:
    from robustness.results.store import APPLICATION_ID, inspect_store

    assert inspect_store(tmp_path / "new.sqlite") is None  # a path that does not exist yet: a new store
    (tmp_path / "empty.sqlite").write_bytes(b"")
    assert inspect_store(tmp_path / "empty.sqlite") is None  # so is an empty file
    _refused(tmp_path, "is not a file")
    (tmp_path / "one.sqlite").write_bytes(b"S")  # a single byte is not an empty file
    _refused(tmp_path / "one.sqlite", "is not a SQLite database")
    (tmp_path / "zip.sqlite").write_bytes(b"PK\x03\x04abcdefghijklmnop")
    message = _refused(tmp_path / "zip.sqlite", "is not a SQLite database")
    assert "b'PK\\x03\\x04abcd')" in message and "pass a results store written by robustness audit" in message
    truncated = tmp_path / "truncated.sqlite"
    truncated.write_bytes(b"SQLite format 3\x00" + b"\xff" * 200)
    _refused(truncated, "cannot be read as a SQLite database")
    tables = [f"CREATE TABLE t{i} (x)" for i in range(7)]
    message = _refused(_sqlite(tmp_path / "other.db", *tables), "another program's SQLite database")
    assert "(tables: t0, t1, t2, t3, t4, t5)" in message and message.endswith("(it was not modified).")
    # a meta table with a version is not enough without our application id or all our tables
    lookalike = _sqlite(tmp_path / "meta.db", "CREATE TABLE meta (key, value)", "INSERT INTO meta VALUES ('schema_version', '2')")
    _refused(lookalike, "another program's SQLite database")
    ours = f"PRAGMA application_id = {APPLICATION_ID}"
    _refused(_sqlite(tmp_path / "nover.db", ours, "CREATE TABLE meta (key, value)"), "another program's")
    bad = _sqlite(tmp_path / "bad.db", ours, "CREATE TABLE meta (key, value)", "INSERT INTO meta VALUES ('schema_version', 'x')")
    _refused(bad, "another program's")


def _store_at_version(path: Path, version: int) -> Path:
    with Store(path) as store:
        _begin(store)
        store._conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))
    return path


def test_schema_versions_this_suite_cannot_open_are_refused(tmp_path: Path) -> None:
    from robustness.results.store import SCHEMA_VERSION, check_store, inspect_store

    newer = _store_at_version(tmp_path / "newer.sqlite", 99)
    message = _refused(newer, "written by a newer robustness-suite")
    assert f"(schema 99; this one knows up to {SCHEMA_VERSION}); upgrade robustness-suite" in message
    old = _store_at_version(tmp_path / "old.sqlite", 0)  # older than any this code reads without migrating
    assert check_store(old) == 0, "a writable open migrates it"
    message = _refused(old, "has schema 0, which must be migrated before it can be read", readonly=True)
    assert message.endswith("run robustness audit with it once (that migrates it), then retry.")
    with pytest.raises(UsageError, match="must be migrated"):
        Store(old, readonly=True)
    # recognised by its application id even when a table is missing
    partial = _store_at_version(tmp_path / "partial.sqlite", SCHEMA_VERSION)
    _sqlite(partial, "DROP TABLE artifacts")
    assert inspect_store(partial) == SCHEMA_VERSION
    with pytest.raises(UsageError, match=f"store '{tmp_path / 'missing.sqlite'}' does not exist"):
        Store(tmp_path / "missing.sqlite", readonly=True)


def test_store_uri_is_immutable_only_for_write_protected_files(tmp_path: Path) -> None:
    from robustness.results.store import store_uri

    path = tmp_path / "s.sqlite"
    assert store_uri(path, readonly=False).endswith("s.sqlite?mode=rwc")
    assert store_uri(path, readonly=True).endswith("s.sqlite?mode=ro")  # not there yet
    path.write_bytes(b"")
    assert store_uri(path, readonly=True).endswith("?mode=ro")
    for mode in (0o444, 0o445, 0o400):  # no write bit anywhere, execute bits notwithstanding
        path.chmod(mode)
        assert store_uri(path, readonly=True).endswith("?mode=ro&immutable=1"), oct(mode)
    path.chmod(0o644)


def test_a_readonly_store_refuses_writes_and_a_new_one_makes_its_folders(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "a" / "b" / "s.sqlite"
    with Store(path) as store:
        _begin(store)
    with Store(path, readonly=True) as store, pytest.raises(sqlite3.OperationalError, match="readonly"):
        store.put_artifact("r", "x", 1)


def test_values_that_json_cannot_hold_are_stored_readably(tmp_path: Path) -> None:
    """Run records, cell extras and JSON artifacts take numpy scalars, arrays, dataclasses and paths."""
    import json
    from dataclasses import dataclass
    from datetime import datetime, timedelta

    @dataclass
    class Budget:
        norm: str
        eps: float

    ids = np.arange(5, dtype=np.int32)  # not int64: stored as int64 all the same
    with Store(tmp_path / "s.sqlite") as store:
        store.begin_run("r", model="m", dataset="d", seed=0, config={"weights": Path("/w/net.pt")},
                        info={"cache": Path("/c")}, sample_ids=ids, labels=ids.astype(np.int32))  # fmt: skip
        store.commit_cells("r", [
            CellResult("a", "attack", "fgsm", "attack", np.array([1.0, 0.0, 1.0, 1.0, 0.0]), 0.5,
                       extra={"ece": np.float32(0.25), "bins": np.int64(15)}),
            CellResult("b", "corruption", "fog", "weather", np.ones(5, bool), 0.5, severity=2),
        ])  # fmt: skip
        value = {"i": np.int64(3), "f": np.float32(0.5), "a": np.arange(3), "d": Budget("linf", 0.1), "p": Path("/x")}
        store.put_artifact("r", "mixed", value)
        with pytest.raises(ValueError, match="allow_pickle"):
            store.put_artifact("r", "objects", np.array([{"a": 1}], dtype=object))
    with Store(tmp_path / "s.sqlite", readonly=True) as store:
        run = store.run("r")
        assert run["config"] == {"weights": "/w/net.pt"} and run["info"] == {"cache": "/c"}
        assert run["sample_ids"].tolist() == [0, 1, 2, 3, 4] and run["labels"].tolist() == [0, 1, 2, 3, 4]
        created = datetime.fromisoformat(run["created"])
        assert created.utcoffset() == timedelta(0) and abs(datetime.now(created.tzinfo) - created) < timedelta(hours=1)
        bits = store.bits("r")
        assert bits["a"].dtype == bool and bits["a"].tolist() == [True, False, True, True, False]
        extras = {row.cell: json.loads(row.extra) for row in store.cells("r").itertuples()}
        assert extras == {"a": {"bins": 15, "ece": 0.25}, "b": {}}
        assert store.artifact("r", "mixed") == {"i": 3, "f": 0.5, "a": [0, 1, 2], "d": {"norm": "linf", "eps": 0.1}, "p": "/x"}
        assert "objects" not in store.artifact_names("r")


def test_a_pickled_array_in_the_store_is_not_unpickled(tmp_path: Path) -> None:
    """An artifact blob holding a pickled object array (a tampered store) is refused, not executed."""
    from io import BytesIO

    buf = BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with Store(tmp_path / "s.sqlite") as store:
        _begin(store)
        store._conn.execute("INSERT INTO artifacts VALUES ('r', 'evil', 'npy', ?)", (buf.getvalue(),))
        with pytest.raises(ValueError, match="allow_pickle"):
            store.artifact("r", "evil")
