"""OpenAIProvider against the served emulator, through the real SDK: settings, the calls the
engine makes, the one-POST create, cheap refresh counted in the request log, and the error
table (what each failure becomes, and that no message carries the API key)."""

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI
from openai.types.fine_tuning import FineTuningJob

from ftctl.plan import RESERVED_METADATA_KEY
from ftctl.provider.base import (
    Ambiguous,
    AuthenticationFailed,
    NotFound,
    ProviderError,
    Rejected,
    RemoteJob,
)
from ftctl.provider.openai_api import (
    ConfigurationMissing,
    OpenAIProvider,
    Settings,
    _remote_job,
)
from tests.harness import REPO, TEST_KEY, Emulator, chat_jsonl, served_process

JOBS = "/v1/fine_tuning/jobs"
# Validating 10 s, then queued 20 s: a job made now is running 30 s later.
UNTIL_RUNNING = 31


@pytest.fixture
def provider(emu: Emulator) -> Iterator[OpenAIProvider]:
    with OpenAIProvider.from_settings({"base_url": emu.base_url, "api_key": TEST_KEY}, {}) as p:
        yield p


@pytest.fixture
def training_file(provider: OpenAIProvider, tmp_path: Path) -> str:
    path = tmp_path / "train.jsonl"
    path.write_bytes(chat_jsonl())
    return provider.upload_file(path, "fine-tune").id


def request_for(training_file: str, **more: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "training_file": training_file, **more}


def logged(emu: Emulator, method: str, path: str) -> list[int]:
    """The statuses of the logged requests to exactly this method and path."""
    return [r["status"] for r in emu.requests() if (r["method"], r["path"]) == (method, path)]


def chain(exc: BaseException) -> Iterator[BaseException]:
    seen: BaseException | None = exc
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__


# Settings


def test_the_provider_block_wins_and_each_setting_falls_back_to_its_variable() -> None:
    environ = {
        "OPENAI_API_KEY": "sk-from-env",
        "OPENAI_BASE_URL": "http://env.invalid/v1",
        "OPENAI_ORG_ID": "org-env",
        "OPENAI_PROJECT_ID": "proj_env",
    }
    block = {"base_url": "http://block.invalid/v1", "project": "proj_block", "max_retries": 4}
    settings = OpenAIProvider.from_settings(block, environ).settings
    assert settings == Settings(
        api_key="sk-from-env",
        base_url="http://block.invalid/v1",
        organization="org-env",
        project="proj_block",
        max_retries=4,
        timeout=None,
    )
    assert OpenAIProvider.from_settings({"api_key": "sk-b", "timeout": 30}, {}).settings == (
        Settings(api_key="sk-b", timeout=30.0)
    )


@pytest.mark.parametrize("environ", [{}, {"OPENAI_API_KEY": ""}], ids=["unset", "empty"])
def test_no_key_anywhere_is_configuration_missing_naming_both_places(
    environ: dict[str, str],
) -> None:
    with pytest.raises(ConfigurationMissing) as caught:
        OpenAIProvider.from_settings({"base_url": "http://x.invalid/v1"}, environ)
    assert isinstance(caught.value, ProviderError)
    assert "OPENAI_API_KEY" in str(caught.value)
    assert 'provider "openai" block' in str(caught.value)


def test_settings_from_the_environment_reach_the_api(emu: Emulator) -> None:
    environ = {"OPENAI_API_KEY": TEST_KEY, "OPENAI_BASE_URL": emu.base_url}
    with OpenAIProvider.from_settings({}, environ) as provider:
        assert provider.list_jobs(["ftjob-none"]) == []
    assert logged(emu, "GET", f"{JOBS}/ftjob-none") == [404]


