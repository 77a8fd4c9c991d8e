"""The SQLite file that holds ftctl's state: lineage, serial, resources, history, lock, migrations.

The only importer of sqlite_utils. Every write is one transaction that also bumps the serial
and appends a history row, so a process killed between two API calls keeps the first (DESIGN §2.9).

Every write also keeps a revision of what it changed (the record after it, or its removal), so
the whole state as of any serial since revisions began can be rebuilt and restored. Revisions
are kept for ever: one row per write, about the size of the record it wrote.
"""

import getpass
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sqlite_utils import Database

from ftctl.state.model import (
    AcquiredLock,
    HistoryEntry,
    LockInfo,
    NewerStateVersion,
    NotFtctlState,
    NotLocked,
    NotRestorable,
    OutputState,
    ResourceState,
    Restored,
    StaleState,
    State,
    StateLocked,
    StateStorageError,
    check_document,
)

# "ftct" in the SQLite header (PRAGMA application_id): marks the file as ours before any table is
# read, so a stranger's database is refused without guessing from its table names.
APPLICATION_ID = 0x66746374
SQLITE_MAGIC = b"SQLite format 3\x00"

# A migration takes the database from version N (its index) to N + 1. It runs inside the
# transaction that records the new version, so a failed one leaves the file as it was.
Migration = Callable[[Database], None]


def _create_version_1(db: Database) -> None:
    """The first schema."""
    for statement in (
        # One row: the state's identity and its write counter.
        """CREATE TABLE meta (
            singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
            lineage TEXT NOT NULL,
            serial INTEGER NOT NULL CHECK (serial >= 0)
        )""",
        # applied, settings and observed are JSON objects; see ResourceState for their meaning.
        # There is deliberately no column for credentials.
        """CREATE TABLE resources (
            address TEXT PRIMARY KEY,
            type TEXT NOT NULL,
            remote_id TEXT,
            applied TEXT NOT NULL,
            settings TEXT NOT NULL,
            observed TEXT NOT NULL,
            tainted INTEGER NOT NULL CHECK (tainted IN (0, 1)),
            pending_token TEXT,
            updated_at TEXT NOT NULL
        )""",
        # One row per write, keyed by the serial that write produced.
        """CREATE TABLE history (
            serial INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            operation TEXT NOT NULL,
            address TEXT NOT NULL,
            action TEXT NOT NULL
        )""",
        # At most one row: the CHECK makes a second holder a constraint error, not a race.
        """CREATE TABLE lock (
            singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
            id TEXT NOT NULL,
            operation TEXT NOT NULL,
            who TEXT NOT NULL,
            pid INTEGER NOT NULL,
            host TEXT NOT NULL,
            created TEXT NOT NULL
        )""",
    ):
        db.execute(statement)


def _add_outputs(db: Database) -> None:
    """Version 2: the configuration's outputs as of the last apply."""
    db.execute(
        """CREATE TABLE outputs (
            name TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            sensitive INTEGER NOT NULL CHECK (sensitive IN (0, 1))
        )"""
    )


def _keep_revisions(db: Database) -> None:
    """Version 3: who made each write, and a revision per write, so that every serial from
    now on can be restored. The current state is the first revision: serials before it
    cannot be rebuilt, and `meta.revisions_since` says so."""
    for statement in (
        "ALTER TABLE history ADD COLUMN who TEXT NOT NULL DEFAULT ''",
        # The first serial whose state the revisions can rebuild.
        "ALTER TABLE meta ADD COLUMN revisions_since INTEGER NOT NULL DEFAULT 0",
        # One row per resource a write changed: the record after it as compact JSON (see
        # _revision), or NULL where the write removed it. The state at serial S holds, for each
        # address, its latest revision at or before S.
        """CREATE TABLE resource_revisions (
            address TEXT NOT NULL,
            serial INTEGER NOT NULL,
            record TEXT,
            PRIMARY KEY (address, serial)
        )""",
        # One row per write that changed the outputs: all of them after it, as compact JSON.
        """CREATE TABLE output_revisions (
            serial INTEGER PRIMARY KEY,
            outputs TEXT NOT NULL
        )""",
        "UPDATE meta SET revisions_since = serial",
    ):
        db.execute(statement)
    found = db.execute("SELECT serial FROM meta").fetchone()
    if found is None:
        return  # a new state: nothing written yet
    (serial,) = found
    for row in db.table("resources").rows_where():
        db.execute(
            "INSERT INTO resource_revisions (address, serial, record) VALUES (?, ?, ?)",
            [row["address"], serial, _revision(row)],
        )
    outputs = _outputs_revision(db)
    if outputs != "{}":
        db.execute(
            "INSERT INTO output_revisions (serial, outputs) VALUES (?, ?)", [serial, outputs]
        )


