"""The state store on real SQLite files: creation, writes and their history, round trips,
secrets, compare-and-swap, batches, crashes and speed."""

import math
import sqlite3
import stat
import tempfile
import time
import uuid
from dataclasses import fields, replace
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftctl.state.model import (
    HistoryEntry,
    NotLocked,
    ResourceState,
    StaleState,
    looks_like_secret,
)
from ftctl.state.store import StateStore
from tests.state.helpers import (
    CRASH_BETWEEN_WRITES,
    CRASH_INSIDE_BATCH,
    TickingClock,
    finish,
    job,
    start_child,
)

# --------------------------------------------------------------------------------------------
# creation
# --------------------------------------------------------------------------------------------


def test_new_state_has_a_lineage_serial_zero_and_owner_only_mode(state_path: Path) -> None:
    assert not state_path.parent.exists()
    with StateStore.open(state_path) as store:
        state = store.snapshot()
        assert store.history() == ()
        assert store.current_lock() is None
    assert uuid.UUID(state.lineage).version == 4
    assert state.serial == 0
    assert dict(state.resources) == {}
    assert stat.S_IMODE(state_path.stat().st_mode) == 0o600


def test_new_states_get_different_lineages(tmp_path: Path) -> None:
    with StateStore.open(tmp_path / "a.db") as a, StateStore.open(tmp_path / "b.db") as b:
        assert a.snapshot().lineage != b.snapshot().lineage


def test_reopening_keeps_lineage_serial_and_resources(state_path: Path) -> None:
    with StateStore.open(state_path) as store, store.lock("apply"):
        stored = store.put(job(), operation="apply", action="create")
        before = store.snapshot()
    with StateStore.open(state_path) as store:
        after = store.snapshot()
    assert (after.lineage, after.serial) == (before.lineage, 1)
    assert after.resources == {stored.address: stored}


def test_empty_file_becomes_a_state_readable_by_its_owner_only(state_path: Path) -> None:
    state_path.parent.mkdir(parents=True)
    state_path.touch(mode=0o644)
    with StateStore.open(state_path) as store:
        assert store.snapshot().serial == 0
    assert stat.S_IMODE(state_path.stat().st_mode) == 0o600


def test_journal_is_readable_by_its_owner_only(store: StateStore) -> None:
    # SQLite gives the rollback journal the database's mode; it holds copies of state pages.
    journal = store.path.with_name(store.path.name + "-journal")
    with store.lock("apply"), store.batch():
        store.put(job(), operation="apply", action="create")
        assert stat.S_IMODE(journal.stat().st_mode) == 0o600
    assert not journal.exists()


def test_state_is_one_file_at_rest(store: StateStore) -> None:
    # Rollback journal, not WAL: no -wal/-shm files to lose when the state is copied.
    with store.lock("apply"):
        store.put(job(), operation="apply", action="create")
    assert sorted(p.name for p in store.path.parent.iterdir()) == ["ftctl.db"]


# --------------------------------------------------------------------------------------------
# writes, serial and history
# --------------------------------------------------------------------------------------------


def test_put_bumps_serial_by_one_and_appends_history(
    store: StateStore, clock: TickingClock
) -> None:
    with store.lock("apply"):
        first = store.put(job("a"), operation="apply", action="create")
        second = store.put(job("b"), operation="apply", action="create")
    state = store.snapshot()
    assert state.serial == 2
    assert set(state.resources) == {first.address, second.address}
    # Readings: lock, put a, put b (and the lock's release reads nothing).
    _, at_a, at_b = clock.readings
    assert (first.updated_at, second.updated_at) == (at_a, at_b)
    assert store.history() == (
        HistoryEntry(1, at_a, "apply", "openai_fine_tuning_job.a", "create"),
        HistoryEntry(2, at_b, "apply", "openai_fine_tuning_job.b", "create"),
    )


def test_changed_put_replaces_the_record(store: StateStore) -> None:
    with store.lock("apply"):
        store.put(job(pending_token="tok-1", remote_id=None), operation="apply", action="create")
        created = store.put(job(), operation="apply", action="create")
    assert store.snapshot().resources == {created.address: created}
    assert created.pending_token is None
    assert created.remote_id == "ftjob-support_bot"
    assert [entry.serial for entry in store.history()] == [1, 2]


def test_unchanged_put_writes_nothing(store: StateStore) -> None:
    with store.lock("refresh"):
        first = store.put(job(), operation="refresh", action="read")
        data = store.path.read_bytes()
        again = store.put(job(), operation="refresh", action="read")
        assert store.path.read_bytes() == data
    assert again == first  # the stored updated_at, not a new one
    assert store.snapshot().serial == 1
    assert len(store.history()) == 1


