"""The runs store: one SQLite file (WAL) beside one folder per run.

``runs``      one row per run: status, config JSON, sizes, timings, test accuracy
``metrics``   one row per finished epoch (Figure 2's bold line and the table)
``batches``   one row per training batch (Figure 2's faint line)
``artifacts`` files written for a run (figures, report, weights)

A run's folder holds ``model.safetensors``, ``config.json`` (run config + class
names), ``train_state.safetensors`` (for ``--resume``) and the figures and report.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from threefigures.errors import RunNotFoundError, ThreeFiguresError

SCHEMA_VERSION = 1
DEFAULT_STORE = Path("runs") / "threefigures.db"
STATUSES = ("running", "finished", "failed", "interrupted")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed', 'interrupted')),
    data_name TEXT NOT NULL,
    model_name TEXT NOT NULL,
    epochs_planned INTEGER NOT NULL,
    epochs_done INTEGER NOT NULL DEFAULT 0,
    test_accuracy REAL,
    seconds REAL,
    device TEXT,
    run_dir TEXT NOT NULL,
    config_json TEXT NOT NULL,
    info_json TEXT NOT NULL DEFAULT '{}',
    error TEXT
);
CREATE TABLE IF NOT EXISTS metrics (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    train_loss REAL NOT NULL,
    val_loss REAL,
    val_accuracy REAL,
    seconds REAL NOT NULL,
    PRIMARY KEY (run_id, epoch)
);
CREATE TABLE IF NOT EXISTS batches (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step INTEGER NOT NULL,
    epoch_pos REAL NOT NULL,
    loss REAL NOT NULL,
    PRIMARY KEY (run_id, step)
);
CREATE TABLE IF NOT EXISTS artifacts (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    path TEXT NOT NULL,
    PRIMARY KEY (run_id, kind)
);
CREATE INDEX IF NOT EXISTS runs_created ON runs(created_at);
"""


def default_store_path() -> Path:
    env = os.environ.get("THREEFIGURES_STORE")
    return Path(env) if env else DEFAULT_STORE


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class RunRecord:
    id: str
    created_at: str
    updated_at: str
    status: str
    data_name: str
    model_name: str
    epochs_planned: int
    epochs_done: int
    test_accuracy: float | None
    seconds: float | None
    device: str | None
    run_dir: Path
    config: dict[str, Any]
    info: dict[str, Any]
    error: str | None


