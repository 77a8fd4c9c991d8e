"""A job's life on the emulated clock, seen through the real SDK: statuses, resolved
hyperparameters, events, checkpoints, outputs, cancel, pause/resume and dashboard changes."""

import csv
import io
import itertools
import json
import math
import re
from email.utils import parsedate_to_datetime
from typing import Any

import openai
import pytest
from openai import OpenAI
from openai.types.fine_tuning import FineTuningJob

from tests.harness import (
    STRING_CHECK_GRADER,
    Emulator,
    chat_example,
    chat_jsonl,
    jsonl,
    preference_example,
    reinforcement_example,
    upload,
)

VALIDATING, QUEUED, PAUSING = 10, 20, 5  # the emulator's documented durations, in seconds


def documented_tokens(examples: list[dict[str, Any]]) -> int:
    """The README's rule: ceil(len/4) per string (roles excepted), plus 3 per message."""

    def count(value: Any, key: str | None = None) -> int:
        if isinstance(value, str):
            return 0 if key == "role" else math.ceil(len(value) / 4)
        if isinstance(value, list):
            return sum(count(v) for v in value)
        if isinstance(value, dict):
            return (3 if "role" in value else 0) + sum(count(v, k) for k, v in value.items())
        return 0

    return sum(count(e) for e in examples)


def total_steps(job: FineTuningJob, examples: int) -> int:
    hyper = job.hyperparameters
    assert isinstance(hyper.n_epochs, int) and isinstance(hyper.batch_size, int)
    return math.ceil(examples * hyper.n_epochs / hyper.batch_size)


def start_job(client: OpenAI, examples: int = 12, **arguments: Any) -> FineTuningJob:
    training_file = upload(client, chat_jsonl(examples))
    return client.fine_tuning.jobs.create(
        model="gpt-4o-mini", training_file=training_file, **arguments
    )


def to_running(emu: Emulator, client: OpenAI, job: FineTuningJob) -> FineTuningJob:
    emu.advance(VALIDATING + QUEUED)
    running = client.fine_tuning.jobs.retrieve(job.id)
    assert running.status == "running"
    return running


