"""The user's story, end to end: the CLI against a served emulator through the real SDK.
plan, apply, plan again; changes that replace or update in place; removals; the create that
must never happen twice."""

import json
from pathlib import Path

import pytest

from tests.e2e.conftest import Ftctl
from tests.harness import REPO, Emulator

JOBS = "/v1/fine_tuning/jobs"


def test_plan_apply_then_plan_again_says_no_changes(ftctl: Ftctl) -> None:
    planned = ftctl("plan", "--no-color")
    assert planned.exit_code == 0, planned.output
    assert "# openai_file.train will be created" in planned.output
    assert "# openai_fine_tuning_job.support will be created" in planned.output
    assert "training_file    = (known after apply)" in planned.output
    assert "Plan: 2 to add, 0 to change, 0 to destroy." in planned.output
    assert ftctl.emu.requests() == []  # a fresh state: nothing to refresh, nothing sent
    assert ftctl("plan", "--detailed-exitcode").exit_code == 2

    applied = ftctl("apply", "--auto-approve", "--no-color")
    assert applied.exit_code == 0, applied.output
    assert "openai_file.train: Creation complete" in applied.output
    assert "Apply complete! Resources: 2 added, 0 changed, 0 destroyed." in applied.output
    [job] = ftctl.jobs()
    metadata = job["metadata"]
    assert isinstance(metadata, dict) and metadata["team"] == "support"
    assert set(metadata) == {"team", "ftctl_token"}
    assert ftctl.posts() == ["/v1/files", JOBS]

    again = ftctl("plan", "--detailed-exitcode", "--no-color")
    assert again.exit_code == 0, again.output
    assert "No changes. Your infrastructure matches the configuration." in again.output


def test_plan_json_is_terraforms_shape(ftctl: Ftctl) -> None:
    result = ftctl("plan", "--json")
    document = json.loads(result.output)
    assert document["format_version"].startswith("1.")
    changes = {c["address"]: c for c in document["resource_changes"]}
    assert changes["openai_fine_tuning_job.support"]["change"]["actions"] == ["create"]
    assert changes["openai_fine_tuning_job.support"]["change"]["after_unknown"]["training_file"]


def test_changing_n_epochs_replaces_the_job_with_exactly_one_new_one(ftctl: Ftctl) -> None:
    assert ftctl("apply", "--auto-approve").exit_code == 0
    [first] = ftctl.jobs()
    ftctl.edit('  suffix        = "support-v1"', '  suffix        = "support-v2"')
    planned = ftctl("plan", "--no-color")
    assert "must be replaced" in planned.output
    assert (
        '~ suffix           = "support-v1" -> "support-v2" # forces replacement' in planned.output
    )
    applied = ftctl("apply", "--auto-approve", "--no-color")
    assert applied.exit_code == 0, applied.output
    jobs = {j["id"]: j for j in ftctl.jobs()}
    assert len(jobs) == 2
    # The first job had not finished: the replace cancelled it.
    assert jobs[first["id"]]["status"] == "cancelled"
    assert ftctl("plan", "--detailed-exitcode").exit_code == 0


def test_changing_only_cancel_after_timeout_updates_in_place_with_no_api_call(
    ftctl: Ftctl,
) -> None:
    assert ftctl("apply", "--auto-approve").exit_code == 0
    ftctl.edit(
        '  suffix        = "support-v1"\n',
        '  suffix        = "support-v1"\n  cancel_after_timeout = 86400\n',
    )
    ftctl.emu.control.delete("/_emulator/requests")
    applied = ftctl("apply", "--auto-approve", "--no-color")
    assert applied.exit_code == 0, applied.output
    assert "will be updated in-place" in applied.output
    assert "Apply complete! Resources: 0 added, 1 changed, 0 destroyed." in applied.output
    assert ftctl.posts() == []
    assert ftctl("plan", "--detailed-exitcode").exit_code == 0