def _record_sensitive(db: Database) -> None:
    """Version 4: which of a resource's arguments came from sensitive values, so that the
    views can hide them. Records written before it name none: the next apply of a change
    records them."""
    db.execute("ALTER TABLE resources ADD COLUMN sensitive TEXT NOT NULL DEFAULT '[]'")


MIGRATIONS: tuple[Migration, ...] = (
    _create_version_1,
    _add_outputs,
    _keep_revisions,
    _record_sensitive,
)
FORMAT_VERSION = len(MIGRATIONS)

_RESOURCE_COLUMNS = (
    "address",
    "type",
    "remote_id",
    "applied",
    "settings",
    "observed",
    "tainted",
    "pending_token",
    "updated_at",
    "sensitive",
)
_UPSERT_RESOURCE = (
    f"INSERT INTO resources ({', '.join(_RESOURCE_COLUMNS)}) "
    f"VALUES ({', '.join(':' + column for column in _RESOURCE_COLUMNS)}) "
    "ON CONFLICT (address) DO UPDATE SET "
    + ", ".join(f"{column} = excluded.{column}" for column in _RESOURCE_COLUMNS[1:])
)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class _Header:
    """What identifies the file, read before any of our tables."""

    application_id: int
    version: int  # PRAGMA user_version: the format version
    tables: int  # how many tables of any kind the file holds

    @property
    def blank(self) -> bool:
        # A zero-byte file reads as this too: a database with nothing in it, safe to make ours.
        return self.application_id == 0 and self.version == 0 and self.tables == 0


class _Readiness(Enum):
    READY = "ready"
    CREATE = "create"  # blank: write the first state
    MIGRATE = "migrate"  # ours, in an older format


