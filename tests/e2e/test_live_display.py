"""`ftctl apply --wait` in a real terminal (tmux): the live table shows the job's status, its
step progress and its loss as the emulator's clock moves, and its final screen shows the job
finished. The test moves the clock; it reads the screen with capture-pane until what it
expects appears (or a deadline passes)."""

import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.harness import REPO, TEST_KEY, Emulator

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Terminal:
    """One tmux session on its own server socket, 140x40."""

    def __init__(self, name: str) -> None:
        self.socket = f"ftctl-test-{os.getpid()}-{name}"

    def tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args], check=True, capture_output=True, text=True
        ).stdout

    def start(self, command: str) -> None:
        self.tmux("new-session", "-d", "-s", "main", "-x", "140", "-y", "40", command)
        self.tmux("set-option", "-t", "main", "remain-on-exit", "on")

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "main")

    def until(self, seen: Callable[[str], bool], what: str, seconds: float = 30) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            shown = self.screen()
            if seen(shown):
                return shown
            time.sleep(0.05)  # reading the screen again, not waiting for time to pass
        raise AssertionError(f"the screen never showed {what}:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


def table_row(screen: str) -> str:
    """The live table's row for the job (the plan above it names the job too)."""
    rows = [
        line for line in screen.splitlines() if line.startswith("openai_fine_tuning_job.support ")
    ]
    assert rows, screen
    return rows[-1]


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    opened = Terminal("live")
    yield opened
    opened.close()


def test_apply_wait_draws_a_live_table_that_follows_the_job(
    emu: Emulator, tmp_path: Path, terminal: Terminal
) -> None:
    project = tmp_path / "project"
    shutil.copytree(REPO / "examples" / "quickstart", project)
    main = project / "main.tf"
    main.write_text(main.read_text().replace('"support-v1"\n', '"support-v1"\n  seed = 7\n'))
    command = " ".join(
        [
            # The terminal decides the width, not the size pytest was started with.
            "env -u CI -u COLUMNS -u LINES",
            f"OPENAI_BASE_URL={shlex.quote(emu.base_url)}",
            f"OPENAI_API_KEY={TEST_KEY}",
            shlex.quote(str(REPO / ".venv" / "bin" / "python")),
            "-m ftctl apply --auto-approve --wait --poll-interval 0.05",
            f"--chdir {shlex.quote(str(project))}",
        ]
    )
    terminal.start(command)
    first = terminal.until(lambda s: "validating_files" in s, "the job validating")
    assert "job" in first and "progress" in first and "train loss" in first

    emu.advance(30 + 54)  # validation and the queue, then half the 108 steps
    halfway = terminal.until(lambda s: "running" in s and "/108" in s, "the job running")
    row = table_row(halfway)
    assert "running" in row and "█" in row and "░" in row
    step = int(row.split("/108")[0].split()[-1])
    assert 40 <= step <= 60
    losses = [word for word in row.split() if word.replace(".", "", 1).isdigit() and "." in word]
    assert losses, row

    emu.advance(1000)
    final = terminal.until(lambda s: "All 1 jobs succeeded." in s, "the job finished")
    row = table_row(final)
    assert "succeeded" in row and "░" not in row and "108/108" in row
