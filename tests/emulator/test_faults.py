"""Armed faults and auth, seen by the real SDK: errors, Retry-After honoured by the SDK's own
retry, delays and timeouts, dropped connections, and after_commit (the duplicate trap)."""

import time
from concurrent.futures import ThreadPoolExecutor

import httpx2
import openai
import pytest
from openai import OpenAI

from tests.harness import Emulator, chat_jsonl, served_process, upload

JOBS = "/v1/fine_tuning/jobs"


def creates(emu: Emulator) -> list[tuple[int, int | None]]:
    return [
        (r["status"], r["retry_count"])
        for r in emu.requests()
        if (r["method"], r["path"]) == ("POST", JOBS)
    ]


def job_count(client: OpenAI) -> int:
    return len(client.fine_tuning.jobs.list(limit=100).data)


def test_error_fault_answers_openai_error_body_once_then_clears(
    client: OpenAI, emu: Emulator
) -> None:
    training_file = upload(client, chat_jsonl())
    emu.arm(method="POST", path=JOBS, status=500, times=1)
    strict_once = emu.client(max_retries=0)
    with pytest.raises(openai.InternalServerError) as caught:
        strict_once.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training_file)
    assert caught.value.type == "server_error"
    assert emu.armed() == []
    assert job_count(client) == 0  # without after_commit nothing was carried out
    strict_once.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training_file)
    assert creates(emu) == [(500, 0), (200, 0)]


def test_sdk_retries_through_a_fault_armed_for_two_requests(client: OpenAI, emu: Emulator) -> None:
    training_file = upload(client, chat_jsonl())
    emu.arm(method="POST", path=JOBS, status=503, times=2, retry_after=0.05)
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training_file)
    assert creates(emu) == [(503, 0), (503, 1), (200, 2)]
    assert [j.id for j in client.fine_tuning.jobs.list()] == [job.id]


def test_sdk_waits_as_long_as_retry_after_says(client: OpenAI, emu: Emulator) -> None:
    emu.arm(method="GET", path="/v1/files", status=429, retry_after=0.6)
    started = time.monotonic()
    page = client.files.list()
    waited = time.monotonic() - started
    assert page.data == []
    assert 0.6 <= waited < 0.6 + 0.4  # Retry-After, not the SDK's own 0.4-0.8 s backoff
    logged = [(r["status"], r["retry_count"]) for r in emu.requests()]
    assert logged == [(429, 0), (200, 1)]


def test_rate_limit_body_and_header_reach_the_sdk(emu: Emulator) -> None:
    emu.arm(method="GET", path="/v1/files", status=429, retry_after=30)
    response = emu.raw().get("files")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "30"
    assert response.json()["error"]["code"] == "rate_limit_exceeded"


def test_path_prefix_and_method_decide_which_requests_a_rule_hits(
    client: OpenAI, emu: Emulator
) -> None:
    no_retry = emu.client(max_retries=0)
    emu.arm(method="GET", path="/v1/fine_tuning/*", status=502, times=2)
    upload(no_retry, chat_jsonl())  # POST /v1/files: neither method nor path matches
    with pytest.raises(openai.InternalServerError):
        no_retry.fine_tuning.jobs.list()
    assert emu.armed()[0]["times"] == 1
    with pytest.raises(openai.InternalServerError):
        no_retry.fine_tuning.jobs.retrieve("ftjob-any")
    assert emu.armed() == []
    assert [r["status"] for r in emu.requests()] == [200, 502, 502]


def test_null_status_delays_then_answers_normally(client: OpenAI, emu: Emulator) -> None:
    emu.arm(method="GET", path="/v1/files", status=None, delay_ms=300)
    started = time.monotonic()
    assert client.files.list().data == []
    assert time.monotonic() - started >= 0.3
    assert [r["status"] for r in emu.requests()] == [200]