class StateStore:
    """An open state file. Build it with `StateStore.open(path)`; close it, or use `with`.

    Safe to share between threads: one connection, every operation under one mutex.
    """

    def __init__(
        self, path: Path, db: Database, clock: Callable[[], datetime], known_version: int
    ) -> None:
        self._path = path
        self._db = db
        self._clock = clock
        self._known_version = known_version
        self._mutex = threading.RLock()
        self._held: LockInfo | None = None
        self._host = _hostname()

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], datetime] = utc_now,
        busy_timeout: float = 5.0,
        migrations: Sequence[Migration] = MIGRATIONS,
    ) -> "StateStore":
        """Opens the state at `path`; a missing or empty file becomes a new state (mode 0600).

        An older format is migrated in one transaction. Refuses, without writing, a file that is
        not ftctl state (NotFtctlState) or is newer than `migrations` know (NewerStateVersion).
        `busy_timeout` bounds how long a statement waits for another process's transaction.
        """
        state_path = Path(path)
        try:
            created = _create_file(state_path)
        except OSError as exc:
            raise StateStorageError(
                f"Could not create the state file {state_path}: {exc}. "
                "Check that its folder is writable, or pass another --state path."
            ) from exc
        if not created:
            _check_file_kind(state_path)
        try:
            # mode=rw: never let SQLite create a file here with the umask's permissions.
            connection = sqlite3.connect(
                state_path.absolute().as_uri() + "?mode=rw",
                uri=True,
                timeout=busy_timeout,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise StateStorageError(
                f"Could not open the state file {state_path}: {exc}. Check its permissions."
            ) from exc
        db = Database(connection, recursive_triggers=False, execute_plugins=False)
        store = cls(state_path, db, clock, len(migrations))
        try:
            store._prepare(migrations)
        except BaseException:
            db.close()
            raise
        return store

    @property
    def path(self) -> Path:
        return self._path

    def close(self) -> None:
        """Closes the file, first releasing the lock if this store still holds it."""
        with self._mutex:
            try:
                if self._held is not None:
                    self._release(self._held)
            finally:
                self._db.close()

    def __enter__(self) -> "StateStore":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Reading

    def snapshot(self) -> State:
        """The whole state as of one serial (a single read transaction)."""
        with self._mutex, self._translate("read"), self._db.atomic():
            lineage, serial = self._meta()
            resources = {
                row["address"]: _resource_from_row(row)
                for row in self._db.table("resources").rows_where(order_by="address")
            }
            outputs = {
                row["name"]: OutputState(json.loads(row["value"])["value"], bool(row["sensitive"]))
                for row in self._db.table("outputs").rows_where(order_by="name")
            }
        return State(
            lineage=lineage,
            serial=serial,
            resources=MappingProxyType(resources),
            outputs=MappingProxyType(outputs),
        )

    def get(self, address: str) -> ResourceState | None:
        """One resource's record: apply reads records one at a time, and reading the whole
        state for each would make a large apply quadratic."""
        with self._mutex, self._translate("read"):
            row = self._resource_row(address)
        return None if row is None else _resource_from_row(row)

    def select(self, wanted: Callable[[str], bool]) -> dict[str, ResourceState]:
        """The records whose addresses `wanted` accepts, read in one transaction."""
        with self._mutex, self._translate("read"), self._db.atomic():
            addresses = [
                address
                for (address,) in self._db.execute("SELECT address FROM resources").fetchall()
                if wanted(address)
            ]
            found = {}
            for address in addresses:
                row = self._resource_row(address)
                if row is not None:
                    found[address] = _resource_from_row(row)
        return found

    def put_outputs(self, outputs: Mapping[str, OutputState], *, operation: str) -> None:
        """Replaces the recorded outputs; writes nothing (and keeps the serial) if they are
        the same."""
        _check_word("operation", operation)
        rows = {
            name: (_dump({"value": output.value}), int(output.sensitive))
            for name, output in outputs.items()
        }
        for name in rows:
            _check_word("output name", name)
        with self._write():
            stored = {
                row["name"]: (row["value"], row["sensitive"])
                for row in self._db.table("outputs").rows_where()
            }
            if stored == {name: (value, flag) for name, (value, flag) in rows.items()}:
                return
            self._db.execute("DELETE FROM outputs")
            for name, (value, flag) in rows.items():
                self._db.execute(
                    "INSERT INTO outputs (name, value, sensitive) VALUES (?, ?, ?)",
                    [name, value, flag],
                )
            serial = self._append_history(self._now(), operation, "outputs", "update")
            self._keep_outputs_revision(serial)

    def history(self) -> tuple[HistoryEntry, ...]:
        """Every write so far, oldest first."""
        with self._mutex, self._translate("read"):
            return tuple(
                HistoryEntry(
                    serial=row["serial"],
                    at=datetime.fromisoformat(row["at"]),
                    operation=row["operation"],
                    address=row["address"],
                    action=row["action"],
                    who=row["who"],
                )
                for row in self._db.table("history").rows_where(order_by="serial")
            )

    def current_lock(self) -> LockInfo | None:
        """Who holds the lock now, if anyone (this store included)."""
        with self._mutex, self._translate("read"):
            return self._lock_row()

    # Locking

    @contextmanager
    def lock(
        self,
        operation: str,
        timeout: float = 0.0,
        *,
        on_wait: Callable[[LockInfo], None] | None = None,
    ) -> Iterator[AcquiredLock]:
        """Holds the state lock for the block; every write needs it.

        Held by another live process: raises StateLocked at once, or with `timeout` > 0 polls
        until it is free or the time is up; `on_wait` is called once, with the holder, when the
        wait begins. A lock whose process is dead on this host is taken over (see
        `AcquiredLock.took_over`); one from another host cannot be checked and is never taken.
        """
        acquired = self._acquire(operation, timeout, on_wait)
        try:
            yield acquired
        finally:
            self._release(acquired.info)

    def force_unlock(self, lock_id: str) -> LockInfo:
        """Removes a lock left by a process that cannot release it (a lost CI runner).

        The id must match, so a lock taken since the user read the message is not removed.
        """
        with self._mutex, self._translate("unlock"), self._transaction():
            holder = self._lock_row()
            if holder is None or holder.id != lock_id:
                raise NotLocked.no_such_lock(lock_id, holder)
            self._db.execute("DELETE FROM lock")
        return holder

    def expect(self, *, lineage: str, serial: int) -> None:
        """Refuses (StaleState) a state that is not the one a saved plan was made from.

        Call it while holding the lock: nobody else can then write before this run does.
        """
        with self._mutex, self._translate("read"):
            self._require_lock()
            found_lineage, found_serial = self._meta()
        if (found_lineage, found_serial) != (lineage, serial):
            raise StaleState(lineage, serial, found_lineage, found_serial)

    # Writing

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Groups writes into one transaction: all of them are recorded, or none.

        Each write still gets its own serial and history row. Only for writes with no side
        effect between them (an import of many jobs, a refresh's results): a crash loses them all.
        """
        with self._write():
            yield

    def put(self, resource: ResourceState, *, operation: str, action: str) -> ResourceState:
        """Records `resource` (inserted or replaced); returns it with the stored `updated_at`.

        A record equal to the stored one (apart from `updated_at`) writes nothing: an unchanged
        refresh must not make a saved plan stale. Raises ValueError for a document holding a key
        named like a secret or a non-finite number, TypeError for one JSON cannot hold.
        """
        _check_word("operation", operation)
        _check_word("action", action)
        _check_word("address", resource.address)
        _check_word("type", resource.type)
        names = _dump_names(resource.sensitive)
        if list(resource.sensitive) != json.loads(names):
            # Returned as the store keeps them (sorted, once each), so it equals what a read gets.
            resource = replace(resource, sensitive=tuple(json.loads(names)))
        row: dict[str, Any] = {
            "address": resource.address,
            "type": resource.type,
            "remote_id": resource.remote_id,
            "tainted": int(resource.tainted),
            "pending_token": resource.pending_token,
            "sensitive": names,
        }
        for name in ("applied", "settings", "observed"):
            document = getattr(resource, name)
            check_document(f"{resource.address}.{name}", document)
            row[name] = _dump(document)
        with self._write():
            stored = self._resource_row(resource.address)
            if stored is not None and all(stored[key] == value for key, value in row.items()):
                return replace(resource, updated_at=datetime.fromisoformat(stored["updated_at"]))
            now = self._now()
            row["updated_at"] = now.isoformat()
            # Plain SQL rather than Table.upsert: that one re-reads the schema on every call,
            # which made 5,000 puts take 2.3 s instead of a fraction of that.
            self._db.execute(_UPSERT_RESOURCE, row)
            serial = self._append_history(now, operation, resource.address, action)
            self._keep_revision(serial, resource.address, row)
        return replace(resource, updated_at=now)

    def remove(self, address: str, *, operation: str, action: str) -> None:
        """Drops the resource at `address` (KeyError if it is not in state)."""
        _check_word("operation", operation)
        _check_word("action", action)
        with self._write():
            if self._resource_row(address) is None:
                raise KeyError(f"{address} is not in state")
            self._db.execute("DELETE FROM resources WHERE address = ?", [address])
            serial = self._append_history(self._now(), operation, address, action)
            self._keep_revision(serial, address, None)

    def move(self, moves: Mapping[str, str], *, operation: str) -> None:
        """Renames records (old address to new), all in one transaction: all of them, or none
        if one fails. Each move is a write of its own (serial, history row `OLD -> NEW`).

        KeyError if an old address is not in state; ValueError if a new one already is.
        """
        _check_word("operation", operation)
        for new in moves.values():
            _check_word("address", new)
        with self._write():
            for old, new in moves.items():
                if self._resource_row(old) is None:
                    raise KeyError(f"{old} is not in state")
                if self._resource_row(new) is not None:
                    raise ValueError(f"{new} is already in state")
            for old, new in moves.items():
                row = self._resource_row(old)
                assert row is not None  # checked above, in this transaction
                now = self._now()
                row.update(address=new, updated_at=now.isoformat())
                self._db.execute("DELETE FROM resources WHERE address = ?", [old])
                self._db.execute(_UPSERT_RESOURCE, row)
                serial = self._append_history(now, operation, f"{old} -> {new}", "move")
                self._keep_revision(serial, old, None)
                self._keep_revision(serial, new, row)

    # Revisions

    def restorable_since(self) -> int:
        """The first serial `state_at` and `restore` can rebuild: 0, or the serial of the
        state when it was migrated to format 3."""
        with self._mutex, self._translate("read"):
            return self._revisions_since()

    def state_at(self, serial: int) -> State:
        """The resources and outputs as they were right after the write that made `serial`.

        The records are those written then, `updated_at` included. NotRestorable for a serial
        newer than the state, or older than `restorable_since()`.
        """
        with self._mutex, self._translate("read"), self._db.atomic():
            return self._state_at(serial)

    def restore(self, serial: int, *, operation: str = "restore") -> Restored:
        """Makes the resources and outputs of `serial` the current ones again, as one new
        write (one serial, one history row `state to-serial-N`) that can itself be undone.

        Records equal to those of `serial` (apart from `updated_at`) are left as they are;
        the records written are stamped now. Writes nothing if no record or output differs.
        """
        _check_word("operation", operation)
        with self._write():
            target = self._state_at(serial)
            current = {row["address"]: row for row in self._db.table("resources").rows_where()}
            wanted = {address: _row_of(record) for address, record in target.resources.items()}
            written = sorted(
                address
                for address, row in wanted.items()
                if address not in current or not _same_record(current[address], row)
            )
            removed = sorted(set(current) - set(wanted))
            in_flight = sorted(
                a for a in (*written, *removed) if a in current and current[a]["pending_token"]
            )
            if in_flight:
                # Its token is the only way to find a job the interrupted create may have made.
                raise StateStorageError(
                    f"{', '.join(in_flight)} has a create in flight (its job may exist): run "
                    "ftctl apply first, which looks it up, then restore."
                )
            outputs = _dump_outputs(target.outputs)
            outputs_changed = outputs != _outputs_revision(self._db)
            if not (written or removed or outputs_changed):
                return Restored(serial, None, (), (), False)
            now = self._now()
            new_serial = self._append_history(now, operation, "state", f"to-serial-{serial}")
            for address in removed:
                self._db.execute("DELETE FROM resources WHERE address = ?", [address])
                self._keep_revision(new_serial, address, None)
            for address in written:
                row = {**wanted[address], "updated_at": now.isoformat()}
                self._db.execute(_UPSERT_RESOURCE, row)
                self._keep_revision(new_serial, address, row)
            if outputs_changed:
                self._db.execute("DELETE FROM outputs")
                for name, output in target.outputs.items():
                    self._db.execute(
                        "INSERT INTO outputs (name, value, sensitive) VALUES (?, ?, ?)",
                        [name, _dump({"value": output.value}), int(output.sensitive)],
                    )
                self._keep_outputs_revision(new_serial)
        kept = {record.remote_id for record in target.resources.values()}
        untracked = tuple(
            (address, current[address]["remote_id"])
            for address in sorted(current)
            if current[address]["remote_id"] and current[address]["remote_id"] not in kept
        )
        return Restored(
            serial, new_serial, tuple(written), tuple(removed), outputs_changed, untracked
        )

    # Internals

    def _prepare(self, migrations: Sequence[Migration]) -> None:
        """Refuses what is not ours, creates a blank file's state, migrates an old one."""
        with self._mutex:
            header = self._read_header()
            readiness = self._classify(header)
            self._check_intact()
            if readiness is _Readiness.READY:
                return
            # Decide again under the write lock: another process may have just created or
            # migrated this file.
            with self._translate("initialise"), self._transaction():
                header = self._read_header()
                match self._classify(header):
                    case _Readiness.CREATE:
                        os.chmod(self._path, 0o600)
                        self._db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                        self._migrate(migrations, 0)
                        self._db.execute(
                            "INSERT INTO meta (singleton, lineage, serial) VALUES (1, ?, 0)",
                            [str(uuid.uuid4())],
                        )
                    case _Readiness.MIGRATE:
                        self._migrate(migrations, header.version)
                    case _Readiness.READY:
                        pass

    def _read_header(self) -> _Header:
        try:
            with self._db.atomic():
                application_id = self._db.execute("PRAGMA application_id").fetchone()[0]
                version = self._db.execute("PRAGMA user_version").fetchone()[0]
                tables = self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise NotFtctlState(str(self._path), f"SQLite cannot read it ({exc})") from exc
        return _Header(application_id=application_id, version=version, tables=tables)

    def _check_intact(self) -> None:
        """Refuses a damaged file before anything reads it: damage in a page that only a write
        touches would otherwise surface after the API call that the write was to record."""
        with self._translate("read"):
            try:
                found = [row[0] for row in self._db.execute("PRAGMA quick_check(3)")]
            except sqlite3.OperationalError:
                raise  # locked, or an I/O error: not damage, and _translate says so
            except sqlite3.DatabaseError as exc:
                found = [str(exc)]
        if found != ["ok"]:
            raise StateStorageError(
                f"The state file {self._path} is damaged (SQLite finds: {'; '.join(found)}). "
                "It was left untouched. Restore it from a backup, or move it aside and adopt "
                "the jobs again with ftctl import."
            )

    def _classify(self, header: _Header) -> _Readiness:
        if header.blank:
            return _Readiness.CREATE
        if header.application_id != APPLICATION_ID:
            raise NotFtctlState(
                str(self._path),
                f"it is a SQLite database without ftctl's mark (application_id "
                f"{header.application_id:#x}, {header.tables} tables)",
            )
        if header.version > self._known_version:
            raise NewerStateVersion(str(self._path), header.version, self._known_version)
        if header.version == 0:
            # The mark and version 1 are written in one transaction, so this is not our doing.
            raise NotFtctlState(str(self._path), "it carries ftctl's mark but no format version")
        return _Readiness.MIGRATE if header.version < self._known_version else _Readiness.READY

    def _migrate(self, migrations: Sequence[Migration], version: int) -> None:
        for migration in migrations[version:]:
            migration(self._db)
        # PRAGMA takes no parameters; the value is our own int.
        self._db.execute(f"PRAGMA user_version = {len(migrations)}")

    def _acquire(
        self, operation: str, timeout: float, on_wait: Callable[[LockInfo], None] | None
    ) -> AcquiredLock:
        _check_word("operation", operation)
        deadline = time.monotonic() + timeout
        # Short first polls so a waiter starts soon after a short holder; 1 s at most so a long
        # wait does not hammer the file.
        interval = 0.05
        waiting = False
        while True:
            outcome = self._try_lock(operation)
            if isinstance(outcome, AcquiredLock):
                return outcome
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StateLocked(outcome, waited=timeout, local_host=self._host)
            if on_wait is not None and not waiting:
                on_wait(outcome)
            waiting = True
            time.sleep(min(interval, remaining))
            interval = min(interval * 2, 1.0)

    def _try_lock(self, operation: str) -> AcquiredLock | LockInfo:
        """Takes the lock, or returns its live holder."""
        with self._mutex, self._translate("lock"), self._transaction():
            if self._held is not None:
                raise RuntimeError("this StateStore already holds the state lock")
            holder = self._lock_row()
            if holder is not None:
                if not self._is_stale(holder):
                    return holder
                self._db.execute("DELETE FROM lock")
            info = LockInfo(
                id=str(uuid.uuid4()),
                operation=operation,
                who=_user(),
                pid=os.getpid(),
                host=self._host,
                created=self._now(),
            )
            self._db.table("lock").insert(
                {
                    "singleton": 1,
                    "id": info.id,
                    "operation": info.operation,
                    "who": info.who,
                    "pid": info.pid,
                    "host": info.host,
                    "created": info.created.isoformat(),
                }
            )
            self._held = info
            return AcquiredLock(info=info, took_over=holder)

    def _release(self, info: LockInfo) -> None:
        with self._mutex:
            if self._held != info:
                return  # already released by close()
            self._held = None
            with self._translate("unlock"), self._transaction():
                # Only our own row: after a force-unlock the lock may belong to someone else.
                self._db.execute("DELETE FROM lock WHERE id = ?", [info.id])

    def _is_stale(self, holder: LockInfo) -> bool:
        return holder.host == self._host and not _pid_alive(holder.pid)

    def _require_lock(self) -> None:
        """Inside a transaction, proves this store's lock is still the one in the file."""
        if self._held is None:
            raise NotLocked(
                f"Refusing to write {self._path} without holding the state lock: "
                "this is a bug in ftctl; please report it."
            )
        holder = self._lock_row()
        if holder is None or holder.id != self._held.id:
            raise NotLocked(
                f"The state lock on {self._path} (ID {self._held.id}, taken for "
                f"{self._held.operation}) was removed while this run held it, so nothing more "
                "was written. Check the state with `ftctl state list` before running again."
            )

    @contextmanager
    def _write(self) -> Iterator[None]:
        with self._mutex, self._translate("write"):
            if self._db.conn.in_transaction:
                # Inside batch(): the lock was proved when it began, and the batch's write lock
                # has kept everyone else out since.
                if self._held is None:
                    raise NotLocked(f"Refusing to write {self._path}: the state lock was released.")
                with self._savepoint():
                    yield
            else:
                with self._transaction():
                    self._require_lock()
                    yield

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """A write transaction, or a savepoint inside one already open.

        BEGIN IMMEDIATE takes SQLite's write lock before reading, so a read-then-write cannot
        fail half way with SQLITE_BUSY (which a deferred BEGIN can, without waiting).
        """
        if self._db.conn.in_transaction:
            with self._savepoint():
                yield
            return
        self._db.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.rollback()
            raise
        try:
            self._db.conn.execute("COMMIT")
        except BaseException:
            self._db.rollback()
            raise

    @contextmanager
    def _savepoint(self) -> Iterator[None]:
        """Undoes a failed write inside a batch, keeping the batch's earlier writes.

        One fixed name serves every level: SQLite stacks savepoints and releases the innermost
        of a name. (sqlite-utils' atomic() does the same with a random name per use, at five
        times the cost, which showed in batches of thousands.)
        """
        self._db.conn.execute("SAVEPOINT ftctl_write")
        try:
            yield
        except BaseException:
            if self._db.conn.in_transaction:
                self._db.conn.execute("ROLLBACK TO ftctl_write")
                self._db.conn.execute("RELEASE ftctl_write")
            raise
        self._db.conn.execute("RELEASE ftctl_write")

    @contextmanager
    def _translate(self, doing: str) -> Iterator[None]:
        """SQLite's own failures become a StateError the CLI can print."""
        try:
            yield
        except sqlite3.Error as exc:
            raise StateStorageError(
                f"Could not {doing} the state file {self._path}: {exc}. Check its permissions "
                "and the free disk space, then run the command again."
            ) from exc

    def _meta(self) -> tuple[str, int]:
        lineage, serial = self._db.execute("SELECT lineage, serial FROM meta").fetchone()
        return lineage, serial

    def _resource_row(self, address: str) -> dict[str, Any] | None:
        cursor = self._db.execute("SELECT * FROM resources WHERE address = ?", [address])
        found = cursor.fetchone()
        if found is None:
            return None
        return {column[0]: value for column, value in zip(cursor.description, found, strict=True)}

    def _lock_row(self) -> LockInfo | None:
        row = next(iter(self._db.table("lock").rows_where()), None)
        if row is None:
            return None
        return LockInfo(
            id=row["id"],
            operation=row["operation"],
            who=row["who"],
            pid=row["pid"],
            host=row["host"],
            created=datetime.fromisoformat(row["created"]),
        )

    def _append_history(self, at: datetime, operation: str, address: str, action: str) -> int:
        """Bumps the serial and records the write; returns the new serial."""
        self._db.execute("UPDATE meta SET serial = serial + 1")
        (serial,) = self._db.execute("SELECT serial FROM meta").fetchone()
        # Every write holds the lock (_write checks it), whose holder is who wrote.
        who = f"{self._held.who}@{self._held.host}" if self._held is not None else ""
        self._db.execute(
            "INSERT INTO history (serial, at, operation, address, action, who) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [serial, at.isoformat(), operation, address, action, who],
        )
        return int(serial)

    def _keep_revision(self, serial: int, address: str, row: Mapping[str, Any] | None) -> None:
        self._db.execute(
            "INSERT INTO resource_revisions (address, serial, record) VALUES (?, ?, ?)",
            [address, serial, None if row is None else _revision(row)],
        )

    def _keep_outputs_revision(self, serial: int) -> None:
        self._db.execute(
            "INSERT INTO output_revisions (serial, outputs) VALUES (?, ?)",
            [serial, _outputs_revision(self._db)],
        )

    def _revisions_since(self) -> int:
        (since,) = self._db.execute("SELECT revisions_since FROM meta").fetchone()
        return int(since)

    def _state_at(self, serial: int) -> State:
        lineage, current = self._meta()
        since = self._revisions_since()
        if serial > current:
            raise NotRestorable(
                f"Serial {serial} is newer than the state, which is at serial {current}: "
                "ftctl state history lists the serials there are."
            )
        if serial < since:
            raise NotRestorable(
                f"Serial {serial} cannot be restored: it was written before this state "
                f"kept revisions (format 3). Serials from {since} on can be restored."
            )
        records = self._db.execute(
            "SELECT r.address, r.record FROM resource_revisions AS r JOIN ("
            "SELECT address, max(serial) AS serial FROM resource_revisions "
            "WHERE serial <= ? GROUP BY address"
            ") AS latest USING (address, serial) "
            "WHERE r.record IS NOT NULL ORDER BY r.address",
            [serial],
        ).fetchall()
        found = self._db.execute(
            "SELECT outputs FROM output_revisions WHERE serial <= ? ORDER BY serial DESC LIMIT 1",
            [serial],
        ).fetchone()
        outputs = json.loads(found[0]) if found else {}
        return State(
            lineage=lineage,
            serial=serial,
            resources=MappingProxyType(
                {address: _resource_from_revision(address, record) for address, record in records}
            ),
            outputs=MappingProxyType(
                {
                    name: OutputState(output["value"], output["sensitive"])
                    for name, output in outputs.items()
                }
            ),
        )

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("the state store's clock must return timezone-aware datetimes")
        return now.astimezone(UTC)


def _create_file(path: Path) -> bool:
    """Creates an empty file readable by its owner only; False if it already exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    try:
        # The umask can only remove bits; an odd one could remove the owner's.
        os.fchmod(descriptor, 0o600)
    finally:
        os.close(descriptor)
    return True


def _check_file_kind(path: Path) -> None:
    """Refuses what SQLite should not even open; an empty file is fine (it becomes state)."""
    if path.is_dir():
        raise NotFtctlState(str(path), "it is a directory")
    try:
        with path.open("rb") as file:
            head = file.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise StateStorageError(
            f"Could not read the state file {path}: {exc}. Check its permissions."
        ) from exc
    if head and head != SQLITE_MAGIC:
        raise NotFtctlState(str(path), "it is not a SQLite database")


def _resource_from_row(row: Mapping[str, Any]) -> ResourceState:
    return ResourceState(
        address=row["address"],
        type=row["type"],
        remote_id=row["remote_id"],
        applied=json.loads(row["applied"]),
        settings=json.loads(row["settings"]),
        observed=json.loads(row["observed"]),
        tainted=bool(row["tainted"]),
        pending_token=row["pending_token"],
        sensitive=tuple(json.loads(row["sensitive"])),
        updated_at=datetime.fromisoformat(row["updated_at"]),
    )


def _revision(row: Mapping[str, Any]) -> str:
    """A resources row as one compact JSON object. Its documents are already compact JSON
    text (see _dump), so they are spliced in rather than parsed and written again."""
    return (
        '{"type":'
        + json.dumps(row["type"])
        + ',"remote_id":'
        + json.dumps(row["remote_id"])
        + ',"applied":'
        + row["applied"]
        + ',"settings":'
        + row["settings"]
        + ',"observed":'
        + row["observed"]
        + ',"tainted":'
        + ("true" if row["tainted"] else "false")
        + ',"pending_token":'
        + json.dumps(row["pending_token"])
        + ',"updated_at":'
        + json.dumps(row["updated_at"])
        # The version-3 migration makes revisions of rows from before this column.
        + ',"sensitive":'
        + row.get("sensitive", "[]")
        + "}"
    )


def _resource_from_revision(address: str, record: str) -> ResourceState:
    fields = json.loads(record)
    return ResourceState(
        address=address,
        type=fields["type"],
        remote_id=fields["remote_id"],
        applied=fields["applied"],
        settings=fields["settings"],
        observed=fields["observed"],
        tainted=fields["tainted"],
        pending_token=fields["pending_token"],
        # Revisions written before format 4 name no sensitive arguments.
        sensitive=tuple(fields.get("sensitive", ())),
        updated_at=datetime.fromisoformat(fields["updated_at"]),
    )


def _row_of(resource: ResourceState) -> dict[str, Any]:
    """A record as a resources row, `updated_at` aside."""
    return {
        "address": resource.address,
        "type": resource.type,
        "remote_id": resource.remote_id,
        "applied": _dump(resource.applied),
        "settings": _dump(resource.settings),
        "observed": _dump(resource.observed),
        "tainted": int(resource.tainted),
        "pending_token": resource.pending_token,
        "sensitive": _dump_names(resource.sensitive),
    }


def _same_record(stored: Mapping[str, Any], row: Mapping[str, Any]) -> bool:
    return all(stored[key] == value for key, value in row.items())


def _dump_outputs(outputs: Mapping[str, OutputState]) -> str:
    return _dump(
        {
            name: {"sensitive": output.sensitive, "value": output.value}
            for name, output in outputs.items()
        }
    )


def _outputs_revision(db: Database) -> str:
    """The recorded outputs as one compact JSON object, by name."""
    return _dump_outputs(
        {
            row["name"]: OutputState(json.loads(row["value"])["value"], bool(row["sensitive"]))
            for row in db.table("outputs").rows_where()
        }
    )


def _dump(document: Mapping[str, Any]) -> str:
    # Sorted keys make equal documents equal text, which put() relies on to skip no-op writes.
    # ASCII escapes keep lone surrogates (legal in JSON strings) storable as UTF-8.
    return json.dumps(dict(document), sort_keys=True, separators=(",", ":"), allow_nan=False)


def _dump_names(names: Sequence[str]) -> str:
    """Sorted and deduplicated, so the same names are the same text (see _dump)."""
    if isinstance(names, str) or not all(isinstance(n, str) and n for n in names):
        raise TypeError(f"sensitive must be a sequence of argument names, not {names!r}")
    return json.dumps(sorted(set(names)), separators=(",", ":"))


def _check_word(name: str, value: str) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, not {value!r}")


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False  # 0 and negatives address process groups, never a holder
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by another user
    return True


def _hostname() -> str:
    return socket.gethostname()


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        # A container user with no passwd entry and no LOGNAME/USER.
        return str(os.getuid())
