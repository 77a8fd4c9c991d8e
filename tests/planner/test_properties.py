"""Planner properties over generated configs and states: a mirrored state plans nothing, input
order never matters, plans round-trip through JSON, and every plan is ordered and complete."""

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ftctl.plan import (
    RESERVED_METADATA_KEY,
    UNKNOWN,
    Action,
    Change,
    Plan,
    Reason,
    Step,
    join_unknowns,
    split_unknowns,
)
from ftctl.planner import FILE_TYPE, FINISHED_STATUSES, JOB_TYPE, Desired, Tracked, make_plan

NOW = 1_700_000_000
STATUSES = [
    None,
    "validating_files",
    "queued",
    "running",
    "pausing",
    "paused",
    "succeeded",
    "failed",
    "cancelled",
]

names = st.sampled_from(["a", "b", "c", "d"])
small_text = st.text(alphabet="xyzé-", max_size=4)
metadata = st.dictionaries(small_text, small_text, max_size=3)
n_epochs = st.one_of(st.just("auto"), st.integers(1, 3))
timeouts = st.sampled_from([None, 30, 3600])


def job_arguments(draw: st.DrawFn, training_file: Any) -> dict[str, Any]:
    return {
        "model": draw(st.sampled_from(["gpt-4o-mini-2024-07-18", "gpt-4.1-mini-2025-04-14"])),
        "training_file": training_file,
        "suffix": draw(st.one_of(st.none(), small_text)),
        "metadata": draw(metadata),
        "method": {
            "type": "supervised",
            "supervised": {"hyperparameters": {"n_epochs": draw(n_epochs)}},
        },
    }


def rarely(draw: st.DrawFn) -> bool:
    return draw(st.integers(0, 4)) == 0


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """Any config against any state: blocks added, kept, changed and removed; jobs in every
    status, tainted or not, some on files of the config; --replace and --target at random."""
    desired: list[Desired] = []
    tracked: list[Tracked] = []
    file_ids: dict[str, str] = {}
    config_files: list[str] = []
    for name in draw(st.lists(names, unique=True, max_size=3)):
        address = f"{FILE_TYPE}.{name}"
        in_config, in_state = draw(st.sampled_from([(True, False), (False, True), (True, True)]))
        arguments = {"file": f"{name}.jsonl", "sha256": draw(st.sampled_from("xy"))}
        if in_config:
            config_files.append(address)
            desired.append(
                Desired(
                    address=address,
                    type=FILE_TYPE,
                    arguments=arguments,
                    settings={"create_before_destroy": draw(st.booleans())},
                    computed=("bytes",),
                )
            )
        if in_state:
            file_ids[address] = f"file-{name}"
            sent = dict(arguments)
            if not in_config or rarely(draw):
                sent["sha256"] = draw(st.sampled_from("xyz"))
            tracked.append(
                Tracked(
                    address=address,
                    type=FILE_TYPE,
                    remote_id=f"file-{name}",
                    applied=sent,
                    tainted=rarely(draw),
                )
            )
    for name in draw(st.lists(names, unique=True, max_size=4)):
        address = f"{JOB_TYPE}.{name}"
        in_config, in_state = draw(st.sampled_from([(True, False), (False, True), (True, True)]))
        source = draw(st.sampled_from(config_files)) if config_files else None
        # What the evaluator hands over: the file's id once it exists, else unknown.
        training = file_ids.get(source, UNKNOWN) if source else "file-elsewhere"
        arguments = job_arguments(draw, training)
        job_settings = {
            "cancel_after_timeout": draw(timeouts),
            "create_before_destroy": draw(st.booleans()),
        }
        if in_config:
            desired.append(
                Desired(
                    address=address,
                    type=JOB_TYPE,
                    arguments=arguments,
                    settings=job_settings,
                    depends_on=(source,) if source else (),
                    computed=("status", "fine_tuned_model"),
                )
            )
        if in_state:
            sent_id = file_ids.get(source or "", "file-elsewhere")
            applied: dict[str, Any] = {**arguments, "training_file": sent_id}
            if not in_config or rarely(draw):
                applied = job_arguments(draw, applied["training_file"])
            if draw(st.booleans()):
                applied["metadata"] = {**applied["metadata"], RESERVED_METADATA_KEY: "tok"}
            tracked.append(
                Tracked(
                    address=address,
                    type=JOB_TYPE,
                    remote_id=f"ftjob-{name}",
                    applied=applied,
                    settings=job_settings if draw(st.booleans()) else {},
                    status=draw(st.sampled_from(STATUSES)),
                    created_at=draw(st.one_of(st.none(), st.integers(NOW - 7200, NOW))),
                    tainted=rarely(draw),
                )
            )
    addresses = sorted({d.address for d in desired} | {t.address for t in tracked})
    some = st.lists(st.sampled_from([*addresses, f"{JOB_TYPE}.ghost"]), max_size=2)
    return {
        "desired": desired,
        "tracked": tracked,
        "replace": draw(st.one_of(st.just([]), some)),
        "targets": draw(st.one_of(st.just([]), some)),
    }


