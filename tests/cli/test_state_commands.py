"""`ftctl state list|show|rm|mv|history|restore` and `ftctl force-unlock`, in process, on a
state file the test builds through `StateStore.open(path, clock=TickingClock())`, so that every
time it holds is known. None of these commands calls the API.

Golden files (tests/views/golden/state_*.txt) pin the output of list, show and history.
Regenerate on purpose only (FTCTL_REGENERATE_GOLDEN=1 pytest tests/cli/test_state_commands.py)
and review the diff. One normalisation, in `state_history_after_commands.txt` only: the times
of the rows the CLI commands wrote (they stamp the real clock) become `YYYY-MM-DDTHH:MM:SSZ`,
which has the same width, so the columns stay as printed; the test checks those real times
separately.
"""

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from ftctl.cli import app
from ftctl.state import store as store_module
from ftctl.state.model import OutputState, ResourceState, State
from ftctl.state.store import StateStore
from tests.harness import REPO
from tests.state.helpers import TickingClock

GOLDEN = REPO / "tests" / "views" / "golden"
runner = CliRunner()

JOB = "openai_fine_tuning_job"
TRAIN = ResourceState(
    address="openai_file.train",
    type="openai_file",
    remote_id="file-abc123",
    applied={
        "file": "data/train.jsonl",
        "purpose": "fine-tune",
        "sha256": "5d41402abc4b2a76b9719d911017c592",
    },
    observed={"bytes": 1024, "created_at": 1_800_000_000, "filename": "train.jsonl"},
)
SUPPORT = ResourceState(
    address=f"{JOB}.support",
    type=JOB,
    remote_id="ftjob-abc123",
    applied={
        "model": "gpt-4o-mini",
        "training_file": "file-abc123",
        "suffix": "support-v1",
        "metadata": {"team": "support", "cost center": "ml-42"},
        "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3}}},
    },
    settings={"cancel_after_timeout": 7200, "create_before_destroy": False},
    observed={
        "status": "succeeded",
        "model": "gpt-4o-mini-2024-07-18",
        "fine_tuned_model": "ft:gpt-4o-mini-2024-07-18:acme:support-v1:abc123",
        "created_at": 1_800_000_100,
        "finished_at": 1_800_003_700,
        "result_files": ["file-result1"],
        "error": None,
    },
)


def sweep(key: str, status: str = "running", **changes: Any) -> ResourceState:
    record = ResourceState(
        address=f'{JOB}.sweep["{key}"]',
        type=JOB,
        remote_id=f"ftjob-sweep-{key}",
        applied={"model": "gpt-4o-mini", "training_file": "file-abc123", "suffix": key},
        observed={"status": status, "fine_tuned_model": None},
    )
    return replace(record, **changes)


RETRY = ResourceState(
    address=f"{JOB}.retry",
    type=JOB,
    remote_id="ftjob-retry1",
    applied={"model": "gpt-4o-mini", "training_file": "file-abc123", "seed": 7},
    observed={"status": "failed", "error": {"code": "invalid_file", "message": "bad line 3"}},
    tainted=True,
)
DEPOSED = sweep(
    "lr-2",
    "cancelled",
    address=f'{JOB}.sweep["lr-2"]~deposed',
    remote_id="ftjob-sweep-lr-2-old",
)
RECORDS = (TRAIN, SUPPORT, sweep("lr-1"), sweep("lr-2"), DEPOSED, RETRY)
OUTPUTS = {
    "model": OutputState("ft:gpt-4o-mini-2024-07-18:acme:support-v1:abc123"),
    "token": OutputState("s3cr3t", sensitive=True),
}