def test_removing_a_running_job_cancels_it_and_a_finished_one_is_only_forgotten(
    ftctl: Ftctl,
) -> None:
    assert ftctl("apply", "--auto-approve").exit_code == 0
    [job] = ftctl.jobs()
    (ftctl.project / "main.tf").write_text(
        'resource "openai_file" "train" {\n  file = "data/train.jsonl"\n}\n'
    )
    applied = ftctl("apply", "--auto-approve", "--no-color")
    assert applied.exit_code == 0, applied.output
    assert [j["status"] for j in ftctl.jobs()] == ["cancelled"]
    assert f"/v1/fine_tuning/jobs/{job['id']}/cancel" in ftctl.posts()


def test_a_create_answered_by_a_500_after_commit_leaves_exactly_one_job(ftctl: Ftctl) -> None:
    ftctl.emu.arm(method="POST", path=JOBS, status=500, after_commit=True)
    applied = ftctl("apply", "--auto-approve", "--no-color")
    assert applied.exit_code == 0, applied.output
    assert len(ftctl.jobs()) == 1
    assert [p for p in ftctl.posts() if p == JOBS] == [JOBS]  # never retried blindly
    assert ftctl("plan", "--detailed-exitcode").exit_code == 0


def test_a_dropped_connection_on_create_leaves_exactly_one_job(ftctl: Ftctl) -> None:
    ftctl.emu.arm(method="POST", path=JOBS, status=0, after_commit=True)
    assert ftctl("apply", "--auto-approve").exit_code == 0
    assert len(ftctl.jobs()) == 1
    assert ftctl("plan", "--detailed-exitcode").exit_code == 0


def test_a_saved_plan_applies_and_a_stale_one_is_refused(ftctl: Ftctl, project: Path) -> None:
    saved = project / "plan.json"
    assert ftctl("plan", "--out", str(saved)).exit_code == 0
    assert ftctl("apply", str(saved)).exit_code == 0
    assert len(ftctl.jobs()) == 1
    stale = ftctl("apply", str(saved))
    assert stale.exit_code == 1
    # Terraform's words, so that what users search for finds it.
    assert "Error: Saved plan is stale: the given plan file can no longer be applied" in (
        stale.output
    )
    assert len(ftctl.jobs()) == 1


def test_apply_without_a_terminal_asks_for_auto_approve(ftctl: Ftctl) -> None:
    result = ftctl("apply")
    assert result.exit_code == 1
    assert "--auto-approve" in result.output
    assert ftctl.jobs() == []


def test_invalid_config_exits_1_and_sends_nothing(ftctl: Ftctl) -> None:
    ftctl.edit('  model         = "gpt-4o-mini"', '  model         = "gpt-4o-mini"\n  seed = -3')
    for command in (["plan"], ["apply", "--auto-approve"]):
        result = ftctl(*command)
        assert result.exit_code == 1
        assert "main.tf line" in result.output
    assert ftctl.emu.requests() == []


def test_plan_without_refresh_never_imports_openai(ftctl: Ftctl) -> None:
    import subprocess
    import sys

    assert ftctl("apply", "--auto-approve").exit_code == 0  # a real state to plan from
    script = (
        "import sys\n"
        "from ftctl.cli import app\n"
        "try:\n"
        f"    app(['plan', '--no-refresh', '--chdir', {str(ftctl.project)!r}])\n"
        "except SystemExit as exit:\n"
        "    print('exit', exit.code)\n"
        "print('openai' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO
    )
    assert "No changes." in result.stdout, result.stderr
    assert result.stdout.splitlines()[-2:] == ["exit 0", "False"]


@pytest.mark.parametrize(
    ("old", "new", "forcing"),
    [
        ('  model         = "gpt-4o-mini"', '  model         = "gpt-4.1-mini"', "model"),
        (
            '  metadata      = { team = "support" }',
            '  metadata      = { team = "sales" }',
            "metadata",
        ),
        (
            '  suffix        = "support-v1"',
            '  suffix        = "support-v1"\n  method {\n    type = "supervised"\n'
            "    supervised {\n      hyperparameters {\n        n_epochs = 4\n      }\n    }\n  }",
            "method",
        ),
    ],
    ids=["model", "metadata", "method"],
)
def test_each_training_argument_forces_a_replacement(
    ftctl: Ftctl, old: str, new: str, forcing: str
) -> None:
    assert ftctl("apply", "--auto-approve").exit_code == 0
    ftctl.edit(old, new)
    planned = ftctl("plan", "--no-color")
    assert "must be replaced" in planned.output
    forced = [line for line in planned.output.splitlines() if "# forces replacement" in line]
    assert [line.split("=")[0].strip(" +~-") for line in forced] == [forcing]
    assert ftctl("apply", "--auto-approve").exit_code == 0
    assert len(ftctl.jobs()) == 2
    assert ftctl("plan", "--detailed-exitcode").exit_code == 0