def test_sensitive_argument_names_are_kept_and_a_change_of_them_alone_is_a_write(
    store: StateStore,
) -> None:
    with store.lock("apply"):
        plain = store.put(job(), operation="apply", action="create")
        marked = store.put(
            job(sensitive=("suffix", "metadata", "suffix")), operation="apply", action="create"
        )
        again = store.put(job(sensitive=("metadata", "suffix")), operation="apply", action="create")
    assert plain.sensitive == ()
    assert marked.sensitive == ("metadata", "suffix") == again.sensitive
    assert store.get(marked.address) == marked == again
    assert store.select(lambda _: True) == {marked.address: marked}
    assert [entry.serial for entry in store.history()] == [1, 2]


@pytest.mark.parametrize("names", ["suffix", ("",), (None,)])
def test_put_refuses_sensitive_names_that_are_not_names(store: StateStore, names: Any) -> None:
    with store.lock("apply"), pytest.raises(TypeError, match="argument names"):
        store.put(job(sensitive=names), operation="apply", action="create")
    assert store.snapshot().serial == 0


def test_remove_bumps_serial_by_one_and_appends_history(store: StateStore) -> None:
    with store.lock("apply"):
        store.put(job(), operation="apply", action="create")
        store.remove(job().address, operation="apply", action="forget")
    state = store.snapshot()
    assert state.serial == 2
    assert dict(state.resources) == {}
    last = store.history()[-1]
    assert (last.serial, last.operation, last.address, last.action) == (
        2,
        "apply",
        job().address,
        "forget",
    )


def test_remove_of_an_absent_address_raises_and_writes_nothing(store: StateStore) -> None:
    with store.lock("apply"):
        data = store.path.read_bytes()  # taking the lock is itself a write
        with pytest.raises(KeyError, match=r"openai_file\.nope is not in state"):
            store.remove("openai_file.nope", operation="apply", action="forget")
        assert store.path.read_bytes() == data
    assert store.snapshot().serial == 0
    assert store.history() == ()


@pytest.mark.parametrize(
    ("field", "value"),
    [("operation", ""), ("action", ""), ("address", ""), ("type", "")],
)
def test_put_refuses_empty_names(store: StateStore, field: str, value: str) -> None:
    arguments = {"operation": "apply", "action": "create"}
    resource = job()
    if field in arguments:
        arguments[field] = value
    else:
        resource = replace(resource, **{field: value})
    with store.lock("apply"), pytest.raises(ValueError, match=field):
        store.put(resource, **arguments)
    assert store.snapshot().serial == 0


def test_clock_must_be_timezone_aware(state_path: Path) -> None:
    with StateStore.open(state_path, clock=datetime.now) as store, pytest.raises(ValueError):
        store.lock("apply").__enter__()


# --------------------------------------------------------------------------------------------
# round trips
# --------------------------------------------------------------------------------------------

keys = st.text(max_size=12).filter(lambda key: not looks_like_secret(key))
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=25,
)
documents = st.dictionaries(keys, json_values, max_size=6)
names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=30)
resources = st.builds(
    ResourceState,
    address=names.map(lambda name: f"openai_fine_tuning_job.{name}"),
    type=st.sampled_from(["openai_fine_tuning_job", "openai_file"]),
    remote_id=st.none() | names.map(lambda name: f"ftjob-{name}"),
    applied=documents,
    settings=documents,
    observed=documents,
    tainted=st.booleans(),
    pending_token=st.none() | st.uuids().map(str),
    # In any order, repeats included: the store keeps them sorted, once each.
    sensitive=st.lists(names, max_size=3).map(tuple),
)


@settings(max_examples=60, deadline=None)
@given(resource=resources)
def test_snapshot_round_trips_every_field(resource: ResourceState) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ftctl.db"
        with StateStore.open(path) as store, store.lock("apply"):
            stored = store.put(resource, operation="apply", action="create")
            assert stored == replace(
                resource,
                sensitive=tuple(sorted(set(resource.sensitive))),
                updated_at=stored.updated_at,
            )
            assert store.snapshot().resources == {resource.address: stored}
        with StateStore.open(path) as reopened:
            assert reopened.snapshot().resources == {resource.address: stored}


def test_snapshot_is_read_only_and_independent_of_later_writes(store: StateStore) -> None:
    with store.lock("apply"):
        store.put(job("a"), operation="apply", action="create")
        before = store.snapshot()
        store.put(job("b"), operation="apply", action="create")
    with pytest.raises(TypeError):
        before.resources["x"] = job("x")  # type: ignore[index]
    assert list(before.resources) == ["openai_fine_tuning_job.a"]
    before.resources["openai_fine_tuning_job.a"].applied["model"] = "mutated"  # type: ignore[index]
    assert store.snapshot().resources["openai_fine_tuning_job.a"].applied["model"] == "gpt-4o-mini"


