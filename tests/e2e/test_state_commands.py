"""The state commands in the user's story, against a served emulator: forget a job with
`state rm` and adopt it again with `import`, or undo a change with `state restore`; either way
the next plan says "No changes"."""

from dataclasses import replace

from ftctl.state.model import ResourceState
from ftctl.state.store import StateStore
from tests.e2e.conftest import Ftctl

JOB = "openai_fine_tuning_job.support"


def record(ftctl: Ftctl, address: str = JOB) -> ResourceState:
    with StateStore.open(ftctl.project / "state" / "ftctl.db") as store:
        found = store.get(address)
    assert found is not None, f"{address} is not in state"
    return found


def test_state_rm_then_import_restores_the_same_record(ftctl: Ftctl) -> None:
    assert ftctl("apply", "--auto-approve").exit_code == 0
    before = record(ftctl)
    [job] = ftctl.jobs()
    calls = len(ftctl.emu.requests())

    removed = ftctl("state", "rm", JOB)
    assert removed.exit_code == 0, removed.output
    assert removed.stdout == (f"Removed {JOB}\nSuccessfully removed 1 resource instance(s).\n")
    assert len(ftctl.emu.requests()) == calls  # no API call
    assert ftctl("state", "list").stdout == "openai_file.train\n"
    assert [j["status"] for j in ftctl.jobs()] == [job["status"]]  # nothing was cancelled
    # Forgotten: the plan would train again.
    assert ftctl("plan", "--detailed-exitcode").exit_code == 2

    imported = ftctl("import", JOB, str(job["id"]))
    assert imported.exit_code == 0, imported.output
    after = record(ftctl)
    assert after.applied == before.applied
    assert replace(after, updated_at=None) == replace(before, updated_at=None)
    planned = ftctl("plan", "--detailed-exitcode", "--no-color")
    assert planned.exit_code == 0, planned.output
    assert "No changes." in planned.output

    lines = ftctl("state", "history").stdout.splitlines()
    rows = [line.split() for line in lines if line[:1].isdigit()]
    assert [(row[2], row[4], row[5]) for row in rows[-2:]] == [
        ("state-rm", JOB, "forget"),
        ("import", JOB, "import"),
    ]


def test_state_restore_undoes_a_state_rm_and_the_plan_agrees(ftctl: Ftctl) -> None:
    assert ftctl("apply", "--auto-approve").exit_code == 0
    before = record(ftctl)
    with StateStore.open(ftctl.project / "state" / "ftctl.db") as store:
        applied_serial = store.snapshot().serial
        outputs = store.snapshot().outputs
    assert ftctl("state", "rm", JOB).exit_code == 0

    restored = ftctl("state", "restore", str(applied_serial))
    assert restored.exit_code == 0, restored.output
    assert restored.stdout.splitlines() == [
        f"Restored {JOB}",
        f"Successfully restored serial {applied_serial} as serial {applied_serial + 2}.",
    ]
    assert replace(record(ftctl), updated_at=None) == replace(before, updated_at=None)
    with StateStore.open(ftctl.project / "state" / "ftctl.db") as store:
        assert store.snapshot().outputs == outputs
        last = store.history()[-1]
    assert (last.serial, last.operation, last.action) == (
        applied_serial + 2,
        "restore",
        f"to-serial-{applied_serial}",
    )
    planned = ftctl("plan", "--detailed-exitcode", "--no-color")
    assert planned.exit_code == 0, planned.output
