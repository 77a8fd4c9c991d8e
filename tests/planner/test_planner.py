"""The planner, case by case: (desired, tracked, now, options) → [(address, action, reason)];
then the plan value itself (before/after, unknowns, warnings, JSON) and the planner's purity."""

import ast
import dataclasses
import json
import sys
from pathlib import Path as FsPath
from typing import Any

import pytest

from ftctl import planner
from ftctl.plan import (
    RESERVED_METADATA_KEY,
    UNKNOWN,
    Action,
    Change,
    Plan,
    PlanFormatError,
    Reason,
    Step,
    Summary,
    join_unknowns,
    split_unknowns,
)
from ftctl.planner import FILE_TYPE, JOB_TYPE, Desired, Tracked, make_plan

NOW = 1_700_000_000
A = Action
R = Reason

TRAIN_ID = "file-train1"
SUPPORT = f"{JOB_TYPE}.support"
OTHER = f"{JOB_TYPE}.other"
TRAIN = f"{FILE_TYPE}.train"
EVAL = f"{FILE_TYPE}.eval"

JOB_ARGS: dict[str, Any] = {
    "model": "gpt-4o-mini-2024-07-18",
    "training_file": TRAIN_ID,
    "suffix": "support",
    "metadata": {"owner": "alice", "team": "ml"},
    "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": "auto"}}},
}


N_EPOCHS = ("method", "supervised", "hyperparameters", "n_epochs")
WANDB_A = {"type": "wandb", "wandb": {"project": "a"}}
WANDB_B = {"type": "wandb", "wandb": {"project": "b"}}