def test_importing_the_module_and_resolving_settings_leave_openai_unimported() -> None:
    script = (
        "import sys, ftctl.provider.openai_api as m; "
        "m.OpenAIProvider.from_settings({'api_key': 'sk-x'}, {}); "
        "print('openai' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_a_provider_dropped_without_close_closes_its_connections(emu: Emulator) -> None:
    provider = OpenAIProvider.from_settings({"base_url": emu.base_url, "api_key": TEST_KEY}, {})
    provider.list_jobs(["ftjob-x"])
    sdk = provider._client
    del provider  # no reference cycle: collected here, not at some later garbage collection
    assert sdk is not None and sdk.is_closed()


# The calls, end to end


def test_upload_create_find_get_and_cancel_a_running_job(
    provider: OpenAIProvider, emu: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(chat_jsonl())
    uploaded = provider.upload_file(path, "fine-tune")
    assert (uploaded.filename, uploaded.purpose, uploaded.bytes) == (
        "train.jsonl",
        "fine-tune",
        len(chat_jsonl()),
    )
    assert uploaded.id.startswith("file-") and uploaded.created_at == emu.now()

    created = provider.create_job(request_for(uploaded.id, metadata={"team": "search"}), "tok-1")
    assert created.status == "validating_files"
    assert created.model == "gpt-4o-mini-2024-07-18"  # the alias comes back as its snapshot
    assert created.metadata == {"team": "search", RESERVED_METADATA_KEY: "tok-1"}
    assert created.error is None and created.result_files == ()
    assert created.raw["training_file"] == uploaded.id

    found = provider.find_job_by_token("tok-1")
    assert found is not None and found.id == created.id
    assert provider.find_job_by_token("tok-other") is None

    emu.advance(UNTIL_RUNNING)
    assert provider.get_job(created.id).status == "running"
    cancelled = provider.cancel_job(created.id)
    assert (cancelled.id, cancelled.status) == (created.id, "cancelled")
    assert logged(emu, "POST", f"{JOBS}/{created.id}/cancel") == [200]


def test_cancelling_a_finished_job_returns_it_as_it_is(
    provider: OpenAIProvider, emu: Emulator, training_file: str
) -> None:
    job = provider.create_job(request_for(training_file), "tok-1")
    emu.force_status(job.id, "succeeded")
    returned = provider.cancel_job(job.id)
    assert returned.status == "succeeded"
    assert returned.fine_tuned_model is not None and returned.finished_at is not None
    # The API's 400 for the finished job, then the read that returned it.
    assert logged(emu, "POST", f"{JOBS}/{job.id}/cancel") == [400]
    assert logged(emu, "GET", f"{JOBS}/{job.id}") == [200]


def test_a_cancel_refused_for_an_unfinished_job_stays_rejected(
    provider: OpenAIProvider, emu: Emulator, training_file: str
) -> None:
    job = provider.create_job(request_for(training_file), "tok-1")
    emu.arm(method="POST", path=f"{JOBS}/{job.id}/cancel", status=400)
    with pytest.raises(Rejected, match=f"Cancelling job {job.id} failed"):
        provider.cancel_job(job.id)


def test_cancelling_an_unknown_job_is_not_found(provider: OpenAIProvider) -> None:
    with pytest.raises(NotFound, match="Cancelling job ftjob-nothing failed"):
        provider.cancel_job("ftjob-nothing")


def test_paused_jobs_are_read_although_the_sdk_types_lack_the_status(
    provider: OpenAIProvider, emu: Emulator, training_file: str
) -> None:
    job = provider.create_job(request_for(training_file), "tok-1")
    emu.advance(UNTIL_RUNNING)
    emu.client(strict=False).fine_tuning.jobs.pause(job.id)
    assert provider.get_job(job.id).status == "pausing"
    emu.advance(5)
    assert provider.get_job(job.id).status == "paused"
    assert provider.list_jobs([job.id])[0].status == "paused"


def test_a_failed_job_carries_its_error(
    provider: OpenAIProvider, emu: Emulator, training_file: str
) -> None:
    job = provider.create_job(request_for(training_file), "tok-1")
    error = {"code": "invalid_training_file", "message": "Line 3 is not JSON.", "param": "x"}
    emu.force_status(job.id, "failed", error)
    failed = provider.get_job(job.id)
    assert failed.status == "failed" and failed.error == error


@pytest.mark.parametrize("error", [None, {}, {"code": None, "message": None, "param": None}])
def test_a_job_with_no_error_code_has_no_error(error: dict[str, Any] | None) -> None:
    # Built as the SDK builds what it reads (without validation): the API sends all three.
    job = FineTuningJob.construct(
        id="ftjob-a", status="running", model="m", created_at=1, error=error, metadata=None
    )
    remote = _remote_job(job)
    assert remote.error is None and remote.metadata == {}
    assert remote.organization_id == "" and remote.result_files == ()


def test_upload_of_an_unreadable_path_fails_before_any_request(
    provider: OpenAIProvider, emu: Emulator, tmp_path: Path
) -> None:
    with pytest.raises(ProviderError, match="cannot read the file") as caught:
        provider.upload_file(tmp_path / "absent.jsonl", "fine-tune")
    assert type(caught.value) is ProviderError
    assert emu.requests() == []


def test_delete_file_then_deleting_it_again_is_not_found(
    provider: OpenAIProvider, emu: Emulator, training_file: str
) -> None:
    provider.delete_file(training_file)
    with pytest.raises(NotFound, match=f"Deleting file {training_file} failed"):
        provider.delete_file(training_file)
    assert logged(emu, "DELETE", f"/v1/files/{training_file}") == [200, 404]


def test_find_job_by_token_returns_the_oldest_of_duplicates(
    provider: OpenAIProvider, emu: Emulator, training_file: str
) -> None:
    client = emu.client()
    metadata = {RESERVED_METADATA_KEY: "tok-dup"}
    first, same_second = (
        client.fine_tuning.jobs.create(
            model="gpt-4o-mini", training_file=training_file, metadata=metadata
        ).id
        for _ in range(2)
    )
    emu.advance(1)
    later = client.fine_tuning.jobs.create(
        model="gpt-4o-mini", training_file=training_file, metadata=metadata
    ).id
    found = provider.find_job_by_token("tok-dup")
    assert found is not None
    assert found.id == first and first not in (same_second, later)


# Crash-safe create: one POST, and ambiguity the engine resolves by token


def test_a_500_on_create_is_ambiguous_after_exactly_one_post(
    provider: OpenAIProvider, emu: Emulator, training_file: str
) -> None:
    # Armed for one request: an SDK retry would succeed and leave a job behind.
    emu.arm(method="POST", path=JOBS, status=500)
    with pytest.raises(Ambiguous, match="Creating a fine-tuning job of gpt-4o-mini failed"):
        provider.create_job(request_for(training_file), "tok-1")
    assert logged(emu, "POST", JOBS) == [500]
    assert provider.find_job_by_token("tok-1") is None


def test_a_500_after_commit_is_ambiguous_and_the_job_is_found_by_its_token(
    provider: OpenAIProvider, emu: Emulator, training_file: str
) -> None:
    emu.arm(method="POST", path=JOBS, status=500, after_commit=True)
    with pytest.raises(Ambiguous, match="may or may not have been carried out"):
        provider.create_job(request_for(training_file), "tok-1")
    assert logged(emu, "POST", JOBS) == [500]
    found = provider.find_job_by_token("tok-1")
    assert found is not None and found.metadata == {RESERVED_METADATA_KEY: "tok-1"}


def test_a_dropped_connection_on_create_is_ambiguous(
    provider: OpenAIProvider, emu: Emulator, training_file: str
) -> None:
    emu.arm(method="POST", path=JOBS, status=0)
    with pytest.raises(Ambiguous, match="connection broke"):
        provider.create_job(request_for(training_file), "tok-1")
    assert logged(emu, "POST", JOBS) == [0]


def test_a_create_timeout_is_ambiguous(emu: Emulator, training_file: str) -> None:
    block = {"base_url": emu.base_url, "api_key": TEST_KEY, "timeout": 0.2}
    emu.arm(method="POST", path=JOBS, status=None, delay_ms=500, after_commit=True)
    with (
        OpenAIProvider.from_settings(block, {}) as impatient,
        pytest.raises(Ambiguous, match="no answer came before the timeout"),
    ):
        impatient.create_job(request_for(training_file), "tok-1")
    # The emulator logs the request once it sees the client gone: a moment after the timeout.
    deadline = time.monotonic() + 5
    while not logged(emu, "POST", JOBS) and time.monotonic() < deadline:
        pass
    assert len(logged(emu, "POST", JOBS)) == 1


def test_a_bad_model_is_rejected_with_the_apis_message(
    provider: OpenAIProvider, training_file: str
) -> None:
    with pytest.raises(Rejected) as caught:
        provider.create_job(request_for(training_file, model="gpt-nope"), "tok-1")
    assert str(caught.value) == (
        "Creating a fine-tuning job of gpt-nope failed: the API rejected the request (400): "
        "Model 'gpt-nope' is not available for fine-tuning or does not exist."
    )
    assert isinstance(caught.value.__cause__, Exception)  # raised from the SDK's error


# The error table, in one place


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, Rejected),
        (401, AuthenticationFailed),
        (403, AuthenticationFailed),
        (404, NotFound),
        (409, ProviderError),
        (422, Rejected),
        (429, Ambiguous),
        (500, Ambiguous),
        (503, Ambiguous),
        (0, Ambiguous),
    ],
)
def test_each_failure_of_a_read_becomes_what_it_calls_for(
    emu: Emulator, status: int, expected: type[ProviderError]
) -> None:
    block = {"base_url": emu.base_url, "api_key": TEST_KEY, "max_retries": 0}
    emu.arm(method="GET", path=f"{JOBS}/ftjob-x", status=status)
    with OpenAIProvider.from_settings(block, {}) as provider, pytest.raises(ProviderError) as e:
        provider.get_job("ftjob-x")
    assert type(e.value) is expected
    assert str(e.value).startswith("Reading job ftjob-x failed: ")
    assert "may or may not" not in str(e.value)  # a read changes nothing
    assert e.value.__cause__ is not None


