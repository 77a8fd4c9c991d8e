"""What ftctl remembers between runs, as plain values: resources, the lock, history, and errors.

Pure: no I/O, clock or randomness. The SQLite store (`ftctl.state.store`) reads and writes these.
"""

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Values ftctl keeps in state are JSON documents; these name the three a resource holds.
JsonObject = Mapping[str, Any]

# A key named like these (case and `-`/`_` aside, `openai_api_key` and `WANDB_API_KEY` too) never
# enters state: the API key is passed to the SDK and nowhere else, and a header dump must not
# smuggle it in.
SECRET_KEY_SUFFIXES = ("api_key", "apikey")
SECRET_KEY_NAMES = frozenset({"authorization", "proxy_authorization"})


@functools.lru_cache(maxsize=4096)  # the same few dozen keys recur in every record
def looks_like_secret(key: str) -> bool:
    name = key.lower().replace("-", "_")
    return name in SECRET_KEY_NAMES or name.endswith(SECRET_KEY_SUFFIXES)


@dataclass(frozen=True)
class ResourceState:
    """One resource ftctl manages, keyed by its address."""

    address: str  # e.g. `openai_fine_tuning_job.support_bot`; unique in a state
    type: str  # e.g. `openai_fine_tuning_job`
    # The API's id, None until a create is confirmed. It may be set together with
    # `pending_token` while a replacement's create is in flight.
    remote_id: str | None = None
    # What ftctl last SENT for this resource: the diff base (DESIGN §2.1). Never the server's
    # view, which resolves "auto" and model aliases and would look like drift forever.
    applied: JsonObject = field(default_factory=dict)
    # ftctl's own settings (`cancel_after_timeout`, `lifecycle`): they change with no API call.
    settings: JsonObject = field(default_factory=dict)
    # The remote attributes last read (status, fine_tuned_model, ...): for status, outputs and
    # drift notes only, never a diff base. Empty until the resource is first read.
    observed: JsonObject = field(default_factory=dict)
    # A create that failed after the server made an object: the next plan replaces it.
    tainted: bool = False
    # Set before a create is sent (and sent as metadata `ftctl_token`), cleared when the created
    # id is recorded. Found set at start-up, it means "look the job up before creating again"
    # (DESIGN §2.7).
    pending_token: str | None = None
    # Names of the `applied` arguments derived from sensitive values, as the apply that sent
    # them knew: every view shows "(sensitive value)" for them and for the observed attributes
    # that mirror them. The values themselves stay in `applied`: they are the diff base.
    sensitive: tuple[str, ...] = ()
    # Stamped by the store on each write; the value passed to `put` is ignored.
    updated_at: datetime | None = None


@dataclass(frozen=True)
class OutputState:
    """An output's value as of the last apply; a sensitive one is shown only on request."""

    value: Any
    sensitive: bool = False


@dataclass(frozen=True)
class State:
    """A consistent read of the whole state, as of one serial."""

    lineage: str  # random at creation: identifies this state's history across copies
    serial: int  # 0 when created, one more for every change written
    resources: Mapping[str, ResourceState]  # by address
    outputs: Mapping[str, OutputState] = field(default_factory=dict)


@dataclass(frozen=True)
class HistoryEntry:
    """One change written to state; the entry's serial is the state's serial after it."""

    serial: int
    at: datetime
    operation: str  # the command that wrote it: apply, refresh, import, state-rm, restore, ...
    address: str  # the resource; `outputs`, `OLD -> NEW` for a move, `state` for a restore
    action: str  # what happened to the resource: create, replace, cancel, forget, ...
    # `user@host` of the lock holder that wrote it; empty for writes made before format 3.
    # Left out of equality: it names the machine a change was made on, not the change.
    who: str = field(default="", compare=False)


@dataclass(frozen=True)
class Restored:
    """What `StateStore.restore` did: the state of `serial` written again as `new_serial`."""

    serial: int
    new_serial: int | None  # None: that state is the current one, and nothing was written
    restored: tuple[str, ...]  # addresses written back (missing now, or different)
    removed: tuple[str, ...]  # addresses that did not exist at `serial`
    outputs_changed: bool
    # (address, remote id) of objects the state no longer tracks: they still exist remotely,
    # and a job among them may still be training.
    untracked: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class LockInfo:
    """Who holds the state lock; shown to anyone who finds it held."""

    id: str  # random per acquisition; names the lock to force-unlock
    operation: str
    who: str  # the holder's user name
    pid: int
    host: str
    created: datetime


@dataclass(frozen=True)
class AcquiredLock:
    info: LockInfo  # this process's lock
    # A lock left by a process that died on this host, replaced by this one: worth a warning,
    # since the dead run may have stopped between an API call and its state write.
    took_over: LockInfo | None = None


