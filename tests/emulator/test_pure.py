"""The emulator's pure modules, without I/O: lifecycle, curves, dataset checks, request
validation, "auto" resolution, fault rules and the model catalogue."""

import json
import math
from collections.abc import Callable
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftctl.emulator.catalogue import DOCUMENTED_MODELS, Catalogue, FineTunedName
from ftctl.emulator.curves import Curve
from ftctl.emulator.datasets import (
    MINIMUM_EXAMPLES,
    DatasetFacts,
    DatasetProblem,
    ExampleFormat,
    inspect_dataset,
)
from ftctl.emulator.errors import ApiError
from ftctl.emulator.faults import FaultBook, FaultRule
from ftctl.emulator.lifecycle import (
    Anchor,
    Durations,
    JobError,
    Run,
    Status,
    Timeline,
    Training,
    reported_steps,
    settles_at,
    timeline,
)
from ftctl.emulator.requests import (
    AUTO,
    HYPERPARAMETERS,
    MAX_INTEGRATIONS,
    MAX_METADATA_KEY,
    MAX_METADATA_PAIRS,
    MAX_METADATA_VALUE,
    MAX_SEED,
    MAX_SUFFIX,
    JobRequest,
    parse_job_request,
)
from ftctl.emulator.training import resolve, total_steps

# --------------------------------------------------------------------------------------------
# lifecycle
# --------------------------------------------------------------------------------------------

D = Durations()
V, Q, P, S = D.validating_files, D.queued, D.pausing, D.step
T = 50  # total steps of the table's job
C = 1_000  # creation time, not zero so that offsets are not confused with absolute times
RUN = C + V + Q  # the first run starts
PAUSE_AT, PAUSED_STEPS = RUN + 12 * S, 12
RESUME_AT = PAUSE_AT + 100
RESTART = RESUME_AT + Q  # the second run starts
CANCEL_AT, CANCELLED_STEPS = RUN + 9 * S, 9
BAD_FILE = JobError("invalid_training_file", "Line 3: invalid JSON.", "training_file")

GOOD = Training(total_steps=T, n_epochs=5)
BROKEN = Training(total_steps=T, n_epochs=5, file_problem=BAD_FILE)

CREATED = Anchor(Status.VALIDATING_FILES, C)
PAUSED = (CREATED, Anchor(Status.PAUSING, PAUSE_AT, steps_done=PAUSED_STEPS))
RESUMED = (*PAUSED, Anchor(Status.QUEUED, RESUME_AT, steps_done=PAUSED_STEPS))
CANCELLED = (CREATED, Anchor(Status.CANCELLED, CANCEL_AT, steps_done=CANCELLED_STEPS))

# (status, steps_done, finished_at, estimated_finish, started)
Seen = tuple[Status, int, int | None, int | None, bool]

LIFECYCLE_TABLE: list[Any] = [
    # creation only
    pytest.param(
        (CREATED,), GOOD, C, (Status.VALIDATING_FILES, 0, None, None, False), id="created"
    ),
    pytest.param(
        (CREATED,), GOOD, C + V - 1, (Status.VALIDATING_FILES, 0, None, None, False),
        id="1s before validated",
    ),
    pytest.param((CREATED,), GOOD, C + V, (Status.QUEUED, 0, None, None, False), id="validated"),
    pytest.param(
        (CREATED,), GOOD, RUN - 1, (Status.QUEUED, 0, None, None, False), id="1s before run"
    ),
    pytest.param(
        (CREATED,), GOOD, RUN, (Status.RUNNING, 0, None, RUN + T * S, True), id="run starts"
    ),
    pytest.param(
        (CREATED,), GOOD, RUN + 7 * S, (Status.RUNNING, 7, None, RUN + T * S, True), id="7 steps"
    ),
    pytest.param(
        (CREATED,), GOOD, RUN + T * S - 1, (Status.RUNNING, T - 1, None, RUN + T * S, True),
        id="1s before success",
    ),
    pytest.param(
        (CREATED,), GOOD, RUN + T * S, (Status.SUCCEEDED, T, RUN + T * S, None, True),
        id="succeeded",
    ),
    pytest.param(
        (CREATED,), GOOD, RUN + T * S + 10_000, (Status.SUCCEEDED, T, RUN + T * S, None, True),
        id="long after success",
    ),
    # a bad file fails the job when validation ends
    pytest.param(
        (CREATED,), BROKEN, C + V - 1, (Status.VALIDATING_FILES, 0, None, None, False),
        id="bad file 1s before validated",
    ),
    pytest.param((CREATED,), BROKEN, C + V, (Status.FAILED, 0, C + V, None, False), id="bad file"),
    pytest.param(
        (CREATED,), BROKEN, C + V + 10_000, (Status.FAILED, 0, C + V, None, False),
        id="bad file later",
    ),
    # pause while running: pausing for P seconds, then paused; steps frozen
    pytest.param(
        PAUSED, GOOD, PAUSE_AT, (Status.PAUSING, PAUSED_STEPS, None, None, True), id="pausing"
    ),
    pytest.param(
        PAUSED, GOOD, PAUSE_AT + P - 1, (Status.PAUSING, PAUSED_STEPS, None, None, True),
        id="1s before paused",
    ),
    pytest.param(
        PAUSED, GOOD, PAUSE_AT + P, (Status.PAUSED, PAUSED_STEPS, None, None, True), id="paused"
    ),
    pytest.param(
        PAUSED, GOOD, PAUSE_AT + 10_000, (Status.PAUSED, PAUSED_STEPS, None, None, True),
        id="paused long",
    ),
    # resume: queued for Q seconds, then running from where it stopped
    pytest.param(
        RESUMED, GOOD, RESUME_AT, (Status.QUEUED, PAUSED_STEPS, None, None, True), id="resumed"
    ),
    pytest.param(
        RESUMED, GOOD, RESTART - 1, (Status.QUEUED, PAUSED_STEPS, None, None, True),
        id="1s before rerun",
    ),
    pytest.param(
        RESUMED, GOOD, RESTART,
        (Status.RUNNING, PAUSED_STEPS, None, RESTART + (T - PAUSED_STEPS) * S, True),
        id="rerun starts",
    ),
    pytest.param(
        RESUMED, GOOD, RESTART + 3 * S,
        (Status.RUNNING, PAUSED_STEPS + 3, None, RESTART + (T - PAUSED_STEPS) * S, True),
        id="rerun 3 steps",
    ),
    pytest.param(
        RESUMED, GOOD, RESTART + (T - PAUSED_STEPS) * S - 1,
        (Status.RUNNING, T - 1, None, RESTART + (T - PAUSED_STEPS) * S, True),
        id="1s before rerun succeeds",
    ),
    pytest.param(
        RESUMED, GOOD, RESTART + (T - PAUSED_STEPS) * S,
        (Status.SUCCEEDED, T, RESTART + (T - PAUSED_STEPS) * S, None, True),
        id="rerun succeeded",
    ),
    # cancel
    pytest.param(
        CANCELLED, GOOD, CANCEL_AT, (Status.CANCELLED, CANCELLED_STEPS, CANCEL_AT, None, True),
        id="cancelled",
    ),
    pytest.param(
        CANCELLED, GOOD, CANCEL_AT + 10_000,
        (Status.CANCELLED, CANCELLED_STEPS, CANCEL_AT, None, True),
        id="cancelled long",
    ),
    pytest.param(
        (CREATED, Anchor(Status.CANCELLED, C + 1)), GOOD, C + 10_000,
        (Status.CANCELLED, 0, C + 1, None, False),
        id="cancelled while validating",
    ),
]  # fmt: skip


