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

SCHEMA_VERSION = 1

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
        self.path = Path(path)
        if readonly and not self.path.exists():
            raise UsageError(f"store {str(self.path)!r} does not exist; run an audit first or pass --store.")
        if not readonly:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        uri = f"file:{self.path}?mode=ro" if readonly else f"file:{self.path}"
        self._conn = sqlite3.connect(uri, uri=True, timeout=120.0, isolation_level=None)
        if not readonly:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            with self.transaction() as conn:
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(
                    "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                )

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