class Store:
    """A handle on the SQLite store. Cheap to create; each call uses a short transaction."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_store_path()
        self.root = self.path.parent
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with self._connect() as conn:
                conn.executescript(_SCHEMA)
                row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
                if row is None:
                    conn.execute(
                        "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
                        (str(SCHEMA_VERSION),),
                    )
                elif int(row[0]) > SCHEMA_VERSION:
                    raise ThreeFiguresError(
                        f"{self.path}: store schema {row[0]} is newer than this threefigures "
                        f"({SCHEMA_VERSION}); upgrade threefigures"
                    )
        except sqlite3.DatabaseError as exc:
            raise ThreeFiguresError(f"{self.path}: not a usable runs store ({exc})") from None
        except OSError as exc:
            raise ThreeFiguresError(f"{self.path}: cannot open the runs store ({exc})") from None

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=30.0)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=30000")
            with conn:  # one transaction: committed on success, rolled back on error
                yield conn
        finally:
            conn.close()

    # --- writing -------------------------------------------------------------------------

    def new_run_id(self) -> str:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        return f"{stamp}-{secrets.token_hex(2)}"

    def create_run(
        self,
        *,
        config: dict[str, Any],
        data_name: str,
        model_name: str,
        epochs: int,
        run_dir: Path | None = None,
        info: dict[str, Any] | None = None,
        run_id: str | None = None,
    ) -> RunRecord:
        run_id = run_id or self.new_run_id()
        folder = run_dir if run_dir is not None else self.root / run_id
        now = _now()
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO runs(id, created_at, updated_at, status, data_name, model_name, "
                "epochs_planned, run_dir, config_json, info_json) "
                "VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    now,
                    now,
                    data_name,
                    model_name,
                    epochs,
                    str(folder),
                    json.dumps(config),
                    json.dumps(info or {}),
                ),
            )
        return self.get(run_id)

    def record_epoch(
        self,
        run_id: str,
        *,
        epoch: int,
        train_loss: float,
        val_loss: float | None,
        val_accuracy: float | None,
        seconds: float,
        batches: list[tuple[int, float, float]],
    ) -> None:
        """One finished epoch and its batch losses, atomically with the run's progress."""
        with self._connect() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO metrics(run_id, epoch, train_loss, val_loss, "
                "val_accuracy, seconds) VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, epoch, train_loss, val_loss, val_accuracy, seconds),
            )
            conn.executemany(
                "INSERT OR REPLACE INTO batches(run_id, step, epoch_pos, loss) VALUES (?, ?, ?, ?)",
                [(run_id, step, pos, loss) for step, pos, loss in batches],
            )
            conn.execute(
                "UPDATE runs SET epochs_done=?, updated_at=? WHERE id=?", (epoch, _now(), run_id)
            )

    def truncate_after(self, run_id: str, epoch: int) -> None:
        """Forget metrics past ``epoch`` (a resumed run replays them)."""
        with self._connect() as conn:
            conn.execute("DELETE FROM metrics WHERE run_id=? AND epoch>?", (run_id, epoch))
            conn.execute("DELETE FROM batches WHERE run_id=? AND epoch_pos>?", (run_id, epoch))

    def set_status(
        self, run_id: str, status: str, *, error: str | None = None, **fields: Any
    ) -> None:
        if status not in STATUSES:
            raise ValueError(status)
        allowed = {"test_accuracy", "seconds", "device", "epochs_planned"}
        sets = ["status=?", "updated_at=?", "error=?"]
        values: list[Any] = [status, _now(), error]
        for key, value in fields.items():
            if key == "info":
                sets.append("info_json=?")
                values.append(json.dumps(value))
            elif key in allowed:
                sets.append(f"{key}=?")
                values.append(value)
            else:
                raise ValueError(key)
        with self._connect() as conn:
            conn.execute(f"UPDATE runs SET {', '.join(sets)} WHERE id=?", (*values, run_id))

    def add_artifact(self, run_id: str, kind: str, path: Path) -> None:
        with self._connect() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO artifacts(run_id, kind, path) VALUES (?, ?, ?)",
                (run_id, kind, str(path)),
            )

    # --- reading -------------------------------------------------------------------------

    @staticmethod
    def _record(row: sqlite3.Row) -> RunRecord:
        return RunRecord(
            id=row["id"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            status=row["status"],
            data_name=row["data_name"],
            model_name=row["model_name"],
            epochs_planned=row["epochs_planned"],
            epochs_done=row["epochs_done"],
            test_accuracy=row["test_accuracy"],
            seconds=row["seconds"],
            device=row["device"],
            run_dir=Path(row["run_dir"]),
            config=json.loads(row["config_json"]),
            info=json.loads(row["info_json"]),
            error=row["error"],
        )

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._connect() as conn:
            conn.row_factory = sqlite3.Row
            return list(conn.execute(sql, params).fetchall())

    def get(self, run_id: str) -> RunRecord:
        rows = self._query("SELECT * FROM runs WHERE id=?", (run_id,))
        if not rows:
            raise RunNotFoundError(f"no run {run_id!r} in {self.path} (see `threefigures runs`)")
        return self._record(rows[0])

    def resolve(self, ref: str = "latest") -> RunRecord:
        """A run id, or ``latest``: the most recent finished run."""
        if ref == "latest":
            rows = self._query(
                "SELECT * FROM runs WHERE status='finished' ORDER BY created_at DESC, rowid DESC "
                "LIMIT 1"
            )
            if not rows:
                raise RunNotFoundError(
                    f"no finished run in {self.path}: train one first (`threefigures demo`)"
                )
            return self._record(rows[0])
        return self.get(ref)

    def list_runs(self, limit: int | None = None) -> list[RunRecord]:
        sql = "SELECT * FROM runs ORDER BY created_at DESC, rowid DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [self._record(r) for r in self._query(sql)]

    def metrics(self, run_id: str) -> list[dict[str, Any]]:
        rows = self._query("SELECT * FROM metrics WHERE run_id=? ORDER BY epoch", (run_id,))
        return [dict(r) for r in rows]

    def batches(self, run_id: str) -> list[tuple[float, float]]:
        rows = self._query(
            "SELECT epoch_pos, loss FROM batches WHERE run_id=? ORDER BY step", (run_id,)
        )
        return [(r["epoch_pos"], r["loss"]) for r in rows]

    def artifacts(self, run_id: str) -> dict[str, Path]:
        rows = self._query("SELECT kind, path FROM artifacts WHERE run_id=?", (run_id,))
        return {r["kind"]: Path(r["path"]) for r in rows}

    def integrity_ok(self) -> bool:
        rows = self._query("PRAGMA integrity_check")
        return bool(rows) and rows[0][0] == "ok"