@pytest.fixture(autouse=True)
def identity(monkeypatch: pytest.MonkeyPatch) -> str:
    """Who writes, the test's process and the CLI's alike (in process): fixed."""
    monkeypatch.setattr(store_module, "_user", lambda: "alice")
    monkeypatch.setattr(store_module, "_hostname", lambda: "ci-7")
    monkeypatch.delenv("FTCTL_STATE", raising=False)
    return "alice@ci-7"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """A state with files, jobs, instances, a deposed object, a tainted job and outputs:
    serials 1-6 are the records, 7 the outputs, at 12:00:01 to 12:00:07 on 2026-11-27."""
    state = tmp_path / "ftctl.db"
    with StateStore.open(state, clock=TickingClock()) as store, store.lock("apply"):
        for record in RECORDS:
            store.put(record, operation="apply", action="create")
        store.put_outputs(OUTPUTS, operation="apply")
    return state


def ftctl(state: Path, *args: str, color: bool = False) -> Result:
    return runner.invoke(app, [*args, "--state", str(state)], color=color)


def read(state: Path) -> State:
    with StateStore.open(state) as store:
        return store.snapshot()


def history(state: Path) -> list[tuple[int, str, str, str, str]]:
    with StateStore.open(state) as store:
        return [(e.serial, e.operation, e.who, e.address, e.action) for e in store.history()]


def matches_golden(name: str, text: str) -> None:
    golden = GOLDEN / f"state_{name}.txt"
    if os.environ.get("FTCTL_REGENERATE_GOLDEN") == "1":
        golden.write_text(text)
    assert text == golden.read_text()


