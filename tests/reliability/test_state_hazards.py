"""State-file hazards: a damaged, foreign, newer, unreadable, read-only or full state is refused
with one clear error before any API call, and never half written; a disk that fills up during
an apply loses no job that was created."""

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ftctl.cli import app
from ftctl.state.store import FORMAT_VERSION
from tests.harness import REPO, TEST_KEY, Emulator, chat_jsonl
from tests.reliability.campaign import Campaign

runner = CliRunner()
SECTION = "state-files"
IS_ROOT = os.geteuid() == 0


@dataclass(frozen=True)
class Ran:
    args: tuple[str, ...]
    code: int
    output: str
    requests: tuple[str, ...]  # "METHOD path" of each API request

    def describe(self) -> str:
        return f"ftctl {' '.join(self.args)} -> {self.code} {list(self.requests)}\n{self.output}"


@dataclass
class QuickstartProject:
    """The quickstart, applied: its state tracks an uploaded file and an unfinished job, so a
    plan or refresh of it reads the API; `adoptable` is a job made by hand, for import."""

    emu: Emulator
    folder: Path
    adoptable: str

    @property
    def state(self) -> Path:
        return self.folder / "state" / "ftctl.db"

    def ftctl(self, *args: str, prefix: tuple[str, ...] = ()) -> Ran:
        """ftctl in-process, or as a process under `prefix` (unshare); never a traceback."""
        self.emu.control.delete("/_emulator/requests")
        full = [*args, "--chdir", str(self.folder)]
        if prefix:
            done = subprocess.run(
                [*prefix, sys.executable, "-m", "ftctl", *full],
                capture_output=True,
                text=True,
                env={**os.environ, **self.env()},
                timeout=120,
            )
            code, output = done.returncode, done.stdout + done.stderr
        else:
            result = runner.invoke(app, full, env=self.env())
            code, output = result.exit_code, result.output
            assert result.exception is None or isinstance(result.exception, SystemExit), (
                f"{output}\n{result.exception!r}"
            )
        requests = tuple(f"{r['method']} {r['path']}" for r in self.emu.requests())
        ran = Ran(tuple(args), code, output, requests)
        assert "Traceback" not in output, ran.describe()
        return ran

    def env(self) -> dict[str, str]:
        return {"OPENAI_BASE_URL": self.emu.base_url, "OPENAI_API_KEY": TEST_KEY}

    def jobs(self) -> list[dict[str, Any]]:
        page = self.emu.raw().get("fine_tuning/jobs", params={"limit": 100}).json()
        return list(page["data"])

    def files(self) -> list[dict[str, Any]]:
        """The uploads, the hand-made one for import aside."""
        page = self.emu.raw().get("files", params={"limit": 100}).json()
        return [f for f in page["data"] if f["filename"] != "adopt.jsonl"]


@pytest.fixture
def project(emu: Emulator, tmp_path: Path) -> QuickstartProject:
    folder = tmp_path / "project"
    shutil.copytree(REPO / "examples" / "quickstart", folder)
    client = emu.client()
    uploaded = client.files.create(file=("adopt.jsonl", chat_jsonl()), purpose="fine-tune")
    adoptable = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=uploaded.id).id
    made = QuickstartProject(emu, folder, adoptable)
    applied = made.ftctl("apply", "--auto-approve")
    assert applied.code == 0 and made.state.is_file(), applied.describe()
    return made


# The commands every hazard is tried with; each reads the API on a healthy state.
COMMANDS: dict[str, Callable[[QuickstartProject], tuple[str, ...]]] = {
    "plan": lambda p: ("plan",),
    "apply": lambda p: ("apply", "--auto-approve"),
    "refresh": lambda p: ("refresh",),
    "import": lambda p: ("import", p.adoptable),
}


def folder_bytes(folder: Path) -> dict[str, bytes | None]:
    """Every file in the state's folder (a -journal or -wal included), None for a folder."""
    return {
        path.name: None if path.is_dir() else path.read_bytes() for path in sorted(folder.iterdir())
    }


def integrity(path: Path) -> str:
    db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    try:  # closed by hand: a connection's `with` only ends a transaction
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        db.close()


def assert_refused_untouched(
    project: QuickstartProject, ran: Ran, before: dict[str, bytes | None]
) -> None:
    assert ran.code == 1, ran.describe()
    assert "Error:" in ran.output, ran.describe()
    assert ran.requests == (), ran.describe()
    assert folder_bytes(project.state.parent) == before, ran.describe()


# --------------------------------------------------------------------------------------------
# damaged, foreign and newer files: every command refuses them at once
# --------------------------------------------------------------------------------------------


def truncate(length: int) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        with path.open("r+b") as file:
            file.truncate(length if length >= 0 else path.stat().st_size + length)

    return damage


