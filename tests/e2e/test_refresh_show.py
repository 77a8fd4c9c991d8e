"""`ftctl refresh`, `ftctl show` and `ftctl state list` against a served emulator."""

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from ftctl.cli import app
from tests.e2e.conftest import Ftctl
from tests.harness import REPO, served_process

runner = CliRunner()


def test_refresh_records_what_the_jobs_did_and_says_what_changed(ftctl: Ftctl) -> None:
    assert ftctl("apply", "--auto-approve").exit_code == 0
    ftctl.emu.advance(10_000)
    refreshed = ftctl("refresh", "--no-color")
    assert refreshed.exit_code == 0, refreshed.output
    assert "openai_fine_tuning_job.support: validating_files -> succeeded" in refreshed.output
    [job] = ftctl.jobs()
    row = next(line for line in refreshed.output.splitlines() if line.startswith("openai_fine"))
    assert str(job["id"]) in row and "succeeded" in row and str(job["fine_tuned_model"]) in row
    # Finished jobs never change: the next refresh reads nothing.
    ftctl.emu.control.delete("/_emulator/requests")
    assert ftctl("refresh").exit_code == 0
    assert ftctl.emu.requests() == []


def test_refresh_of_300_unfinished_jobs_takes_at_most_5_list_requests(ftctl: Ftctl) -> None:
    ftctl.write_jobs(300)
    assert ftctl("apply", "--auto-approve").exit_code == 0
    ftctl.emu.control.delete("/_emulator/requests")
    result = ftctl("refresh", "--json")
    assert result.exit_code == 0, result.output
    reads = [r for r in ftctl.emu.requests() if r["method"] == "GET"]
    assert all(r["path"] == "/v1/fine_tuning/jobs" for r in reads)
    assert len(reads) <= 5
    statuses = json.loads(result.output)["resources"]
    assert sum(1 for v in statuses.values() if v.get("status") == "validating_files") == 300


def test_a_refused_key_leaves_the_state_file_byte_identical(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(REPO / "examples" / "quickstart", project)
    with served_process("--clock", "manual", "--api-key", "sk-right") as served:
        env = {"OPENAI_BASE_URL": served.emulator.base_url, "OPENAI_API_KEY": "sk-right"}
        applied = runner.invoke(app, ["apply", "--auto-approve", "--chdir", str(project)], env=env)
        assert applied.exit_code == 0, applied.output
        state = project / "state" / "ftctl.db"
        before = state.read_bytes()
        env["OPENAI_API_KEY"] = "sk-wrong-one"
        refused = runner.invoke(app, ["refresh", "--chdir", str(project)], env=env)
        assert refused.exit_code == 1
        assert "sk-wrong-one" not in refused.output
        assert state.read_bytes() == before


def test_show_and_state_list_read_the_state(ftctl: Ftctl) -> None:
    assert ftctl("state", "list").output == ""
    assert ftctl("apply", "--auto-approve").exit_code == 0
    assert ftctl("state", "list").output.splitlines() == [
        "openai_file.train",
        "openai_fine_tuning_job.support",
    ]
    [job] = ftctl.jobs()
    one = ftctl("show", "openai_fine_tuning_job.support")
    assert one.exit_code == 0 and f'"{job["id"]}"' in one.output and '"support-v1"' in one.output
    document = json.loads(ftctl("show", "--json").output)
    resources = {r["address"]: r for r in document["values"]["root_module"]["resources"]}
    assert resources["openai_fine_tuning_job.support"]["values"]["id"] == job["id"]
    assert resources["openai_file.train"]["values"]["sha256"]
    assert ftctl("show", "openai_fine_tuning_job.nope").exit_code == 1


def test_refresh_records_the_last_validation_loss_of_a_finished_job(ftctl: Ftctl) -> None:
    ftctl.edit(
        "  training_file = openai_file.train.id\n",
        "  training_file = openai_file.train.id\n  validation_file = openai_file.train.id\n",
    )
    assert ftctl("apply", "--auto-approve").exit_code == 0
    ftctl.emu.advance(10_000)
    assert ftctl("refresh").exit_code == 0
    [job] = ftctl.jobs()
    events = ftctl.emu.raw().get(f"fine_tuning/jobs/{job['id']}/events", params={"limit": 100})
    last = next(e["data"] for e in events.json()["data"] if e["type"] == "metrics")
    document = json.loads(ftctl("show", "--json").output)
    values = {r["address"]: r["values"] for r in document["values"]["root_module"]["resources"]}
    assert values["openai_fine_tuning_job.support"]["validation_loss"] == last["full_valid_loss"]