def test_enum_values_are_stored_as_their_text(store: StateStore) -> None:
    class Status(StrEnum):
        RUNNING = "running"

    with store.lock("refresh"):
        store.put(job(observed={"status": Status.RUNNING}), operation="refresh", action="read")
    assert store.snapshot().resources[job().address].observed == {"status": "running"}


# --------------------------------------------------------------------------------------------
# secrets and values JSON cannot hold
# --------------------------------------------------------------------------------------------


def test_schema_has_no_column_for_credentials(store: StateStore) -> None:
    with sqlite3.connect(store.path) as connection:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master")]
        columns = {
            column[1].lower()
            for table in tables
            for column in connection.execute(f"PRAGMA table_info({table})")
        }
    connection.close()
    assert {"resources", "meta", "history", "lock"} <= set(tables)
    field_names = {f.name for f in fields(ResourceState)}
    for name in columns | field_names:
        assert not any(word in name for word in ("key", "secret", "password", "authorization"))


@pytest.mark.parametrize(
    ("document", "value"),
    [
        ("applied", {"api_key": "sk-live-123"}),
        ("settings", {"provider": {"API-Key": "sk-live-123"}}),
        ("observed", {"request": {"headers": [{"Authorization": "Bearer sk-live-123"}]}}),
        ("applied", {"metadata": {"OPENAI_APIKEY": "sk-live-123"}}),
        ("settings", {"wandb": {"WANDB_API_KEY": "sk-live-123"}}),
    ],
)
def test_put_refuses_keys_named_like_secrets(
    store: StateStore, document: str, value: dict[str, Any]
) -> None:
    with store.lock("apply"):
        data = store.path.read_bytes()
        with pytest.raises(ValueError, match="looks like a secret"):
            store.put(replace(job(), **{document: value}), operation="apply", action="create")
        assert store.path.read_bytes() == data
    assert store.snapshot().serial == 0
    assert b"sk-live" not in store.path.read_bytes()


def test_secret_looking_keys_are_matched_whole_not_by_substring(store: StateStore) -> None:
    # "ftctl_token" and "key_points" are ordinary names: only the secrets' own names are refused.
    applied = {"metadata": {"ftctl_token": "t-1", "key_points": "x", "monkey": "y"}}
    with store.lock("apply"):
        store.put(job(applied=applied), operation="apply", action="create")
    assert store.snapshot().serial == 1


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ({"epochs": (1, 2)}, TypeError),
        ({"tags": {"a", "b"}}, TypeError),
        ({"by_step": {1: 0.5}}, TypeError),
        ({"when": datetime(2026, 1, 1)}, TypeError),
        ({"loss": math.nan}, ValueError),
        ({"loss": [math.inf]}, ValueError),
    ],
)
def test_put_refuses_values_that_would_not_round_trip(
    store: StateStore, value: dict[str, Any], error: type[Exception]
) -> None:
    with (
        store.lock("refresh"),
        pytest.raises(error, match=r"openai_fine_tuning_job\.\w+\.observed"),
    ):
        store.put(job(observed=value), operation="refresh", action="read")
    assert store.snapshot().serial == 0


# --------------------------------------------------------------------------------------------
# the lock guards writes; compare-and-swap guards saved plans
# --------------------------------------------------------------------------------------------


def test_writes_without_the_lock_raise_and_write_nothing(store: StateStore) -> None:
    data = store.path.read_bytes()
    with pytest.raises(NotLocked, match="without holding the state lock"):
        store.put(job(), operation="apply", action="create")
    with pytest.raises(NotLocked):
        store.remove(job().address, operation="apply", action="forget")
    with pytest.raises(NotLocked), store.batch():
        pass
    snapshot = store.snapshot()
    with pytest.raises(NotLocked):
        store.expect(lineage=snapshot.lineage, serial=snapshot.serial)
    assert store.path.read_bytes() == data


def test_writes_after_release_raise(store: StateStore) -> None:
    with store.lock("apply"):
        store.put(job("a"), operation="apply", action="create")
    with pytest.raises(NotLocked):
        store.put(job("b"), operation="apply", action="create")
    assert store.snapshot().serial == 1


def test_write_after_the_lock_was_forced_away_raises_and_writes_nothing(
    state_path: Path,
) -> None:
    with StateStore.open(state_path) as store, store.lock("apply") as held:
        store.put(job("a"), operation="apply", action="create")
        with StateStore.open(state_path) as other:
            other.force_unlock(held.info.id)
        with pytest.raises(NotLocked, match="was removed while this run held it"):
            store.put(job("b"), operation="apply", action="create")
        assert list(store.snapshot().resources) == [job("a").address]


def test_expect_accepts_the_current_state(store: StateStore) -> None:
    with store.lock("apply"):
        store.put(job(), operation="apply", action="create")
        state = store.snapshot()
        store.expect(lineage=state.lineage, serial=state.serial)