def with_path(args: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """A deep copy of `args` with the value at `path` set (or removed, for `...`)."""
    copy = json.loads(json.dumps(args))
    inner = copy
    for key in path[:-1]:
        inner = inner.setdefault(key, {})
    if value is ...:
        inner.pop(path[-1], None)
    else:
        inner[path[-1]] = value
    return copy


def want_job(
    name: str = "support",
    args: dict[str, Any] | None = None,
    depends_on: tuple[str, ...] = (),
    **settings: Any,
) -> Desired:
    return Desired(
        address=f"{JOB_TYPE}.{name}",
        type=JOB_TYPE,
        arguments=JOB_ARGS if args is None else args,
        settings=settings,
        depends_on=depends_on,
        computed=("status", "fine_tuned_model"),
    )


def have_job(
    name: str = "support",
    status: str | None = "running",
    applied: dict[str, Any] | None = None,
    created_at: int | None = NOW - 100,
    tainted: bool = False,
    **settings: Any,
) -> Tracked:
    return Tracked(
        address=f"{JOB_TYPE}.{name}",
        type=JOB_TYPE,
        remote_id=f"ftjob-{name}",
        applied=JOB_ARGS if applied is None else applied,
        settings=settings,
        status=status,
        created_at=created_at,
        tainted=tainted,
    )


def want_file(name: str = "train", sha256: str = "aaa", **settings: Any) -> Desired:
    return Desired(
        address=f"{FILE_TYPE}.{name}",
        type=FILE_TYPE,
        arguments={"file": f"{name}.jsonl", "purpose": "fine-tune", "sha256": sha256},
        settings=settings,
        computed=("bytes", "filename", "created_at"),
    )


def have_file(
    name: str = "train", sha256: str = "aaa", remote_id: str = TRAIN_ID, tainted: bool = False
) -> Tracked:
    return Tracked(
        address=f"{FILE_TYPE}.{name}",
        type=FILE_TYPE,
        remote_id=remote_id,
        applied={"file": f"{name}.jsonl", "purpose": "fine-tune", "sha256": sha256},
        status=None,
        created_at=NOW - 1000,
        tainted=tainted,
    )


def job_on(file_id: Any, name: str = "support", **settings: Any) -> Desired:
    """A job training on a file block's id, as the evaluator hands it over."""
    return want_job(
        name, with_path(JOB_ARGS, ("training_file",), file_id), depends_on=(TRAIN,), **settings
    )


ELSEWHERE = with_path(JOB_ARGS, ("training_file",), "file-elsewhere")

Expected = list[tuple[str, Action, Reason | None]]

CASES: list[Any] = [
    # --- creation and nothing to do
    pytest.param([want_job()], [], NOW, {}, [(SUPPORT, A.CREATE, None)], id="new-job-is-created"),
    pytest.param(
        [job_on(UNKNOWN), want_file()],
        [],
        NOW,
        {},
        [(TRAIN, A.CREATE, None), (SUPPORT, A.CREATE, None)],
        id="new-file-is-created-before-the-job-that-uses-it",
    ),
    pytest.param(
        [want_job()], [have_job()], NOW, {}, [(SUPPORT, A.NO_OP, None)], id="unchanged-running-job"
    ),
    pytest.param(
        [want_job()],
        [have_job(status="succeeded")],
        NOW,
        {},
        [(SUPPORT, A.NO_OP, None)],
        id="unchanged-succeeded-job",
    ),
    pytest.param(
        [want_file(), job_on(TRAIN_ID)],
        [have_file(), have_job()],
        NOW,
        {},
        [(TRAIN, A.NO_OP, None), (SUPPORT, A.NO_OP, None)],
        id="unchanged-file-and-job",
    ),
    # --- argument changes force replacement; the old job's fate depends on its status
    pytest.param(
        [want_job(args=with_path(JOB_ARGS, N_EPOCHS, 3))],
        [have_job(status="running")],
        NOW,
        {},
        [(SUPPORT, A.CANCEL_THEN_CREATE, R.ARGUMENT_CHANGED)],
        id="n_epochs-changed-on-running-job-cancels-then-creates",
    ),
    pytest.param(
        [want_job(args=with_path(JOB_ARGS, ("model",), "gpt-4.1-mini-2025-04-14"))],
        [have_job(status="succeeded")],
        NOW,
        {},
        [(SUPPORT, A.FORGET_THEN_CREATE, R.ARGUMENT_CHANGED)],
        id="model-changed-on-finished-job-forgets-then-creates",
    ),
    pytest.param(
        [want_job(args=with_path(JOB_ARGS, ("suffix",), "support-v2"), create_before_destroy=True)],
        [have_job(status="queued")],
        NOW,
        {},
        [(SUPPORT, A.CREATE_THEN_CANCEL, R.ARGUMENT_CHANGED)],
        id="create-before-destroy-on-unfinished-job",
    ),
    pytest.param(
        [want_job(args=with_path(JOB_ARGS, ("metadata", "owner"), "bob"),
                  create_before_destroy=True)],
        [have_job(status="failed")],
        NOW,
        {},
        [(SUPPORT, A.CREATE_THEN_FORGET, R.ARGUMENT_CHANGED)],
        id="create-before-destroy-on-finished-job",
    ),
    pytest.param(
        [want_job(args=with_path(JOB_ARGS, ("method",), {"type": "dpo", "dpo": {}}))],
        [have_job(status="paused")],
        NOW,
        {},
        [(SUPPORT, A.CANCEL_THEN_CREATE, R.ARGUMENT_CHANGED)],
        id="method-changed-on-paused-job",
    ),
    pytest.param(
        [want_job(args=with_path(JOB_ARGS, ("validation_file",), "file-val"))],
        [have_job(status="succeeded")],
        NOW,
        {},
        [(SUPPORT, A.FORGET_THEN_CREATE, R.ARGUMENT_CHANGED)],
        id="argument-added",
    ),
    pytest.param(
        [want_job(args=with_path(JOB_ARGS, ("suffix",), ...))],
        [have_job(status="succeeded")],
        NOW,
        {},
        [(SUPPORT, A.FORGET_THEN_CREATE, R.ARGUMENT_CHANGED)],
        id="argument-removed",
    ),
    # --- what is and is not a difference
    pytest.param(
        [want_job(args=with_path(JOB_ARGS, ("metadata",), {"team": "ml", "owner": "alice"}))],
        [have_job()],
        NOW,
        {},
        [(SUPPORT, A.NO_OP, None)],
        id="metadata-reordered-is-no-change",
    ),
    pytest.param(
        [want_job()],
        [have_job(applied=with_path(JOB_ARGS, ("metadata", RESERVED_METADATA_KEY), "tok-1"))],
        NOW,
        {},
        [(SUPPORT, A.NO_OP, None)],
        id="reserved-key-sent-but-not-configured-never-diffs",
    ),
    pytest.param(
        [want_job(args=with_path(JOB_ARGS, ("metadata", RESERVED_METADATA_KEY), "tok-2"))],
        [have_job(applied=with_path(JOB_ARGS, ("metadata", RESERVED_METADATA_KEY), "tok-1"))],
        NOW,
        {},
        [(SUPPORT, A.NO_OP, None)],
        id="reserved-key-values-never-diff",
    ),
    pytest.param(
        [want_job(args=with_path(JOB_ARGS, ("metadata",), ...))],
        [have_job(applied=with_path(JOB_ARGS, ("metadata",), {RESERVED_METADATA_KEY: "tok-1"}))],
        NOW,
        {},
        [(SUPPORT, A.NO_OP, None)],
        id="metadata-holding-only-the-reserved-key-equals-no-metadata",
    ),
    pytest.param(
        [want_job(args=with_path(JOB_ARGS, N_EPOCHS, 3))],
        [have_job(status="succeeded")],
        NOW,
        {},
        [(SUPPORT, A.FORGET_THEN_CREATE, R.ARGUMENT_CHANGED)],
        id="auto-sent-vs-number-configured-is-a-real-difference",
    ),
    pytest.param(
        [want_job(args=with_path(JOB_ARGS, N_EPOCHS, "auto"))],
        [have_job(status="succeeded", applied=with_path(JOB_ARGS, N_EPOCHS, 3))],
        NOW,
        {},
        [(SUPPORT, A.FORGET_THEN_CREATE, R.ARGUMENT_CHANGED)],
        id="number-sent-vs-auto-configured-is-a-real-difference",
    ),
    pytest.param(
        [want_job(args=with_path(JOB_ARGS, ("seed",), 2.0))],
        [have_job(applied=with_path(JOB_ARGS, ("seed",), 2))],
        NOW,
        {},
        [(SUPPORT, A.NO_OP, None)],
        id="int-and-equal-float-are-one-number",
    ),
    pytest.param(
        [want_job(args=with_path(JOB_ARGS, ("seed",), True))],
        [have_job(applied=with_path(JOB_ARGS, ("seed",), 1))],
        NOW,
        {},
        [(SUPPORT, A.CANCEL_THEN_CREATE, R.ARGUMENT_CHANGED)],
        id="true-is-not-1",
    ),
    pytest.param(
        [want_job(args=with_path(JOB_ARGS, ("seed",), None))],
        [have_job()],
        NOW,
        {},
        [(SUPPORT, A.NO_OP, None)],
        id="null-argument-equals-absent-argument",
    ),
    pytest.param(
        [want_job(args=with_path(JOB_ARGS, ("integrations",), [WANDB_B, WANDB_A]))],
        [have_job(applied=with_path(JOB_ARGS, ("integrations",), [WANDB_A, WANDB_B]))],
        NOW,
        {},
        [(SUPPORT, A.CANCEL_THEN_CREATE, R.ARGUMENT_CHANGED)],
        id="list-order-is-a-difference",
    ),
    # --- ftctl's own settings change in place
    pytest.param(
        [want_job(cancel_after_timeout=7200)],
        [have_job(cancel_after_timeout=3600)],
        NOW,
        {},
        [(SUPPORT, A.UPDATE, R.SETTINGS_CHANGED)],
        id="cancel_after_timeout-changed-is-in-place",
    ),
    pytest.param(
        [want_job(cancel_after_timeout=7200)],
        [have_job()],
        NOW,
        {},
        [(SUPPORT, A.UPDATE, R.SETTINGS_CHANGED)],
        id="cancel_after_timeout-added-is-in-place",
    ),
    pytest.param(
        [want_job(create_before_destroy=True)],
        [have_job(status="succeeded")],
        NOW,
        {},
        [(SUPPORT, A.UPDATE, R.SETTINGS_CHANGED)],
        id="lifecycle-changed-is-in-place",
    ),
    pytest.param(
        [want_job(create_before_destroy=False, cancel_after_timeout=None)],
        [have_job()],
        NOW,
        {},
        [(SUPPORT, A.NO_OP, None)],
        id="settings-at-their-defaults-equal-settings-left-out",
    ),
    pytest.param(
        [want_job(args=with_path(JOB_ARGS, ("suffix",), "v2"), cancel_after_timeout=7200)],
        [have_job(cancel_after_timeout=3600)],
        NOW,
        {},
        [(SUPPORT, A.CANCEL_THEN_CREATE, R.ARGUMENT_CHANGED)],
        id="settings-and-argument-changed-is-a-replace",
    ),
    # --- removed from the configuration
    pytest.param(
        [], [have_job(status="running")], NOW, {},
        [(SUPPORT, A.CANCEL_THEN_FORGET, R.NOT_IN_CONFIGURATION)],
        id="removed-running-job-is-cancelled-then-forgotten",
    ),
    pytest.param(
        [], [have_job(status="validating_files")], NOW, {},
        [(SUPPORT, A.CANCEL_THEN_FORGET, R.NOT_IN_CONFIGURATION)],
        id="removed-validating-job-is-cancelled-then-forgotten",
    ),
    pytest.param(
        [], [have_job(status=None)], NOW, {},
        [(SUPPORT, A.CANCEL_THEN_FORGET, R.NOT_IN_CONFIGURATION)],
        id="removed-job-never-observed-counts-as-unfinished",
    ),
    pytest.param(
        [], [have_job(status="some_future_status")], NOW, {},
        [(SUPPORT, A.CANCEL_THEN_FORGET, R.NOT_IN_CONFIGURATION)],
        id="removed-job-in-an-unknown-status-counts-as-unfinished",
    ),
    pytest.param(
        [], [have_job(status="succeeded")], NOW, {},
        [(SUPPORT, A.FORGET, R.NOT_IN_CONFIGURATION)],
        id="removed-finished-job-is-dropped-without-api-call",
    ),
    pytest.param(
        [], [have_job(status="cancelled")], NOW, {},
        [(SUPPORT, A.FORGET, R.NOT_IN_CONFIGURATION)],
        id="removed-cancelled-job-is-dropped-without-api-call",
    ),
    pytest.param(
        [], [have_file()], NOW, {},
        [(TRAIN, A.DELETE, R.NOT_IN_CONFIGURATION)],
        id="removed-file-is-deleted",
    ),
    pytest.param(
        [], [have_file(), have_job(status="running")], NOW, {},
        [
            (SUPPORT, A.CANCEL_THEN_FORGET, R.NOT_IN_CONFIGURATION),
            (TRAIN, A.DELETE, R.NOT_IN_CONFIGURATION),
        ],
        id="removed-job-goes-before-the-removed-file-it-used",
    ),
    # --- failed or cancelled outside ftctl: never re-created on its own
    pytest.param(
        [want_job()], [have_job(status="failed")], NOW, {},
        [(SUPPORT, A.NO_OP, R.FAILED_OUT_OF_BAND)],
        id="failed-job-is-reported-not-recreated",
    ),
    pytest.param(
        [want_job()], [have_job(status="cancelled")], NOW, {},
        [(SUPPORT, A.NO_OP, R.CANCELLED_OUT_OF_BAND)],
        id="cancelled-job-is-reported-not-recreated",
    ),
    pytest.param(
        [want_job(cancel_after_timeout=60)], [have_job(status="failed")], NOW, {},
        [(SUPPORT, A.UPDATE, R.SETTINGS_CHANGED)],
        id="failed-job-with-settings-changed-is-updated-not-recreated",
    ),
    # --- --replace
    pytest.param(
        [want_job()], [have_job(status="failed")], NOW, {"replace": [SUPPORT]},
        [(SUPPORT, A.FORGET_THEN_CREATE, R.REPLACE_REQUESTED)],
        id="replace-recreates-a-failed-job",
    ),
    pytest.param(
        [want_job()], [have_job(status="running")], NOW, {"replace": [SUPPORT]},
        [(SUPPORT, A.CANCEL_THEN_CREATE, R.REPLACE_REQUESTED)],
        id="replace-cancels-a-running-job-first",
    ),
    pytest.param(
        [want_job(create_before_destroy=True)], [have_job(status="running")], NOW,
        {"replace": [SUPPORT]},
        [(SUPPORT, A.CREATE_THEN_CANCEL, R.REPLACE_REQUESTED)],
        id="replace-with-create-before-destroy",
    ),
    pytest.param(
        [want_job()], [], NOW, {"replace": [SUPPORT]},
        [(SUPPORT, A.CREATE, None)],
        id="replace-of-a-new-block-is-a-create",
    ),
    pytest.param(
        [], [have_job(status="running")], NOW, {"replace": [SUPPORT]},
        [(SUPPORT, A.CANCEL_THEN_FORGET, R.NOT_IN_CONFIGURATION)],
        id="replace-of-a-removed-block-is-a-removal",
    ),
    pytest.param(
        [want_file(), job_on(TRAIN_ID)], [have_file(), have_job(status="succeeded")], NOW,
        {"replace": [TRAIN]},
        [
            (TRAIN, A.DELETE_THEN_CREATE, R.REPLACE_REQUESTED),
            (SUPPORT, A.FORGET_THEN_CREATE, R.ARGUMENT_CHANGED),
        ],
        id="replacing-a-file-replaces-the-jobs-sent-its-id",
    ),
    # --- tainted
    pytest.param(
        [want_job()], [have_job(status="running", tainted=True)], NOW, {},
        [(SUPPORT, A.CANCEL_THEN_CREATE, R.TAINTED)],
        id="tainted-running-job-is-replaced",
    ),
    pytest.param(
        [want_job()], [have_job(status="succeeded", tainted=True)], NOW, {"replace": [SUPPORT]},
        [(SUPPORT, A.FORGET_THEN_CREATE, R.TAINTED)],
        id="tainted-wins-over-requested-as-the-reason",
    ),
    pytest.param(
        [want_file(), job_on(TRAIN_ID)], [have_file(tainted=True), have_job(status="running")],
        NOW, {},
        [
            (TRAIN, A.DELETE_THEN_CREATE, R.TAINTED),
            (SUPPORT, A.CANCEL_THEN_CREATE, R.ARGUMENT_CHANGED),
        ],
        id="tainted-file-is-replaced-with-its-jobs",
    ),
    # --- cancel_after_timeout deadlines, by the server's clock
    pytest.param(
        [want_job(cancel_after_timeout=60)], [have_job(created_at=NOW - 61)], NOW, {},
        [(SUPPORT, A.CANCEL, R.PAST_DEADLINE)],
        id="job-past-its-deadline-is-cancelled",
    ),
    pytest.param(
        [want_job(cancel_after_timeout=60)], [have_job(created_at=NOW - 60)], NOW, {},
        [(SUPPORT, A.CANCEL, R.PAST_DEADLINE)],
        id="deadline-exactly-now-is-past",
    ),
    pytest.param(
        [want_job(cancel_after_timeout=60)], [have_job(created_at=NOW - 59)], NOW, {},
        [(SUPPORT, A.UPDATE, R.SETTINGS_CHANGED)],
        id="deadline-one-second-ahead-is-not-past",
    ),
    pytest.param(
        [want_job(cancel_after_timeout=60)],
        [have_job(created_at=NOW - 59, cancel_after_timeout=60)],
        NOW, {},
        [(SUPPORT, A.NO_OP, None)],
        id="deadline-ahead-and-settings-unchanged-is-no-change",
    ),
    pytest.param(
        [want_job(cancel_after_timeout=60)],
        [have_job(status="paused", created_at=NOW - 3600, cancel_after_timeout=60)],
        NOW, {},
        [(SUPPORT, A.CANCEL, R.PAST_DEADLINE)],
        id="paused-job-past-its-deadline-is-cancelled",
    ),
    pytest.param(
        [want_job(cancel_after_timeout=60)],
        [have_job(status="succeeded", created_at=NOW - 3600, cancel_after_timeout=60)],
        NOW, {},
        [(SUPPORT, A.NO_OP, None)],
        id="finished-job-past-its-deadline-is-left-alone",
    ),
    pytest.param(
        [want_job(cancel_after_timeout=60)],
        [have_job(created_at=None, cancel_after_timeout=60)],
        NOW, {},
        [(SUPPORT, A.NO_OP, None)],
        id="no-creation-time-no-deadline",
    ),
    pytest.param(
        [want_job(args=with_path(JOB_ARGS, ("suffix",), "v2"), cancel_after_timeout=60)],
        [have_job(created_at=NOW - 3600, cancel_after_timeout=60)],
        NOW, {},
        [(SUPPORT, A.CANCEL_THEN_CREATE, R.ARGUMENT_CHANGED)],
        id="replace-wins-over-deadline-cancel",
    ),
    pytest.param(
        [want_job(cancel_after_timeout=60)],
        [have_job(created_at=NOW - 3600, cancel_after_timeout=7200)],
        NOW, {},
        [(SUPPORT, A.CANCEL, R.PAST_DEADLINE)],
        id="lowered-timeout-already-passed-cancels-now",
    ),
    # --- a file's content changes: the file and every job sent its id are replaced
    pytest.param(
        [want_file(sha256="bbb"), job_on(UNKNOWN)],
        [have_file(sha256="aaa"), have_job(status="running")],
        NOW, {},
        [
            (TRAIN, A.DELETE_THEN_CREATE, R.ARGUMENT_CHANGED),
            (SUPPORT, A.CANCEL_THEN_CREATE, R.ARGUMENT_CHANGED),
        ],
        id="file-content-changed-evaluator-says-unknown",
    ),
    pytest.param(
        [want_file(sha256="bbb"), job_on(TRAIN_ID)],
        [have_file(sha256="aaa"), have_job(status="succeeded")],
        NOW, {},
        [
            (TRAIN, A.DELETE_THEN_CREATE, R.ARGUMENT_CHANGED),
            (SUPPORT, A.FORGET_THEN_CREATE, R.ARGUMENT_CHANGED),
        ],
        id="file-content-changed-evaluator-gives-old-id",
    ),
    pytest.param(
        [want_file(sha256="bbb", create_before_destroy=True), job_on(TRAIN_ID)],
        [have_file(sha256="aaa"), have_job(status="succeeded")],
        NOW, {},
        [
            (TRAIN, A.CREATE_THEN_DELETE, R.ARGUMENT_CHANGED),
            (SUPPORT, A.FORGET_THEN_CREATE, R.ARGUMENT_CHANGED),
        ],
        id="file-content-changed-with-create-before-destroy",
    ),
    pytest.param(
        [want_file(sha256="bbb"), job_on(TRAIN_ID), want_job("other", ELSEWHERE)],
        [have_file(sha256="aaa"), have_job(status="succeeded"), have_job("other", None, ELSEWHERE)],
        NOW, {},
        [
            (TRAIN, A.DELETE_THEN_CREATE, R.ARGUMENT_CHANGED),
            (OTHER, A.NO_OP, None),
            (SUPPORT, A.FORGET_THEN_CREATE, R.ARGUMENT_CHANGED),
        ],
        id="file-content-changed-leaves-unrelated-jobs-alone",
    ),
    # --- targets: the targets and what they depend on, nothing else
    pytest.param(
        [want_file(), job_on(UNKNOWN), want_job("other")],
        [],
        NOW, {"targets": [SUPPORT]},
        [(TRAIN, A.CREATE, None), (SUPPORT, A.CREATE, None)],
        id="target-brings-its-dependency",
    ),
    pytest.param(
        [want_file(sha256="bbb"), job_on(TRAIN_ID)],
        [have_file(sha256="aaa"), have_job(status="succeeded")],
        NOW, {"targets": [TRAIN]},
        [(TRAIN, A.DELETE_THEN_CREATE, R.ARGUMENT_CHANGED)],
        id="target-leaves-out-dependents",
    ),
    pytest.param(
        [want_job("other")],
        [have_job(status="running"), have_job("other")],
        NOW, {"targets": [SUPPORT]},
        [(SUPPORT, A.CANCEL_THEN_FORGET, R.NOT_IN_CONFIGURATION)],
        id="target-a-removed-block",
    ),
    pytest.param(
        [],
        [have_file(), have_job(status="running")],
        NOW, {"targets": [SUPPORT]},
        [(SUPPORT, A.CANCEL_THEN_FORGET, R.NOT_IN_CONFIGURATION)],
        id="target-a-removed-job-keeps-the-removed-file-it-used",
    ),
    pytest.param(
        [want_file(), job_on(TRAIN_ID)],
        [have_file(), have_job(), have_file("eval", remote_id="file-e")],
        NOW, {"targets": [SUPPORT, EVAL]},
        [
            (EVAL, A.DELETE, R.NOT_IN_CONFIGURATION),
            (TRAIN, A.NO_OP, None),
            (SUPPORT, A.NO_OP, None),
        ],
        id="targets-mix-removals-and-kept-blocks",
    ),
    # --- order: removals first (dependents first), then the rest (dependencies first)
    pytest.param(
        [
            want_file("eval", "e"),
            want_job("other", with_path(JOB_ARGS, ("validation_file",), UNKNOWN), (EVAL,)),
        ],
        [have_file(), have_job(status="succeeded")],
        NOW, {},
        [
            (SUPPORT, A.FORGET, R.NOT_IN_CONFIGURATION),
            (TRAIN, A.DELETE, R.NOT_IN_CONFIGURATION),
            (EVAL, A.CREATE, None),
            (OTHER, A.CREATE, None),
        ],
        id="removals-first-then-creates",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("desired", "tracked", "now", "options", "expected"), CASES)
def test_plan(
    desired: list[Desired],
    tracked: list[Tracked],
    now: int,
    options: dict[str, Any],
    expected: Expected,
) -> None:
    plan = make_plan(desired, tracked, now, lineage="lin", serial=7, **options)
    assert [(c.address, c.action, c.reason) for c in plan.changes] == expected


def plan_of(desired: list[Desired], tracked: list[Tracked], **options: Any) -> Plan:
    return make_plan(desired, tracked, NOW, lineage="lin", serial=7, **options)


def only(plan: Plan) -> Change:
    assert len(plan.changes) == 1
    return plan.changes[0]


# --- what each change carries


def test_argument_change_names_the_path_that_forces_replacement() -> None:
    path = ("method", "supervised", "hyperparameters", "n_epochs")
    change = only(plan_of([want_job(args=with_path(JOB_ARGS, path, 3))], [have_job()]))
    assert change.replace_paths == (path,)
    assert change.before is not None and change.after is not None
    assert change.before["method"]["supervised"]["hyperparameters"]["n_epochs"] == "auto"
    assert change.after["method"]["supervised"]["hyperparameters"]["n_epochs"] == 3
    # A new job: its id and computed attributes are known after apply. Known nested objects
    # mirror as {} (Terraform's unknownAsBool does the same).
    assert change.after_unknown == {
        "id": True,
        "status": True,
        "fine_tuned_model": True,
        "metadata": {},
        "method": {"supervised": {"hyperparameters": {}}},
    }
    assert "id" not in change.after and change.before["id"] == "ftjob-support"


def test_changed_file_marks_the_job_argument_unknown_and_forcing() -> None:
    plan = plan_of([want_file(sha256="bbb"), job_on(TRAIN_ID)], [have_file(), have_job()])
    file_change, job_change = plan.changes
    assert file_change.replace_paths == (("sha256",),)
    assert job_change.replace_paths == (("training_file",),)
    assert job_change.after is not None and "training_file" not in job_change.after
    assert job_change.after_unknown["training_file"] is True
    assert job_change.before is not None and job_change.before["training_file"] == TRAIN_ID


def test_every_differing_leaf_is_a_replace_path() -> None:
    args = with_path(with_path(JOB_ARGS, ("suffix",), "v2"), ("metadata", "owner"), "bob")
    change = only(plan_of([want_job(args=args)], [have_job()]))
    assert change.replace_paths == (("metadata", "owner"), ("suffix",))


def test_requested_replace_without_differences_has_no_replace_paths() -> None:
    change = only(plan_of([want_job()], [have_job()], replace=[SUPPORT]))
    assert change.replace_paths == ()


def test_unknown_list_items_become_null_in_after() -> None:
    args = with_path(JOB_ARGS, ("integrations",), [{"type": "wandb"}, UNKNOWN])
    change = only(plan_of([want_job(args=args)], []))
    assert change.after is not None
    assert change.after["integrations"] == [{"type": "wandb"}, None]
    assert change.after_unknown["integrations"] == [{}, True]


def test_update_shows_settings_before_and_after_and_nothing_unknown() -> None:
    change = only(plan_of([want_job(cancel_after_timeout=7200)], [have_job()]))
    assert change.before is not None and change.after is not None
    assert change.before["cancel_after_timeout"] is None
    assert change.after["cancel_after_timeout"] == 7200
    assert change.after["create_before_destroy"] is False
    assert change.after["id"] == change.before["id"] == "ftjob-support"
    assert change.after_unknown == {}
    assert change.replace_paths == ()


def test_no_op_before_equals_after() -> None:
    change = only(plan_of([want_job()], [have_job()]))
    assert change.before == change.after
    assert change.after_unknown == {}


def test_reserved_key_is_never_shown() -> None:
    applied = with_path(JOB_ARGS, ("metadata", RESERVED_METADATA_KEY), "tok-1")
    change = only(plan_of([want_job()], [have_job(applied=applied)], replace=[SUPPORT]))
    assert change.before is not None and change.after is not None
    assert RESERVED_METADATA_KEY not in change.before["metadata"]
    assert change.before["metadata"] == change.after["metadata"] == {"owner": "alice", "team": "ml"}


def test_cancel_shows_the_status_becoming_cancelled() -> None:
    change = only(plan_of([want_job(cancel_after_timeout=60)], [have_job(created_at=NOW - 600)]))
    assert change.action is Action.CANCEL
    assert change.before is not None and change.after is not None
    assert (change.before["status"], change.after["status"]) == ("running", "cancelled")
    assert change.after["created_at"] == NOW - 600


def test_removal_has_no_after() -> None:
    change = only(plan_of([], [have_file()]))
    assert change.after is None and change.after_unknown == {}
    assert change.before is not None and change.before["sha256"] == "aaa"


def test_create_has_no_before() -> None:
    change = only(plan_of([want_file()], []))
    assert change.before is None
    assert change.after_unknown == {"id": True, "bytes": True, "filename": True, "created_at": True}
    assert (change.type, change.name) == (FILE_TYPE, "train")


def test_observed_attributes_are_shown_but_never_diffed() -> None:
    tracked = Tracked(
        address=SUPPORT,
        type=JOB_TYPE,
        remote_id="ftjob-support",
        applied=JOB_ARGS,
        status="succeeded",
        # The server's resolution of "auto" and of the model alias: drift, not a plan change.
        observed={"fine_tuned_model": "ft:gpt-4o-mini:acme:support:x1", "model": "resolved"},
    )
    change = only(plan_of([want_job()], [tracked]))
    assert change.action is Action.NO_OP
    assert change.before is not None
    assert change.before["fine_tuned_model"] == "ft:gpt-4o-mini:acme:support:x1"
    assert change.before["model"] == JOB_ARGS["model"]


@pytest.mark.parametrize("status", ["failed", "cancelled"])
def test_out_of_band_end_warns_with_the_replace_command(status: str) -> None:
    change = only(plan_of([want_job()], [have_job(status=status)]))
    assert len(change.warnings) == 1
    assert f"--replace {SUPPORT}" in change.warnings[0]
    assert status in change.warnings[0]


def test_healthy_and_replaced_jobs_carry_no_warning() -> None:
    plan = plan_of(
        [want_job(), want_job("other", with_path(JOB_ARGS, ("suffix",), "v2"))],
        [have_job(status="succeeded"), have_job("other", status="failed")],
    )
    assert all(change.warnings == () for change in plan.changes)


def test_targeting_and_unmatched_addresses_warn() -> None:
    plan = plan_of([want_job()], [], targets=[SUPPORT, f"{JOB_TYPE}.ghost"], replace=[TRAIN])
    assert "Resource targeting is in effect" in plan.warnings[0]
    assert f"--target {JOB_TYPE}.ghost matches no resource" in plan.warnings
    assert f"--replace {TRAIN} matches no resource" in plan.warnings


def test_plan_records_the_state_and_the_server_clock() -> None:
    plan = make_plan([want_job()], [], 1234, lineage="abc", serial=42)
    assert (plan.created_at, plan.state_lineage, plan.state_serial) == (1234, "abc", 42)
    assert plan.warnings == ()


def test_plan_does_not_share_the_callers_values() -> None:
    args = json.loads(json.dumps(JOB_ARGS))
    plan = plan_of([want_job(args=args)], [])
    args["metadata"]["owner"] = "mallory"
    after = only(plan).after
    assert after is not None and after["metadata"]["owner"] == "alice"


# --- bad input is refused, not planned around


@pytest.mark.parametrize(
    ("desired", "tracked", "message"),
    [
        ([want_job(), want_job()], [], "appears twice"),
        ([], [have_job(), have_job()], "appears twice"),
        ([Desired(address="x.y", type="x", arguments={})], [], "unknown resource type"),
        ([Desired(address=f"{JOB_TYPE}.", type=JOB_TYPE, arguments={})], [], "is not"),
        ([Desired(address=TRAIN, type=JOB_TYPE, arguments={})], [], "is not"),
        ([want_job(args={"seed": float("nan")})], [], "no JSON form"),
        ([want_job(args={"seed": {1, 2}})], [], "no JSON form"),
        ([want_job(args={"cancel_after_timeout": 1})], [], "names of arguments"),
        (
            [want_job("a", depends_on=(f"{JOB_TYPE}.b",)), want_job("b", None, (f"{JOB_TYPE}.a",))],
            [],
            "dependency cycle",
        ),
    ],
)  # fmt: skip
def test_impossible_inputs_are_refused(
    desired: list[Desired], tracked: list[Tracked], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        plan_of(desired, tracked)


# --- the plan as a value: actions, counts, JSON

TERRAFORM_ACTIONS = [
    ("no-op",),
    ("create",),
    ("update",),
    ("delete",),
    ("delete", "create"),
    ("create", "delete"),
    ("forget",),
    ("forget", "create"),
    ("create", "forget"),
]


@pytest.mark.parametrize("action", list(Action))
def test_every_action_maps_to_terraform_json_and_named_steps(action: Action) -> None:
    assert action.json_actions in TERRAFORM_ACTIONS
    assert action.creates == ("create" in action.json_actions) == (Step.CREATE in action.steps)
    # Whatever deletes a file, or cancels a job and drops it, shows "delete" to tools that
    # scan plans for it; a deadline cancel keeps the job, so Terraform would call it an update.
    cancels_and_drops = Step.CANCEL in action.steps and Step.FORGET in action.steps
    if Step.DELETE in action.steps or cancels_and_drops:
        assert "delete" in action.json_actions


def test_only_no_op_update_and_forget_spare_the_api() -> None:
    assert {a for a in Action if not a.calls_api} == {A.NO_OP, A.UPDATE, A.FORGET}


def test_symbols_follow_terraform() -> None:
    assert {a: a.symbol for a in Action} == {
        A.NO_OP: "",
        A.CREATE: "+",
        A.UPDATE: "~",
        A.DELETE: "-",
        A.DELETE_THEN_CREATE: "-/+",
        A.CREATE_THEN_DELETE: "+/-",
        A.FORGET: ".",
        A.FORGET_THEN_CREATE: "./+",
        A.CREATE_THEN_FORGET: "+/.",
        A.CANCEL: "~",
        A.CANCEL_THEN_FORGET: "-",
        A.CANCEL_THEN_CREATE: "-/+",
        A.CREATE_THEN_CANCEL: "+/-",
    }


def test_only_jobs_are_cancelled_and_only_files_deleted() -> None:
    desired = [
        want_file(sha256="bbb"),
        job_on(TRAIN_ID),
        want_job("other", create_before_destroy=True),
    ]
    tracked = [have_file(), have_job(), have_job("other"), have_file("eval", remote_id="file-e")]
    plan = plan_of(desired, tracked, replace=[OTHER])
    for change in plan.changes:
        if change.type == JOB_TYPE:
            assert Step.DELETE not in change.action.steps
        else:
            assert Step.CANCEL not in change.action.steps and Step.FORGET not in change.action.steps


def test_summary_counts_a_replace_as_one_add_and_one_destroy() -> None:
    # Terraform's example: a create, a replace, an in-place update and a destroy.
    plan = plan_of(
        [
            want_job("new"),
            want_job(args=with_path(JOB_ARGS, ("suffix",), "v2")),
            want_job("other", cancel_after_timeout=60),
        ],
        [have_job(), have_job("other", created_at=NOW), have_file()],
    )
    assert plan.summary() == Summary(add=2, change=1, destroy=2, forget=0)
    assert plan.applyable


def test_summary_counts_forgets_apart_and_cancel_as_a_change() -> None:
    plan = plan_of(
        [
            want_job(cancel_after_timeout=1),
            want_job("other", with_path(JOB_ARGS, ("suffix",), "v2")),
        ],
        [have_job(), have_job("other", status="succeeded"), have_job("gone", status="failed")],
    )
    assert [c.action for c in plan.changes] == [A.FORGET, A.FORGET_THEN_CREATE, A.CANCEL]
    assert plan.summary() == Summary(add=1, change=1, destroy=0, forget=2)


def test_all_no_op_plan_is_not_applyable() -> None:
    plan = plan_of([want_job()], [have_job(status="failed")])
    assert not plan.applyable
    assert plan.summary() == Summary(add=0, change=0, destroy=0, forget=0)


def test_json_has_terraforms_shape() -> None:
    plan = plan_of([want_file(sha256="bbb"), job_on(TRAIN_ID)], [have_file(), have_job()])
    document = json.loads(json.dumps(plan.to_json()))
    assert document["format_version"] == "1.2"
    assert document["timestamp"] == "2023-11-14T22:13:20Z"
    assert document["applyable"] is True
    assert document["ftctl"] == {"state_lineage": "lin", "state_serial": 7, "warnings": []}
    file_doc, job_doc = document["resource_changes"]
    assert file_doc["address"] == TRAIN
    assert (file_doc["mode"], file_doc["type"], file_doc["name"]) == ("managed", FILE_TYPE, "train")
    assert file_doc["change"]["actions"] == ["delete", "create"]
    assert file_doc["change"]["replace_paths"] == [["sha256"]]
    assert file_doc["action_reason"] == "replace_because_cannot_update"
    assert job_doc["change"]["actions"] == ["delete", "create"]
    assert job_doc["ftctl"] == {"action": "cancel-then-create", "warnings": []}
    assert job_doc["change"]["after_unknown"]["training_file"] is True
    assert "training_file" not in job_doc["change"]["after"]


def test_json_leaves_out_what_terraform_leaves_out() -> None:
    document = plan_of([want_job()], []).to_json()
    (change,) = document["resource_changes"]
    assert "action_reason" not in change
    assert "replace_paths" not in change["change"]
    assert change["change"]["before"] is None


@pytest.mark.parametrize("reason", list(Reason))
def test_action_reasons_round_trip(reason: Reason) -> None:
    assert Reason.from_action_reason(reason.action_reason) is reason


def test_terraform_reason_names_are_kept() -> None:
    assert R.NOT_IN_CONFIGURATION.action_reason == "delete_because_no_resource_config"
    assert R.TAINTED.action_reason == "replace_because_tainted"
    assert R.REPLACE_REQUESTED.action_reason == "replace_by_request"
    assert R.ARGUMENT_CHANGED.action_reason == "replace_because_cannot_update"


def test_json_round_trips_through_text() -> None:
    plan = plan_of(
        [want_file(sha256="bbb"), job_on(TRAIN_ID), want_job("other", cancel_after_timeout=1)],
        [have_file(), have_job(status="failed"), have_job("other"), have_job("gone")],
        targets=[SUPPORT, OTHER, f"{JOB_TYPE}.gone"],
    )
    text = json.dumps(plan.to_json())
    assert Plan.from_json(json.loads(text)) == plan


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda d: d.update(format_version="2.0"), "format_version"),
        (lambda d: d.pop("ftctl"), "not an ftctl plan"),
        (lambda d: d.update(timestamp="yesterday"), "not an ftctl plan"),
        (lambda d: d["resource_changes"][0]["change"].update(actions=["create"]), "do not match"),
        (lambda d: d["resource_changes"][0]["ftctl"].update(action="explode"), "not an ftctl plan"),
        (
            lambda d: d["resource_changes"][0].update(action_reason="because"),
            "unknown action_reason",
        ),
    ],
)
def test_from_json_refuses_what_it_cannot_read(mangle: Any, message: str) -> None:
    document = plan_of([], [have_job()]).to_json()
    mangle(document)
    with pytest.raises(PlanFormatError, match=message):
        Plan.from_json(document)