def raw_job(emu: Emulator, job_id: str, action: str | None = None) -> dict[str, Any]:
    raw = emu.raw()
    response = (
        raw.post(f"fine_tuning/jobs/{job_id}/{action}")
        if action
        else raw.get(f"fine_tuning/jobs/{job_id}")
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_job_walks_validating_queued_running_succeeded_on_the_clock(
    client: OpenAI, emu: Emulator
) -> None:
    examples = [chat_example(i) for i in range(12)]
    training_file = upload(client, jsonl(examples))
    created = client.fine_tuning.jobs.create(
        model="gpt-4o-mini", training_file=training_file, suffix="demo", seed=42
    )
    t0 = emu.now()
    assert (created.status, created.created_at, created.model) == (
        "validating_files",
        t0,
        "gpt-4o-mini-2024-07-18",
    )
    assert created.id.startswith("ftjob-") and len(created.id) == len("ftjob-") + 24
    assert created.hyperparameters.n_epochs == "auto"
    assert (
        created.fine_tuned_model,
        created.finished_at,
        created.trained_tokens,
        created.result_files,
    ) == (
        None,
        None,
        None,
        [],
    )

    emu.advance(VALIDATING - 1)
    assert client.fine_tuning.jobs.retrieve(created.id).status == "validating_files"
    emu.advance(1)
    assert client.fine_tuning.jobs.retrieve(created.id).status == "queued"
    emu.advance(QUEUED)
    running = client.fine_tuning.jobs.retrieve(created.id)
    assert running.status == "running"
    # "auto" resolves when training starts: 12 examples get the epochs that show >= 100 examples.
    assert running.hyperparameters.n_epochs == max(3, math.ceil(100 / 12))
    assert running.hyperparameters.batch_size == 1
    assert running.method is not None and running.method.supervised is not None
    assert (
        running.method.supervised.hyperparameters.model_dump()
        == running.hyperparameters.model_dump()
    )
    steps = total_steps(running, 12)
    assert running.estimated_finish == t0 + VALIDATING + QUEUED + steps

    emu.advance(steps - 1)
    assert client.fine_tuning.jobs.retrieve(created.id).status == "running"
    emu.advance(1)
    done = client.fine_tuning.jobs.retrieve(created.id)
    assert done.status == "succeeded"
    assert done.finished_at == t0 + VALIDATING + QUEUED + steps
    assert done.estimated_finish is None and done.error is None
    assert done.fine_tuned_model is not None
    assert re.fullmatch(
        r"ft:gpt-4o-mini-2024-07-18:emulator:demo:[0-9A-Za-z]{8}", done.fine_tuned_model
    )
    assert done.trained_tokens == documented_tokens(examples) * running.hyperparameters.n_epochs


def test_success_leaves_a_result_file_with_one_row_per_step_and_falling_loss(
    client: OpenAI, emu: Emulator
) -> None:
    job = to_running(emu, client, start_job(client, validation_file=upload(client, chat_jsonl(10))))
    steps = total_steps(job, 12)
    emu.advance(steps)
    done = client.fine_tuning.jobs.retrieve(job.id)

    [result_id] = done.result_files
    result = client.files.retrieve(result_id)
    assert (result.purpose, result.created_at) == ("fine-tune-results", done.finished_at)
    rows = list(csv.DictReader(io.StringIO(client.files.content(result_id).text)))
    assert list(rows[0]) == [
        "step",
        "train_loss",
        "train_accuracy",
        "valid_loss",
        "valid_mean_token_accuracy",
    ]
    assert [int(r["step"]) for r in rows] == list(range(1, steps + 1))
    losses = [float(r["train_loss"]) for r in rows]
    assert all(a > b for a, b in itertools.pairwise(losses))
    assert all(float(r["valid_loss"]) > 0 for r in rows)


def test_events_tell_the_story_newest_first_with_metrics(client: OpenAI, emu: Emulator) -> None:
    validation = upload(client, chat_jsonl(10))
    job = to_running(emu, client, start_job(client, validation_file=validation))
    steps = total_steps(job, 12)
    emu.advance(steps)
    done = client.fine_tuning.jobs.retrieve(job.id)

    events = list(client.fine_tuning.jobs.list_events(job.id, limit=100))
    times = [e.created_at for e in events]
    assert times == sorted(times, reverse=True)
    assert len({e.id for e in events}) == len(events) and all(
        e.id.startswith("ftevent-") for e in events
    )
    story = [e.message for e in reversed(events) if e.type == "message"]
    assert story[:4] == [
        f"Created fine-tuning job: {job.id}",
        f"Validating training file: {job.training_file} and validation file: {validation}",
        "Files validated, moving job to queued state",
        "Fine-tuning job started",
    ]
    assert story[-2:] == [
        f"New fine-tuned model created: {done.fine_tuned_model}",
        "The job has successfully completed",
    ]

    metrics = [e for e in reversed(events) if e.type == "metrics"]
    assert metrics[0].data["step"] == 1 and metrics[-1].data["step"] == steps
    assert all(m.data["total_steps"] == steps for m in metrics)
    assert all(
        m.message.startswith(f"Step {m.data['step']}/{steps}: training loss=") for m in metrics
    )
    assert all("validation loss=" in m.message and "valid_loss" in m.data for m in metrics)
    losses = [m.data["train_loss"] for m in metrics]
    assert all(a > b for a, b in itertools.pairwise(losses))
    # The same events, in the same order and with the same ids, on a second read.
    assert [e.id for e in client.fine_tuning.jobs.list_events(job.id, limit=100)] == [
        e.id for e in events
    ]


def test_events_page_with_after_and_default_limit(client: OpenAI, emu: Emulator) -> None:
    job = to_running(emu, client, start_job(client))
    emu.advance(total_steps(job, 12))
    everything = [e.id for e in client.fine_tuning.jobs.list_events(job.id, limit=100)]
    first = client.fine_tuning.jobs.list_events(job.id)
    assert len(first.data) == 20 and first.has_more
    second = client.fine_tuning.jobs.list_events(job.id, after=first.data[-1].id, limit=20)
    assert [e.id for e in first.data + second.data] == everything[:40]
    assert [e.id for e in client.fine_tuning.jobs.list_events(job.id)] == everything


def test_checkpoints_are_the_last_three_epochs_newest_first_after_success(
    client: OpenAI, emu: Emulator
) -> None:
    job = to_running(
        emu,
        client,
        start_job(
            client,
            method={
                "type": "supervised",
                "supervised": {"hyperparameters": {"n_epochs": 4, "batch_size": 2}},
            },
        ),
    )
    assert client.fine_tuning.jobs.checkpoints.list(job.id).data == []
    steps = total_steps(job, 12)  # 24 steps, 6 per epoch
    emu.advance(steps)
    done = client.fine_tuning.jobs.retrieve(job.id)

    page = client.fine_tuning.jobs.checkpoints.list(job.id)
    assert [c.step_number for c in page.data] == [24, 18, 12]
    assert (page.first_id, page.last_id, page.has_more) == (
        page.data[0].id,
        page.data[-1].id,
        False,
    )
    final, *earlier = page.data
    assert final.fine_tuned_model_checkpoint == done.fine_tuned_model
    for checkpoint in earlier:
        assert checkpoint.fine_tuned_model_checkpoint.endswith(
            f":ckpt-step-{checkpoint.step_number}"
        )
        assert checkpoint.fine_tuned_model_checkpoint.startswith(
            "ft:gpt-4o-mini-2024-07-18:emulator::"
        )
    assert all(c.id.startswith("ftckpt_") and c.fine_tuning_job_id == job.id for c in page.data)
    assert final.metrics.step == 24 and final.metrics.train_loss is not None
    assert [c.created_at for c in page.data] == sorted(
        (c.created_at for c in page.data), reverse=True
    )
    assert final.created_at == done.finished_at
    limited = client.fine_tuning.jobs.checkpoints.list(job.id, limit=2)
    assert [c.step_number for c in limited.data] == [24, 18] and limited.has_more


@pytest.mark.parametrize(
    ("broken_line", "problem"),
    [
        ('{"messages": [', "invalid JSON"),
        ('{"prompt": "hi", "completion": "there"}', '"messages"'),
        ('{"messages": [{"role": "robot", "content": "beep"}]}', "role"),
        ('{"messages": [{"role": "user", "content": "hi"}]}', "assistant"),
    ],
)
def test_bad_training_file_fails_the_job_when_validation_ends(
    client: OpenAI, emu: Emulator, broken_line: str, problem: str
) -> None:
    lines = chat_jsonl(12).decode().splitlines()
    lines[2] = broken_line
    job = client.fine_tuning.jobs.create(
        model="gpt-4o-mini", training_file=upload(client, "\n".join(lines).encode())
    )
    emu.advance(VALIDATING - 1)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "validating_files"
    emu.advance(1)
    failed = client.fine_tuning.jobs.retrieve(job.id)
    assert failed.status == "failed" and failed.finished_at == emu.now()
    assert failed.error is not None
    assert (failed.error.code, failed.error.param) == ("invalid_training_file", "training_file")
    assert "Line 3" in failed.error.message and problem in failed.error.message
    newest = client.fine_tuning.jobs.list_events(job.id, limit=1).data[0]
    assert (newest.level, newest.message) == ("error", failed.error.message)
    emu.advance(10_000)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "failed"


def test_too_few_examples_or_a_bad_validation_file_fail_the_job(
    client: OpenAI, emu: Emulator
) -> None:
    short = client.fine_tuning.jobs.create(
        model="gpt-4o-mini", training_file=upload(client, chat_jsonl(9))
    )
    bad_validation = start_job(
        client, validation_file=upload(client, b"not json\n" + chat_jsonl(12))
    )
    emu.advance(VALIDATING)
    short_error = client.fine_tuning.jobs.retrieve(short.id).error
    assert short_error is not None and short_error.code == "invalid_training_file"
    assert "at least 10" in short_error.message
    validation_error = client.fine_tuning.jobs.retrieve(bad_validation.id).error
    assert validation_error is not None
    assert (validation_error.code, validation_error.param) == (
        "invalid_validation_file",
        "validation_file",
    )
    assert "Line 1" in validation_error.message


def test_dpo_and_reinforcement_jobs_check_their_own_formats_and_train(
    client: OpenAI, emu: Emulator
) -> None:
    preferences = upload(client, jsonl([preference_example(i) for i in range(10)]))
    dpo = client.fine_tuning.jobs.create(
        model="gpt-4.1-mini",
        training_file=preferences,
        method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2}}},
    )
    chat_as_dpo = client.fine_tuning.jobs.create(
        model="gpt-4.1-mini", training_file=upload(client, chat_jsonl(10)), method={"type": "dpo"}
    )
    tasks = upload(client, jsonl([reinforcement_example(i) for i in range(10)]))
    rft = client.fine_tuning.jobs.create(
        model="o4-mini",
        training_file=tasks,
        validation_file=tasks,
        method={"type": "reinforcement", "reinforcement": {"grader": STRING_CHECK_GRADER}},
    )
    emu.advance(10_000)
    assert client.fine_tuning.jobs.retrieve(dpo.id).status == "succeeded"
    resolved = client.fine_tuning.jobs.retrieve(dpo.id).method
    assert (
        resolved is not None
        and resolved.dpo is not None
        and resolved.dpo.hyperparameters is not None
    )
    assert resolved.dpo.hyperparameters.beta == 0.2
    assert isinstance(resolved.dpo.hyperparameters.n_epochs, int)
    wrong = client.fine_tuning.jobs.retrieve(chat_as_dpo.id)
    assert wrong.status == "failed" and wrong.error is not None and '"input"' in wrong.error.message
    assert client.fine_tuning.jobs.retrieve(rft.id).status == "succeeded"


