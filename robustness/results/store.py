"""The results store: SQLite (WAL), one row per finished cell with its per-sample bits.

A cell is committed in its own transaction when it finishes, so an interrupted audit loses
at most the cell in flight and a re-run resumes from there. This module imports neither
torch nor the evaluation engine: reports read the store through it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from robustness.core.errors import UsageError

#: 1: runs, cells, artifacts and meta tables; 2: the file carries SQLite's application_id (below)
SCHEMA_VERSION = 2
#: schema versions this code reads without migrating (read-only opens cannot migrate)
READABLE_VERSIONS = frozenset({1, 2})
#: ``PRAGMA application_id`` of a results store: 'RBST', so other programs (and this one) can tell it apart
APPLICATION_ID = 0x52425354
SQLITE_HEADER = b"SQLite format 3\x00"
TABLES = frozenset({"meta", "runs", "cells", "artifacts"})
#: the SQL that takes a store from schema ``v`` to ``v + 1``; an older store runs them in order when opened writable
MIGRATIONS: dict[int, tuple[str, ...]] = {1: (f"PRAGMA application_id = {APPLICATION_ID}",)}

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    model TEXT NOT NULL,
    dataset TEXT NOT NULL,
    n INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    config TEXT NOT NULL,
    info TEXT NOT NULL,
    sample_ids BLOB NOT NULL,
    labels BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS cells (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    cell TEXT NOT NULL,
    kind TEXT NOT NULL,
    perturbation TEXT NOT NULL,
    family TEXT NOT NULL,
    severity INTEGER,
    epsilon REAL,
    norm TEXT,
    n INTEGER NOT NULL,
    correct INTEGER NOT NULL,
    seconds REAL NOT NULL,
    bits BLOB NOT NULL,
    extra TEXT NOT NULL DEFAULT '{}',
    created TEXT NOT NULL,
    PRIMARY KEY (run_id, cell)
);
CREATE TABLE IF NOT EXISTS artifacts (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (run_id, name)
);
"""

CELL_COLUMNS = [
    "run_id", "model", "dataset", "kind", "perturbation", "family", "severity", "epsilon", "norm",
    "n", "correct", "accuracy", "ci_low", "ci_high", "seconds",
]  # fmt: skip


@dataclass(frozen=True)
class CellResult:
    """One finished cell: which perturbation, and which samples were still classified correctly."""

    cell: str
    kind: str
    perturbation: str
    family: str
    correct: np.ndarray  # bool per sample, in the run's sample order
    seconds: float
    severity: int | None = None
    epsilon: float | None = None
    norm: str | None = None
    extra: dict[str, Any] | None = None


def pack_bits(values: np.ndarray) -> bytes:
    return np.packbits(np.asarray(values, dtype=bool)).tobytes()