def test_a_delay_longer_than_the_client_timeout_is_a_timeout_and_creates_nothing(
    client: OpenAI, emu: Emulator
) -> None:
    training_file = upload(client, chat_jsonl())
    emu.arm(method="POST", path=JOBS, status=None, delay_ms=600)
    impatient = emu.client(max_retries=0, timeout=0.2)
    with pytest.raises(openai.APITimeoutError):
        impatient.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training_file)
    # Without after_commit the delay comes first: the client left, so nothing was created.
    # A GET delayed as long ends after the POST's delay, so the checks below see its outcome.
    emu.arm(method="GET", path="/v1/files", status=None, delay_ms=600)
    client.files.list()
    assert job_count(client) == 0
    assert [r["status"] for r in emu.requests() if r["method"] == "POST"][-1] == 499


def test_dropped_connection_is_a_connection_error(client: OpenAI, emu: Emulator) -> None:
    emu.arm(method="GET", path="/v1/files", status=0)
    with pytest.raises(openai.APIConnectionError) as caught:
        emu.client(max_retries=0).files.list()
    assert not isinstance(caught.value, openai.APITimeoutError)
    assert [r["status"] for r in emu.requests()] == [0]
    assert client.files.list().data == []  # the server itself is fine


def test_after_commit_creates_the_job_although_the_client_sees_an_error(
    client: OpenAI, emu: Emulator
) -> None:
    training_file = upload(client, chat_jsonl())
    emu.arm(method="POST", path=JOBS, status=500, after_commit=True)
    with pytest.raises(openai.InternalServerError):
        emu.client(max_retries=0).fine_tuning.jobs.create(
            model="gpt-4o-mini", training_file=training_file, metadata={"ftctl_token": "t-1"}
        )
    # The job exists: a careful client finds it by its token instead of creating again.
    found = client.fine_tuning.jobs.list(metadata={"ftctl_token": "t-1"}).data
    assert len(found) == 1 and found[0].metadata == {"ftctl_token": "t-1"}


def test_after_commit_makes_a_naive_retrying_client_create_a_duplicate(
    client: OpenAI, emu: Emulator
) -> None:
    training_file = upload(client, chat_jsonl())
    emu.arm(method="POST", path=JOBS, status=500, after_commit=True)
    client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training_file)
    assert creates(emu) == [(500, 0), (200, 1)]
    assert job_count(client) == 2


def test_after_commit_drop_and_after_commit_delay(client: OpenAI, emu: Emulator) -> None:
    training_file = upload(client, chat_jsonl())
    emu.arm(method="POST", path=JOBS, status=0, after_commit=True)
    with pytest.raises(openai.APIConnectionError):
        emu.client(max_retries=0).fine_tuning.jobs.create(
            model="gpt-4o-mini", training_file=training_file
        )
    assert job_count(client) == 1

    emu.arm(method="POST", path=JOBS, status=None, after_commit=True, delay_ms=1000)
    with pytest.raises(openai.APITimeoutError):
        emu.client(max_retries=0, timeout=0.3).fine_tuning.jobs.create(
            model="gpt-4o-mini", training_file=training_file
        )
    assert job_count(client) == 2


def test_fault_rules_are_listed_and_cleared(emu: Emulator) -> None:
    emu.arm(path="/v1/files", status=500, times=3)
    emu.arm(method="POST", path="/v1/fine_tuning/jobs/*", status=None, delay_ms=10)
    assert [(r["path"], r["method"], r["times"]) for r in emu.armed()] == [
        ("/v1/files", None, 3),
        ("/v1/fine_tuning/jobs/*", "POST", 1),
    ]
    assert emu.control.delete("/_emulator/faults").json() == {"data": []}
    assert emu.armed() == []


@pytest.mark.parametrize(
    "rule",
    [
        {"status": 500},
        {"path": "v1/files"},
        {"path": "/v1/files", "status": 700},
        {"path": "/v1/files", "times": 0},
    ],
)
def test_malformed_fault_rules_are_refused(emu: Emulator, rule: dict[str, object]) -> None:
    response = emu.control.post("/_emulator/faults", json=rule)
    assert response.status_code == 400
    assert emu.armed() == []