@st.composite
def mirrored(draw: st.DrawFn) -> tuple[list[Desired], list[Tracked]]:
    """A config and the state an apply of it left: every block tracked with exactly what it
    sent and its settings, jobs in any status but failed or cancelled, no deadline passed."""
    desired: list[Desired] = []
    tracked: list[Tracked] = []
    file_ids: list[tuple[str, str]] = []
    for name in draw(st.lists(names, unique=True, max_size=3)):
        address = f"{FILE_TYPE}.{name}"
        arguments = {"file": f"{name}.jsonl", "sha256": draw(st.sampled_from("xy"))}
        cbd = {"create_before_destroy": draw(st.booleans())}
        desired.append(Desired(address=address, type=FILE_TYPE, arguments=arguments, settings=cbd))
        tracked.append(
            Tracked(
                address=address,
                type=FILE_TYPE,
                remote_id=f"file-{name}",
                applied=arguments,
                settings=cbd,
            )
        )
        file_ids.append((address, f"file-{name}"))
    alive = [s for s in STATUSES if s not in ("failed", "cancelled")]
    for name in draw(st.lists(names, unique=True, max_size=4)):
        address = f"{JOB_TYPE}.{name}"
        source, file_id = draw(st.sampled_from(file_ids)) if file_ids else (None, "file-x")
        arguments = job_arguments(draw, file_id)
        applied = json.loads(json.dumps(arguments))
        if draw(st.booleans()):
            applied["metadata"][RESERVED_METADATA_KEY] = "tok"
        timeout = draw(timeouts)
        created_at = draw(st.one_of(st.none(), st.integers(NOW - 7200, NOW)))
        status = draw(st.sampled_from(alive))
        if timeout is not None and created_at is not None and status not in FINISHED_STATUSES:
            created_at = max(created_at, NOW - timeout + 1)  # the deadline is still ahead
        job_settings = {
            "cancel_after_timeout": timeout,
            "create_before_destroy": draw(st.booleans()),
        }
        desired.append(
            Desired(
                address=address,
                type=JOB_TYPE,
                arguments=arguments,
                settings=job_settings,
                depends_on=(source,) if source else (),
            )
        )
        tracked.append(
            Tracked(
                address=address,
                type=JOB_TYPE,
                remote_id=f"ftjob-{name}",
                applied=applied,
                settings=job_settings,
                status=status,
                created_at=created_at,
            )
        )
    return desired, tracked


def plan_for(scenario: dict[str, Any]) -> Plan:
    return make_plan(
        scenario["desired"],
        scenario["tracked"],
        NOW,
        replace=scenario["replace"],
        targets=scenario["targets"],
        lineage="lineage",
        serial=3,
    )


@given(mirrored())
def test_a_state_that_mirrors_the_config_plans_nothing(
    case: tuple[list[Desired], list[Tracked]],
) -> None:
    desired, tracked = case
    plan = make_plan(desired, tracked, NOW, lineage="l", serial=1)
    assert [c.action for c in plan.changes] == [Action.NO_OP] * len(desired)
    assert all(c.reason is None and c.warnings == () for c in plan.changes)
    assert not plan.applyable and plan.warnings == ()


@given(scenarios(), st.randoms(use_true_random=False))
def test_input_order_never_changes_the_plan(scenario: dict[str, Any], rng: Any) -> None:
    shuffled = {key: list(value) for key, value in scenario.items()}
    for value in shuffled.values():
        rng.shuffle(value)
    plan = plan_for(scenario)
    again = plan_for(shuffled)
    assert again == plan
    assert json.dumps(again.to_json()) == json.dumps(plan.to_json())


@given(scenarios())
def test_plans_round_trip_through_json_text(scenario: dict[str, Any]) -> None:
    plan = plan_for(scenario)
    assert Plan.from_json(json.loads(json.dumps(plan.to_json()))) == plan


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
json_objects = st.dictionaries(st.text(max_size=5), json_values, max_size=4)


