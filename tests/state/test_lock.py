"""The state lock between stores and between processes: refusal naming the holder, waiting,
stale locks of dead processes, and force-unlock."""

import os
import socket
import sqlite3
import time
from pathlib import Path

import pytest

from ftctl.state.model import LockInfo, NotLocked, StateLocked
from ftctl.state.store import StateStore
from tests.state.helpers import (
    DIE_HOLDING_LOCK,
    HOLD_LOCK_UNTIL_RELEASED,
    TickingClock,
    finish,
    job,
    start_child,
    wait_for,
)

# --------------------------------------------------------------------------------------------
# in one process
# --------------------------------------------------------------------------------------------


def test_lock_records_its_holder(store: StateStore, clock: TickingClock) -> None:
    with store.lock("apply") as held:
        assert store.current_lock() == held.info
    assert held.took_over is None
    assert (held.info.operation, held.info.pid, held.info.host) == (
        "apply",
        os.getpid(),
        socket.gethostname(),
    )
    assert held.info.who
    assert held.info.created == clock.readings[0]
    assert store.current_lock() is None


def test_second_store_is_refused_at_once_naming_the_holder(
    state_path: Path, store: StateStore
) -> None:
    with StateStore.open(state_path) as other, store.lock("apply") as held:
        started = time.monotonic()
        with pytest.raises(StateLocked) as refused:
            other.lock("plan").__enter__()
        assert time.monotonic() - started < 1.0
        assert refused.value.holder == held.info
        message = str(refused.value)
        assert f"State locked by apply (pid {os.getpid()} on {socket.gethostname()}" in message
        assert "since 2026-11-27 12:00:00 UTC" in message
        assert "wait for it to finish, or pass --lock-timeout" in message
        # Same host: a dead holder would have been taken over, so no force-unlock advice.
        assert held.info.id not in message


def test_second_store_succeeds_after_release(state_path: Path, store: StateStore) -> None:
    with store.lock("apply"):
        pass
    with StateStore.open(state_path) as other, other.lock("plan") as held:
        assert held.took_over is None
        other.put(job(), operation="plan", action="read")


def test_lock_is_released_when_the_block_raises(state_path: Path, store: StateStore) -> None:
    with pytest.raises(RuntimeError, match="boom"), store.lock("apply"):
        raise RuntimeError("boom")
    assert store.current_lock() is None


def test_closing_a_store_releases_its_lock(state_path: Path) -> None:
    store = StateStore.open(state_path)
    held = store.lock("apply")
    held.__enter__()
    store.close()
    held.__exit__(None, None, None)  # the block ends after the close: nothing left to do
    with StateStore.open(state_path) as other:
        assert other.current_lock() is None


def test_a_store_cannot_take_its_own_lock_twice(store: StateStore) -> None:
    with store.lock("apply"), pytest.raises(RuntimeError, match="already holds"):
        store.lock("apply").__enter__()


def test_wait_times_out_with_the_holder(state_path: Path, store: StateStore) -> None:
    waits: list[LockInfo] = []
    with StateStore.open(state_path) as other, store.lock("apply") as held:
        started = time.monotonic()
        with pytest.raises(StateLocked, match=r"locked after waiting 0\.3s by apply"):
            other.lock("plan", timeout=0.3, on_wait=waits.append).__enter__()
        elapsed = time.monotonic() - started
    assert 0.3 <= elapsed < 2.0
    assert waits == [held.info]  # once, when the wait began


# --------------------------------------------------------------------------------------------
# across processes
# --------------------------------------------------------------------------------------------


def test_lock_held_by_another_process_is_refused_at_once_then_free_after_release(
    state_path: Path, tmp_path: Path
) -> None:
    StateStore.open(state_path).close()
    ready, release = tmp_path / "ready", tmp_path / "release"
    child = start_child(HOLD_LOCK_UNTIL_RELEASED, state_path, ready, release)
    try:
        wait_for(ready.exists, child)
        with StateStore.open(state_path) as store:
            started = time.monotonic()
            with pytest.raises(StateLocked) as refused:
                store.lock("apply").__enter__()
            assert time.monotonic() - started < 1.0
            assert refused.value.holder.pid == child.pid
            assert refused.value.holder.operation == "apply"
            assert f"pid {child.pid}" in str(refused.value)

            release.touch()
            done = finish(child)
            assert done.returncode == 0, done.stderr
            with store.lock("apply") as held:
                assert held.took_over is None  # released properly, not taken over
    finally:
        release.touch()
        if child.returncode is None:
            finish(child)


def test_waiting_for_another_process_succeeds_when_it_releases(
    state_path: Path, tmp_path: Path
) -> None:
    StateStore.open(state_path).close()
    ready, release = tmp_path / "ready", tmp_path / "release"
    child = start_child(HOLD_LOCK_UNTIL_RELEASED, state_path, ready, release)
    try:
        wait_for(ready.exists, child)
        # The child releases only once this process has found the lock held and begun to
        # wait, so the wait is really exercised.
        with (
            StateStore.open(state_path) as store,
            store.lock("apply", timeout=20, on_wait=lambda holder: release.touch()) as held,
        ):
            assert release.exists()
            assert held.took_over is None
            assert store.current_lock() == held.info
        done = finish(child)
        assert done.returncode == 0, done.stderr
    finally:
        release.touch()
        if child.returncode is None:
            finish(child)


def test_stale_lock_of_a_dead_process_on_this_host_is_taken_over(state_path: Path) -> None:
    StateStore.open(state_path).close()
    child = start_child(DIE_HOLDING_LOCK, state_path)
    done = finish(child)
    assert done.returncode == 0, done.stderr
    with StateStore.open(state_path) as store:
        left = store.current_lock()
        assert left is not None and left.pid == child.pid
        with store.lock("apply") as held:
            assert held.took_over == left
            assert held.info.pid == os.getpid()
            store.put(job(), operation="apply", action="create")


def test_lock_from_another_host_is_never_taken_over(state_path: Path) -> None:
    StateStore.open(state_path).close()
    child = start_child(DIE_HOLDING_LOCK, state_path)
    done = finish(child)
    assert done.returncode == 0, done.stderr
    # As if the dead process had run on a CI runner that is gone: its pid cannot be checked.
    with sqlite3.connect(state_path) as connection:
        connection.execute("UPDATE lock SET host = 'runner-7'")
    connection.close()
    with StateStore.open(state_path) as store:
        with pytest.raises(StateLocked) as refused:
            store.lock("apply").__enter__()
        holder = refused.value.holder
        assert holder.host == "runner-7"
        assert (
            f"If no ftctl is running on runner-7, remove the lock: ftctl force-unlock {holder.id}"
            in (str(refused.value))
        )
        assert store.force_unlock(holder.id) == holder
        with store.lock("apply") as held:
            assert held.took_over is None


def test_force_unlock_needs_the_right_id(state_path: Path, store: StateStore) -> None:
    with store.lock("apply") as held, StateStore.open(state_path) as other:
        with pytest.raises(NotLocked, match=r"no lock with ID wrong-id .*locked by apply"):
            other.force_unlock("wrong-id")
        assert other.current_lock() == held.info
    with pytest.raises(NotLocked, match="no lock with ID"):
        store.force_unlock(held.info.id)
