"""The user's working directory (a copy of examples/quickstart) and ftctl run in it against
the session's emulator."""

import shutil
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