def failed(result: Result, message: str) -> None:
    """Exit 1 with one `Error: ...` line on stderr, nothing on stdout, and no traceback."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert message in result.stderr, result.stderr


# --------------------------------------------------------------------------------------------
# list and show: golden files
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("list", ["state", "list"]),
        ("list_filtered", ["state", "list", f"{JOB}.sweep", "openai_file.train"]),
        ("show_job", ["state", "show", f"{JOB}.support"]),
        ("show_tainted", ["state", "show", f"{JOB}.retry"]),
        ("show_deposed_instance", ["state", "show", f'{JOB}.sweep["lr-2"]~deposed']),
    ],
)
def test_reading_commands_print_their_golden_text(path: Path, name: str, args: list[str]) -> None:
    result = ftctl(path, *args)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    matches_golden(name, result.stdout)


def test_a_resource_filter_lists_its_instances_and_deposed_objects_only(path: Path) -> None:
    listed = ftctl(path, "state", "list", f"{JOB}.sweep").stdout.splitlines()
    assert listed == [
        f'{JOB}.sweep["lr-1"]',
        f'{JOB}.sweep["lr-2"]',
        f'{JOB}.sweep["lr-2"]~deposed',
    ]
    one = ftctl(path, "state", "list", f'{JOB}.sweep["lr-2"]').stdout.splitlines()
    assert one == [f'{JOB}.sweep["lr-2"]', f'{JOB}.sweep["lr-2"]~deposed']
    # A name that merely starts like another is not its instance.
    failed(
        ftctl(path, "state", "list", f"{JOB}.sup"), f"No resource in the state matches {JOB}.sup"
    )
    by_id = ftctl(path, "state", "list", "--id", "ftjob-abc123")
    assert by_id.stdout == f"{JOB}.support\n"


def test_list_without_a_state_file_prints_nothing_and_creates_none(tmp_path: Path) -> None:
    missing = tmp_path / "none.db"
    assert ftctl(missing, "state", "list").stdout == ""
    failed(ftctl(missing, "state", "show", f"{JOB}.a"), f"No resource {JOB}.a in the state")
    shown = ftctl(missing, "state", "history")
    assert (shown.exit_code, shown.stdout) == (0, "The state has no history yet.\n")
    assert not missing.exists()


def test_show_shows_the_sent_model_and_the_reported_one(path: Path) -> None:
    shown = ftctl(path, "state", "show", f"{JOB}.support").stdout
    assert '    model         = "gpt-4o-mini"\n' in shown
    assert '        model            = "gpt-4o-mini-2024-07-18"\n' in shown


def test_show_of_a_resource_with_instances_names_them(path: Path) -> None:
    failed(
        ftctl(path, "state", "show", f"{JOB}.sweep"),
        f'{JOB}.sweep matches 3 objects; show one of them: {JOB}.sweep["lr-1"], ',
    )


# --------------------------------------------------------------------------------------------
# sensitive arguments
# --------------------------------------------------------------------------------------------

# The records as an apply writes them from `model = var.base`, `suffix = var.run`,
# `metadata = { team = var.team }` and `file = var.data`, all sensitive variables.
SECRET_JOB = replace(SUPPORT, address=f"{JOB}.secret", sensitive=("metadata", "model", "suffix"))
SECRET_FILE = replace(TRAIN, address="openai_file.secret", sensitive=("file",))


@pytest.fixture
def secret_path(tmp_path: Path) -> Path:
    state = tmp_path / "secret.db"
    with StateStore.open(state, clock=TickingClock()) as store, store.lock("apply"):
        for record in (SECRET_JOB, SECRET_FILE):
            store.put(record, operation="apply", action="create")
    return state


def test_state_show_hides_sensitive_arguments_and_the_attributes_that_mirror_them(
    secret_path: Path,
) -> None:
    result = ftctl(secret_path, "state", "show", f"{JOB}.secret")
    assert result.exit_code == 0, result.output
    matches_golden("show_sensitive", result.stdout)
    shown = result.stdout
    assert "ml-42" not in shown and '"support"' not in shown
    assert "    suffix        = (sensitive value)\n" in shown
    assert "        model            = (sensitive value)\n" in shown  # the API's snapshot of it
    # The model's name is what it is used by: shown, the suffix inside it too (README).
    assert "ft:gpt-4o-mini-2024-07-18:acme:support-v1:abc123" in shown
    file = ftctl(secret_path, "state", "show", "openai_file.secret").stdout
    assert "data/train.jsonl" not in file and "train.jsonl" not in file
    assert file.count("= (sensitive value)") == 2  # file, and the API's filename of it


def test_show_json_leaves_sensitive_values_out_and_names_them(secret_path: Path) -> None:
    shown = ftctl(secret_path, "show", "--json")
    assert shown.exit_code == 0, shown.output
    resources = {
        r["address"]: r for r in json.loads(shown.stdout)["values"]["root_module"]["resources"]
    }
    job = resources[f"{JOB}.secret"]
    assert job["sensitive_values"] == {"metadata": True, "model": True, "suffix": True}
    assert not {"metadata", "model", "suffix"} & set(job["values"])
    assert job["values"]["training_file"] == "file-abc123"  # the rest as before
    assert resources["openai_file.secret"]["sensitive_values"] == {"file": True, "filename": True}
    one = json.loads(ftctl(secret_path, "show", "openai_file.secret", "--json").stdout)
    assert one["sensitive_values"] == {"file": True, "filename": True}
    assert "train.jsonl" not in json.dumps(one["values"])
    plain = json.loads(ftctl(secret_path, "show", "--json").stdout)
    assert "ml-42" not in json.dumps(plain) and 'support-v1"' not in json.dumps(plain)


# --------------------------------------------------------------------------------------------
# rm
# --------------------------------------------------------------------------------------------


def test_rm_forgets_each_instance_of_a_resource_and_says_so(path: Path, identity: str) -> None:
    removed = ftctl(path, "state", "rm", f"{JOB}.sweep", "openai_file.train")
    assert removed.exit_code == 0, removed.output
    assert removed.stdout == (
        "Removed openai_file.train\n"
        f'Removed {JOB}.sweep["lr-1"]\n'
        f'Removed {JOB}.sweep["lr-2"]\n'
        f'Removed {JOB}.sweep["lr-2"]~deposed\n'
        "Successfully removed 4 resource instance(s).\n"
    )
    assert sorted(read(path).resources) == [f"{JOB}.retry", f"{JOB}.support"]
    assert history(path)[7:] == [
        (8, "state-rm", identity, "openai_file.train", "forget"),
        (9, "state-rm", identity, f'{JOB}.sweep["lr-1"]', "forget"),
        (10, "state-rm", identity, f'{JOB}.sweep["lr-2"]', "forget"),
        (11, "state-rm", identity, f'{JOB}.sweep["lr-2"]~deposed', "forget"),
    ]


def test_rm_of_an_address_not_in_state_removes_nothing(path: Path) -> None:
    before = path.read_bytes()
    failed(
        ftctl(path, "state", "rm", f"{JOB}.support", f"{JOB}.nope", "openai_file.gone"),
        f"No resource in the state matches {JOB}.nope, openai_file.gone: nothing was removed.",
    )
    assert path.read_bytes() == before


def test_rm_dry_run_says_what_it_would_remove_and_writes_nothing(path: Path) -> None:
    before = path.read_bytes()
    dry = ftctl(path, "state", "rm", "--dry-run", f"{JOB}.support")
    assert (dry.exit_code, dry.stdout) == (0, f"Would remove {JOB}.support\n")
    assert path.read_bytes() == before


def test_rm_without_a_state_file_fails_and_creates_none(tmp_path: Path) -> None:
    missing = tmp_path / "none.db"
    failed(ftctl(missing, "state", "rm", f"{JOB}.a"), "No resource in the state matches")
    assert not missing.exists()


# --------------------------------------------------------------------------------------------
# mv
# --------------------------------------------------------------------------------------------


def test_mv_renames_a_record_keeping_everything_else(path: Path, identity: str) -> None:
    moved = ftctl(path, "state", "mv", f"{JOB}.support", f"{JOB}.helpdesk")
    assert moved.exit_code == 0, moved.output
    assert moved.stdout == (
        f'Move "{JOB}.support" to "{JOB}.helpdesk"\nSuccessfully moved 1 object(s).\n'
    )
    record = read(path).resources[f"{JOB}.helpdesk"]
    assert f"{JOB}.support" not in read(path).resources
    assert (record.remote_id, record.applied, record.settings, record.observed) == (
        SUPPORT.remote_id,
        SUPPORT.applied,
        SUPPORT.settings,
        SUPPORT.observed,
    )
    assert history(path)[-1] == (
        8,
        "state-mv",
        identity,
        f"{JOB}.support -> {JOB}.helpdesk",
        "move",
    )


def test_mv_of_a_resource_moves_its_instances_and_deposed_object(path: Path) -> None:
    moved = ftctl(path, "state", "mv", f"{JOB}.sweep", f"{JOB}.grid")
    assert moved.exit_code == 0, moved.output
    assert moved.stdout.splitlines()[-1] == "Successfully moved 3 object(s)."
    assert ftctl(path, "state", "list", f"{JOB}.grid").stdout.splitlines() == [
        f'{JOB}.grid["lr-1"]',
        f'{JOB}.grid["lr-2"]',
        f'{JOB}.grid["lr-2"]~deposed',
    ]


@pytest.mark.parametrize(
    ("source", "destination", "message"),
    [
        (f"{JOB}.support", f"{JOB}.retry", f"{JOB}.retry is already in the state"),
        (f"{JOB}.nope", f"{JOB}.other", f"No resource in the state matches {JOB}.nope"),
        (f"{JOB}.support", "openai_file.support", "a openai_fine_tuning_job keeps its type"),
        (f"{JOB}.support", "support", "support is not a resource address"),
        (f"{JOB}.sweep", f'{JOB}.grid["a"]', "which is not an address"),
        (f'{JOB}.sweep["lr-2"]~deposed', f"{JOB}.other", "A deposed object and a current one"),
        (f"{JOB}.support", f"{JOB}.support", "the same address"),
    ],
)
def test_mv_refusals_write_nothing(path: Path, source: str, destination: str, message: str) -> None:
    before = path.read_bytes()
    failed(ftctl(path, "state", "mv", source, destination), message)
    assert path.read_bytes() == before


def test_mv_dry_run_writes_nothing(path: Path) -> None:
    before = path.read_bytes()
    dry = ftctl(path, "state", "mv", "--dry-run", f"{JOB}.support", f"{JOB}.x")
    assert dry.stdout == f'Would move "{JOB}.support" to "{JOB}.x"\n'
    assert path.read_bytes() == before


# --------------------------------------------------------------------------------------------
# history and restore
# --------------------------------------------------------------------------------------------

TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def test_history_prints_its_golden_text(path: Path) -> None:
    shown = ftctl(path, "state", "history")
    assert shown.exit_code == 0, shown.output
    matches_golden("history", shown.stdout)


def test_history_after_rm_mv_and_restore(path: Path) -> None:
    started = datetime.now(UTC).replace(microsecond=0)
    assert ftctl(path, "state", "rm", f"{JOB}.retry").exit_code == 0
    assert ftctl(path, "state", "mv", "openai_file.train", "openai_file.data").exit_code == 0
    assert ftctl(path, "state", "restore", "7").exit_code == 0
    shown = ftctl(path, "state", "history").stdout
    lines = shown.splitlines()
    written = [TIME.search(line) for line in lines[8:11]]
    for found in written:
        assert found is not None
        assert started <= datetime.fromisoformat(found[0]) <= datetime.now(UTC)
    normalised = "\n".join(
        [*lines[:8], *(TIME.sub("YYYY-MM-DDTHH:MM:SSZ", line) for line in lines[8:11]), *lines[11:]]
    )
    matches_golden("history_after_commands", normalised + "\n")


def test_restore_brings_back_an_earlier_serial_as_a_new_one(path: Path, identity: str) -> None:
    at_seven = read(path)
    assert ftctl(path, "state", "rm", f"{JOB}.support", f"{JOB}.retry").exit_code == 0
    with StateStore.open(path) as store, store.lock("apply"):
        store.put_outputs({}, operation="apply")
    assert read(path).serial == 10
    restored = ftctl(path, "state", "restore", "7")
    assert restored.exit_code == 0, restored.output
    assert restored.stdout == (
        f"Restored {JOB}.retry\n"
        f"Restored {JOB}.support\n"
        "Restored the outputs\n"
        "Successfully restored serial 7 as serial 11.\n"
    )
    after = read(path)
    assert after.serial == 11
    assert after.outputs == at_seven.outputs == OUTPUTS
    assert sorted(after.resources) == sorted(at_seven.resources)
    for address, record in at_seven.resources.items():
        # Records written back are stamped now; the rest is as it was at serial 7.
        assert replace(after.resources[address], updated_at=None) == replace(
            record, updated_at=None
        )
    assert history(path)[-1] == (11, "restore", identity, "state", "to-serial-7")
    # And what the restore replaced can be restored in turn.
    assert ftctl(path, "state", "restore", "10").exit_code == 0
    assert sorted(read(path).resources) == sorted(
        set(at_seven.resources) - {SUPPORT.address, RETRY.address}
    )


def test_restore_warns_of_jobs_it_stops_tracking(path: Path) -> None:
    restored = ftctl(path, "state", "restore", "1")
    assert restored.exit_code == 0, restored.output
    assert restored.stdout.splitlines()[-1] == "Successfully restored serial 1 as serial 8."
    assert (
        "Warning: ftjob-abc123 (was openai_fine_tuning_job.support) is no longer tracked, and "
        "is not cancelled or deleted: ftctl import can adopt it again.\n"
    ) in restored.stderr
    assert list(read(path).resources) == ["openai_file.train"]
    assert read(path).outputs == {}


def test_restore_of_the_current_serial_writes_nothing(path: Path) -> None:
    before = (read(path), history(path))
    same = ftctl(path, "state", "restore", "7")
    assert same.exit_code == 0
    assert same.stdout == "The state already holds what serial 7 held: nothing was written.\n"
    assert (read(path), history(path)) == before  # the lock came and went; nothing else


def test_restore_refusals(path: Path, tmp_path: Path) -> None:
    before = (read(path), history(path))
    failed(ftctl(path, "state", "restore", "8"), "Serial 8 is newer than the state")
    assert (read(path), history(path)) == before
    missing = tmp_path / "none.db"
    failed(ftctl(missing, "state", "restore", "0"), "nothing to restore")
    assert not missing.exists()
    negative = ftctl(path, "state", "restore", "-1")
    assert negative.exit_code == 2  # a usage error, from the argument's bounds


# --------------------------------------------------------------------------------------------
# the lock
# --------------------------------------------------------------------------------------------


@pytest.fixture
def held(path: Path) -> Iterator[StateStore]:
    """Another ftctl, as far as the CLI can tell, holding the lock on `path`."""
    with StateStore.open(path) as other, other.lock("apply"):
        yield other


@pytest.mark.parametrize(
    "args",
    [
        ["state", "rm", f"{JOB}.support"],
        ["state", "mv", f"{JOB}.support", f"{JOB}.x"],
        ["state", "restore", "1"],
    ],
)
def test_writing_commands_refuse_a_held_lock(path: Path, held: StateStore, args: list[str]) -> None:
    before = read(path)
    failed(ftctl(path, *args), "State locked by apply")
    assert read(path) == before


def test_lock_timeout_waits_for_the_holder(path: Path) -> None:
    other = StateStore.open(path)
    hold = other.lock("apply")
    hold.__enter__()
    timer = threading.Timer(0.3, lambda: hold.__exit__(None, None, None))
    timer.start()
    try:
        removed = ftctl(path, "state", "rm", "--lock-timeout", "10s", f"{JOB}.support")
    finally:
        timer.join()
        other.close()
    assert removed.exit_code == 0, removed.output
    assert SUPPORT.address not in read(path).resources


def test_force_unlock_removes_the_named_lock_only(path: Path, held: StateStore) -> None:
    lock = held.current_lock()
    assert lock is not None
    failed(ftctl(path, "force-unlock", "--force", "not-the-id"), "no lock with ID not-the-id")
    assert held.current_lock() == lock
    # No terminal to ask on: --force is needed.
    failed(ftctl(path, "force-unlock", lock.id), "pass --force")
    assert held.current_lock() == lock
    unlocked = ftctl(path, "force-unlock", "-force", lock.id)
    assert unlocked.exit_code == 0, unlocked.output
    assert unlocked.stdout == (
        "ftctl state has been successfully unlocked!\n\n"
        "The state has been unlocked, and ftctl commands should now be able to\n"
        "obtain a new lock on the state.\n"
    )
    assert held.current_lock() is None
    assert ftctl(path, "state", "rm", f"{JOB}.support").exit_code == 0


def test_force_unlock_without_a_lock_or_a_state(path: Path, tmp_path: Path) -> None:
    failed(ftctl(path, "force-unlock", "--force", "abc"), "The state has no lock with ID abc")
    missing = tmp_path / "none.db"
    failed(ftctl(missing, "force-unlock", "--force", "abc"), "there is no lock to remove")
    assert not missing.exists()


# --------------------------------------------------------------------------------------------
# what they share: options, colour, no API
# --------------------------------------------------------------------------------------------


def test_chdir_and_the_environment_choose_the_state(path: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "state").mkdir(parents=True)
    path.rename(project / "state" / "ftctl.db")
    listed = runner.invoke(app, ["state", "list", "-chdir", str(project)])
    assert listed.stdout.splitlines()[0] == "openai_file.train"
    removed = runner.invoke(
        app,
        ["state", "rm", "openai_file.train"],
        env={"FTCTL_STATE": str(project / "state" / "ftctl.db")},
    )
    assert removed.exit_code == 0, removed.output
    assert (
        "openai_file.train"
        not in runner.invoke(app, ["state", "list", "-chdir", str(project)]).stdout
    )


def test_no_colour_unless_on_a_terminal_and_asked(path: Path) -> None:
    plain = ftctl(path, "state", "rm", "--dry-run", f"{JOB}.support")
    assert "\x1b" not in plain.output
    coloured = ftctl(path, "state", "mv", f"{JOB}.support", f"{JOB}.a", color=True)
    assert "\x1b[" in coloured.stdout  # a terminal: the success line is green
    uncoloured = ftctl(path, "state", "mv", "--no-color", f"{JOB}.a", f"{JOB}.b", color=True)
    assert uncoloured.exit_code == 0 and "\x1b" not in uncoloured.output


def test_the_state_commands_never_import_the_api_client(path: Path) -> None:
    commands = [
        ["state", "list"],
        ["state", "show", f"{JOB}.support"],
        ["state", "history"],
        ["state", "rm", f"{JOB}.retry"],
        ["state", "mv", f"{JOB}.support", f"{JOB}.helpdesk"],
        ["state", "restore", "7"],
        ["force-unlock", "--force", "no-such-lock"],
    ]
    script = (
        "import sys\n"
        "from ftctl.cli import app\n"
        f"for args in {commands!r}:\n"
        "    try:\n"
        f"        app([*args, '--state', {str(path)!r}])\n"
        "    except SystemExit as exit:\n"
        "        print('@@ exit', args[1], exit.code)\n"
        "print('@@ openai imported:', 'openai' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["OPENAI_BASE_URL"] = "http://127.0.0.1:9"  # nothing listens: a call would fail
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, env=env
    )
    reported = [line for line in result.stdout.splitlines() if line.startswith("@@ ")]
    assert reported == [
        "@@ exit list 0",
        "@@ exit show 0",
        "@@ exit history 0",
        "@@ exit rm 0",
        "@@ exit mv 0",
        "@@ exit restore 0",
        "@@ exit --force 1",
        "@@ openai imported: False",
    ], result.stderr


def test_history_of_a_state_older_than_revisions_says_what_cannot_be_restored(
    tmp_path: Path,
) -> None:
    from tests.state.test_revisions import make_version_2_state

    state = tmp_path / "old.db"
    make_version_2_state(state)  # serials 1-3, written before format 3: no `who`, no revisions
    with StateStore.open(state, clock=TickingClock()) as store, store.lock("apply"):
        store.remove(f"{JOB}.other", operation="state-rm", action="forget")
    shown = ftctl(state, "state", "history")
    assert shown.exit_code == 0, shown.output
    matches_golden("history_migrated", shown.stdout)
    failed(ftctl(state, "state", "restore", "2"), "Serials from 3 on can be restored.")
    assert ftctl(state, "state", "restore", "3").exit_code == 0
    assert f"{JOB}.other" in read(state).resources


def test_a_record_with_a_create_in_flight_is_neither_removed_nor_restored_away(
    tmp_path: Path,
) -> None:
    from ftctl.state.model import ResourceState
    from ftctl.state.store import StateStore

    path = tmp_path / "state" / "ftctl.db"
    path.parent.mkdir()
    with StateStore.open(path) as store, store.lock("test"):
        store.put(
            ResourceState(
                address="openai_fine_tuning_job.a",
                type="openai_fine_tuning_job",
                pending_token="tok-1",
            ),
            operation="apply",
            action="create-pending",
        )
    for args in (["state", "rm", "openai_fine_tuning_job.a"], ["state", "restore", "0"]):
        result = CliRunner().invoke(app, [*args, "--state", str(path)])
        assert result.exit_code == 1, result.output
        assert "has a create in flight (its job may exist)" in result.output
    with StateStore.open(path) as store:
        assert store.snapshot().resources["openai_fine_tuning_job.a"].pending_token == "tok-1"