def _seen(line: Timeline) -> Seen:
    return (line.status, line.steps_done, line.finished_at, line.estimated_finish, line.started)


@pytest.mark.parametrize(("anchors", "training", "now", "expected"), LIFECYCLE_TABLE)
def test_timeline_status_follows_from_anchors_and_clock(
    anchors: tuple[Anchor, ...], training: Training, now: int, expected: Seen
) -> None:
    assert _seen(timeline(anchors, training, D, now)) == expected


def test_failed_job_carries_the_file_problem_and_only_once_failed() -> None:
    assert timeline((CREATED,), BROKEN, D, C + V - 1).error is None
    assert timeline((CREATED,), BROKEN, D, C + V).error == BAD_FILE
    assert timeline((CREATED,), GOOD, D, RUN + T * S).error is None


def test_timeline_without_anchors_is_refused() -> None:
    with pytest.raises(ValueError):
        timeline((), GOOD, D, C)


@pytest.mark.parametrize("target", [Status.CANCELLED, Status.PAUSING])
def test_interrupting_at_the_second_a_step_completes_keeps_that_step(target: Status) -> None:
    step = 9
    at = RUN + step * S
    before = timeline((CREATED,), GOOD, D, at)
    assert (before.status, before.steps_done, before.step_time(step)) == (Status.RUNNING, step, at)

    after = timeline((CREATED, Anchor(target, at, before.steps_done)), GOOD, D, at + 1_000)
    assert after.steps_done == step
    assert after.step_time(step) == at
    assert after.step_time(step + 1) is None
    assert [run.last for run in after.runs()] == [step]


def test_steps_take_their_duration_when_a_step_is_longer_than_a_second() -> None:
    slow = Durations(step=3)
    start = C + slow.validating_files + slow.queued
    line = timeline((CREATED,), GOOD, slow, start + 7)
    assert line.steps_done == 7 // slow.step
    assert line.estimated_finish == start + T * slow.step
    assert line.step_time(2) == start + 2 * slow.step


@pytest.mark.parametrize(
    ("anchor", "training", "expected"),
    [
        (CREATED, GOOD, C + V + Q + T * S),
        (CREATED, BROKEN, C + V),
        (Anchor(Status.QUEUED, C, steps_done=20), GOOD, C + Q + (T - 20) * S),
        (Anchor(Status.RUNNING, C, steps_done=20), GOOD, C + (T - 20) * S),
        (Anchor(Status.PAUSING, C, steps_done=20), GOOD, None),
        (Anchor(Status.PAUSED, C, steps_done=20), GOOD, None),
        (Anchor(Status.SUCCEEDED, C, steps_done=T), GOOD, None),
        (Anchor(Status.FAILED, C, steps_done=3), GOOD, None),
        (Anchor(Status.CANCELLED, C, steps_done=3), GOOD, None),
    ],
    ids=lambda value: value.status.value if isinstance(value, Anchor) else None,
)
def test_settles_at_is_when_automatic_progress_finishes_the_job(
    anchor: Anchor, training: Training, expected: int | None
) -> None:
    assert settles_at(anchor, training, D) == expected
    if expected is not None:
        assert timeline((anchor,), training, D, expected).status.finished
        assert not timeline((anchor,), training, D, expected - 1).status.finished


