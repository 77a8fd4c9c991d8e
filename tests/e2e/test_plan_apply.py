"""The user's story, end to end: the CLI against a served emulator through the real SDK.
plan, apply, plan again; changes that replace or update in place; removals; the create that
must never happen twice."""

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from ftctl.cli import app
from tests.harness import REPO, TEST_KEY, Emulator

runner = CliRunner()
JOBS = "/v1/fine_tuning/jobs"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "examples" / "quickstart", tmp_path / "project")
    return tmp_path / "project"


@pytest.fixture
def ftctl(emu: Emulator, project: Path) -> Iterator["Ftctl"]:
    yield Ftctl(emu, project)


class Ftctl:
    def __init__(self, emu: Emulator, project: Path) -> None:
        self.emu = emu
        self.project = project
        self.env = {"OPENAI_BASE_URL": emu.base_url, "OPENAI_API_KEY": TEST_KEY}

    def __call__(self, *args: str) -> Result:
        return runner.invoke(app, [*args, "--chdir", str(self.project)], env=self.env)

    def edit(self, old: str, new: str) -> None:
        path = self.project / "main.tf"
        text = path.read_text()
        assert old in text
        path.write_text(text.replace(old, new))

    def jobs(self) -> list[dict[str, object]]:
        page = self.emu.raw().get("fine_tuning/jobs", params={"limit": 100}).json()
        return list(page["data"])

    def posts(self) -> list[str]:
        return [r["path"] for r in self.emu.requests() if r["method"] in ("POST", "DELETE")]


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