def overwrite(offset: int, data: bytes) -> Callable[[Path], None]:
    """Writes `data` at `offset` (a negative one counts from the end)."""

    def damage(path: Path) -> None:
        with path.open("r+b") as file:
            file.seek(offset if offset >= 0 else path.stat().st_size + offset)
            file.write(data)

    return damage


def page(number: int, within: int = 200) -> int:
    return (number - 1) * 4096 + within


def newer_format(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {FORMAT_VERSION + 1}")
    # Closed: no -journal left beside it.
    db.close()


def foreign(path: Path) -> None:
    path.unlink()
    db = sqlite3.connect(path)
    with db:
        db.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, name TEXT)")
        db.execute("INSERT INTO runs (name) VALUES ('not ours')")
    db.close()


def directory(path: Path) -> None:
    path.unlink()
    path.mkdir()
    (path / "inside").write_text("a folder where the state file should be\n")


def text_file(path: Path) -> None:
    path.write_text('{"version": 4, "serial": 3, "lineage": "a terraform state"}\n')


GARBAGE = bytes(range(7, 256, 3)) * 3

HAZARDS: dict[str, Callable[[Path], None]] = {
    "truncated-to-50-bytes": truncate(50),
    "truncated-to-100-bytes": truncate(100),
    "truncated-to-1-page": truncate(4096),
    "truncated-to-2-pages": truncate(8192),
    "truncated-mid-page": truncate(6000),
    "truncated-by-1-byte": truncate(-1),
    "truncated-by-1-page": truncate(-4096),
    "corrupt-magic": overwrite(0, b"SQLite format 2\x00"),
    "corrupt-header-page-size": overwrite(16, b"\x00\x07"),
    "corrupt-header-fields": overwrite(18, GARBAGE[:40]),
    "corrupt-schema-page": overwrite(page(1, 1000), GARBAGE),
    "corrupt-page-2-free-space": overwrite(page(2), GARBAGE),
    "corrupt-page-2-cells": overwrite(page(3, -len(GARBAGE)), GARBAGE),
    "corrupt-page-3-header": overwrite(page(3, 0), GARBAGE[:12]),
    "corrupt-last-page": overwrite(-4096 + 8, GARBAGE),
    "zeroed-page-2": overwrite(page(2, 0), bytes(4096)),
    "newer-format": newer_format,
    "foreign-sqlite": foreign,
    "text-file": text_file,
    "directory": directory,
}
SLICE = ("truncated-to-1-page", "corrupt-header-fields", "newer-format", "directory")


def harmless(path: Path) -> bool:
    """Bytes changed where SQLite keeps nothing (a page's free space) are no damage."""
    if not path.is_file():
        return False
    try:
        return integrity(path) == "ok" and ours(path)
    except sqlite3.DatabaseError:
        return False


def ours(path: Path) -> bool:
    db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    try:
        (version,) = db.execute("PRAGMA user_version").fetchone()
        (mark,) = db.execute("PRAGMA application_id").fetchone()
    finally:
        db.close()
    return bool(version == FORMAT_VERSION and mark == 0x66746374)


def hazard_case(
    project: QuickstartProject, campaign: Campaign, hazard: str, *, damaging: bool = True
) -> None:
    """`damaging`: the hazard must leave a file ftctl refuses (else the case tests nothing);
    the campaign's byte-level damage may also land where SQLite keeps nothing."""
    HAZARDS[hazard](project.state)
    if harmless(project.state):
        assert not damaging, f"{hazard} left a healthy file: this case would test nothing"
        # Then the commands must work as on the healthy file, which the plan shows.
        ran = project.ftctl("plan", "--detailed-exitcode")
        assert ran.code == 0 and ran.requests, ran.describe()
        campaign.record(SECTION, f"{hazard}:plan", "harmless", api_requests=len(ran.requests))
        return
    before = folder_bytes(project.state.parent)
    # Damage SQLite could read past is damage still: nothing may go ahead on such a file.
    for command, args in COMMANDS.items():
        ran = project.ftctl(*args(project))
        assert_refused_untouched(project, ran, before)
        campaign.record(
            SECTION,
            f"{hazard}:{command}",
            "refused",
            api_requests=len(ran.requests),
            duplicates=0,
            lost_jobs=0,
            tracebacks=0,
        )


@pytest.mark.parametrize("hazard", SLICE)
def test_a_damaged_or_foreign_state_file_is_refused_before_any_api_call(
    project: QuickstartProject, campaign: Campaign, hazard: str
) -> None:
    hazard_case(project, campaign, hazard)


@pytest.mark.reliability
@pytest.mark.parametrize("hazard", sorted(set(HAZARDS) - set(SLICE)))
def test_campaign_state_file_hazards(
    project: QuickstartProject, campaign: Campaign, hazard: str
) -> None:
    hazard_case(project, campaign, hazard, damaging=False)


