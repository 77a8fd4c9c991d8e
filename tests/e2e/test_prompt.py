"""apply's approval prompt, in a real (pseudo-)terminal: only `yes` proceeds."""

import os
import pty
import select
import subprocess
import sys
import time

from tests.e2e.conftest import Ftctl


def run_in_terminal(ftctl: Ftctl, answer: str) -> tuple[int, str]:
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "ftctl", "apply", "--no-color", "--chdir", str(ftctl.project)],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env={**os.environ, **ftctl.env, "COLUMNS": "120"},
    )
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 60
    answered = False
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed: the process has ended
                break
            if not chunk:
                break
            seen += chunk
        if not answered and b"Enter a value" in seen:
            os.write(leader, answer.encode() + b"\n")
            answered = True
        if process.poll() is not None and not ready:
            break
    os.close(leader)
    return process.wait(timeout=30), seen.decode(errors="replace")


def test_anything_but_yes_cancels_and_yes_applies(ftctl: Ftctl) -> None:
    code, screen = run_in_terminal(ftctl, "no")
    assert "Do you want to perform these actions?" in screen
    assert code == 1 and "Apply cancelled." in screen
    assert ftctl.jobs() == [] and ftctl.posts() == []

    code, screen = run_in_terminal(ftctl, "yes")
    assert code == 0, screen
    assert "Apply complete! Resources: 2 added" in screen
    assert len(ftctl.jobs()) == 1