def test_missing_or_malformed_authorization_is_401(emu: Emulator) -> None:
    for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Basic abc"}):
        response = emu.raw(api_key=None).get("files", headers=headers)
        assert response.status_code == 401
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    assert [r["status"] for r in emu.requests()] == [401, 401, 401]


def test_api_key_option_accepts_only_that_key_and_never_echoes_one() -> None:
    with served_process("--clock", "manual", "--api-key", "sk-the-right-one") as served:
        emu = served.emulator
        wrong = emu.client(api_key="sk-wrong-key-1234567890", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as caught:
            wrong.files.list()
        assert caught.value.code == "invalid_api_key"
        body = emu.raw(api_key="sk-wrong-key-1234567890").get("files").text
        assert "sk-" not in body and "7890" not in body
        assert emu.client(api_key="sk-the-right-one").files.list().data == []
        assert emu.control.get("/_emulator/health").status_code == 200  # control API needs no key
        served.stop()
        assert "sk-the-right-one" not in served.stderr() and "sk-wrong" not in served.stderr()


@pytest.mark.parametrize(
    ("rule_path", "call"),
    [
        ("/v1/fine_tuning/jobs/*", lambda c, job, file: c.fine_tuning.jobs.cancel(job)),
        ("/v1/files/*", lambda c, job, file: c.files.delete(file)),
    ],
    ids=["cancel", "delete file"],
)
def test_a_bodiless_request_whose_client_left_during_the_delay_is_not_carried_out(
    client: OpenAI, emu: Emulator, rule_path: str, call: object
) -> None:
    training_file = upload(client, chat_jsonl())
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training_file)
    emu.arm(path=rule_path, status=None, delay_ms=600)
    with pytest.raises(openai.APITimeoutError):
        call(emu.client(max_retries=0, timeout=0.2), job.id, training_file)  # type: ignore[operator]
    emu.arm(method="GET", path="/v1/files", status=None, delay_ms=600)  # outlasts the delay above
    client.files.list()
    assert client.fine_tuning.jobs.retrieve(job.id).status == "validating_files"
    assert client.files.retrieve(training_file).id == training_file
    assert next(r["status"] for r in emu.requests() if r["path"].startswith(rule_path[:-1])) == 499


def test_the_date_header_is_the_clock_when_the_answer_starts(emu: Emulator) -> None:
    from email.utils import parsedate_to_datetime

    response = emu.control.post("/_emulator/clock/advance", json={"seconds": 5000})
    assert parsedate_to_datetime(response.headers["date"]).timestamp() == response.json()["now"]


def statuses_of(emu: Emulator, count: int) -> list[int]:
    raw = emu.raw()
    statuses = []
    for _ in range(count):
        try:
            statuses.append(raw.get("files").status_code)
        except httpx2.TransportError:
            statuses.append(0)
    return statuses


def test_chaos_fails_the_same_requests_for_the_same_seed(emu: Emulator) -> None:
    emu.chaos(seed=11, rate=0.3)
    first = statuses_of(emu, 60)
    emu.chaos(seed=11, rate=0.3)
    assert statuses_of(emu, 60) == first
    emu.chaos(seed=12, rate=0.3)
    assert statuses_of(emu, 60) != first
    failed = [s for s in first if s != 200]
    assert 8 <= len(failed) <= 30  # about 30% of 60
    assert set(failed) <= {0, 429, 500, 503}


def test_chaos_reports_what_it_injected_by_kind(emu: Emulator) -> None:
    emu.chaos(seed=3, rate=1.0)
    statuses = statuses_of(emu, 50)
    injected = emu.chaos()["injected"]
    assert sum(injected.values()) == 50 and all(injected.values())
    assert statuses.count(0) == injected["drop"]
    assert statuses.count(429) == injected["429"]
    assert statuses.count(503) == injected["503"]
    assert statuses.count(500) == injected["500"] + injected["after_commit_500"]
    emu.control.delete("/_emulator/chaos")
    assert statuses_of(emu, 5) == [200] * 5