@settings(max_examples=100, deadline=None)
@given(total=st.integers(1, 1_000_000), n_epochs=st.integers(1, 50))
def test_checkpoint_steps_has_one_step_per_epoch_ending_at_the_last(
    total: int, n_epochs: int
) -> None:
    steps = Training(total_steps=total, n_epochs=n_epochs).checkpoint_steps
    assert len(steps) == n_epochs
    assert steps[-1] == total
    assert all(1 <= a <= b <= total for a, b in pairwise((1, *steps)))
    for epoch, step in enumerate(steps, start=1):
        # the first step by which `epoch` epochs' worth of steps are done
        assert step * n_epochs >= epoch * total
        assert step == 1 or (step - 1) * n_epochs < epoch * total
    if total >= n_epochs:
        assert len(set(steps)) == n_epochs


@pytest.mark.parametrize(
    ("total", "n_epochs", "first"),
    [(1, 1, 1), (7, 3, 1), (100, 4, 1), (250, 3, 1), (100_000, 5, 1), (99_999, 7, 1),
     (99_999, 7, 31_337), (250, 3, 101)],
)  # fmt: skip
def test_reported_steps_cover_first_last_and_epoch_ends_and_stay_about_a_hundred(
    total: int, n_epochs: int, first: int
) -> None:
    checkpoints = Training(total_steps=total, n_epochs=n_epochs).checkpoint_steps
    run = Run(start=0, first=first, last=total, step_seconds=1)
    steps = reported_steps(run, total, checkpoints)

    assert steps == sorted(set(steps))
    assert all(first <= s <= total for s in steps)
    assert total in steps
    assert (1 in steps) == (first == 1)
    assert {c for c in checkpoints if c >= first} <= set(steps)
    assert len(steps) <= 101 + n_epochs
    if total <= 100:
        assert steps == list(range(first, total + 1))
    assert all(b - a <= math.ceil(total / 100) for a, b in pairwise(steps))


def test_reported_steps_of_a_partial_run_stay_inside_it() -> None:
    total = 1_000
    checkpoints = Training(total_steps=total, n_epochs=4).checkpoint_steps
    steps = reported_steps(Run(0, first=240, last=520, step_seconds=1), total, checkpoints)
    assert steps[0] >= 240 and steps[-1] <= 520
    assert {c for c in checkpoints if 240 <= c <= 520} <= set(steps)
    assert total not in steps


PLAN = st.lists(
    st.tuples(st.sampled_from(("pause", "resume", "cancel")), st.integers(1, 40)), max_size=7
)


@settings(max_examples=80, deadline=None)
@given(total=st.integers(1, 30), bad_file=st.booleans(), plan=PLAN)
def test_explicit_actions_never_undo_progress(
    total: int, bad_file: bool, plan: list[tuple[str, int]]
) -> None:
    training = Training(total, n_epochs=3, file_problem=BAD_FILE if bad_file else None)
    anchors = [Anchor(Status.VALIDATING_FILES, 0)]
    at = 0
    for action, gap in plan:
        at += gap
        current = timeline(anchors, training, D, at)
        status, done = current.status, current.steps_done
        if action == "pause" and status is Status.RUNNING:
            anchors.append(Anchor(Status.PAUSING, at, done))
        elif action == "resume" and status is Status.PAUSED:
            anchors.append(Anchor(Status.QUEUED, at, done))
        elif action == "cancel" and not status.finished:
            anchors.append(Anchor(Status.CANCELLED, at, done))

    end = anchors[-1].at + V + Q + P + total * S + 1
    previous: Timeline | None = None
    for now in range(end + 1):
        line = timeline([a for a in anchors if a.at <= now], training, D, now)
        assert 0 <= line.steps_done <= total
        if line.status is Status.RUNNING:
            assert line.estimated_finish == now + (total - line.steps_done) * S
        if line.status is Status.SUCCEEDED:
            assert line.steps_done == total
        if previous is not None:
            assert line.steps_done >= previous.steps_done
            if line.steps_done > previous.steps_done:
                assert previous.status is Status.RUNNING
                assert line.steps_done == previous.steps_done + 1
            if previous.status.finished:
                assert (line.status, line.finished_at) == (previous.status, previous.finished_at)
        previous = line
    assert previous is not None
    assert previous.status.finished or previous.status is Status.PAUSED


# --------------------------------------------------------------------------------------------
# curves
# --------------------------------------------------------------------------------------------

SEEDS = st.integers(0, 2**31 - 1)


@settings(max_examples=25, deadline=None)
@given(seed=SEEDS, total=st.integers(1, 5000))
def test_train_loss_is_positive_and_strictly_decreasing(seed: int, total: int) -> None:
    curve = Curve(seed, total)
    losses = [curve.train_loss(step) for step in range(1, total + 1)]
    assert all(loss > 0 for loss in losses)
    assert all(a > b for a, b in pairwise(losses))


