"""The projects the campaign breaks, ftctl run as a real process against them, and the audit
that says whether a broken run cost a duplicate job, lost one, or left state inconsistent.

Every job block has its own suffix, so the emulator's jobs can be told apart by address
without trusting ftctl's state: the audit checks state against the server, not itself.
"""

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from typer.testing import CliRunner, Result

from ftctl.cli import app
from ftctl.state.store import StateStore
from tests.harness import REPO, TEST_KEY, Emulator

DEAD = ("cancelled", "failed")
FILES = """resource "openai_file" "train" {
  file = "data/train.jsonl"
}
"""


def job_block(name: str, suffix: str, extra: str = "") -> str:
    return (
        f'resource "openai_fine_tuning_job" "{name}" {{\n  model         = "gpt-4o-mini"\n'
        f'  training_file = openai_file.train.id\n  suffix        = "{suffix}"\n{extra}}}\n'
    )


# The crash story: three jobs exist; the change uploads a second file, keeps `a`, replaces `b`
# (cancel, then create), cancels and forgets `c`, and creates `d` and `e`.
CRASH_BEFORE = FILES + "".join(job_block(n, s) for n, s in [("a", "a"), ("b", "b-v1"), ("c", "c")])
CRASH_AFTER = (
    FILES
    + 'resource "openai_file" "valid" {\n  file = "data/valid.jsonl"\n}\n'
    + job_block("a", "a")
    + job_block("b", "b-v2")
    + job_block("d", "d", "  validation_file = openai_file.valid.id\n")
    + job_block("e", "e")
)
# Every job the story should ever create, by suffix: b-v1 and c end cancelled.
CRASH_JOBS = {"a": 1, "b-v1": 1, "b-v2": 1, "c": 1, "d": 1, "e": 1}
CRASH_LIVE = {"openai_fine_tuning_job.a": "a", "openai_fine_tuning_job.b": "b-v2"} | {
    f"openai_fine_tuning_job.{name}": name for name in ("d", "e")
}
CRASH_FILES = {"openai_file.train": "train.jsonl", "openai_file.valid": "valid.jsonl"}


class Project:
    """A working directory with data files, and ftctl run in it against one emulator."""

    runner = CliRunner()

    def __init__(self, root: Path, emu: Emulator) -> None:
        self.root = root
        self.emu = emu
        (root / "data").mkdir(parents=True, exist_ok=True)
        for name in ("train.jsonl", "valid.jsonl"):
            shutil.copy(
                REPO / "examples" / "quickstart" / "data" / "train.jsonl", root / "data" / name
            )
        self.env = {"OPENAI_BASE_URL": emu.base_url, "OPENAI_API_KEY": TEST_KEY}

    @property
    def state_file(self) -> Path:
        return self.root / "state" / "ftctl.db"

    def configure(self, text: str) -> None:
        (self.root / "main.tf").write_text(text)

    def __call__(self, *args: str) -> Result:
        """ftctl in this process: fast, for the steps that are not under test."""
        return self.runner.invoke(app, [*args, "--chdir", str(self.root)], env=self.env)

    def start(self, *args: str, **env: str) -> subprocess.Popen[str]:
        """ftctl as its own process, as a user runs it, so that it can be killed."""
        return subprocess.Popen(
            [sys.executable, "-m", "ftctl", *args, "--chdir", str(self.root)],
            env={**os.environ, **self.env, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def kill(process: subprocess.Popen[str]) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)


@dataclass(frozen=True)
class Audit:
    """What the server and the state file say after a story; the promises are the first three."""

    duplicates: int  # jobs (or uploads) beyond the ones the story asks for
    lost_jobs: int  # live jobs on the server that state does not track
    problems: tuple[str, ...]  # state inconsistencies, each in words
    jobs_by_suffix: dict[str, int] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return self.duplicates == 0 and self.lost_jobs == 0 and not self.problems


def audit(
    project: Project,
    expected_jobs: dict[str, int],
    live: dict[str, str],
    files: dict[str, str],
) -> Audit:
    """Checks the server's jobs and files against the story's expectations and the state.

    `expected_jobs`: how many jobs each suffix should have, ever; `live`: address -> suffix of
    the one job each address must have running; `files`: address -> uploaded filename.
    """
    jobs = _all(project.emu, "fine_tuning/jobs")
    uploads = _all(project.emu, "files")
    problems = integrity_problems(project.state_file)
    with StateStore.open(project.state_file) as store:
        records = store.snapshot().resources
    tracked = {r.remote_id for r in records.values() if r.remote_id}
    by_suffix = Counter(str(job.get("user_provided_suffix")) for job in jobs)
    duplicates = sum(max(0, count - expected_jobs.get(s, 0)) for s, count in by_suffix.items())
    duplicates += max(0, len(uploads) - len(files))
    lost = [job["id"] for job in jobs if job["status"] not in DEAD and job["id"] not in tracked]
    for address, suffix in live.items():
        running = [
            j for j in jobs if j.get("user_provided_suffix") == suffix and j["status"] not in DEAD
        ]
        record = records.get(address)
        if len(running) != 1:
            problems.append(f"{address} has {len(running)} live jobs")
        elif record is None or record.remote_id != running[0]["id"]:
            problems.append(f"{address} does not track its live job {running[0]['id']}")
    for address, filename in files.items():
        record = records.get(address)
        names = {u["id"]: u["filename"] for u in uploads}
        if record is None or names.get(record.remote_id or "") != filename:
            problems.append(f"{address} does not track an upload of {filename}")
    unexpected = set(records) - set(live) - set(files)
    if unexpected:
        problems.append(f"state tracks addresses the configuration dropped: {sorted(unexpected)}")
    return Audit(duplicates, len(lost), tuple(problems), dict(by_suffix))


def integrity_problems(state_file: Path) -> list[str]:
    """SQLite's own check, then ftctl's invariants: no create left pending, history and serial
    agree, and the lock is free."""
    problems = []
    connection = sqlite3.connect(state_file.absolute().as_uri() + "?mode=ro", uri=True)
    try:
        [(verdict,)] = connection.execute("PRAGMA integrity_check").fetchall()
        if verdict != "ok":
            problems.append(f"SQLite integrity_check: {verdict}")
        if connection.execute("SELECT count(*) FROM lock").fetchone()[0]:
            problems.append("the state lock is still held")
    finally:
        connection.close()
    with StateStore.open(state_file) as store:
        state = store.snapshot()
        history = store.history()
    pending = [a for a, r in state.resources.items() if r.pending_token]
    if pending:
        problems.append(f"creates still pending: {pending}")
    if history and history[-1].serial != state.serial:
        problems.append(f"serial {state.serial} but last history entry {history[-1].serial}")
    return problems


def _all(emu: Emulator, path: str) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    params: dict[str, object] = {"limit": 100}
    raw = emu.raw()
    while True:
        page = raw.get(path, params=params).json()
        found += page["data"]
        if not page.get("has_more"):
            return found
        params["after"] = page["data"][-1]["id"]
