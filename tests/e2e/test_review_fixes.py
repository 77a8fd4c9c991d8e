"""Stories that once went wrong: each test here failed before its fix."""

from ftctl.state.store import StateStore
from tests.e2e.conftest import Ftctl

JOBS = "/v1/fine_tuning/jobs"
LIFECYCLE = '  suffix        = "support-v1"\n  lifecycle {\n    create_before_destroy = true\n  }\n'


def test_create_before_destroy_cancels_the_old_job_and_tracks_the_new_one(ftctl: Ftctl) -> None:
    ftctl.edit('  suffix        = "support-v1"\n', LIFECYCLE)
    assert ftctl("apply", "--auto-approve").exit_code == 0
    [old] = ftctl.jobs()
    ftctl.edit('suffix        = "support-v1"', 'suffix        = "support-v2"')
    applied = ftctl("apply", "--auto-approve", "--no-color")
    assert applied.exit_code == 0, applied.output
    jobs = {str(j["id"]): j for j in ftctl.jobs()}
    assert jobs.pop(str(old["id"]))["status"] == "cancelled"
    [new] = jobs.values()
    assert new["status"] != "cancelled" and new["user_provided_suffix"] == "support-v2"
    assert ftctl("state", "list").output.splitlines()[-1] == "openai_fine_tuning_job.support"
    shown = ftctl("show", "openai_fine_tuning_job.support").output
    assert str(new["id"]) in shown
    assert ftctl("plan", "--detailed-exitcode").exit_code == 0


def test_a_refused_replacement_create_leaves_nothing_running_untracked(ftctl: Ftctl) -> None:
    assert ftctl("apply", "--auto-approve").exit_code == 0
    ftctl.edit('suffix        = "support-v1"', 'suffix        = "support-v2"')
    ftctl.emu.arm(method="POST", path=JOBS, status=400)
    assert ftctl("apply", "--auto-approve").exit_code == 1
    # The old job was cancelled, then forgotten; the refused create left no pending record.
    assert [j["status"] for j in ftctl.jobs()] == ["cancelled"]
    planned = ftctl("plan", "--no-color")
    assert "# openai_fine_tuning_job.support will be created" in planned.output
    assert ftctl("apply", "--auto-approve").exit_code == 0
    assert ftctl("plan", "--detailed-exitcode").exit_code == 0


def test_a_saved_plan_is_refused_once_the_configuration_changed(ftctl: Ftctl) -> None:
    saved = ftctl.project / "plan.json"
    assert ftctl("plan", "--out", str(saved)).exit_code == 0
    ftctl.edit('suffix        = "support-v1"', 'suffix        = "support-v4"')
    refused = ftctl("apply", str(saved))
    assert refused.exit_code == 1
    assert "configuration changed since the plan was made" in refused.output
    assert ftctl.jobs() == [] and ftctl.posts() == []


def test_plan_says_a_create_was_interrupted_instead_of_no_changes(ftctl: Ftctl) -> None:
    ftctl.apply_killed_after_create()
    text = (ftctl.project / "main.tf").read_text()
    (ftctl.project / "main.tf").write_text(text[: text.index('resource "openai_fine_tuning_job"')])
    planned = ftctl("plan", "--detailed-exitcode", "--no-color")
    assert planned.exit_code == 2, planned.output
    assert "create interrupted in an earlier run" in planned.output
    assert ftctl("apply", "--auto-approve").exit_code == 0
    assert ftctl("apply", "--auto-approve").exit_code == 0
    assert [j["status"] for j in ftctl.jobs()] == ["cancelled"]  # found, then removed as asked


def test_import_writes_nothing_while_the_state_is_locked_or_the_job_is_tracked(
    ftctl: Ftctl,
) -> None:
    assert ftctl("apply", "--auto-approve").exit_code == 0
    [job] = ftctl.jobs()
    with StateStore.open(ftctl.project / "state" / "ftctl.db") as store, store.lock("apply"):
        locked = ftctl("import", str(job["id"]))
    assert locked.exit_code == 1 and not (ftctl.project / "imported.tf").exists()
    again = ftctl("import", str(job["id"]))
    assert again.exit_code == 1 and "already in the state" in again.output
    assert not (ftctl.project / "imported.tf").exists()


def test_keys_with_a_newline_work_and_unusable_keys_are_one_clear_line(ftctl: Ftctl) -> None:
    ftctl.env["OPENAI_API_KEY"] = ftctl.env["OPENAI_API_KEY"] + "\n"
    assert ftctl("apply", "--auto-approve").exit_code == 0
    ftctl.env["OPENAI_API_KEY"] = "sk-caf\u00e9-LEAKME"
    result = ftctl("plan")
    assert result.exit_code == 1
    assert "cannot carry" in result.output and "LEAKME" not in result.output
    assert "Traceback" not in result.output