@settings(max_examples=60, deadline=None)
@given(seed=SEEDS, total=st.integers(1, 5000), data=st.data())
def test_curves_are_deterministic_bounded_and_validation_is_worse(
    seed: int, total: int, data: st.DataObject
) -> None:
    steps = data.draw(st.lists(st.integers(1, total), min_size=1, max_size=20) | st.just([total]))
    curve, again = Curve(seed, total), Curve(seed, total)
    for step in steps:
        values = (
            curve.train_loss(step),
            curve.valid_loss(step),
            curve.train_accuracy(step),
            curve.valid_accuracy(step),
        )
        assert values == (
            again.train_loss(step),
            again.valid_loss(step),
            again.train_accuracy(step),
            again.valid_accuracy(step),
        )
        train_loss, valid_loss, train_accuracy, valid_accuracy = values
        assert valid_loss > train_loss > 0
        assert 0 <= train_accuracy <= 1
        assert 0 <= valid_accuracy <= 1


# --------------------------------------------------------------------------------------------
# datasets
# --------------------------------------------------------------------------------------------


def _ceil4(text: str) -> int:
    return (len(text) + 3) // 4


def _chat(index: int) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": "You are terse." + "!" * (index % 4)},
            {"role": "user", "content": f"Question {index}?" + "?" * index},
            {"role": "assistant", "content": "A" * index},
        ]
    }


def _chat_tokens(example: dict[str, Any]) -> int:
    """The module docstring's rule, written out: ceil(chars / 4) per string, 3 per message."""
    return sum(3 + _ceil4(m["content"]) for m in example["messages"])


def _jsonl(examples: list[Any]) -> bytes:
    return "\n".join(json.dumps(e) for e in examples).encode()


def test_valid_chat_file_gives_example_count_and_documented_tokens() -> None:
    examples = [_chat(i) for i in range(MINIMUM_EXAMPLES)]
    facts = inspect_dataset(_jsonl(examples), ExampleFormat.CHAT)
    assert facts == DatasetFacts(
        examples=len(examples), tokens=sum(_chat_tokens(e) for e in examples)
    )


def test_message_names_and_tool_calls_count_but_roles_and_numbers_do_not() -> None:
    example = {
        "messages": [
            {"role": "user", "content": "abcde", "name": "bob"},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1234"}]},
            {"role": "assistant", "content": "ok", "weight": 1},
        ]
    }
    expected = (3 + _ceil4("abcde") + _ceil4("bob")) + (3 + _ceil4("call_1234")) + (3 + 1)
    facts = inspect_dataset(_jsonl([example] * 10), ExampleFormat.CHAT)
    assert facts == DatasetFacts(examples=10, tokens=10 * expected)


def test_too_few_examples_is_a_problem_naming_the_minimum() -> None:
    problem = inspect_dataset(
        _jsonl([_chat(i) for i in range(MINIMUM_EXAMPLES - 1)]), ExampleFormat.CHAT
    )
    assert isinstance(problem, DatasetProblem)
    assert f"at least {MINIMUM_EXAMPLES}" in problem.message
    assert f"has {MINIMUM_EXAMPLES - 1} example" in problem.message


BAD_CHAT_LINES = [
    pytest.param('{"messages": [', "invalid JSON", id="invalid json"),
    pytest.param(json.dumps({"prompt": "p"}), '"messages"', id="missing messages"),
    pytest.param(json.dumps({"messages": []}), '"messages"', id="empty messages"),
    pytest.param(json.dumps(["not", "an", "object"]), "JSON object", id="not an object"),
    pytest.param(
        json.dumps({"messages": [{"role": "robot", "content": "hi"}]}), "robot", id="unknown role"
    ),
    pytest.param(
        json.dumps({"messages": [{"role": "user", "content": "hi"}]}), "assistant",
        id="no assistant",
    ),
    pytest.param(
        json.dumps({"messages": [{"role": "user"}, {"role": "assistant", "content": "x"}]}),
        "content", id="no content",
    ),
]  # fmt: skip


@pytest.mark.parametrize("line_number", [1, 6, 12])
@pytest.mark.parametrize(("bad_line", "fragment"), BAD_CHAT_LINES)
def test_bad_line_is_reported_by_its_number(bad_line: str, fragment: str, line_number: int) -> None:
    lines = [json.dumps(_chat(i)) for i in range(12)]
    lines[line_number - 1] = bad_line
    problem = inspect_dataset("\n".join(lines).encode(), ExampleFormat.CHAT)
    assert isinstance(problem, DatasetProblem)
    assert f"Line {line_number}:" in problem.message
    assert fragment in problem.message


@pytest.mark.parametrize(
    "bad_line",
    [
        '{"messages": [], "weight": NaN}',
        '{"messages": [], "weight": -Infinity}',
        '{"messages": [], "weight": ' + "9" * 5000 + "}",
    ],
    ids=["NaN", "-Infinity", "5000-digit integer"],
)
def test_a_line_python_reads_but_json_forbids_is_a_problem_not_a_crash(bad_line: str) -> None:
    lines = [json.dumps(_chat(i)) for i in range(12)]
    lines[4] = bad_line
    problem = inspect_dataset("\n".join(lines).encode(), ExampleFormat.CHAT)
    assert isinstance(problem, DatasetProblem)
    assert problem.message.startswith("Invalid file format. Line 5: invalid JSON")


