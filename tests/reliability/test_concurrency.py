"""Several `ftctl apply` processes on one state: the lock lets exactly one act, the others stop
at once naming the holder or wait for it and then find nothing to do; a dead holder's lock on
this host is taken over with a warning, another host's needs `force-unlock`."""

import socket
import sqlite3
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ftctl.state.store import StateStore
from tests.harness import Emulator
from tests.reliability.campaign import Campaign
from tests.reliability.stories import FILES, Project, audit, job_block, kill

JOBS = "/v1/fine_tuning/jobs"
COUNT = 4  # jobs, and processes


def config() -> str:
    return FILES + "".join(job_block(f"job_{i}", f"j{i}") for i in range(COUNT))


def run_together(project: Project, processes: int, *args: str) -> list[tuple[int, str, int]]:
    """Starts `apply` `processes` times at once; (exit code, output, pid) of each.

    The winner's first create is held after the server made the job, so the winner holds the
    lock until every other process has finished (failing at once) or is waiting for it."""
    emu = project.emu
    emu.arm(method="POST", path=JOBS, status=None, after_commit=True, delay_ms=120_000)
    started = {
        process.pid: process
        for process in (
            project.start("apply", "--auto-approve", "--no-color", *args) for _ in range(processes)
        )
    }
    assert emu.held(wait=60), "no apply got as far as its first create"
    winner = lock_holder(project.state_file)
    outputs = {}
    if "--lock-timeout" not in args:
        for pid, process in started.items():
            if pid != winner:
                out, err = process.communicate(timeout=60)
                outputs[pid] = (process.returncode, out + err)
    emu.release()
    for pid, process in started.items():
        if pid not in outputs:
            out, err = process.communicate(timeout=120)
            outputs[pid] = (process.returncode, out + err)
    return [(code, output, pid) for pid, (code, output) in outputs.items()]


def lock_holder(state_file: Path) -> int:
    connection = sqlite3.connect(state_file.absolute().as_uri() + "?mode=ro", uri=True)
    try:
        [(pid,)] = connection.execute("SELECT pid FROM lock").fetchall()
    finally:
        connection.close()
    return int(pid)


def expect_clean(project: Project, outputs: list[str]) -> int:
    found = audit(
        project,
        {f"j{i}": 1 for i in range(COUNT)},
        {f"openai_fine_tuning_job.job_{i}": f"j{i}" for i in range(COUNT)},
        {"openai_file.train": "train.jsonl"},
    )
    assert found.clean, found
    assert not any("Traceback" in output for output in outputs)
    assert project("plan", "--detailed-exitcode").exit_code == 0
    return found.duplicates


def test_of_four_applies_at_once_one_acts_and_the_others_name_it(
    emu: Emulator, tmp_path: Path, campaign: Campaign
) -> None:
    project = Project(tmp_path, emu)
    project.configure(config())
    finished = run_together(project, COUNT)
    winners = [(output, pid) for code, output, pid in finished if code == 0]
    losers = [output for code, output, _ in finished if code != 0]
    assert len(winners) == 1, [code for code, _, _ in finished]
    [(won, winner_pid)] = winners
    assert f"Apply complete! Resources: {COUNT + 1} added" in won
    for output in losers:
        assert f"Error: State locked by apply (pid {winner_pid} on " in output, output
    assert len([r for r in emu.requests() if (r["method"], r["path"]) == ("POST", JOBS)]) == COUNT
    duplicates = expect_clean(project, [o for _, o, _ in finished])
    campaign.record(
        "concurrency",
        "4 applies at once",
        "one acted, three refused",
        processes=COUNT,
        duplicates=duplicates,
        lost_jobs=0,
        tracebacks=0,
    )