def test_new_training_data_replaces_the_file_and_the_job(ftctl: Ftctl) -> None:
    assert ftctl("apply", "--auto-approve").exit_code == 0
    data = ftctl.project / "data" / "train.jsonl"
    data.write_text(data.read_text() + data.read_text().splitlines()[0] + "\n")
    planned = ftctl("plan", "--no-color")
    assert "# openai_file.train must be replaced" in planned.output
    assert "# openai_fine_tuning_job.support must be replaced" in planned.output
    assert ftctl("apply", "--auto-approve").exit_code == 0
    assert len(ftctl.jobs()) == 2
    files = ftctl.emu.raw().get("files", params={"purpose": "fine-tune"}).json()["data"]
    assert len(files) == 1  # the old upload was deleted
    assert ftctl("plan", "--detailed-exitcode").exit_code == 0


def test_removing_a_finished_job_forgets_it_without_an_api_call(ftctl: Ftctl) -> None:
    assert ftctl("apply", "--auto-approve").exit_code == 0
    ftctl.emu.advance(10_000)
    assert ftctl("plan", "--detailed-exitcode").exit_code == 0  # the refresh records succeeded
    text = (ftctl.project / "main.tf").read_text()
    (ftctl.project / "main.tf").write_text(text[: text.index('resource "openai_fine_tuning_job"')])
    ftctl.emu.control.delete("/_emulator/requests")
    applied = ftctl("apply", "--auto-approve", "--no-color")
    assert applied.exit_code == 0, applied.output
    assert "will be removed from state" in applied.output
    assert ftctl.posts() == []
    assert [j["status"] for j in ftctl.jobs()] == ["succeeded"]


def test_a_job_failed_out_of_band_is_reported_not_recreated_until_replace(ftctl: Ftctl) -> None:
    assert ftctl("apply", "--auto-approve").exit_code == 0
    [job] = ftctl.jobs()
    ftctl.emu.force_status(str(job["id"]), "failed", {"code": "server_error", "message": "Boom."})
    planned = ftctl("plan", "--detailed-exitcode", "--no-color")
    assert planned.exit_code == 0, planned.output
    assert "has status 'failed'" in planned.output and "--replace" in planned.output
    assert ftctl("apply", "--auto-approve").exit_code == 0
    assert len(ftctl.jobs()) == 1
    replaced = ftctl("apply", "--auto-approve", "--replace", "openai_fine_tuning_job.support")
    assert replaced.exit_code == 0, replaced.output
    assert len(ftctl.jobs()) == 2


def test_a_job_past_its_deadline_is_cancelled_by_the_next_apply(ftctl: Ftctl) -> None:
    ftctl.edit(
        '  suffix        = "support-v1"\n',
        '  suffix        = "support-v1"\n  cancel_after_timeout = 60\n',
    )
    assert ftctl("apply", "--auto-approve").exit_code == 0
    ftctl.emu.advance(59)
    assert ftctl("plan", "--detailed-exitcode").exit_code == 0
    ftctl.emu.advance(1)
    planned = ftctl("plan", "--no-color")
    assert (
        "will be cancelled" in planned.output and "cancel_after_timeout deadline" in planned.output
    )
    assert ftctl("apply", "--auto-approve").exit_code == 0
    assert [j["status"] for j in ftctl.jobs()] == ["cancelled"]


