"""The user's working directory (a copy of examples/quickstart) and ftctl run in it against
the session's emulator."""

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from ftctl.cli import app
from tests.harness import REPO, TEST_KEY, Emulator

runner = CliRunner()


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

    def write_jobs(self, count: int) -> None:
        """main.tf becomes one file and `count` jobs that train on it."""
        blocks = "".join(
            f'resource "openai_fine_tuning_job" "job_{i}" {{\n'
            '  model = "gpt-4o-mini"\n  training_file = openai_file.train.id\n}\n'
            for i in range(count)
        )
        (self.project / "main.tf").write_text(
            'resource "openai_file" "train" {\n  file = "data/train.jsonl"\n}\n' + blocks
        )

    def apply_killed_after_create(self, jobs_then: int = 1) -> None:
        """`ftctl apply` as a process, killed (SIGKILL) once the server has created the job
        and before ftctl hears of it: the emulator holds the answer 30 s for that."""
        self.emu.arm(
            method="POST",
            path="/v1/fine_tuning/jobs",
            status=None,
            after_commit=True,
            delay_ms=30_000,
        )
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ftctl",
                "apply",
                "--auto-approve",
                "--chdir",
                str(self.project),
            ],
            env={**os.environ, **self.env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while len(self.jobs()) < jobs_then:
            assert process.poll() is None and time.monotonic() < deadline, "no job was created"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        self.emu.control.delete("/_emulator/faults")