def test_blank_lines_are_skipped_without_shifting_line_numbers() -> None:
    good = [json.dumps(_chat(i)) for i in range(10)]
    padded = ["", good[0], "   ", *good[1:], "\t", ""]
    facts = inspect_dataset("\r\n".join(padded).encode(), ExampleFormat.CHAT)
    assert facts == DatasetFacts(examples=10, tokens=sum(_chat_tokens(_chat(i)) for i in range(10)))

    broken = ["", "", good[0], "", "{oops", *good[1:]]
    problem = inspect_dataset("\n".join(broken).encode(), ExampleFormat.CHAT)
    assert isinstance(problem, DatasetProblem)
    assert f"Line {broken.index('{oops') + 1}:" in problem.message


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"])
def test_unicode_line_separators_inside_strings_do_not_split_lines(separator: str) -> None:
    example = {
        "messages": [
            {"role": "user", "content": f"one{separator}two"},
            {"role": "assistant", "content": "ok"},
        ]
    }
    content = "\n".join([json.dumps(example, ensure_ascii=False)] * 10).encode()
    assert inspect_dataset(content, ExampleFormat.CHAT) == DatasetFacts(
        examples=10, tokens=10 * _chat_tokens(example)
    )


def _preference(index: int, legacy: bool = False) -> dict[str, Any]:
    preferred, rejected = (
        ("preferred_completion", "non_preferred_completion")
        if legacy
        else ("preferred_output", "non_preferred_output")
    )
    return {
        "input": {"messages": [{"role": "user", "content": f"Pick {index}"}]},
        preferred: [{"role": "assistant", "content": "Good" * (index + 1)}],
        rejected: [{"role": "assistant", "content": "Bad"}],
    }


def _preference_tokens(example: dict[str, Any]) -> int:
    messages = [*example["input"]["messages"]]
    messages += [m for key, value in example.items() if key != "input" for m in value]
    return sum(3 + _ceil4(m["content"]) for m in messages)


@pytest.mark.parametrize("legacy", [False, True], ids=["output", "legacy completion"])
def test_preference_file_is_accepted_with_either_output_key(legacy: bool) -> None:
    examples = [_preference(i, legacy) for i in range(10)]
    assert inspect_dataset(_jsonl(examples), ExampleFormat.PREFERENCE) == DatasetFacts(
        examples=10, tokens=sum(_preference_tokens(e) for e in examples)
    )


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda e: e.pop("input"), '"input"'),
        (lambda e: e.pop("preferred_output"), '"preferred_output"'),
        (lambda e: e.update(non_preferred_output=[]), '"non_preferred_output"'),
        (
            lambda e: e["preferred_output"].append({"role": "assistant", "content": "x"}),
            "exactly one assistant message",
        ),
        (lambda e: e["preferred_output"][0].update(role="user"), "exactly one assistant"),
    ],
    ids=["no input", "no preferred", "empty non-preferred", "two outputs", "user output"],
)
def test_bad_preference_example_names_its_line_and_key(
    mutate: Callable[[dict[str, Any]], Any], fragment: str
) -> None:
    examples = [_preference(i) for i in range(10)]
    mutate(examples[3])
    problem = inspect_dataset(_jsonl(examples), ExampleFormat.PREFERENCE)
    assert isinstance(problem, DatasetProblem)
    assert "Line 4:" in problem.message
    assert fragment in problem.message


def test_prompt_completion_file_counts_both_strings() -> None:
    examples = [{"prompt": "p" * i, "completion": "c" * (2 * i + 1)} for i in range(10)]
    expected = sum(_ceil4(e["prompt"]) + _ceil4(e["completion"]) for e in examples)
    assert inspect_dataset(_jsonl(examples), ExampleFormat.PROMPT_COMPLETION) == DatasetFacts(
        examples=10, tokens=expected
    )


@pytest.mark.parametrize("missing", ["prompt", "completion"])
def test_prompt_completion_needs_both_strings(missing: str) -> None:
    examples: list[dict[str, Any]] = [{"prompt": "p", "completion": "c"} for _ in range(10)]
    examples[7][missing] = 42
    problem = inspect_dataset(_jsonl(examples), ExampleFormat.PROMPT_COMPLETION)
    assert isinstance(problem, DatasetProblem)
    assert "Line 8:" in problem.message and f'"{missing}"' in problem.message


def test_chat_lines_are_not_accepted_as_prompt_completion() -> None:
    problem = inspect_dataset(
        _jsonl([_chat(i) for i in range(10)]), ExampleFormat.PROMPT_COMPLETION
    )
    assert isinstance(problem, DatasetProblem) and "Line 1:" in problem.message


def test_reinforcement_examples_need_messages_but_no_assistant() -> None:
    example = {"messages": [{"role": "user", "content": "2+2?"}], "answer": "4"}
    facts = inspect_dataset(_jsonl([example] * 10), ExampleFormat.REINFORCEMENT)
    assert facts == DatasetFacts(examples=10, tokens=10 * (3 + _ceil4("2+2?") + _ceil4("4")))


@pytest.mark.parametrize("bad", [b"\xff", b"\xc3\x28", b"\xe2\x82"])
def test_non_utf8_bytes_are_a_problem_naming_the_offset(bad: bytes) -> None:
    good = _jsonl([_chat(i) for i in range(10)])
    offset = len(good) // 2
    problem = inspect_dataset(good[:offset] + bad + good[offset:], ExampleFormat.CHAT)
    assert isinstance(problem, DatasetProblem)
    assert "UTF-8" in problem.message and f"byte {offset}" in problem.message


# --------------------------------------------------------------------------------------------
# requests
# --------------------------------------------------------------------------------------------