def test_a_wrong_key_is_authentication_failed_and_the_key_is_never_shown() -> None:
    secret = "sk-wrong-DISTINCTIVE-7f3a9c"
    with served_process("--clock", "manual", "--api-key", "sk-right") as served:
        block = {"base_url": served.emulator.base_url, "api_key": secret}
        with OpenAIProvider.from_settings(block, {}) as provider:
            failures: list[ProviderError] = []
            for call in (
                lambda: provider.get_job("ftjob-x"),
                lambda: provider.list_jobs(["ftjob-x"]),
                lambda: provider.create_job(request_for("file-x"), "tok-1"),
                lambda: provider.find_job_by_token("tok-1"),
            ):
                with pytest.raises(AuthenticationFailed) as caught:
                    call()
                failures.append(caught.value)
            assert provider.server_time() is not None  # the 401s did arrive
            shown = [repr(provider), repr(provider.settings)]
    for failure in failures:
        assert "refused the credentials (401)" in str(failure)
        for exc in chain(failure):
            shown += [str(exc), repr(exc)]
    assert len(shown) > 2 + 4 * 2
    assert not [text for text in shown if secret in text]


# Refresh: requests grow with pages, not jobs


def make_jobs(emu: Emulator, training_file: str, count: int) -> list[str]:
    """Oldest first."""
    client: OpenAI = emu.client()
    return [
        client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training_file).id
        for _ in range(count)
    ]