def test_expect_refuses_a_stale_serial(store: StateStore) -> None:
    planned = store.snapshot()
    with store.lock("apply"):
        store.put(job(), operation="apply", action="create")
        with pytest.raises(StaleState, match=r"changed since the saved plan.*serial 0, now 1"):
            store.expect(lineage=planned.lineage, serial=planned.serial)


def test_expect_refuses_another_states_lineage(store: StateStore, tmp_path: Path) -> None:
    with StateStore.open(tmp_path / "other.db") as other:
        foreign = other.snapshot()
    with store.lock("apply"), pytest.raises(StaleState, match="different state") as refused:
        store.expect(lineage=foreign.lineage, serial=0)
    assert refused.value.lineage == store.snapshot().lineage


# --------------------------------------------------------------------------------------------
# batches
# --------------------------------------------------------------------------------------------


def test_batch_records_every_write_with_its_own_serial(store: StateStore) -> None:
    with store.lock("import"), store.batch():
        for name in ("a", "b", "c"):
            store.put(job(name), operation="import", action="import")
        store.remove(job("b").address, operation="import", action="forget")
    assert store.snapshot().serial == 4
    assert [(e.serial, e.action) for e in store.history()] == [
        (1, "import"),
        (2, "import"),
        (3, "import"),
        (4, "forget"),
    ]


def test_batch_that_raises_records_nothing(store: StateStore) -> None:
    with store.lock("import"):
        data = store.path.read_bytes()
        with pytest.raises(RuntimeError, match="boom"), store.batch():
            store.put(job("a"), operation="import", action="import")
            raise RuntimeError("boom")
        assert store.path.read_bytes() == data
    assert store.snapshot().serial == 0


def test_failed_write_inside_a_batch_keeps_the_earlier_ones(store: StateStore) -> None:
    with store.lock("import"), store.batch():
        store.put(job("a"), operation="import", action="import")
        with pytest.raises(ValueError):
            store.put(job("b", applied={"api_key": "sk"}), operation="import", action="import")
        with pytest.raises(KeyError):
            store.remove("openai_file.nope", operation="import", action="forget")
        store.put(job("c"), operation="import", action="import")
    state = store.snapshot()
    assert state.serial == 2
    assert sorted(state.resources) == [job("a").address, job("c").address]


def test_five_thousand_puts_in_a_batch_take_well_under_seconds(store: StateStore) -> None:
    records = [job(f"job_{n}", remote_id=f"ftjob-{n:024d}") for n in range(5000)]
    with store.lock("import"):
        started = time.perf_counter()
        with store.batch():
            for record in records:
                store.put(record, operation="import", action="import")
        elapsed = time.perf_counter() - started
    # About 0.5 s on a 2-core CI runner; the bound only catches a return of per-row commits
    # (7 s) or of sqlite-utils' per-call schema reads (2.3 s).
    assert elapsed < 2.0, f"{elapsed:.2f} s"
    state = store.snapshot()
    assert (state.serial, len(state.resources)) == (5000, 5000)


# --------------------------------------------------------------------------------------------
# crashes
# --------------------------------------------------------------------------------------------


def test_crash_between_two_writes_keeps_the_first(state_path: Path) -> None:
    StateStore.open(state_path).close()
    child = start_child(CRASH_BETWEEN_WRITES, state_path)
    done = finish(child)
    assert done.returncode == 1, done.stderr
    with StateStore.open(state_path) as store:
        state = store.snapshot()
        assert list(state.resources) == ["openai_file.train"]
        assert state.resources["openai_file.train"].remote_id == "file-1"
        assert state.serial == 1
        assert [(e.serial, e.address) for e in store.history()] == [(1, "openai_file.train")]
        # The dead run's lock is taken over by the next one on this host.
        with store.lock("apply") as held:
            assert held.took_over is not None
            assert held.took_over.pid == child.pid


def test_crash_inside_a_batch_keeps_none_of_it(state_path: Path) -> None:
    StateStore.open(state_path).close()
    child = start_child(CRASH_INSIDE_BATCH, state_path)
    done = finish(child)
    assert done.returncode == 1, done.stderr
    with StateStore.open(state_path) as store:
        state = store.snapshot()
        assert (state.serial, dict(state.resources)) == (0, {})
        assert store.history() == ()


def test_history_times_come_from_the_clock(state_path: Path) -> None:
    clock = TickingClock()
    with StateStore.open(state_path, clock=clock) as store, store.lock("apply"):
        store.put(job(), operation="apply", action="create")
        (entry,) = store.history()
    assert entry.at == clock.start + timedelta(seconds=1)
    assert entry.at.utcoffset() == timedelta(0)
