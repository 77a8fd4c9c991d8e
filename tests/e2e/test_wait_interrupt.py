"""`apply --wait` follows the jobs it touched to the end; Ctrl-C during apply lets the call in
flight finish and be recorded, starts nothing new, and exits 130."""

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from ftctl.cli import app
from tests.e2e.conftest import Ftctl
from tests.harness import REPO, TEST_KEY, served_process

runner = CliRunner()


@dataclass(frozen=True)
class Result:
    exit_code: int
    output: str
    shown: str


def apply_and_wait_fast(project: Path) -> Result:
    """apply --wait on a real-clock emulator at 20,000x: a job trains in a few milliseconds."""
    with served_process("--clock", "real", "--speed", "20000") as served:
        env = {"OPENAI_BASE_URL": served.emulator.base_url, "OPENAI_API_KEY": TEST_KEY}
        arguments = ["apply", "--auto-approve", "--wait", "--poll-interval", "0.01"]
        result = runner.invoke(app, [*arguments, "--chdir", str(project)], env=env)
        shown = runner.invoke(app, ["show", "--chdir", str(project)], env=env)
    return Result(result.exit_code, result.output, shown.output)


def test_apply_wait_reports_each_status_until_the_job_succeeds(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(REPO / "examples" / "quickstart", project)
    result = apply_and_wait_fast(project)
    assert result.exit_code == 0, result.output
    prefix = "openai_fine_tuning_job.support: status "
    statuses = [line.removeprefix(prefix) for line in result.output.splitlines()]
    statuses = [s for s in statuses if s in ("validating_files", "queued", "running", "succeeded")]
    assert statuses[-1] == "succeeded"
    assert "succeeded" in result.shown and "ft:gpt-4o-mini-2024-07-18" in result.shown


def test_apply_wait_exits_1_naming_a_job_that_failed(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(REPO / "examples" / "quickstart", project)
    data = project / "data" / "train.jsonl"
    data.write_text("\n".join(data.read_text().splitlines()[:5]) + "\n")  # under 10 examples
    result = apply_and_wait_fast(project)
    assert result.exit_code == 1
    assert "Apply complete! Resources: 2 added" in result.output
    assert "Not every job succeeded: openai_fine_tuning_job.support (failed: " in result.output


def test_ctrl_c_during_apply_finishes_the_call_in_flight_and_exits_130(ftctl: Ftctl) -> None:
    # The upload is held 3 s by the emulator: Ctrl-C arrives while it is in flight.
    ftctl.emu.arm(method="POST", path="/v1/files", status=None, delay_ms=3000)
    process = subprocess.Popen(
        [sys.executable, "-m", "ftctl", "apply", "--auto-approve", "--chdir", str(ftctl.project)],
        env={**os.environ, **ftctl.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while not any(r["path"] == "/v1/files" for r in _pending(ftctl)):
        assert time.monotonic() < deadline and process.poll() is None
    os.kill(process.pid, signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130, out + err
    assert "Interrupt received" in err
    assert "openai_file.train: Creation complete" in out
    assert ftctl.jobs() == []  # nothing new was started
    listed = ftctl("state", "list")
    assert listed.output.splitlines() == ["openai_file.train"]
    finished = ftctl("apply", "--auto-approve")
    assert finished.exit_code == 0, finished.output
    assert len(ftctl.jobs()) == 1


def _pending(ftctl: Ftctl) -> list[dict[str, object]]:
    """Requests the emulator is holding: armed rules used up show the upload has arrived."""
    return [{"path": "/v1/files"}] if not ftctl.emu.armed() else []