def reads(emu: Emulator, since: int) -> tuple[int, int]:
    """(list requests, single reads) logged after the first `since` requests."""
    later = emu.requests()[since:]
    listed = sum(1 for r in later if (r["method"], r["path"]) == ("GET", JOBS))
    single = sum(1 for r in later if r["method"] == "GET" and r["path"].startswith(JOBS + "/"))
    return listed, single


def test_refreshing_the_250_oldest_of_300_jobs_takes_3_list_requests(
    provider: OpenAIProvider, emu: Emulator, training_file: str
) -> None:
    ids = make_jobs(emu, training_file, 300)
    wanted = ids[:250]
    since = len(emu.requests())
    jobs = provider.list_jobs(wanted)
    assert [job.id for job in jobs] == wanted  # in the order asked
    assert all(isinstance(job, RemoteJob) for job in jobs)
    assert reads(emu, since) == (3, 0)
    queries = [r["query"] for r in emu.requests()[since:]]
    assert all("limit=100" in query for query in queries)


def test_refreshing_recent_jobs_reads_one_page(
    provider: OpenAIProvider, emu: Emulator, training_file: str
) -> None:
    ids = make_jobs(emu, training_file, 150)
    since = len(emu.requests())
    assert [job.id for job in provider.list_jobs(reversed(ids[-3:]))] == ids[-3:][::-1]
    assert reads(emu, since) == (1, 0)


def test_an_unknown_id_costs_the_pages_then_one_single_read_and_is_left_out(
    provider: OpenAIProvider, emu: Emulator, training_file: str
) -> None:
    ids = make_jobs(emu, training_file, 150)
    since = len(emu.requests())
    jobs = provider.list_jobs([ids[0], "ftjob-doesnotexist"])
    assert [job.id for job in jobs] == [ids[0]]
    assert reads(emu, since) == (2, 1)
    assert logged(emu, "GET", f"{JOBS}/ftjob-doesnotexist") == [404]


def test_refreshing_nothing_sends_nothing(provider: OpenAIProvider, emu: Emulator) -> None:
    assert provider.list_jobs([]) == []
    assert emu.requests() == []


# The server's clock


def test_server_time_is_the_emulators_clock_from_the_latest_answer(
    provider: OpenAIProvider, emu: Emulator
) -> None:
    assert provider.server_time() is None  # no answer yet
    provider.list_jobs(["ftjob-x"])
    assert provider.server_time() == emu.now()
    later = emu.advance(3600)
    assert provider.server_time() == later - 3600  # only an answer moves it
    with pytest.raises(NotFound):
        provider.get_job("ftjob-x")  # error answers carry a Date too
    assert provider.server_time() == later