def test_chaos_after_commit_carries_the_create_out_before_failing(
    client: OpenAI, emu: Emulator
) -> None:
    training_file = upload(client, chat_jsonl())
    once = emu.client(max_retries=0)
    emu.chaos(seed=0, rate=1.0)
    outcomes = []
    for _ in range(40):
        try:
            once.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training_file)
            outcomes.append("created")
        except openai.APIError:
            outcomes.append("failed")
    committed_failures = emu.chaos()["injected"]["after_commit_500"]
    emu.control.delete("/_emulator/chaos")
    assert "created" not in outcomes and committed_failures > 0
    assert job_count(client) == committed_failures


def test_a_reset_stops_chaos(emu: Emulator) -> None:
    emu.chaos(seed=1, rate=1.0)
    emu.reset()
    assert emu.chaos()["chaos"] is None
    assert statuses_of(emu, 3) == [200] * 3


@pytest.mark.parametrize(
    "body",
    [
        {"rate": 0.2},
        {"seed": 1, "rate": 1.5},
        {"seed": "x", "rate": 0.1},
        {"seed": 1, "rate": 0.1, "kinds": []},
    ],
)
def test_chaos_settings_are_checked(emu: Emulator, body: dict[str, object]) -> None:
    answer = emu.control.post("/_emulator/chaos", json=body)
    assert answer.status_code == 400
    assert emu.chaos()["chaos"] is None


def test_serve_fault_rate_starts_chaos_with_its_seed() -> None:
    with served_process("--clock", "manual", "--fault-rate", "0.25", "--fault-seed", "5") as served:
        assert served.emulator.chaos()["chaos"] == {"seed": 5, "rate": 0.25, "retry_after": 1.0}
        statuses = statuses_of(served.emulator, 80)
        failed = sum(status != 200 for status in statuses)
        assert 5 <= failed <= 35
        assert sum(served.emulator.chaos()["injected"].values()) == failed


def test_held_names_a_carried_out_request_while_its_answer_is_held(
    client: OpenAI, emu: Emulator
) -> None:
    training_file = upload(client, chat_jsonl())
    assert emu.held(wait=0) == []
    emu.arm(method="POST", path=JOBS, status=None, after_commit=True, delay_ms=1_000)
    with ThreadPoolExecutor(1) as pool:
        create = pool.submit(
            client.fine_tuning.jobs.create, model="gpt-4o-mini", training_file=training_file
        )
        # The job exists while its answer is still on the way.
        assert emu.held(wait=10) == [{"method": "POST", "path": JOBS}]
        assert job_count(emu.client()) == 1
        job = create.result(timeout=10)
    assert emu.held(wait=0) == []
    assert [j.id for j in client.fine_tuning.jobs.list()] == [job.id]


def test_held_refuses_a_wait_that_is_not_a_number(emu: Emulator) -> None:
    assert emu.control.get("/_emulator/held", params={"wait": "soon"}).status_code == 400


def test_held_waits_for_a_count_and_release_answers_them_at_once(
    client: OpenAI, emu: Emulator
) -> None:
    training_file = upload(client, chat_jsonl())
    emu.arm(method="POST", path=JOBS, status=None, after_commit=True, delay_ms=60_000, times=2)
    with ThreadPoolExecutor(2) as pool:
        creates = [
            pool.submit(
                client.fine_tuning.jobs.create, model="gpt-4o-mini", training_file=training_file
            )
            for _ in range(2)
        ]
        assert len(emu.held(wait=10, count=2)) == 2
        started = time.monotonic()
        assert emu.release() == 2
        made = {future.result(timeout=10).id for future in creates}
    assert time.monotonic() - started < 5  # released, not waited out
    assert made == {j.id for j in client.fine_tuning.jobs.list()}
    assert emu.held(wait=0) == [] and emu.release() == 0
