"""Shared by the state tests: resources to write, a deterministic clock, child processes."""

import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ftctl.state.model import ResourceState

REPO_ROOT = Path(__file__).resolve().parents[2]


def job(name: str = "support_bot", **changes: Any) -> ResourceState:
    """A realistic fine-tuning job record; keyword arguments replace its fields."""
    fields: dict[str, Any] = {
        "address": f"openai_fine_tuning_job.{name}",
        "type": "openai_fine_tuning_job",
        "remote_id": f"ftjob-{name}",
        "applied": {
            "model": "gpt-4o-mini",
            "training_file": "file-abc123",
            "method": {
                "type": "supervised",
                "supervised": {"hyperparameters": {"n_epochs": 3, "batch_size": "auto"}},
            },
            "metadata": {"team": "support"},
            "suffix": name,
        },
        "settings": {"cancel_after_timeout": 3600, "lifecycle": {}},
        "observed": {
            "status": "running",
            "fine_tuned_model": None,
            "created_at": 1_764_000_000,
            "result_files": [],
            "validation_loss": 0.25,
        },
    }
    fields.update(changes)
    return ResourceState(**fields)


@dataclass
class TickingClock:
    """Each reading is one second after the previous: timestamps are known in advance."""

    start: datetime = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
    readings: list[datetime] = field(default_factory=list)

    def __call__(self) -> datetime:
        now = self.start + timedelta(seconds=len(self.readings))
        self.readings.append(now)
        return now


def start_child(script: str, *args: object) -> "subprocess.Popen[str]":
    """Runs `script` in a fresh interpreter with `args` as sys.argv[1:]."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *map(str, args)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(
    condition: Callable[[], bool], child: "subprocess.Popen[str]", timeout: float = 20.0
) -> None:
    """A bounded poll for a file handshake; fails early with the child's stderr if it died."""
    deadline = time.monotonic() + timeout
    while not condition():
        if child.poll() is not None:
            _, stderr = child.communicate()
            raise AssertionError(f"child exited with {child.returncode}: {stderr}")
        if time.monotonic() > deadline:
            child.kill()
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(0.005)


@dataclass(frozen=True)
class Finished:
    returncode: int
    stderr: str


def finish(child: "subprocess.Popen[str]", timeout: float = 20.0) -> Finished:
    """Waits for the child, reaping it (so its pid is really gone) and closing its pipes."""
    try:
        _, stderr = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        _, stderr = child.communicate()
    return Finished(child.returncode, stderr)


# Scripts run by child processes. Each takes its paths from sys.argv.

HOLD_LOCK_UNTIL_RELEASED = """
    import sys, time
    from pathlib import Path
    from ftctl.state.store import StateStore

    state, ready, release = map(Path, sys.argv[1:])
    with StateStore.open(state) as store, store.lock("apply"):
        ready.touch()
        deadline = time.monotonic() + 60
        while not release.exists():
            if time.monotonic() > deadline:
                sys.exit("never released")
            time.sleep(0.005)
"""

# Dies holding the lock, as a killed process would: no finally block runs.
DIE_HOLDING_LOCK = """
    import os, sys
    from ftctl.state.store import StateStore

    store = StateStore.open(sys.argv[1])
    held = store.lock("apply")  # kept referenced: a collected context manager would release
    held.__enter__()
    os._exit(0)
"""

# Killed between two API calls: the first call's result is written, the second never happens.
CRASH_BETWEEN_WRITES = """
    import os, sys
    from ftctl.state.model import ResourceState
    from ftctl.state.store import StateStore

    store = StateStore.open(sys.argv[1])
    with store.lock("apply"):
        store.put(
            ResourceState(address="openai_file.train", type="openai_file", remote_id="file-1"),
            operation="apply",
            action="create",
        )
        os._exit(1)
        store.put(
            ResourceState(address="openai_file.valid", type="openai_file", remote_id="file-2"),
            operation="apply",
            action="create",
        )
"""

CRASH_INSIDE_BATCH = """
    import os, sys
    from ftctl.state.model import ResourceState
    from ftctl.state.store import StateStore

    store = StateStore.open(sys.argv[1])
    with store.lock("import"), store.batch():
        for n in range(3):
            store.put(
                ResourceState(address=f"openai_file.f{n}", type="openai_file"),
                operation="import",
                action="import",
            )
        os._exit(1)
"""

PRINT_LINEAGE = """
    import sys
    from ftctl.state.store import StateStore

    with StateStore.open(sys.argv[1]) as store:
        print(store.snapshot().lineage)
"""
