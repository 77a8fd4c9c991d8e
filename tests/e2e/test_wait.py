"""Waiting for jobs: progress lines in logs pinned by a golden file, one list request per round
plus the running jobs' events, backing off while nothing changes, cancel_after_timeout enforced
on the API's clock, Ctrl-C cancelling nothing, and `ftctl wait`'s exit codes. The emulator's
manual clock moves between rounds: no test sleeps."""

import io
import os
import re
from pathlib import Path

from typer.testing import CliRunner

from ftctl.cli import app
from ftctl.engine.watch import LockedRecorder, Watch
from ftctl.provider.openai_api import OpenAIProvider
from ftctl.state.store import StateStore
from ftctl.views.progress import PlainProgress
from tests.e2e.conftest import Ftctl
from tests.harness import TEST_KEY, Emulator, served_process

GOLDEN = Path(__file__).parents[1] / "views" / "golden" / "wait_plain.txt"
runner = CliRunner()


def watch(
    ftctl: Ftctl,
    emu: Emulator,
    *,
    advance: int = 10,
    rounds: int = 200,
    stop_after: int | None = None,
) -> tuple[str, dict[str, object], list[float]]:
    """Watches every job the state records with the plain view; each pause between rounds
    moves the emulator's clock `advance` seconds. (log, progress, pauses asked for)"""
    out = io.StringIO()
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        assert len(pauses) < rounds, "the watch did not end"
        if advance:
            emu.advance(advance)

    settings = {"base_url": emu.base_url, "api_key": TEST_KEY}
    with (
        StateStore.open(ftctl.project / "state" / "ftctl.db") as store,
        OpenAIProvider.from_settings(settings, {}) as provider,
    ):
        jobs = {
            a: str(r.remote_id)
            for a, r in store.snapshot().resources.items()
            if r.type == "openai_fine_tuning_job"
        }
        progress = Watch(
            provider,
            LockedRecorder(store),
            jobs,
            PlainProgress(out).update,
            poll_seconds=1.0,
            sleep=sleep,
            stop_requested=lambda: stop_after is not None and len(pauses) >= stop_after,
        ).run()
    return out.getvalue(), dict(progress), pauses


def normalised(log: str) -> str:
    """Generated names vary from run to run: the model's random suffix."""
    return re.sub(r"(ft:[^\s\]]*:)[A-Za-z0-9]+", r"\1<id>", log)


def test_plain_progress_lines_are_pinned_by_a_golden_file(ftctl: Ftctl, emu: Emulator) -> None:
    ftctl.edit('  suffix        = "support-v1"\n', '  suffix        = "support-v1"\n  seed = 42\n')
    assert ftctl("apply", "--auto-approve").exit_code == 0
    log, progress, _ = watch(ftctl, emu)
    shown = normalised(log)
    if os.environ.get("FTCTL_REGENERATE_GOLDEN") == "1":
        GOLDEN.write_text(shown)
    assert shown == GOLDEN.read_text()
    (job,) = progress.values()
    assert job.status == "succeeded"  # type: ignore[attr-defined]
    model = str(ftctl.jobs()[0]["fine_tuned_model"])
    assert f"Succeeded [model={model}]" in log  # the name exactly, case and all
    with StateStore.open(ftctl.project / "state" / "ftctl.db") as store:
        observed = store.snapshot().resources["openai_fine_tuning_job.support"].observed
    assert observed["status"] == "succeeded" and observed["fine_tuned_model"]


def test_each_round_is_one_list_request_plus_the_running_jobs_events(
    ftctl: Ftctl, emu: Emulator
) -> None:
    ftctl.write_jobs(3)
    assert ftctl("apply", "--auto-approve").exit_code == 0
    before = len(emu.requests())
    watch(ftctl, emu, advance=0, stop_after=3)  # four rounds, nothing moves: all queued/validating
    reads = [r["path"] for r in emu.requests()[before:] if r["method"] == "GET"]
    assert reads == ["/v1/fine_tuning/jobs"] * 4  # no events read before a job runs
    emu.advance(10_000)
    before = len(emu.requests())
    watch(ftctl, emu, advance=0, stop_after=0)
    reads = [r["path"] for r in emu.requests()[before:] if r["method"] == "GET"]
    assert reads.count("/v1/fine_tuning/jobs") == 1
    assert all(p.endswith("/events") for p in reads if p != "/v1/fine_tuning/jobs")


def test_polling_backs_off_while_nothing_changes(ftctl: Ftctl, emu: Emulator) -> None:
    assert ftctl("apply", "--auto-approve").exit_code == 0
    _, _, pauses = watch(ftctl, emu, advance=0, stop_after=5)
    # The first round is news (nothing was known); then each quiet round waits longer.
    assert pauses == [1.0, 1.5, 2.25, 3.375, 5.0625]


