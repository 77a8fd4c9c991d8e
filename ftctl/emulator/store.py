"""The emulator's SQLite database: in memory by default, a file with `--data`.

Stdlib sqlite3 rather than sqlite-utils: the emulator is its own product, its schema is four
tables, and the server answers from one thread (the event loop), so no pool is needed.
"""

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ftctl.emulator.records import FileRecord, JobRecord

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    purpose TEXT NOT NULL,
    body TEXT NOT NULL,
    content BLOB NOT NULL,
    -- A deleted file stays as a tombstone, so that a listing cursor naming it still works.
    deleted INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    has_metadata INTEGER NOT NULL,
    settle_at INTEGER,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_settle_at ON jobs (settle_at) WHERE settle_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS job_metadata (
    job_seq INTEGER NOT NULL REFERENCES jobs (seq),
    key TEXT NOT NULL,
    value TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS job_metadata_pair ON job_metadata (key, value, job_seq);
CREATE TABLE IF NOT EXISTS models (name TEXT PRIMARY KEY, deleted INTEGER NOT NULL DEFAULT 0);
"""


class UnknownCursor(Exception):
    """An `after` cursor that names no object in the list."""


class Store:
    def __init__(self, path: str | None = None) -> None:
        # The server touches the database only from its event loop thread; tests may build
        # the store in another thread first, hence check_same_thread=False.
        self._db = sqlite3.connect(path or ":memory:", check_same_thread=False)
        self._db.execute("PRAGMA foreign_keys = ON")
        if path:
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.executescript(SCHEMA)
        self._depth = 0

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Groups several writes into one commit (settling a job writes a file and the job)."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._depth = 1
        try:
            with self._db:
                yield
        finally:
            self._depth = 0

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def reset(self) -> None:
        with self.transaction():
            for table in ("job_metadata", "jobs", "files", "models"):
                self._db.execute(f"DELETE FROM {table}")

    # Files

    def add_file(self, record: FileRecord, content: bytes) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT INTO files (id, purpose, body, content) VALUES (?, ?, ?, ?)",
                (record.id, record.purpose, _dump(record.__dict__), content),
            )

    def get_file(self, file_id: str) -> FileRecord | None:
        row = self._db.execute(
            "SELECT body FROM files WHERE id = ? AND NOT deleted", (file_id,)
        ).fetchone()
        return None if row is None else FileRecord(**json.loads(row[0]))

    def file_content(self, file_id: str) -> bytes | None:
        row = self._db.execute(
            "SELECT content FROM files WHERE id = ? AND NOT deleted", (file_id,)
        ).fetchone()
        return None if row is None else bytes(row[0])

    def delete_file(self, file_id: str) -> bool:
        with self.transaction():
            deleted = self._db.execute(
                "UPDATE files SET deleted = 1, content = x'' WHERE id = ? AND NOT deleted",
                (file_id,),
            )
            return deleted.rowcount > 0

    def list_files(
        self, purpose: str | None, ascending: bool, after: str | None, limit: int
    ) -> tuple[list[FileRecord], bool]:
        where: list[str] = ["NOT deleted"]
        args: list[Any] = []
        if purpose is not None:
            where.append("purpose = ?")
            args.append(purpose)
        if after is not None:
            where.append(f"seq {'>' if ascending else '<'} ?")
            args.append(self._seq("files", after))
        rows = self._db.execute(
            f"SELECT body FROM files WHERE {' AND '.join(where)} "
            f"ORDER BY seq {'ASC' if ascending else 'DESC'} LIMIT ?",
            (*args, limit + 1),
        ).fetchall()
        return [FileRecord(**json.loads(r[0])) for r in rows[:limit]], len(rows) > limit

    # Jobs

    def add_job(self, record: JobRecord, settle_at: int | None) -> None:
        metadata = record.request.metadata or {}
        with self.transaction():
            cursor = self._db.execute(
                "INSERT INTO jobs (id, has_metadata, settle_at, body) VALUES (?, ?, ?, ?)",
                (record.id, int(bool(metadata)), settle_at, _dump(record.to_json())),
            )
            self._db.executemany(
                "INSERT INTO job_metadata (job_seq, key, value) VALUES (?, ?, ?)",
                [(cursor.lastrowid, key, value) for key, value in metadata.items()],
            )

    def save_job(self, record: JobRecord, settle_at: int | None) -> None:
        with self.transaction():
            self._db.execute(
                "UPDATE jobs SET settle_at = ?, body = ? WHERE id = ?",
                (settle_at, _dump(record.to_json()), record.id),
            )

    def get_job(self, job_id: str) -> JobRecord | None:
        row = self._db.execute("SELECT body FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else JobRecord.from_json(json.loads(row[0]))

    def jobs_due(self, now: int) -> list[JobRecord]:
        rows = self._db.execute(
            "SELECT body FROM jobs WHERE settle_at IS NOT NULL AND settle_at <= ? ORDER BY seq",
            (now,),
        ).fetchall()
        return [JobRecord.from_json(json.loads(r[0])) for r in rows]

    def list_jobs(
        self,
        after: str | None,
        limit: int,
        metadata: Sequence[tuple[str, str]] = (),
        without_metadata: bool = False,
    ) -> tuple[list[JobRecord], bool]:
        """Newest first; `metadata` pairs must all match."""
        where: list[str] = ["1"]
        args: list[Any] = []
        if after is not None:
            where.append("seq < ?")
            args.append(self._seq("jobs", after))
        for key, value in metadata:
            where.append("seq IN (SELECT job_seq FROM job_metadata WHERE key = ? AND value = ?)")
            args += [key, value]
        if without_metadata:
            where.append("has_metadata = 0")
        rows = self._db.execute(
            f"SELECT body FROM jobs WHERE {' AND '.join(where)} ORDER BY seq DESC LIMIT ?",
            (*args, limit + 1),
        ).fetchall()
        return [JobRecord.from_json(json.loads(r[0])) for r in rows[:limit]], len(rows) > limit

    # Fine-tuned models

    def add_model(self, name: str) -> None:
        with self.transaction():
            self._db.execute("INSERT OR IGNORE INTO models (name) VALUES (?)", (name,))

    def model_state(self, name: str) -> str | None:
        """None for a model this emulator never made, else "live" or "deleted"."""
        row = self._db.execute("SELECT deleted FROM models WHERE name = ?", (name,)).fetchone()
        return None if row is None else ("deleted" if row[0] else "live")

    def delete_model(self, name: str) -> None:
        with self.transaction():
            self._db.execute("UPDATE models SET deleted = 1 WHERE name = ?", (name,))

    def _seq(self, table: str, object_id: str) -> int:
        row = self._db.execute(f"SELECT seq FROM {table} WHERE id = ?", (object_id,)).fetchone()
        if row is None:
            raise UnknownCursor(object_id)
        return int(row[0])


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