def unpack_bits(blob: bytes, n: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(blob, dtype=np.uint8), count=n).astype(bool)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Store:
    """A SQLite results store; safe for several processes writing at once (WAL, busy timeout)."""

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        """Open (or, unless ``readonly``, create) the store at ``path``.

        Raises :class:`UsageError`, before writing anything, when the file is not a SQLite
        database, is another program's database, or was written by a newer suite; a store of an
        older schema is migrated when opened writable.
        """
        self.path = Path(path)
        if readonly and not self.path.exists():
            raise UsageError(f"store {str(self.path)!r} does not exist; run an audit first or pass --store.")
        version = check_store(self.path, readonly=readonly)
        if not readonly:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(store_uri(self.path, readonly=readonly), uri=True, timeout=120.0, isolation_level=None)
        if not readonly:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._create_or_migrate(version)

    def _create_or_migrate(self, version: int | None) -> None:
        """Create the tables of a new store, or migrate an older one to :data:`SCHEMA_VERSION`, in one transaction."""
        with self.transaction() as conn:
            if version is None:
                statements = [s for s in SCHEMA.split(";") if s.strip()] + [f"PRAGMA application_id = {APPLICATION_ID}"]
            else:
                statements = [s for v in range(version, SCHEMA_VERSION) for s in MIGRATIONS[v]]
            for statement in statements:
                conn.execute(statement)
            conn.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )

    def schema_version(self) -> int:
        """The schema version recorded in the store."""
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0])

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An immediate (write-locking) transaction: committed on success, rolled back on error."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    # runs -------------------------------------------------------------------------------
    def begin_run(
        self,
        run_id: str,
        *,
        model: str,
        dataset: str,
        seed: int,
        config: dict[str, Any],
        info: dict[str, Any],
        sample_ids: np.ndarray,
        labels: np.ndarray,
    ) -> bool:
        """Record a run; return False when it already exists with the same samples (a resume)."""
        ids = np.asarray(sample_ids, dtype=np.int64)
        with self.transaction() as conn:
            row = conn.execute("SELECT sample_ids FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is not None:
                if not np.array_equal(np.frombuffer(row[0], dtype=np.int64), ids):
                    raise UsageError(f"run {run_id!r} exists in the store with other samples; use another --store.")
                return False
            conn.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id, _now(), model, dataset, len(ids), seed,
                    json.dumps(config, sort_keys=True, default=str), json.dumps(info, sort_keys=True, default=str),
                    ids.tobytes(), np.asarray(labels, dtype=np.int64).tobytes(),
                ),
            )  # fmt: skip
        return True

    def run(self, run_id: str) -> dict[str, Any]:
        row = self._conn.execute(
            "SELECT run_id, created, model, dataset, n, seed, config, info, sample_ids, labels FROM runs WHERE run_id = ?",
            (run_id,),
        ).fetchone()
        if row is None:
            from robustness.core.errors import unknown_name

            raise unknown_name("run", run_id, self.run_ids())
        return {
            "run_id": row[0], "created": row[1], "model": row[2], "dataset": row[3], "n": row[4], "seed": row[5],
            "config": json.loads(row[6]), "info": json.loads(row[7]),
            "sample_ids": np.frombuffer(row[8], dtype=np.int64), "labels": np.frombuffer(row[9], dtype=np.int64),
        }  # fmt: skip

    def run_ids(self) -> list[str]:
        return [r[0] for r in self._conn.execute("SELECT run_id FROM runs ORDER BY created, run_id")]

    # cells ------------------------------------------------------------------------------
    def finished_cells(self, run_id: str) -> set[str]:
        return {r[0] for r in self._conn.execute("SELECT cell FROM cells WHERE run_id = ?", (run_id,))}

    def commit_cells(self, run_id: str, results: Iterable[CellResult]) -> None:
        """Write finished cells in one transaction (all or none); existing cells are kept."""
        rows = [
            (
                run_id, r.cell, r.kind, r.perturbation, r.family, r.severity, r.epsilon, r.norm,
                int(len(r.correct)), int(np.count_nonzero(r.correct)), float(r.seconds), pack_bits(r.correct),
                json.dumps(r.extra or {}, sort_keys=True, default=float), _now(),
            )
            for r in results
        ]  # fmt: skip
        with self.transaction() as conn:
            conn.executemany("INSERT OR IGNORE INTO cells VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def cells(self, run_id: str) -> pd.DataFrame:
        """The run's cells as a tidy DataFrame (without per-sample bits), in commit order."""
        query = (
            "SELECT c.run_id, r.model, r.dataset, c.kind, c.perturbation, c.family, c.severity, c.epsilon, c.norm, "
            "c.n, c.correct, c.seconds, c.cell, c.extra FROM cells c JOIN runs r USING (run_id) "
            "WHERE c.run_id = ? ORDER BY c.rowid"
        )
        return pd.read_sql_query(query, self._conn, params=(run_id,))

    def bits(self, run_id: str) -> dict[str, np.ndarray]:
        """Per-sample correctness of every cell of the run, keyed by cell id."""
        return {
            cell: unpack_bits(blob, n)
            for cell, blob, n in self._conn.execute("SELECT cell, bits, n FROM cells WHERE run_id = ?", (run_id,))
        }

    # artifacts --------------------------------------------------------------------------
    def put_artifact(self, run_id: str, name: str, value: Any) -> None:
        """Store a JSON value or a numpy array (``.npy`` bytes) under ``name``."""
        if isinstance(value, np.ndarray):
            from io import BytesIO

            buf = BytesIO()
            np.save(buf, value, allow_pickle=False)
            kind, data = "npy", buf.getvalue()
        else:
            kind, data = "json", json.dumps(value, sort_keys=True, default=_json_default).encode()
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO artifacts VALUES (?, ?, ?, ?)", (run_id, name, kind, data))

    def artifact(self, run_id: str, name: str, default: Any = None) -> Any:
        row = self._conn.execute(
            "SELECT kind, data FROM artifacts WHERE run_id = ? AND name = ?", (run_id, name)
        ).fetchone()
        if row is None:
            return default
        if row[0] == "npy":
            from io import BytesIO

            return np.load(BytesIO(row[1]), allow_pickle=False)
        return json.loads(row[1])

    def artifact_names(self, run_id: str) -> list[str]:
        return [r[0] for r in self._conn.execute("SELECT name FROM artifacts WHERE run_id = ? ORDER BY name", (run_id,))]


def store_uri(path: Path, *, readonly: bool) -> str:
    """The SQLite URI of ``path``, percent-encoded so spaces, ``?``, ``#`` and ``%`` in it stay part of the path.

    A read-only open of a write-protected file (no write permission bits) is ``immutable``: no writer
    can be changing it, and SQLite then leaves no ``-wal``/``-shm`` files beside it.
    """
    if not readonly:
        return f"{path.resolve().as_uri()}?mode=rwc"
    frozen = path.exists() and not path.stat().st_mode & 0o222
    return f"{path.resolve().as_uri()}?mode=ro" + ("&immutable=1" if frozen else "")


def check_store(path: Path, *, readonly: bool = False) -> int | None:
    """The schema version of the store at ``path`` (None: a new store), or :class:`UsageError` when this
    suite cannot open it: not SQLite, another program's database, a newer schema, or (``readonly``)
    an older schema that needs migrating. Writes nothing; audits call it before any work."""
    version = inspect_store(path)
    if version is not None and version > SCHEMA_VERSION:
        raise UsageError(
            f"--store {str(path)!r} was written by a newer robustness-suite (schema {version}; this one "
            f"knows up to {SCHEMA_VERSION}); upgrade robustness-suite or pass another --store."
        )
    if readonly and version is not None and version not in READABLE_VERSIONS:
        raise UsageError(
            f"--store {str(path)!r} has schema {version}, which must be migrated before it can be read; "
            "run robustness audit with it once (that migrates it), then retry."
        )
    return version


def inspect_store(path: Path) -> int | None:
    """The schema version of the store at ``path``; None for a missing or empty file (a new store).

    Reads without writing. Raises :class:`UsageError` when the file is not a SQLite database or is
    another program's database.
    """
    if not path.exists() or (path.is_file() and path.stat().st_size == 0):
        return None
    if not path.is_file():
        raise UsageError(f"--store {str(path)!r} is not a file; pass the path of a results store (e.g. store.sqlite).")
    with open(path, "rb") as f:
        header = f.read(len(SQLITE_HEADER))
    if header != SQLITE_HEADER:
        raise UsageError(
            f"--store {str(path)!r} is not a SQLite database (it starts with {header[:8]!r}); pass a results store "
            "written by robustness audit, or a path that does not exist yet."
        )
    try:
        conn = sqlite3.connect(store_uri(path, readonly=True), uri=True)
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() if "meta" in tables else None
        finally:
            conn.close()
    except sqlite3.Error as err:
        raise UsageError(f"--store {str(path)!r} cannot be read as a SQLite database ({err}); pass another --store.") from None
    if not tables:
        return None
    ours = app_id == APPLICATION_ID or (row is not None and TABLES <= tables)
    if not ours or row is None or not str(row[0]).isdigit():
        shown = ", ".join(sorted(tables)[:6])
        raise UsageError(
            f"--store {str(path)!r} is another program's SQLite database (tables: {shown}), not a results store; "
            "pass another --store (it was not modified)."
        )
    return int(row[0])


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    return str(value)