def test_a_deadline_is_enforced_while_waiting_not_a_second_early(
    ftctl: Ftctl, emu: Emulator
) -> None:
    ftctl.edit('  metadata      = { team = "support" }\n', "  cancel_after_timeout = 45\n")
    assert ftctl("apply", "--auto-approve").exit_code == 0
    created = int(ftctl.jobs()[0]["created_at"])  # type: ignore[call-overload]
    log, progress, _ = watch(ftctl, emu, advance=10)
    (job,) = progress.values()
    assert job.status == "cancelled" and job.cancelled_for_deadline  # type: ignore[attr-defined]
    cancels = [r for r in emu.requests() if r["path"].endswith("/cancel")]
    assert len(cancels) == 1
    assert "openai_fine_tuning_job.support: Cancelled: past its cancel_after_timeout" in log
    # The round before the cancel was the last one under the deadline.
    assert emu.now() - created in range(45, 55)


def test_a_stop_ends_the_watch_and_cancels_nothing(ftctl: Ftctl, emu: Emulator) -> None:
    assert ftctl("apply", "--auto-approve").exit_code == 0
    _, progress, _ = watch(ftctl, emu, advance=10, stop_after=2)
    assert [p.status for p in progress.values()] != ["succeeded"]  # type: ignore[attr-defined]
    assert not [r for r in emu.requests() if r["path"].endswith("/cancel")]


def run(project: Path, base_url: str, *args: str) -> tuple[int, str]:
    env = {"OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": TEST_KEY}
    result = runner.invoke(app, [*args, "--chdir", str(project)], env=env)
    return result.exit_code, result.output


def test_wait_exits_0_when_all_succeeded_and_1_naming_each_failure(tmp_path: Path) -> None:
    from shutil import copytree

    from tests.harness import REPO

    good, bad = tmp_path / "good", tmp_path / "bad"
    copytree(REPO / "examples" / "quickstart", good)
    copytree(REPO / "examples" / "quickstart", bad)
    data = bad / "data" / "train.jsonl"
    data.write_text("\n".join(data.read_text().splitlines()[:5]) + "\n")  # too few: fails
    with served_process("--clock", "real", "--speed", "20000") as served:
        url = served.emulator.base_url
        assert run(good, url, "apply", "--auto-approve")[0] == 0
        assert run(bad, url, "apply", "--auto-approve")[0] == 0
        ok = run(good, url, "wait", "--poll-interval", "0.01")
        failed = run(bad, url, "wait", "--poll-interval", "0.01")
        nothing = run(good, url, "wait")
    assert ok[0] == 0, ok[1]
    assert "openai_fine_tuning_job.support: status succeeded" in ok[1]
    assert "All 1 jobs succeeded." in ok[1]
    assert failed[0] == 1
    assert "Not every job succeeded: openai_fine_tuning_job.support (failed: " in failed[1]
    assert nothing == (0, "No unfinished jobs to wait for.\n")


def test_wait_timeout_leaves_the_jobs_running(ftctl: Ftctl, emu: Emulator) -> None:
    assert ftctl("apply", "--auto-approve").exit_code == 0
    result = ftctl("wait", "--timeout", "0s")
    assert result.exit_code == 1
    assert "Timed out waiting for openai_fine_tuning_job.support; the jobs go on." in (
        result.output
    )
    assert not [r for r in emu.requests() if r["path"].endswith("/cancel")]
    unknown = ftctl("wait", "openai_fine_tuning_job.nope")
    assert unknown.exit_code == 1 and "No job openai_fine_tuning_job.nope" in unknown.output


def test_news_of_a_replaced_job_never_lands_on_its_successors_record(
    ftctl: Ftctl, emu: Emulator
) -> None:
    assert ftctl("apply", "--auto-approve").exit_code == 0
    (old,) = [str(j["id"]) for j in ftctl.jobs()]
    replaced = []

    def replace_then_finish(seconds: float) -> None:
        if not replaced:  # an apply replaces the job while wait watches the old one
            result = ftctl("apply", "--auto-approve", "--replace", "openai_fine_tuning_job.support")
            replaced.append(result.exit_code)

    out = io.StringIO()
    settings = {"base_url": emu.base_url, "api_key": TEST_KEY}
    with (
        StateStore.open(ftctl.project / "state" / "ftctl.db") as store,
        OpenAIProvider.from_settings(settings, {}) as provider,
    ):
        Watch(
            provider,
            LockedRecorder(store),
            {"openai_fine_tuning_job.support": old},
            PlainProgress(out).update,
            poll_seconds=1.0,
            sleep=replace_then_finish,
        ).run()
        record = store.snapshot().resources["openai_fine_tuning_job.support"]
    assert replaced == [0]
    assert "openai_fine_tuning_job.support: status cancelled" in out.getvalue()  # the old job
    assert record.remote_id != old
    assert record.observed["id"] == record.remote_id
    assert record.observed["status"] != "cancelled"


def test_a_job_the_api_does_not_know_fails_the_wait(ftctl: Ftctl) -> None:
    from dataclasses import replace

    assert ftctl("apply", "--auto-approve").exit_code == 0
    with StateStore.open(ftctl.project / "state" / "ftctl.db") as store, store.lock("test"):
        record = store.snapshot().resources["openai_fine_tuning_job.support"]
        store.put(replace(record, remote_id="ftjob-elsewhere"), operation="test", action="edit")
    result = ftctl("wait")
    assert result.exit_code == 1
    assert "openai_fine_tuning_job.support: not found by the API (wrong key or project?)" in (
        result.output
    )
