"""API errors while reading: a 401, 403 or 5xx that outlasts the SDK's retries during refresh
or plan ends the command with the API's own message, and leaves the state file as it was."""

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from ftctl.cli import app
from tests.harness import REPO, TEST_KEY, Emulator
from tests.reliability.campaign import Campaign

runner = CliRunner()
SECTION = "api-errors"
JOBS = "/v1/fine_tuning/jobs"

# What the emulator says with each status (ftctl/emulator/app.py, _FAULT_ERRORS): the user must
# read it, since it is the API's own account of what went wrong.
MESSAGES = {
    401: "Injected fault: HTTP 401.",
    403: "Injected fault: HTTP 403.",
    500: "The server had an error while processing your request.",
    502: "Bad gateway.",
    503: "The engine is currently overloaded, please try again later.",
}
RETRIED = {500, 502, 503}  # the SDK tries these three times (two retries); 401 and 403 once
COMMANDS = {
    "refresh": ("refresh",),
    "plan": ("plan",),
    "plan-refresh-only": ("plan", "--refresh-only"),
}
SLICE = [(401, "refresh"), (503, "plan"), (500, "plan-refresh-only")]


@dataclass(frozen=True)
class Project:
    emu: Emulator
    folder: Path

    @property
    def state_folder(self) -> Path:
        return self.folder / "state"

    def snapshot(self) -> dict[str, bytes]:
        """The state and whatever SQLite keeps beside it (-wal, -shm, -journal)."""
        return {p.name: p.read_bytes() for p in sorted(self.state_folder.iterdir())}


@pytest.fixture
def project(emu: Emulator, tmp_path: Path) -> Project:
    """The quickstart, applied: its state tracks an unfinished job that refresh and plan read."""
    folder = tmp_path / "project"
    shutil.copytree(REPO / "examples" / "quickstart", folder)
    made = Project(emu, folder)
    applied = ftctl(made, "apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    return made


def ftctl(project: Project, *args: str) -> Result:
    return runner.invoke(
        app,
        [*args, "--chdir", str(project.folder)],
        env={"OPENAI_BASE_URL": project.emu.base_url, "OPENAI_API_KEY": TEST_KEY},
    )


def api_error_case(project: Project, campaign: Campaign, status: int, command: str) -> None:
    emu = project.emu
    before = project.snapshot()
    emu.control.delete("/_emulator/requests")
    # Enough to outlast every retry and the single-read fallback; Retry-After keeps the SDK's
    # waits short (it honours the header) without a sleep of the test's own.
    emu.arm(path=JOBS + "*", method="GET", status=status, times=50, retry_after=0.01)
    result = ftctl(project, *COMMANDS[command])
    emu.control.delete("/_emulator/faults")
    answered = [r for r in emu.requests() if r["status"] == status]
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output, result.output
    assert result.exit_code == 1, result.output
    assert "Error:" in result.output, result.output
    assert MESSAGES[status] in result.output, result.output
    assert answered, "the fault must have been met"
    if status in RETRIED:
        assert any(r["retry_count"] >= 2 for r in answered), answered  # retries were outlasted
    assert project.snapshot() == before, "the state file changed"
    campaign.record(
        SECTION,
        f"{status}:{command}",
        "refused",
        api_requests=len(answered),
        tracebacks=0,
        state_writes=0,
    )
    # The same command then works: the failed one left nothing in the way.
    again = ftctl(project, *COMMANDS[command])
    assert again.exit_code == 0, again.output


@pytest.mark.parametrize(("status", "command"), SLICE)
def test_an_api_error_during_a_read_leaves_the_state_file_byte_identical(
    project: Project, campaign: Campaign, status: int, command: str
) -> None:
    api_error_case(project, campaign, status, command)


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("status", "command"),
    [(s, c) for s in MESSAGES for c in COMMANDS if (s, c) not in SLICE],
)
def test_campaign_api_errors(
    project: Project, campaign: Campaign, status: int, command: str
) -> None:
    api_error_case(project, campaign, status, command)
