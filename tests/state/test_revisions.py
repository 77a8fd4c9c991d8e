"""Revisions: every write keeps what it changed, so the state as of any serial can be rebuilt
(`state_at`) and made current again (`restore`) as a new serial; who wrote each serial; the
version-3 migration that brings them to older files, and the version-4 one that adds which
arguments are sensitive."""

import json
import sqlite3
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
from hypothesis import given, settings
from hypothesis import strategies as st

from ftctl.state import store as store_module
from ftctl.state.model import NotRestorable, OutputState, ResourceState, State
from ftctl.state.store import FORMAT_VERSION, MIGRATIONS, StateStore
from tests.state.helpers import TickingClock, job


@pytest.fixture(autouse=True)
def identity(monkeypatch: pytest.MonkeyPatch) -> str:
    """Who writes: fixed, so that history rows can be compared."""
    monkeypatch.setattr(store_module, "_user", lambda: "alice")
    monkeypatch.setattr(store_module, "_hostname", lambda: "ci-7")
    return "alice@ci-7"


def contents(state: State) -> tuple[dict[str, ResourceState], dict[str, OutputState]]:
    return dict(state.resources), dict(state.outputs)


def without_stamps(state: State) -> dict[str, ResourceState]:
    return {a: replace(r, updated_at=None) for a, r in state.resources.items()}


def raw(path: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute(sql, args).fetchall()


# --------------------------------------------------------------------------------------------
# state_at rebuilds every serial
# --------------------------------------------------------------------------------------------

NAMES = ("a", "b", 'sweep["x"]')
operations = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.sampled_from(NAMES), st.sampled_from(["running", "failed"])),
        st.tuples(st.just("remove"), st.sampled_from(NAMES), st.none()),
        st.tuples(st.just("outputs"), st.sampled_from(["", "ft:one", "ft:two"]), st.booleans()),
        st.tuples(st.just("move"), st.sampled_from(NAMES), st.sampled_from(NAMES)),
        st.tuples(st.just("restore"), st.integers(0, 30), st.none()),
    ),
    max_size=25,
)


def apply_operation(store: StateStore, operation: tuple[str, Any, Any]) -> None:
    kind, first, second = operation
    current = store.snapshot()
    address = f"openai_fine_tuning_job.{first}"
    if kind == "put":
        # Which arguments are sensitive is part of the record: restores bring it back too.
        hidden = ("suffix",) if second == "failed" else ()
        store.put(
            job(first, observed={"status": second}, sensitive=hidden),
            operation="apply",
            action="create",
        )
    elif kind == "remove" and address in current.resources:
        store.remove(address, operation="state-rm", action="forget")
    elif kind == "outputs":
        outputs = {"model": OutputState(first, sensitive=second)} if first else {}
        store.put_outputs(outputs, operation="apply")
    elif kind == "move":
        new = f"openai_fine_tuning_job.{second}"
        if address in current.resources and new not in current.resources:
            store.move({address: new}, operation="state-mv")
    elif kind == "restore" and first <= current.serial:
        store.restore(first)