def test_a_state_file_damaged_past_its_header_is_refused_before_any_api_call(
    project: QuickstartProject, campaign: Campaign
) -> None:
    """The damage is in a table's page that a plan need not read: refused all the same."""
    hazard_case(project, campaign, "corrupt-page-2-cells")
    ran = project.ftctl("plan")
    assert "is damaged" in ran.output, ran.describe()


def test_a_truncated_state_file_is_refused_before_any_api_call(
    project: QuickstartProject, campaign: Campaign
) -> None:
    hazard_case(project, campaign, "truncated-by-1-page")


def test_an_empty_state_file_is_a_new_state_as_documented(
    project: QuickstartProject, campaign: Campaign
) -> None:
    """Terraform's reading too: an empty file is no state yet. The plan says so by creating."""
    project.state.write_bytes(b"")
    ran = project.ftctl("plan", "--no-refresh", "--detailed-exitcode")
    assert ran.code == 2 and "2 to add" in ran.output, ran.describe()
    assert project.state.read_bytes() == b"", "a plan never writes"
    campaign.record(SECTION, "empty-file:plan", "new-state", api_requests=len(ran.requests))


# --------------------------------------------------------------------------------------------
# read-only folders and full disks, through real mounts
# --------------------------------------------------------------------------------------------


def _can_unshare() -> bool:
    if shutil.which("unshare") is None:
        return False
    try:
        done = subprocess.run(
            ["unshare", "--user", "--map-root-user", "--mount", "true"],
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, timeout=30)


def _umount(target: Path) -> None:
    subprocess.run(["umount", str(target)], check=True, capture_output=True, timeout=30)


@contextmanager
def read_only(folder: Path) -> Iterator[tuple[str, ...]]:
    """`folder` read-only for the commands run inside; yields the prefix they need (none as
    root, where the bind mount is real and removed at the end)."""
    if IS_ROOT:
        _mount("--bind", str(folder), str(folder))
        try:
            _mount("-o", "remount,bind,ro", str(folder))
            yield ()
        finally:
            _umount(folder)
    elif _can_unshare():
        # A private mount namespace per command: the mount dies with the process.
        script = f'mount --bind "{folder}" "{folder}" && mount -o remount,bind,ro "{folder}"'
        yield ("unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script + ' && "$@"')
    else:
        pytest.skip("a read-only folder needs root or unshare --user (chmod binds no root)")


def test_a_read_only_state_folder_refuses_every_write_before_any_api_call(
    project: QuickstartProject, campaign: Campaign
) -> None:
    before = folder_bytes(project.state.parent)
    with read_only(project.state.parent) as prefix:
        if prefix:
            prefix = (*prefix, "ftctl")  # $0 of the sh -c script
        probe = project.state.parent / "probe"
        if not prefix:
            with pytest.raises(OSError):
                probe.write_text("the mount must refuse this")
        planned = project.ftctl("plan", prefix=prefix)
        # Planning never writes, so a read-only state serves it, as Terraform's does.
        assert planned.code == 0 and planned.requests, planned.describe()
        campaign.record(SECTION, "read-only:plan", "planned", api_requests=len(planned.requests))
        for command in ("apply", "refresh", "import"):
            ran = project.ftctl(*COMMANDS[command](project), prefix=prefix)
            assert_refused_untouched(project, ran, before)
            assert "read" in ran.output.lower(), ran.describe()
            campaign.record(
                SECTION,
                f"read-only:{command}",
                "refused",
                api_requests=0,
                duplicates=0,
                lost_jobs=0,
                tracebacks=0,
            )
    assert folder_bytes(project.state.parent) == before


@contextmanager
def small_disk(folder: Path, size: str = "256k") -> Iterator[Path]:
    """`folder` (emptied, its files kept aside and copied in) on a tmpfs of `size`."""
    if not IS_ROOT:
        pytest.skip("a full disk kept across commands needs root to mount a tmpfs")
    kept = {p.name: p.read_bytes() for p in folder.iterdir()} if folder.exists() else {}
    folder.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(folder))
    try:
        for name, data in kept.items():
            (folder / name).write_bytes(data)
        yield folder
    finally:
        _umount(folder)


def fill(folder: Path, leave: int) -> Path:
    """A file that takes all but `leave` bytes of the disk's free space."""
    filler = folder / "filler"
    stats = os.statvfs(folder)
    room = stats.f_bavail * stats.f_frsize - leave
    with filler.open("wb") as file:
        try:
            file.write(b"\0" * max(room, 0))
            file.flush()
        except OSError:
            pass  # full already: as good
    return filler