@st.composite
def arbitrary_changes(draw: st.DrawFn) -> Change:
    type_ = draw(st.sampled_from([JOB_TYPE, FILE_TYPE]))
    name = draw(st.text(min_size=1, max_size=8))
    return Change(
        address=f"{type_}.{name}",
        type=type_,
        name=name,
        action=draw(st.sampled_from(Action)),
        reason=draw(st.one_of(st.none(), st.sampled_from(Reason))),
        before=draw(st.one_of(st.none(), json_objects)),
        after=draw(st.one_of(st.none(), json_objects)),
        after_unknown=draw(json_objects),
        replace_paths=tuple(
            draw(st.lists(st.tuples(st.text(max_size=4), st.integers(0, 5)), max_size=2))
        ),
        warnings=tuple(draw(st.lists(st.text(max_size=10), max_size=2))),
    )


@given(
    st.lists(arbitrary_changes(), max_size=4),
    st.lists(st.text(max_size=10), max_size=2),
    st.integers(0, 253_402_300_799),  # up to the last second of year 9999
    st.text(max_size=8),
    st.integers(0, 2**53),
)
def test_any_plan_value_round_trips_through_json_text(
    changes: list[Change], warnings: list[str], created_at: int, lineage: str, serial: int
) -> None:
    plan = Plan(
        changes=tuple(changes),
        warnings=tuple(warnings),
        created_at=created_at,
        state_lineage=lineage,
        state_serial=serial,
    )
    assert Plan.from_json(json.loads(json.dumps(plan.to_json()))) == plan


with_unknowns = st.recursive(
    st.none() | st.integers() | st.text(max_size=3) | st.just(UNKNOWN),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(st.dictionaries(st.text(max_size=3), with_unknowns, max_size=4))
def test_unknowns_split_and_join_back(value: dict[str, Any]) -> None:
    known, mirror = split_unknowns(value)
    assert "UNKNOWN" not in repr(known)
    assert join_unknowns(known, mirror) == value


@settings(max_examples=200)
@given(scenarios())
def test_every_plan_is_complete_ordered_and_needs_no_reason(scenario: dict[str, Any]) -> None:
    plan = plan_for(scenario)
    desired = {d.address: d for d in scenario["desired"]}
    tracked = {t.address: t for t in scenario["tracked"]}
    position = {c.address: i for i, c in enumerate(plan.changes)}
    assert len(position) == len(plan.changes)
    if not scenario["targets"]:
        assert set(position) == set(desired) | set(tracked)
    for change in plan.changes:
        old = tracked.get(change.address)
        if change.address not in desired:
            assert change.action.removes and change.reason is Reason.NOT_IN_CONFIGURATION
        elif old is None:
            assert change.action is Action.CREATE
        steps = change.action.steps
        # What apply does follows from the action alone: a finished job is never cancelled, a
        # job is never deleted, a file never cancelled or forgotten.
        if change.type == JOB_TYPE:
            assert Step.DELETE not in steps
            if old is not None and old.status in FINISHED_STATUSES:
                assert Step.CANCEL not in steps
            elif old is not None and (change.action.creates or change.action.removes):
                assert Step.CANCEL in steps
        else:
            assert Step.CANCEL not in steps and Step.FORGET not in steps
        # Dependencies come first for what stays or is created.
        if not change.action.removes and change.address in desired:
            for dependency in desired[change.address].depends_on:
                if dependency in position:
                    assert position[dependency] < position[change.address]
    removals = [i for i, c in enumerate(plan.changes) if c.action.removes]
    assert removals == list(range(len(removals)))  # removals lead


@given(scenarios())
def test_a_failed_or_cancelled_job_is_only_recreated_on_request(scenario: dict[str, Any]) -> None:
    plan = plan_for(scenario)
    desired = {d.address: d for d in scenario["desired"]}
    tracked = {t.address: t for t in scenario["tracked"]}
    for change in plan.changes:
        old = tracked.get(change.address)
        if (
            old is None
            or change.address not in desired
            or old.status not in ("failed", "cancelled")
        ):
            continue
        if change.action.creates:
            assert change.reason is not None
            assert change.reason is not Reason.FAILED_OUT_OF_BAND
            assert change.reason is not Reason.CANCELLED_OUT_OF_BAND
            assert change.address in scenario["replace"] or change.replace_paths or old.tainted
        else:
            assert any(f"--replace {change.address}" in w for w in change.warnings)