@settings(max_examples=60, deadline=None)
@given(operations)
def test_state_at_each_serial_is_the_state_that_write_left(
    script: list[tuple[str, Any, Any]],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ftctl.db"
        with StateStore.open(path, clock=TickingClock()) as store, store.lock("test"):
            seen = {0: contents(store.snapshot())}
            for operation in script:
                apply_operation(store, operation)
                state = store.snapshot()
                seen[state.serial] = contents(state)  # a no-op write keeps the serial
            assert sorted(seen) == list(range(store.snapshot().serial + 1))
            for serial, expected in seen.items():
                rebuilt = store.state_at(serial)
                assert (rebuilt.serial, contents(rebuilt)) == (serial, expected)


def test_a_revision_is_compact_json_of_the_whole_record(store: StateStore) -> None:
    record = job(
        observed={"status": "running", "note": "naïve \ud800", "loss": 1e-300},
        sensitive=("metadata", "suffix"),
    )
    with store.lock("apply"):
        stored = store.put(record, operation="apply", action="create")
        store.remove(record.address, operation="state-rm", action="forget")
    rows = raw(store.path, "SELECT serial, address, record FROM resource_revisions")
    assert [(s, a) for s, a, _ in rows] == [(1, record.address), (2, record.address)]
    (_, _, text), (_, _, removed) = rows
    assert removed is None
    assert text == json.dumps(json.loads(text), separators=(",", ":"))  # no whitespace
    assert json.loads(text) == {
        "type": record.type,
        "remote_id": record.remote_id,
        "applied": record.applied,
        "settings": record.settings,
        "observed": record.observed,
        "tainted": False,
        "pending_token": None,
        "updated_at": stored.updated_at.isoformat() if stored.updated_at else None,
        "sensitive": ["metadata", "suffix"],
    }
    assert store.state_at(1).resources == {record.address: stored}


# --------------------------------------------------------------------------------------------
# restore
# --------------------------------------------------------------------------------------------


def test_restore_brings_back_resources_and_outputs_as_one_new_serial(
    store: StateStore, identity: str
) -> None:
    with store.lock("apply"):
        store.put(job("a"), operation="apply", action="create")
        store.put_outputs({"model": OutputState("ft:a")}, operation="apply")
        at_two = store.snapshot()
        store.put(job("a", remote_id="ftjob-a2"), operation="apply", action="replace")
        store.put(job("b"), operation="apply", action="create")
        store.put_outputs({"model": OutputState("ft:a2", sensitive=True)}, operation="apply")
        restored = store.restore(2)
    after = store.snapshot()
    assert after.serial == 6 and restored.new_serial == 6
    assert without_stamps(after) == without_stamps(at_two)
    assert after.outputs == at_two.outputs
    assert (restored.restored, restored.removed, restored.outputs_changed) == (
        ("openai_fine_tuning_job.a",),
        ("openai_fine_tuning_job.b",),
        True,
    )
    # The jobs the restored state does not know are named: they may still be training.
    assert restored.untracked == (
        ("openai_fine_tuning_job.a", "ftjob-a2"),
        ("openai_fine_tuning_job.b", "ftjob-b"),
    )
    last = store.history()[-1]
    assert (last.serial, last.operation, last.address, last.action, last.who) == (
        6,
        "restore",
        "state",
        "to-serial-2",
        identity,
    )
    # The restore is a revision like any other: what it replaced can come back.
    assert contents(store.state_at(6)) == contents(after)
    with store.lock("restore"):
        store.restore(5)
    assert without_stamps(store.snapshot()) == without_stamps(store.state_at(5))
    assert store.snapshot().outputs == {"model": OutputState("ft:a2", sensitive=True)}


def test_restore_leaves_equal_records_alone(store: StateStore) -> None:
    with store.lock("apply"):
        kept = store.put(job("a"), operation="apply", action="create")
        store.put(job("b"), operation="apply", action="create")
        restored = store.restore(1)
    assert restored.restored == () and restored.removed == ("openai_fine_tuning_job.b",)
    assert store.snapshot().resources == {kept.address: kept}  # its updated_at too


def test_restoring_what_the_state_already_holds_writes_nothing(store: StateStore) -> None:
    with store.lock("apply"):
        store.put(job("a"), operation="apply", action="create")
        data = store.path.read_bytes()
        restored = store.restore(1)
        assert store.path.read_bytes() == data
    assert restored.new_serial is None
    assert store.snapshot().serial == 1


def test_restore_of_serial_zero_empties_a_state_made_at_format_3(store: StateStore) -> None:
    with store.lock("apply"):
        store.put(job("a"), operation="apply", action="create")
        store.put_outputs({"model": OutputState("x")}, operation="apply")
        store.restore(0)
    assert contents(store.snapshot()) == ({}, {})
    assert store.snapshot().serial == 3


def test_a_serial_newer_than_the_state_is_refused(store: StateStore) -> None:
    with store.lock("apply"):
        store.put(job("a"), operation="apply", action="create")
        with pytest.raises(NotRestorable, match="Serial 2 is newer than the state"):
            store.restore(2)
    with pytest.raises(NotRestorable):
        store.state_at(2)
    assert store.snapshot().serial == 1


def test_restore_needs_the_lock(store: StateStore) -> None:
    from ftctl.state.model import NotLocked

    with pytest.raises(NotLocked):
        store.restore(0)


# --------------------------------------------------------------------------------------------
# moves and who
# --------------------------------------------------------------------------------------------


def test_each_move_is_a_write_and_state_at_sees_the_old_address(
    store: StateStore, identity: str
) -> None:
    with store.lock("apply"):
        before = store.put(job("a"), operation="apply", action="create")
        store.move({before.address: "openai_fine_tuning_job.z"}, operation="state-mv")
    moved = store.snapshot().resources["openai_fine_tuning_job.z"]
    assert replace(moved, address=before.address, updated_at=None) == replace(
        before, updated_at=None
    )
    [_, entry] = store.history()
    assert (entry.operation, entry.address, entry.action, entry.who) == (
        "state-mv",
        "openai_fine_tuning_job.a -> openai_fine_tuning_job.z",
        "move",
        identity,
    )
    assert list(store.state_at(1).resources) == [before.address]


def test_a_refused_move_writes_nothing(store: StateStore) -> None:
    with store.lock("apply"):
        store.put(job("a"), operation="apply", action="create")
        store.put(job("b"), operation="apply", action="create")
        with pytest.raises(ValueError, match="already in state"):
            store.move(
                {
                    "openai_fine_tuning_job.a": "openai_fine_tuning_job.c",
                    "openai_fine_tuning_job.b": "openai_fine_tuning_job.a",
                },
                operation="state-mv",
            )
        with pytest.raises(KeyError):
            store.move({"openai_fine_tuning_job.x": "openai_fine_tuning_job.y"}, operation="mv")
    assert store.snapshot().serial == 2
    assert sorted(store.snapshot().resources) == [
        "openai_fine_tuning_job.a",
        "openai_fine_tuning_job.b",
    ]


def test_history_names_the_lock_holder_as_user_at_host(store: StateStore) -> None:
    with store.lock("apply"):
        store.put(job(), operation="apply", action="create")
    assert [entry.who for entry in store.history()] == ["alice@ci-7"]
    assert raw(store.path, "SELECT who FROM history") == [("alice@ci-7",)]


# --------------------------------------------------------------------------------------------
# the version-3 migration
# --------------------------------------------------------------------------------------------


def make_version_2_state(path: Path) -> None:
    """A state as ftctl wrote it before revisions: two resources, outputs, serial 3."""
    StateStore.open(path, migrations=MIGRATIONS[:2]).close()
    row = {
        "type": "openai_fine_tuning_job",
        "remote_id": "ftjob-old",
        "applied": '{"model":"gpt-4o-mini","training_file":"file-1"}',
        "settings": "{}",
        "observed": '{"status":"succeeded"}',
        "tainted": 0,
        "pending_token": None,
        "updated_at": "2026-01-02T03:04:05+00:00",
    }
    with sqlite_utils.Database(path) as db:
        for name in ("old", "other"):
            db["resources"].insert({"address": f"openai_fine_tuning_job.{name}", **row})
        db["outputs"].insert({"name": "model", "value": '{"value":"ft:old"}', "sensitive": 0})
        for serial, address in enumerate(
            ["openai_fine_tuning_job.old", "openai_fine_tuning_job.other", "outputs"], start=1
        ):
            db["history"].insert(
                {
                    "serial": serial,
                    "at": f"2026-01-02T03:04:0{serial}+00:00",
                    "operation": "apply",
                    "address": address,
                    "action": "create",
                }
            )
        db.execute("UPDATE meta SET serial = 3")


def test_a_version_2_state_is_migrated_and_restorable_from_its_serial_on(tmp_path: Path) -> None:
    path = tmp_path / "ftctl.db"
    make_version_2_state(path)
    with StateStore.open(path, clock=TickingClock()) as store:
        migrated = store.snapshot()
        assert migrated.serial == 3 and len(migrated.resources) == 2
        assert [entry.who for entry in store.history()] == ["", "", ""]
        assert store.restorable_since() == 3
        assert contents(store.state_at(3)) == contents(migrated)
        with pytest.raises(NotRestorable, match="Serials from 3 on can be restored"):
            store.state_at(2)
        with store.lock("apply"):
            store.remove("openai_fine_tuning_job.old", operation="state-rm", action="forget")
            store.put_outputs({}, operation="apply")
            with pytest.raises(NotRestorable):
                store.restore(1)
            store.restore(3)
        assert without_stamps(store.snapshot()) == without_stamps(migrated)
        assert store.snapshot().outputs == migrated.outputs
    assert raw(path, "PRAGMA user_version") == [(FORMAT_VERSION,)] == [(4,)]
    # Records and revisions from before format 4 name no sensitive arguments.
    assert {r.sensitive for r in migrated.resources.values()} == {()}


def test_a_new_state_is_restorable_from_serial_zero(store: StateStore) -> None:
    assert store.restorable_since() == 0
    assert contents(store.state_at(0)) == ({}, {})


# --------------------------------------------------------------------------------------------
# the version-4 migration
# --------------------------------------------------------------------------------------------


def test_a_version_3_state_is_migrated_naming_no_sensitive_arguments(tmp_path: Path) -> None:
    path = tmp_path / "ftctl.db"
    make_version_2_state(path)
    StateStore.open(path, migrations=MIGRATIONS[:3]).close()  # revisions begin at serial 3
    assert raw(path, "PRAGMA user_version") == [(3,)]
    with StateStore.open(path, clock=TickingClock()) as store:
        migrated = store.snapshot()
        assert migrated.serial == 3
        assert {r.sensitive for r in migrated.resources.values()} == {()}
        assert store.state_at(3) == migrated  # a format-3 revision reads as naming none
        old = migrated.resources["openai_fine_tuning_job.old"]
        with store.lock("apply"):
            store.put(replace(old, sensitive=("suffix",)), operation="apply", action="create")
            assert store.snapshot().serial == 4  # naming one is a change of its own
            store.restore(3)
        assert store.get(old.address) == replace(old, updated_at=store.get(old.address).updated_at)
        assert store.state_at(4).resources[old.address].sensitive == ("suffix",)
    assert raw(path, "SELECT sensitive FROM resources ORDER BY address") == [("[]",), ("[]",)]