BASE: dict[str, Any] = {"model": "gpt-4o-mini", "training_file": "file-abc123"}
GRADER: dict[str, Any] = {
    "type": "string_check",
    "name": "exact",
    "input": "{{sample.output_text}}",
    "reference": "{{item.answer}}",
    "operation": "eq",
}
WANDB: dict[str, Any] = {"type": "wandb", "wandb": {"project": "tuning"}}


def _method(kind: str, grader: dict[str, Any] | None = GRADER, **hyper: Any) -> dict[str, Any]:
    block: dict[str, Any] = {"hyperparameters": hyper}
    if kind == "reinforcement" and grader is not None:
        block["grader"] = grader
    return {"method": {"type": kind, kind: block}}


def _pairs(count: int) -> dict[str, Any]:
    return {"metadata": {f"k{i}": "v" for i in range(count)}}


def _bad_hp(kind: str, name: str, value: Any) -> Any:
    """A request with one bad hyperparameter, and the param its refusal names."""
    return pytest.param(
        _method(kind, **{name: value}),
        f"method.{kind}.hyperparameters.{name}",
        id=f"{kind} {name}={value!r}",
    )


BAD_BODIES = [
    pytest.param({"model": None}, "model", id="missing model"),
    pytest.param({"training_file": None}, "training_file", id="missing training_file"),
    pytest.param({"suffix": ""}, "suffix", id="empty suffix"),
    pytest.param({"suffix": "s" * (MAX_SUFFIX + 1)}, "suffix", id="long suffix"),
    pytest.param({"seed": -1}, "seed", id="seed -1"),
    pytest.param({"seed": MAX_SEED + 1}, "seed", id="seed 2**31"),
    pytest.param({"seed": True}, "seed", id="bool seed"),
    _bad_hp("supervised", "n_epochs", True),
    _bad_hp("supervised", "n_epochs", 0),
    _bad_hp("supervised", "n_epochs", 51),
    _bad_hp("supervised", "n_epochs", 2.5),
    _bad_hp("supervised", "batch_size", 257),
    _bad_hp("supervised", "learning_rate_multiplier", 0),
    _bad_hp("dpo", "beta", 0),
    _bad_hp("dpo", "beta", 2.0001),
    _bad_hp("supervised", "beta", 0.5),
    _bad_hp("reinforcement", "compute_multiplier", 10.5),
    _bad_hp("reinforcement", "eval_interval", 0),
    _bad_hp("reinforcement", "reasoning_effort", AUTO),
    pytest.param({"method": {"type": "rlhf"}}, "method.type", id="rlhf"),
    pytest.param(
        {"method": {"type": "dpo", "supervised": {"hyperparameters": {}}}}, "method.supervised",
        id="dpo with supervised block",
    ),
    pytest.param(
        _method("reinforcement", grader=None), "method.reinforcement.grader", id="no grader"
    ),
    pytest.param(
        _method("reinforcement", grader={"type": "regex", "name": "g"}),
        "method.reinforcement.grader.type", id="unknown grader",
    ),
    pytest.param(
        _method("reinforcement", grader={"type": "python", "name": "g"}),
        "method.reinforcement.grader.source", id="grader missing field",
    ),
    pytest.param(_pairs(MAX_METADATA_PAIRS + 1), "metadata", id="17 pairs"),
    pytest.param({"metadata": {"k" * (MAX_METADATA_KEY + 1): "v"}}, "metadata", id="long key"),
    pytest.param(
        {"metadata": {"k": "v" * (MAX_METADATA_VALUE + 1)}}, "metadata", id="long value"
    ),
    pytest.param({"metadata": {"k": 5}}, "metadata", id="non-string value"),
    pytest.param({"integrations": [WANDB] * (MAX_INTEGRATIONS + 1)}, "integrations", id="6 integ"),
    pytest.param(
        {"hyperparameters": {"n_epochs": 2}, **_method("supervised", n_epochs=3)},
        "hyperparameters", id="hyperparameters twice",
    ),
    pytest.param({"epochs": 3}, "epochs", id="unknown field"),
]  # fmt: skip


@pytest.mark.parametrize(("changes", "param"), BAD_BODIES)
def test_bad_request_is_refused_naming_the_param(changes: dict[str, Any], param: str) -> None:
    body = {key: value for key, value in {**BASE, **changes}.items() if value is not None}
    with pytest.raises(ApiError) as caught:
        parse_job_request(body)
    assert (caught.value.status, caught.value.param) == (400, param)


ACCEPTED: list[Any] = [
    pytest.param(_pairs(MAX_METADATA_PAIRS), lambda r: r.metadata, id="16 pairs"),
    pytest.param({"metadata": {"k" * MAX_METADATA_KEY: "v"}}, lambda r: r.metadata, id="64 key"),
    pytest.param(
        {"metadata": {"k": "v" * MAX_METADATA_VALUE}}, lambda r: r.metadata, id="512 value"
    ),
    pytest.param({"suffix": "s" * MAX_SUFFIX}, lambda r: r.suffix, id="64 suffix"),
    pytest.param({"seed": 0}, lambda r: r.seed, id="seed 0"),
    pytest.param({"seed": MAX_SEED}, lambda r: r.seed, id="seed max"),
    pytest.param(_method("supervised", n_epochs=1), lambda r: r.method, id="epochs 1"),
    pytest.param(_method("supervised", n_epochs=50), lambda r: r.method, id="epochs 50"),
    pytest.param(_method("supervised", batch_size=256), lambda r: r.method, id="batch 256"),
    pytest.param(_method("dpo", beta=2), lambda r: r.method, id="beta 2"),
    pytest.param(
        _method("reinforcement", compute_multiplier=10), lambda r: r.method, id="compute 10"
    ),
    pytest.param(
        {"integrations": [WANDB] * MAX_INTEGRATIONS}, lambda r: r.integrations, id="5 integ"
    ),
]  # fmt: skip