def test_legacy_completion_models_train_on_prompt_completion_pairs(
    client: OpenAI, emu: Emulator
) -> None:
    pairs = upload(
        client, jsonl([{"prompt": f"{i} ->", "completion": f" {i + 1}"} for i in range(10)])
    )
    job = client.fine_tuning.jobs.create(model="babbage-002", training_file=pairs)
    emu.advance(10_000)
    done = client.fine_tuning.jobs.retrieve(job.id)
    assert done.status == "succeeded" and done.model == "babbage-002"
    assert done.fine_tuned_model is not None and done.fine_tuned_model.startswith(
        "ft:babbage-002:emulator::"
    )


def test_cancel_stops_training_and_a_second_cancel_is_a_400_not_a_409(
    client: OpenAI, emu: Emulator
) -> None:
    # 10 examples train 100 steps: short enough that every step gets a metrics event.
    job = to_running(emu, client, start_job(client, examples=10))
    emu.advance(5)
    cancelled = client.fine_tuning.jobs.cancel(job.id)
    assert (cancelled.status, cancelled.finished_at) == ("cancelled", emu.now())
    emu.advance(10_000)
    later = client.fine_tuning.jobs.retrieve(job.id)
    assert (later.status, later.fine_tuned_model, later.result_files) == ("cancelled", None, [])
    assert (
        client.fine_tuning.jobs.list_events(job.id, limit=1).data[0].message
        == "Fine-tuning job cancelled"
    )
    # Step events stop at the cancel: 5 seconds of training, one step a second.
    steps = [
        e.data["step"]
        for e in client.fine_tuning.jobs.list_events(job.id, limit=100)
        if e.type == "metrics"
    ]
    assert max(steps) == 5

    emu.control.delete("/_emulator/requests")
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.cancel(job.id)
    assert caught.value.type == "invalid_request_error" and "cancelled" in caught.value.message
    assert [(r["status"], r["retry_count"]) for r in emu.requests()] == [(400, 0)]