def test_a_full_disk_refuses_writes_before_any_api_call_and_keeps_the_state(
    project: QuickstartProject, campaign: Campaign
) -> None:
    with small_disk(project.state.parent) as folder:
        filler = fill(folder, leave=0)
        before = {k: v for k, v in folder_bytes(folder).items() if k != "filler"}
        planned = project.ftctl("plan")
        assert planned.code == 0, planned.describe()
        for command in ("apply", "import"):
            ran = project.ftctl(*COMMANDS[command](project))
            assert ran.code == 1 and "Error:" in ran.output, ran.describe()
            assert ran.requests == (), ran.describe()
            after = {k: v for k, v in folder_bytes(folder).items() if k != "filler"}
            assert after == before, ran.describe()
            campaign.record(SECTION, f"full-disk:{command}", "refused", api_requests=0, lost_jobs=0)
        # refresh reads before it locks, so that a failed read leaves the file untouched: it
        # may read, but must write nothing and say why.
        ran = project.ftctl("refresh")
        assert ran.code == 1 and "Error:" in ran.output, ran.describe()
        assert all(r.startswith("GET ") for r in ran.requests), ran.describe()
        assert integrity(project.state) == "ok"
        campaign.record(
            SECTION, "full-disk:refresh", "refused", api_requests=len(ran.requests), lost_jobs=0
        )
        filler.unlink()


SWEEP_JOBS = 3


def full_disk_mid_apply(emu: Emulator, tmp_path: Path, campaign: Campaign, leave: int) -> None:
    """The sweep (a file and three jobs) applied onto a disk with `leave` bytes free; then the
    space comes back and apply runs again."""
    folder = tmp_path / f"sweep-{leave}"
    shutil.copytree(REPO / "examples" / "sweep", folder)
    project = QuickstartProject(emu, folder, adoptable="")
    with small_disk(folder / "state", size="512k") as disk:
        filler = fill(disk, leave)
        first = project.ftctl("apply", "--auto-approve")
        assert first.code in (0, 1), first.describe()
        if first.code == 1:
            assert "Error:" in first.output, first.describe()
        creates = sum(r == "POST /v1/fine_tuning/jobs" for r in first.requests)
        lost = 0
        if project.state.exists() and project.state.stat().st_size:
            assert integrity(project.state) == "ok"
            db = sqlite3.connect(f"{project.state.absolute().as_uri()}?mode=ro", uri=True)
            with db:
                rows = db.execute("SELECT remote_id, pending_token FROM resources").fetchall()
                records = db.execute("SELECT address, pending_token FROM resources").fetchall()
                (serial,) = db.execute("SELECT serial FROM meta").fetchone()
                (history,) = db.execute("SELECT count(*) FROM history").fetchone()
            db.close()
            assert serial == history, "every write bumps the serial with its history row"
        else:
            rows, records = [], []
        ids = {remote_id for remote_id, _ in rows}
        tokens = {token for _, token in rows if token}
        for job in project.jobs():
            token = (job.get("metadata") or {}).get("ftctl_token")
            if job["id"] not in ids and token not in tokens:
                lost += 1
        # An upload carries no token: a pending file record is found again by name and
        # content, so each untracked upload needs a pending file record of its own.
        pending_uploads = sum(
            1 for address, token in records if token and address.startswith("openai_file.")
        )
        untracked = [f for f in project.files() if f["id"] not in ids]
        lost += max(0, len(untracked) - pending_uploads)
        assert lost == 0, f"created but not recorded, not even as pending:\n{first.describe()}"
        filler.unlink()
        second = project.ftctl("apply", "--auto-approve")
        assert second.code == 0, second.describe()
        settled = project.ftctl("plan", "--detailed-exitcode")
        assert settled.code == 0, settled.describe()
    jobs, files = project.jobs(), project.files()
    duplicates = len(jobs) - SWEEP_JOBS + len(files) - 1
    assert duplicates == 0, (jobs, files)
    if first.code == 0:
        outcome = "survived"
    else:
        outcome = "stopped-mid-apply-then-converged" if creates else "refused-then-converged"
    campaign.record(
        SECTION,
        f"full-disk-mid-apply:{leave}",
        outcome,
        api_requests=len(first.requests),
        creates_before_full=creates,
        duplicates=duplicates,
        lost_jobs=lost,
        tracebacks=0,
    )


def test_a_disk_that_fills_during_an_apply_loses_no_job_and_the_rerun_converges(
    emu: Emulator, tmp_path: Path, campaign: Campaign
) -> None:
    full_disk_mid_apply(emu, tmp_path, campaign, leave=80_480)


@pytest.mark.reliability
# Bytes left free: from none (the state cannot even be created) through the few pages in
# which a create's records run out of room, to enough for the whole apply.
@pytest.mark.parametrize("leave", [0, 40_000, *range(60_000, 110_000, 4096), 160_000])
def test_campaign_full_disk_mid_apply(
    emu: Emulator, tmp_path: Path, campaign: Campaign, leave: int
) -> None:
    full_disk_mid_apply(emu, tmp_path, campaign, leave)