@pytest.mark.reliability
def test_of_four_applies_with_a_lock_timeout_one_acts_and_the_others_find_nothing_to_do(
    emu: Emulator, tmp_path: Path, campaign: Campaign
) -> None:
    project = Project(tmp_path, emu)
    project.configure(config())
    finished = run_together(project, COUNT, "--lock-timeout", "60s")
    assert [code for code, _, _ in finished] == [0] * COUNT, finished
    acted = [o for _, o, _ in finished if f"Resources: {COUNT + 1} added" in o]
    idle = [o for _, o, _ in finished if "No changes." in o]
    assert (len(acted), len(idle)) == (1, COUNT - 1), finished
    duplicates = expect_clean(project, [o for _, o, _ in finished])
    campaign.record(
        "concurrency",
        "4 applies at once, --lock-timeout 60s",
        "one acted, three waited and found nothing to do",
        processes=COUNT,
        duplicates=duplicates,
        lost_jobs=0,
        tracebacks=0,
    )


def test_a_lock_left_by_a_killed_apply_is_taken_over_with_a_warning(
    emu: Emulator, tmp_path: Path, campaign: Campaign
) -> None:
    project = Project(tmp_path, emu)
    project.configure(config())
    emu.arm(method="POST", path=JOBS, status=None, after_commit=True, delay_ms=60_000)
    process = project.start("apply", "--auto-approve")
    assert emu.held(wait=30)
    kill(process)
    emu.control.delete("/_emulator/faults")
    dead_pid = process.pid
    again = project("apply", "--auto-approve", "--no-color")
    assert again.exit_code == 0, again.output
    assert "Warning:" in again.output and str(dead_pid) in again.output, again.output
    duplicates = expect_clean(project, [again.output])
    campaign.record(
        "concurrency",
        "lock of a killed apply (same host)",
        "taken over with a warning",
        duplicates=duplicates,
        lost_jobs=0,
        tracebacks=0,
    )


def test_a_state_command_taking_over_a_dead_lock_warns_too(emu: Emulator, tmp_path: Path) -> None:
    project = Project(tmp_path, emu)
    project.configure(config())
    assert project("apply", "--auto-approve").exit_code == 0
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    insert_lock(project.state_file, host=socket.gethostname(), pid=int(dead.stdout))
    removed = project("state", "rm", "openai_fine_tuning_job.job_0")
    assert removed.exit_code == 0, removed.output
    assert f"Took over the state lock of apply (pid {dead.stdout.strip()} on" in removed.output


def insert_lock(state_file: Path, host: str, pid: int) -> str:
    lock_id = str(uuid.uuid4())
    connection = sqlite3.connect(state_file)
    with connection:
        connection.execute(
            "INSERT INTO lock (singleton, id, operation, who, pid, host, created)"
            " VALUES (1, ?, ?, ?, ?, ?, ?)",
            [lock_id, "apply", "ci", pid, host, datetime.now(UTC).isoformat()],
        )
    connection.close()
    return lock_id


def test_a_lock_from_another_host_needs_force_unlock(
    emu: Emulator, tmp_path: Path, campaign: Campaign
) -> None:
    project = Project(tmp_path, emu)
    project.configure(config())
    project.state_file.parent.mkdir()
    StateStore.open(project.state_file).close()  # an empty state, as another machine left it
    lock_id = insert_lock(project.state_file, host="runner-7.example", pid=1)
    refused = project("apply", "--auto-approve", "--no-color")
    assert refused.exit_code == 1
    assert "runner-7.example" in refused.output and lock_id in refused.output
    assert "force-unlock" in refused.output
    assert emu.requests() == []  # nothing was asked of the API without the lock
    unlocked = project("force-unlock", lock_id, "--force")
    assert unlocked.exit_code == 0, unlocked.output
    applied = project("apply", "--auto-approve", "--no-color")
    assert applied.exit_code == 0, applied.output
    duplicates = expect_clean(project, [refused.output, applied.output])
    campaign.record(
        "concurrency",
        "lock of another host",
        "refused until force-unlock",
        duplicates=duplicates,
        lost_jobs=0,
        tracebacks=0,
    )