@pytest.mark.parametrize(("changes", "read"), ACCEPTED)
def test_boundary_values_are_accepted_and_kept(
    changes: dict[str, Any], read: Callable[[JobRequest], Any]
) -> None:
    request = parse_job_request({**BASE, **changes})
    (key, given), *_ = changes.items()
    if key == "method":
        kind = given["type"]
        assert request.method_type == kind
        wanted = given[kind]["hyperparameters"]
        assert {k: request.hyperparameters[k] for k in wanted} == wanted
    else:
        assert read(request) == given


def test_omitted_method_is_supervised_with_every_hyperparameter_auto() -> None:
    request = parse_job_request(dict(BASE))
    assert request.method == {
        "type": "supervised",
        "supervised": {"hyperparameters": dict.fromkeys(HYPERPARAMETERS["supervised"], AUTO)},
    }
    assert set(request.hyperparameters) == {"n_epochs", "batch_size", "learning_rate_multiplier"}
    assert (request.suffix, request.seed, request.metadata, request.integrations) == (
        None,
        None,
        None,
        None,
    )


def test_reinforcement_defaults_reasoning_effort_and_keeps_the_grader() -> None:
    request = parse_job_request({**BASE, **_method("reinforcement", n_epochs=2)})
    hyper = request.hyperparameters
    assert hyper["reasoning_effort"] == "default"
    assert hyper["n_epochs"] == 2
    assert {k for k, v in hyper.items() if v == AUTO} == set(HYPERPARAMETERS["reinforcement"]) - {
        "reasoning_effort",
        "n_epochs",
    }
    assert request.method["reinforcement"]["grader"] == GRADER


def test_top_level_hyperparameters_fill_the_supervised_method() -> None:
    request = parse_job_request({**BASE, "hyperparameters": {"n_epochs": 4}})
    assert request.method_type == "supervised"
    assert request.hyperparameters == {
        "n_epochs": 4,
        "batch_size": AUTO,
        "learning_rate_multiplier": AUTO,
    }


# --------------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------------


def _valid_value(name: str) -> st.SearchStrategy[Any]:
    match name:
        case "n_epochs":
            return st.integers(1, 50)
        case "batch_size":
            return st.integers(1, 256)
        case "eval_interval" | "eval_samples":
            return st.integers(1, 1_000)
        case "reasoning_effort":
            return st.sampled_from(("default", "low", "medium", "high"))
        case _:
            return st.floats(0.001, 2.0)


@st.composite
def _requested(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(HYPERPARAMETERS)))
    request = parse_job_request({**BASE, **_method(kind)})
    hyper = request.hyperparameters
    for name in hyper:
        if hyper[name] == AUTO and draw(st.booleans()):
            hyper[name] = draw(_valid_value(name))
    return hyper


@settings(max_examples=200, deadline=None)
@given(requested=_requested(), examples=st.integers(MINIMUM_EXAMPLES, 5_000_000))
def test_resolve_replaces_every_auto_and_keeps_given_values(
    requested: dict[str, Any], examples: int
) -> None:
    resolved = resolve(requested, examples)
    assert set(resolved) == set(requested)
    assert AUTO not in resolved.values()
    assert {k: v for k, v in resolved.items() if requested[k] != AUTO} == {
        k: v for k, v in requested.items() if v != AUTO
    }
    epochs, batch = resolved["n_epochs"], resolved["batch_size"]
    assert 1 <= batch <= 256
    steps = total_steps(examples, epochs, batch)
    assert steps == -(-examples * epochs // batch)
    if requested["n_epochs"] == AUTO:
        # 3, raised to see at least 100 examples (at most 25 epochs), lowered to at most 25,000
        assert examples * epochs >= 100 or epochs == 25
        assert examples * epochs <= 25_000 or epochs == 1
        if 100 <= examples * 3 <= 25_000:
            assert epochs == 3
    if requested.get("eval_interval") == AUTO:
        assert resolved["eval_interval"] == max(1, steps // 10)


@pytest.mark.parametrize(
    ("examples", "n_epochs", "batch_size"),
    [(10, 1, 1), (10, 3, 4), (11, 3, 256), (1_000, 7, 3), (257, 50, 256)],
)
def test_total_steps_is_ceil_of_examples_times_epochs_over_batch(
    examples: int, n_epochs: int, batch_size: int
) -> None:
    seen = examples * n_epochs
    expected = seen // batch_size + (1 if seen % batch_size else 0)
    assert total_steps(examples, n_epochs, batch_size) == expected


# --------------------------------------------------------------------------------------------
# faults
# --------------------------------------------------------------------------------------------

JOBS = "/v1/fine_tuning/jobs"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"path": JOBS, "colour": "red"}, "colour"),
        ({"path": JOBS, "status": 700}, "status"),
        ({"path": JOBS, "status": 99}, "status"),
        ({"path": JOBS, "status": "500"}, "status"),
        ({"path": JOBS, "times": 0}, "times"),
        ({"path": JOBS, "delay_ms": -1}, "delay_ms"),
        ({"path": JOBS, "retry_after": -0.5}, "retry_after"),
        ({"path": JOBS, "method": 5}, "method"),
        ({"path": "v1/fine_tuning/jobs"}, "path"),
        ({}, "path"),
    ],
)
def test_fault_rule_from_json_rejects_bad_fields(body: dict[str, Any], param: str) -> None:
    with pytest.raises(ApiError) as caught:
        FaultRule.from_json(body)
    assert (caught.value.status, caught.value.param) == (400, param)