def test_cancel_of_a_succeeded_job_is_refused(client: OpenAI, emu: Emulator) -> None:
    job = start_job(client)
    emu.advance(10_000)
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.cancel(job.id)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "succeeded"


def test_pause_freezes_training_and_resume_queues_it_again(client: OpenAI, emu: Emulator) -> None:
    job = to_running(emu, client, start_job(client))
    steps = total_steps(job, 12)
    emu.advance(7)
    loose = emu.client(strict=False)

    assert loose.fine_tuning.jobs.pause(job.id).status == "pausing"
    assert raw_job(emu, job.id)["status"] == "pausing"
    emu.advance(PAUSING)
    assert raw_job(emu, job.id)["status"] == "paused"
    emu.advance(10_000)
    assert raw_job(emu, job.id)["status"] == "paused"
    with pytest.raises(openai.BadRequestError):
        loose.fine_tuning.jobs.pause(job.id)

    resumed = raw_job(emu, job.id, "resume")
    assert resumed["status"] == "queued" and resumed["finished_at"] is None
    emu.advance(QUEUED)
    assert raw_job(emu, job.id)["status"] == "running"
    emu.advance(steps - 7 - 1)
    assert raw_job(emu, job.id)["status"] == "running"
    emu.advance(1)
    assert raw_job(emu, job.id)["status"] == "succeeded"
    metrics = [
        e.data["step"]
        for e in reversed(loose.fine_tuning.jobs.list_events(job.id, limit=100).data)
        if e.type == "metrics"
    ]
    assert metrics == sorted(set(metrics)) and metrics[-1] == steps
    messages = [e.message for e in loose.fine_tuning.jobs.list_events(job.id, limit=100)]
    assert {"Pausing fine-tuning job", "Fine-tuning job paused", "Fine-tuning job resumed"} <= set(
        messages
    )