def test_a_second_apply_fails_at_once_naming_the_lock_holder(ftctl: Ftctl) -> None:
    from ftctl.state.store import StateStore

    assert ftctl("apply", "--auto-approve").exit_code == 0
    with StateStore.open(ftctl.project / "state" / "ftctl.db") as store, store.lock("apply"):
        blocked = ftctl("apply", "--auto-approve")
    assert blocked.exit_code == 1
    assert "State locked by apply" in blocked.output and "--lock-timeout" in blocked.output


def test_ftctl_killed_right_after_the_server_created_the_job_never_duplicates_it(
    ftctl: Ftctl,
) -> None:
    ftctl.apply_killed_after_create()
    recovered = ftctl("apply", "--auto-approve", "--no-color")
    assert recovered.exit_code == 0, recovered.output
    assert "created by an interrupted run" in recovered.output
    assert len(ftctl.jobs()) == 1
    assert ftctl("plan", "--detailed-exitcode").exit_code == 0


# sweep and pipeline make several jobs, each in its own story (test_language_stories.py).
EXAMPLES = sorted(
    p.parent.name
    for p in (REPO / "examples").glob("*/main.tf")
    if p.parent.name not in ("sweep", "pipeline")
)


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_example_plans_applies_files_first_and_then_has_no_changes(
    emu: Emulator, tmp_path: Path, example: str
) -> None:
    import shutil

    project = tmp_path / example
    shutil.copytree(REPO / "examples" / example, project)
    ftctl = Ftctl(emu, project)
    planned = ftctl("plan", "--no-color")
    assert planned.exit_code == 0, planned.output
    created = [line for line in planned.output.splitlines() if line.endswith("will be created")]
    assert len(created) == len(list(project.glob("data/*.jsonl"))) + 1
    applied = ftctl("apply", "--auto-approve", "--no-color")
    assert applied.exit_code == 0, applied.output
    order = [line.split(":")[0] for line in applied.output.splitlines() if "Creating..." in line]
    assert order[-1].startswith("openai_fine_tuning_job.") and all(
        a.startswith("openai_file.") for a in order[:-1]
    )
    assert len(ftctl.jobs()) == 1
    assert ftctl("plan", "--detailed-exitcode").exit_code == 0


def test_independent_creates_run_in_parallel(ftctl: Ftctl) -> None:
    import time

    ftctl.write_jobs(8)
    # Each create answers after 400 ms: one at a time that is 3.2 s, four at a time 0.8 s.
    ftctl.emu.arm(method="POST", path=JOBS, status=None, delay_ms=400, times=8)
    started = time.monotonic()
    applied = ftctl("apply", "--auto-approve", "--parallelism", "4", "--no-color")
    elapsed = time.monotonic() - started
    assert applied.exit_code == 0, applied.output
    assert len(ftctl.jobs()) == 8
    assert elapsed < 2.4, f"8 creates of 400 ms took {elapsed:.1f} s: not in parallel"
    order = [line.split(":")[0] for line in applied.output.splitlines() if "Creating..." in line]
    assert order[0] == "openai_file.train"  # the file before the jobs that train on it
    assert ftctl("plan", "--detailed-exitcode").exit_code == 0


def test_plan_reports_drift_in_json_and_in_words(ftctl: Ftctl) -> None:
    assert ftctl("apply", "--auto-approve").exit_code == 0
    [job] = ftctl.jobs()
    ftctl.emu.force_status(str(job["id"]), "cancelled")
    document = json.loads(ftctl("plan", "--json").output)
    [moved] = document["resource_drift"]
    assert moved["address"] == "openai_fine_tuning_job.support"
    assert (moved["change"]["before"]["status"], moved["change"]["after"]["status"]) == (
        "validating_files",
        "cancelled",
    )
    human = ftctl("plan", "--no-color").output
    assert "openai_fine_tuning_job.support: validating_files -> cancelled" in human


def test_a_saved_plan_is_written_for_its_owner_alone(ftctl: Ftctl, project: Path) -> None:
    saved = project / "plan.json"
    saved.write_text("{}")
    saved.chmod(0o644)  # an existing file is rewritten, and its mode tightened
    assert ftctl("plan", "--out", str(saved)).exit_code == 0
    assert saved.stat().st_mode & 0o777 == 0o600
    assert json.loads(saved.read_text())["format_version"]