@pytest.mark.parametrize(
    ("field", "value"),
    [("status", False), ("times", True), ("delay_ms", True), ("after_commit", "false")],
)
def test_fault_rule_from_json_rejects_wrongly_typed_values(field: str, value: Any) -> None:
    with pytest.raises(ApiError) as caught:
        FaultRule.from_json({"path": JOBS, field: value})
    assert caught.value.param == field


def test_fault_rule_from_json_normalises_method_and_accepts_drop_and_null() -> None:
    assert FaultRule.from_json({"path": JOBS, "method": "post"}).method == "POST"
    assert FaultRule.from_json({"path": JOBS, "method": "*"}).method is None
    assert FaultRule.from_json({"path": JOBS, "status": 0}).status == 0
    assert FaultRule.from_json({"path": JOBS, "status": None}).status is None
    rule = FaultRule.from_json({"path": JOBS, "times": 3, "delay_ms": 250, "retry_after": 1.5})
    assert FaultRule.from_json(rule.to_json()) == rule


def test_take_honours_method_and_exact_or_prefix_path() -> None:
    book = FaultBook()
    book.arm(FaultRule(path=JOBS, method="POST", times=10))
    book.arm(FaultRule(path="/v1/files*", times=10))

    assert book.take("GET", JOBS) is None
    assert book.take("post", JOBS) is not None
    assert book.take("POST", JOBS + "/ftjob-1") is None
    assert book.take("GET", "/v1/files") is not None
    assert book.take("DELETE", "/v1/files/file-1") is not None
    assert book.take("GET", "/v1/file") is None


def test_take_counts_down_times_then_disarms() -> None:
    book = FaultBook()
    rule = FaultRule(path=JOBS, times=3)
    book.arm(rule)
    taken = [book.take("POST", JOBS) for _ in range(rule.times + 1)]
    assert [t is not None for t in taken] == [True] * rule.times + [False]
    assert [t.times for t in taken if t is not None] == [3, 2, 1]
    assert book.armed() == []


def test_first_armed_matching_rule_wins() -> None:
    book = FaultBook()
    first = FaultRule(path="/v1/*", status=503, times=1)
    second = FaultRule(path=JOBS, status=429, times=1)
    book.arm(first)
    book.arm(second)
    assert book.take("GET", JOBS) == first
    assert book.take("GET", JOBS) == second
    assert book.take("GET", JOBS) is None


# --------------------------------------------------------------------------------------------
# catalogue
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "alias", ["gpt-4o-mini", "gpt-4o", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o4-mini"]
)
def test_alias_resolves_to_a_dated_snapshot_of_itself(alias: str) -> None:
    snapshot = Catalogue().snapshot_of(alias)
    assert snapshot is not None and snapshot != alias
    assert snapshot.startswith(alias + "-")
    assert snapshot[len(alias) + 1 :].replace("-", "").isdigit()
    assert Catalogue().snapshot_of(snapshot) == snapshot


def test_every_snapshot_resolves_to_itself() -> None:
    catalogue = Catalogue()
    for snapshot in set(DOCUMENTED_MODELS.values()):
        assert catalogue.snapshot_of(snapshot) == snapshot


@pytest.mark.parametrize(
    "name",
    [
        "ft:gpt-4o-mini-2024-07-18:acme:support:AbC123",
        "ft:gpt-4o-mini-2024-07-18:acme::AbC123",
        "ft:gpt-4o-mini-2024-07-18:acme:support:AbC123:ckpt-step-40",
    ],
)
def test_fine_tuned_name_resolves_through_its_base(name: str) -> None:
    tuned = FineTunedName.parse(name)
    assert tuned is not None
    assert Catalogue().snapshot_of(name) == Catalogue().snapshot_of(tuned.base)


@pytest.mark.parametrize(
    "model",
    ["gpt-5-turbo", "", "ft:unknown-base:acme:s:id1", "ft::acme:s:id1", "ft:gpt-4o:acme:s:"],
)
def test_unknown_models_resolve_to_none(model: str) -> None:
    assert Catalogue().snapshot_of(model) is None


def test_extended_adds_plain_names_and_aliases_and_keeps_the_documented_ones() -> None:
    catalogue = Catalogue().extended(["my-model", " alias = snap "])
    assert catalogue.snapshot_of("my-model") == "my-model"
    assert catalogue.snapshot_of("alias") == "snap"
    assert catalogue.snapshot_of("snap") == "snap"
    assert catalogue.snapshot_of("ft:alias:acme:x:id1") == "snap"
    for alias, snapshot in DOCUMENTED_MODELS.items():
        assert catalogue.snapshot_of(alias) == snapshot
    assert Catalogue().snapshot_of("my-model") is None


@pytest.mark.parametrize("spec", ["", "  ", "=snap"])
def test_extended_refuses_an_empty_name(spec: str) -> None:
    with pytest.raises(ValueError):
        Catalogue().extended([spec])
