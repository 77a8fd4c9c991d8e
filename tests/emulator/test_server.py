"""`ftctl emulator serve` as a process: its announcement, its options, restarts with --data,
and clean stops on SIGINT and SIGTERM."""

import signal
import socket
import subprocess
import sys
import time
from email.utils import parsedate_to_datetime
from pathlib import Path

import openai
import pytest

from tests.harness import REPO, chat_jsonl, served_process, upload


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_announces_its_url_and_stops_cleanly_on_signal(sig: signal.Signals) -> None:
    with served_process("--clock", "manual") as served:
        assert served.announcement.startswith("ftctl emulator listening on http://127.0.0.1:")
        assert served.emulator.control.get("/_emulator/health").json()["status"] == "ok"
        assert served.stop(sig) == 0
        assert "Traceback" not in served.stderr()


def test_data_survives_a_restart_and_time_never_runs_back(tmp_path: Path) -> None:
    data = str(tmp_path / "emulator.sqlite")
    with served_process("--clock", "manual", "--data", data) as first:
        client = first.emulator.client()
        training_file = upload(client, chat_jsonl())
        job = client.fine_tuning.jobs.create(
            model="gpt-4o-mini", training_file=training_file, metadata={"team": "search"}
        )
        finished = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training_file)
        first.emulator.force_status(finished.id, "succeeded")
        model = client.fine_tuning.jobs.retrieve(finished.id).fine_tuned_model
        now = first.emulator.advance(15)
        organization = job.organization_id
        assert first.stop() == 0

    with served_process("--clock", "manual", "--data", data) as second:
        client = second.emulator.client()
        assert second.emulator.now() == now
        assert client.files.content(training_file).read() == chat_jsonl()
        again = client.fine_tuning.jobs.retrieve(job.id)
        assert (again.status, again.organization_id, again.metadata) == (
            "queued",
            organization,
            {"team": "search"},
        )
        assert [j.id for j in client.fine_tuning.jobs.list(metadata={"team": "search"})] == [job.id]
        done = client.fine_tuning.jobs.retrieve(finished.id)
        assert done.fine_tuned_model == model and done.result_files
        second.emulator.advance(10_000)
        assert client.fine_tuning.jobs.retrieve(job.id).status == "succeeded"


def test_without_data_a_restart_starts_empty() -> None:
    with served_process("--clock", "manual") as first:
        upload(first.emulator.client(), chat_jsonl())
    with served_process("--clock", "manual") as second:
        assert second.emulator.client().files.list().data == []


def test_models_option_extends_the_fine_tunable_list() -> None:
    with served_process(
        "--clock", "manual", "--models", "acme-7b,acme-chat=acme-chat-2026-01-01"
    ) as served:
        client = served.emulator.client()
        training_file = upload(client, chat_jsonl())
        assert (
            client.fine_tuning.jobs.create(model="acme-7b", training_file=training_file).model
            == "acme-7b"
        )
        alias = client.fine_tuning.jobs.create(model="acme-chat", training_file=training_file)
        assert alias.model == "acme-chat-2026-01-01"
        with pytest.raises(openai.BadRequestError):
            client.fine_tuning.jobs.create(model="acme-8b", training_file=training_file)


def test_real_clock_moves_jobs_on_its_own_and_a_success_always_shows_its_model() -> None:
    # At 20,000 emulated seconds a second a 12-example job runs ~7 ms, a few polls long, so the
    # clock often crosses a job's success between the start of a request and its answer (at
    # 100,000 the job is done before the first poll and that race is never run).
    with served_process("--clock", "real", "--speed", "20000") as served:
        client = served.emulator.client()
        training_file = upload(client, chat_jsonl())
        for _ in range(40):
            job = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training_file)
            deadline = time.monotonic() + 10
            while (seen := client.fine_tuning.jobs.retrieve(job.id)).status != "succeeded":
                assert time.monotonic() < deadline, "the real clock did not move the job"
            assert seen.fine_tuned_model and seen.result_files and seen.trained_tokens, seen
        assert served.emulator.now() > job.created_at + 100


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        (["--clock", "sometimes"], "--clock"),
        (["--speed", "0"], "--speed"),
        (["--port", "99999"], "65535"),
        (["--models", "=snapshot"], "--models"),
    ],
)
def test_bad_options_exit_nonzero_with_a_message(arguments: list[str], complaint: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ftctl", "emulator", "serve", *arguments],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=30,
    )
    assert result.returncode != 0
    assert complaint in result.stderr
    assert "Traceback" not in result.stderr


def test_a_port_in_use_is_a_one_line_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = subprocess.run(
            [sys.executable, "-m", "ftctl", "emulator", "serve", "--port", port],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=30,
        )
    assert result.returncode == 1
    assert result.stderr.startswith(f"ftctl emulator: cannot listen on 127.0.0.1:{port}")
    assert "Traceback" not in result.stderr


def test_after_a_crash_a_restart_never_shows_an_earlier_time(tmp_path: Path) -> None:
    data = str(tmp_path / "emulator.sqlite")
    with served_process("--clock", "real", "--speed", "1000", "--data", data) as first:
        client = first.emulator.client()
        client.files.create(file=("train.jsonl", chat_jsonl()), purpose="fine-tune")
        # Reads after the last write: at 1,000x they show a clock well past that write.
        for _ in range(3):
            first.emulator.control.get("/_emulator/health")
        seen = parsedate_to_datetime(client.files.with_raw_response.list().headers["date"])
        assert first.stop(signal.SIGKILL) == -signal.SIGKILL
    with served_process("--clock", "manual", "--data", data) as second:
        assert second.emulator.now() >= seen.timestamp()