def test_bad_paths_and_terraform_spellings(ftctl: Ftctl) -> None:
    missing = ftctl("plan", "-no-refresh", "-out=/nonexistent/dir/plan.json")
    assert missing.exit_code == 1 and "/nonexistent/dir/plan.json" in missing.output
    assert ftctl("plan", "-refresh=false", "-detailed-exitcode").exit_code == 2
    assert ftctl("apply", "-auto-approve", "-lock-timeout=1s").exit_code == 0


def test_a_crash_inside_a_create_before_destroy_replacement_loses_no_job(ftctl: Ftctl) -> None:
    ftctl.edit('  suffix        = "support-v1"\n', LIFECYCLE)
    assert ftctl("apply", "--auto-approve").exit_code == 0
    [old] = ftctl.jobs()
    ftctl.edit('suffix        = "support-v1"', 'suffix        = "support-v2"')
    # Killed once the new job exists, before the old one is cancelled.
    ftctl.apply_killed_after_create(jobs_then=2)
    listed = ftctl("state", "list").output.splitlines()
    assert "openai_fine_tuning_job.support~deposed" in listed  # the old job is still tracked
    recovered = ftctl("apply", "--auto-approve", "--no-color")
    assert recovered.exit_code == 0, recovered.output
    jobs = {str(j["id"]): j for j in ftctl.jobs()}
    assert len(jobs) == 2 and jobs[str(old["id"])]["status"] == "cancelled"
    assert "openai_fine_tuning_job.support~deposed" not in ftctl("state", "list").output
    assert ftctl("plan", "--detailed-exitcode").exit_code == 0


def test_an_upload_whose_answer_is_lost_is_adopted_not_repeated(ftctl: Ftctl) -> None:
    ftctl.emu.arm(method="POST", path="/v1/files", status=500, after_commit=True)
    applied = ftctl("apply", "--auto-approve", "--no-color")
    assert applied.exit_code == 0, applied.output
    files = ftctl.emu.raw().get("files", params={"purpose": "fine-tune"}).json()["data"]
    assert len(files) == 1
    assert [r["path"] for r in ftctl.emu.requests() if r["method"] == "POST"].count(
        "/v1/files"
    ) == 1
    assert ftctl("plan", "--detailed-exitcode").exit_code == 0


def test_a_refused_create_before_destroy_leaves_no_deposed_copy_behind(ftctl: Ftctl) -> None:
    ftctl.edit('  suffix        = "support-v1"\n', LIFECYCLE)
    assert ftctl("apply", "--auto-approve").exit_code == 0
    [old] = ftctl.jobs()
    ftctl.edit('suffix        = "support-v1"', 'suffix        = "support-v2"')
    ftctl.emu.arm(method="POST", path=JOBS, status=400)
    assert ftctl("apply", "--auto-approve").exit_code == 1
    assert "~deposed" not in ftctl("state", "list").output
    ftctl.edit('suffix        = "support-v2"', 'suffix        = "support-v1"')  # keep the old job
    assert ftctl("apply", "--auto-approve").exit_code == 0
    assert [j["status"] for j in ftctl.jobs()] == [old["status"]]  # never cancelled


def test_a_deposed_job_whose_cancel_failed_is_never_dropped_even_with_target(
    ftctl: Ftctl,
) -> None:
    ftctl.edit('  suffix        = "support-v1"\n', LIFECYCLE)
    assert ftctl("apply", "--auto-approve").exit_code == 0
    ftctl.edit('suffix        = "support-v1"', 'suffix        = "support-v2"')
    ftctl.emu.arm(method="POST", path="/v1/fine_tuning/jobs/*", status=400)  # the cancel fails
    assert ftctl("apply", "--auto-approve").exit_code == 1
    assert "openai_fine_tuning_job.support~deposed" in ftctl("state", "list").output
    ftctl.edit('suffix        = "support-v2"', 'suffix        = "support-v3"')
    applied = ftctl("apply", "--auto-approve", "-target=openai_fine_tuning_job.support")
    assert applied.exit_code == 0, applied.output
    tracked = ftctl("show", "--json").output
    untracked_running = [
        j for j in ftctl.jobs() if j["status"] != "cancelled" and str(j["id"]) not in tracked
    ]
    assert untracked_running == []
    assert "~deposed" not in ftctl("state", "list").output


def test_an_imported_file_of_another_purpose_plans_a_replacement(ftctl: Ftctl) -> None:
    from tests.harness import upload

    data = (ftctl.project / "data" / "train.jsonl").read_bytes()
    file_id = upload(ftctl.emu.client(), data, purpose="batch")
    assert ftctl("import", "openai_file.train", file_id).exit_code == 0
    planned = ftctl("plan", "--no-color")
    assert "# openai_file.train must be replaced" in planned.output


def test_every_failure_of_a_wave_is_reported(ftctl: Ftctl) -> None:
    ftctl.write_jobs(2)
    ftctl.emu.arm(method="POST", path=JOBS, status=400, times=2)
    applied = ftctl("apply", "--auto-approve", "--no-color")
    assert applied.exit_code == 1
    assert "2 changes failed" in applied.output