def check_document(name: str, document: JsonObject) -> None:
    """Refuses a document that would not round-trip through JSON or that holds a secret.

    Raises TypeError for a value JSON cannot hold as it is (non-string keys, tuples, sets,
    objects) and ValueError for a non-finite number or a key named like a secret.
    """
    if not isinstance(document, Mapping):
        raise TypeError(f"{name} is a {type(document).__name__}, not a JSON object.")
    _check_value(document, name)


def _check_value(value: Any, path: str) -> None:
    # Plain recursion on exact types first: put() runs this on every write, thousands per batch,
    # and an isinstance check against the Mapping ABC costs several times one against dict.
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return
    if kind is float or isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path} is {value}, which JSON cannot represent.")
    elif kind is dict or isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{path} has a key {key!r} that is not a string.")
            if looks_like_secret(key):
                raise ValueError(
                    f"{path}.{key} looks like a secret; state never stores credentials. "
                    "Pass the API key to the provider, not in resource arguments."
                )
            _check_value(item, f"{path}.{key}")
    elif kind is list:
        for index, item in enumerate(value):
            _check_value(item, f"{path}[{index}]")
    elif not isinstance(value, str | int):  # StrEnum and IntEnum values come back equal
        # Tuples and sets would come back as lists, or not at all.
        raise TypeError(f"{path} is a {kind.__name__}, which state cannot hold as JSON.")


# Errors. Each message says what happened, why, and what to do next: the CLI prints it as is.


class StateError(Exception):
    """Base of every error the state store raises on purpose."""


class NotFtctlState(StateError):
    """The file exists but is not an ftctl state (not SQLite, another application's, damaged)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(
            f"{path} is not an ftctl state file: {reason}. It was left untouched. "
            "Point --state at an ftctl state, or at a path that does not exist yet."
        )
        self.path = path
        self.reason = reason


class NewerStateVersion(StateError):
    """The state was written by an ftctl that knows a newer format."""

    def __init__(self, path: str, found: int, known: int) -> None:
        super().__init__(
            f"{path} has state format version {found}, but this ftctl knows versions up to "
            f"{known}. It was written by a newer ftctl and was left untouched: upgrade ftctl."
        )
        self.path = path
        self.found = found
        self.known = known


class StateLocked(StateError):
    """Another process holds the state lock."""

    def __init__(self, holder: LockInfo, waited: float, local_host: str) -> None:
        since = holder.created.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
        after = f" after waiting {waited:g}s" if waited > 0 else ""
        message = (
            f"State locked{after} by {holder.operation} (pid {holder.pid} on {holder.host}, "
            f"user {holder.who}) since {since}: wait for it to finish, or pass --lock-timeout."
        )
        if holder.host != local_host:
            # Same-host locks of dead processes are taken over; other hosts cannot be checked.
            message += (
                f" If no ftctl is running on {holder.host}, remove the lock: "
                f"ftctl force-unlock {holder.id}"
            )
        super().__init__(message)
        self.holder = holder
        self.waited = waited


class NotLocked(StateError):
    """A write without holding the lock, or after another process removed it; or a
    force-unlock naming a lock that is not there."""

    @classmethod
    def no_such_lock(cls, lock_id: str, holder: "LockInfo | None") -> "NotLocked":
        return cls(
            f"The state has no lock with ID {lock_id}"
            + (f" (it is locked by {holder.operation}, ID {holder.id})" if holder else "")
            + ": nothing was removed."
        )


class NotRestorable(StateError):
    """A serial the state cannot be restored to: newer than the state, or written before
    the store kept revisions."""


class StaleState(StateError):
    """The state changed since a saved plan read it."""

    def __init__(
        self, expected_lineage: str, expected_serial: int, lineage: str, serial: int
    ) -> None:
        if lineage != expected_lineage:
            message = (
                "Saved plan does not match the given state: the given plan file can not be "
                "applied because it was created from a different state lineage "
                f"({expected_lineage}; this state is {lineage}). Run ftctl plan again."
            )
        else:
            message = (
                "Saved plan is stale: the given plan file can no longer be applied because the "
                "state was changed by another operation after the plan was created (the state "
                f"changed since the saved plan was made: serial {expected_serial}, now {serial})."
                " Run ftctl plan again."
            )
        super().__init__(message)
        self.expected_lineage = expected_lineage
        self.expected_serial = expected_serial
        self.lineage = lineage
        self.serial = serial


class StateStorageError(StateError):
    """SQLite could not read or write the file (permissions, disk full, I/O error)."""