def test_split_and_join_unknowns() -> None:
    value = {"a": UNKNOWN, "b": [1, UNKNOWN, {"c": UNKNOWN, "d": None}], "e": {}, "f": 2}
    known, mirror = split_unknowns(value)
    assert known == {"b": [1, None, {"d": None}], "e": {}, "f": 2}
    assert mirror == {"a": True, "b": [False, True, {"c": True}], "e": {}}
    assert join_unknowns(known, mirror) == value


# --- purity


def test_planner_imports_only_the_stdlib_and_the_plan_module() -> None:
    tree = ast.parse(FsPath(planner.__file__).read_text())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative imports hide what is imported"
            imported.add(node.module or "")
    foreign = {
        name
        for name in imported
        if name != "ftctl.plan" and name.split(".")[0] not in sys.stdlib_module_names
    }
    assert imported and foreign == set()


def test_plan_module_imports_only_the_stdlib() -> None:
    import ftctl.plan

    tree = ast.parse(FsPath(ftctl.plan.__file__).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
            for name in names:
                assert name is not None and name.split(".")[0] in sys.stdlib_module_names, name


# --- values the state recorded as sensitive


def test_a_value_recorded_as_sensitive_stays_hidden_once_the_configuration_shows_it() -> None:
    secret = dataclasses.replace(have_job(), sensitive=("suffix",))
    secret = dataclasses.replace(secret, applied={**secret.applied, "suffix": "s3cret"})
    change = only(plan_of([want_job(args={**JOB_ARGS, "suffix": "public"})], [secret]))
    assert change.action is A.CANCEL_THEN_CREATE
    assert change.before is not None and "suffix" not in change.before
    assert change.after is not None and "suffix" not in change.after
    document = change.to_json()["change"]
    assert document["before_sensitive"] == {"suffix": True}
    assert "s3cret" not in json.dumps(change.to_json())


def test_a_removed_resource_keeps_its_recorded_sensitive_values_out_of_the_plan() -> None:
    secret = dataclasses.replace(have_job(), sensitive=("suffix",))
    secret = dataclasses.replace(secret, applied={**secret.applied, "suffix": "s3cret"})
    change = only(plan_of([], [secret]))
    assert change.action is A.CANCEL_THEN_FORGET
    assert "s3cret" not in json.dumps(change.to_json())
    document = change.to_json()["change"]
    assert document["before_sensitive"] == {"suffix": True}
    assert document["after_sensitive"] is False
    assert Plan.from_json(plan_of([], [secret]).to_json()).changes[0].sensitive == {"suffix": ""}


def test_a_value_newly_derived_from_a_sensitive_one_is_an_in_place_update() -> None:
    marked = dataclasses.replace(want_job(), sensitive=("suffix",))
    change = only(plan_of([marked], [have_job()]))
    assert (change.action, change.reason) == (A.UPDATE, R.SENSITIVITY_CHANGED)
    assert change.to_json()["action_reason"] == "update_because_sensitivity_changed"
    recorded = dataclasses.replace(have_job(), sensitive=("suffix",))
    assert only(plan_of([marked], [recorded])).action is A.NO_OP
    # No longer sensitive: nothing to record, the old value stays hidden (see above).
    assert only(plan_of([want_job()], [recorded])).action is A.NO_OP