def test_pause_and_resume_in_the_wrong_state_are_400s(client: OpenAI, emu: Emulator) -> None:
    loose = emu.client(strict=False)
    job = start_job(client)
    with pytest.raises(openai.BadRequestError) as caught:
        loose.fine_tuning.jobs.pause(job.id)
    assert "validating_files" in caught.value.message
    emu.advance(VALIDATING + QUEUED)
    with pytest.raises(openai.BadRequestError):
        loose.fine_tuning.jobs.resume(job.id)
    loose.fine_tuning.jobs.pause(job.id)
    with pytest.raises(openai.BadRequestError):
        loose.fine_tuning.jobs.resume(job.id)  # still pausing
    emu.advance(PAUSING)
    assert raw_job(emu, job.id, "cancel")["status"] == "cancelled"


def test_dashboard_changes_apply_from_any_status(client: OpenAI, emu: Emulator) -> None:
    failing = start_job(client)
    forced = emu.force_status(
        failing.id, "failed", {"code": "quota_exceeded", "message": "Out of credits."}
    )
    assert forced["status"] == "failed"
    error = client.fine_tuning.jobs.retrieve(failing.id).error
    assert error is not None and (error.code, error.message) == (
        "quota_exceeded",
        "Out of credits.",
    )

    done = start_job(client)
    emu.force_status(done.id, "succeeded")
    finished = client.fine_tuning.jobs.retrieve(done.id)
    assert finished.status == "succeeded" and finished.fine_tuned_model and finished.result_files
    assert finished.finished_at == emu.now()

    stopped = to_running(emu, client, start_job(client))
    emu.force_status(stopped.id, "cancelled")
    assert client.fine_tuning.jobs.retrieve(stopped.id).status == "cancelled"
    emu.force_status(stopped.id, "running")
    assert client.fine_tuning.jobs.retrieve(stopped.id).status == "running"

    response = emu.control.post(f"/_emulator/jobs/{done.id}/status", json={"status": "pausing"})
    assert response.status_code == 400 and response.json()["error"]["param"] == "status"


def test_aliases_resolve_to_snapshots_and_ft_models_train_on(client: OpenAI, emu: Emulator) -> None:
    first = start_job(client)
    emu.advance(10_000)
    base = client.fine_tuning.jobs.retrieve(first.id).fine_tuned_model
    assert base is not None
    again = client.fine_tuning.jobs.create(
        model=base, training_file=first.training_file, suffix="v2"
    )
    assert again.model == base
    emu.advance(10_000)
    second = client.fine_tuning.jobs.retrieve(again.id).fine_tuned_model
    assert second is not None and second.startswith("ft:gpt-4o-mini-2024-07-18:emulator:v2:")


def test_deleted_models_are_gone_for_training_and_a_second_delete(
    client: OpenAI, emu: Emulator
) -> None:
    job = start_job(client)
    emu.advance(10_000)
    model = client.fine_tuning.jobs.retrieve(job.id).fine_tuned_model
    assert model is not None
    deleted = client.models.delete(model)
    assert (deleted.id, deleted.deleted) == (model, True)
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.delete(model)
    assert caught.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as refused:
        client.fine_tuning.jobs.create(model=model, training_file=job.training_file)
    assert refused.value.param == "model"
    with pytest.raises(openai.NotFoundError):
        client.models.delete("gpt-4o-mini")


def test_seed_fixes_the_loss_curve(client: OpenAI, emu: Emulator) -> None:
    jobs = [start_job(client, seed=seed) for seed in (7, 7, 8)]
    unseeded = start_job(client)
    assert 0 <= unseeded.seed <= 2_147_483_647
    emu.advance(10_000)

    def losses(job: FineTuningJob) -> list[float]:
        events = client.fine_tuning.jobs.list_events(job.id, limit=100)
        return [e.data["train_loss"] for e in events if e.type == "metrics"]

    same, twin, other = (losses(j) for j in jobs)
    assert same == twin and same != other


def test_every_response_carries_the_emulated_clock_as_date(client: OpenAI, emu: Emulator) -> None:
    emu.advance(86_400 * 365)
    response = emu.raw().get("files")
    assert parsedate_to_datetime(response.headers["date"]).timestamp() == emu.now()
    job = start_job(client)
    emu.advance(1234)
    raw = client.fine_tuning.jobs.with_raw_response.retrieve(job.id)
    assert (
        parsedate_to_datetime(raw.headers["date"]).timestamp() == emu.now() == job.created_at + 1234
    )
    assert json.loads(raw.text)["id"] == job.id
