"""Golden files pin the human plan, rendered without colour from the plan's JSON document.

Regenerate on purpose only (FTCTL_REGENERATE_GOLDEN=1 pytest tests/views) and review the diff.
"""

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest

from ftctl.plan import OutputChange, Plan
from ftctl.planner import Desired, Tracked, make_plan
from ftctl.views.plan import render_plan

GOLDEN = Path(__file__).parent / "golden"
NOW = 1_800_000_000
FILE_SHA = "5d41402abc4b2a76b9719d911017c592"

JOB_ARGUMENTS: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "training_file": "file-abc123",
    "suffix": "support",
    "metadata": {"owner": "alice"},
    "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3}}},
}
COMPUTED = ("fine_tuned_model", "organization_id", "status", "created_at")


def job(**changes: Any) -> Desired:
    settings = changes.pop("settings", {})
    return Desired(
        address="openai_fine_tuning_job.support",
        type="openai_fine_tuning_job",
        arguments={**JOB_ARGUMENTS, **changes},
        settings=settings,
        depends_on=(),
        computed=COMPUTED,
    )


def tracked_job(status: str = "succeeded", settings: dict[str, Any] | None = None) -> Tracked:
    return Tracked(
        address="openai_fine_tuning_job.support",
        type="openai_fine_tuning_job",
        remote_id="ftjob-abc123",
        applied=JOB_ARGUMENTS,
        settings=settings or {},
        status=status,
        created_at=NOW - 7200,
        observed={
            "status": status,
            "fine_tuned_model": "ft:gpt-4o-mini-2024-07-18:acme:support:abc123"
            if status == "succeeded"
            else None,
        },
    )


def tracked_file() -> Tracked:
    return Tracked(
        address="openai_file.train",
        type="openai_file",
        remote_id="file-abc123",
        applied={"file": "data/train.jsonl", "purpose": "fine-tune", "sha256": FILE_SHA},
    )


def instance(key: str, **changes: Any) -> Desired:
    return dataclasses.replace(job(**changes), address=f'openai_fine_tuning_job.support["{key}"]')


def tracked_instance(key: str, status: str = "running") -> Tracked:
    return dataclasses.replace(
        tracked_job(status=status), address=f'openai_fine_tuning_job.support["{key}"]'
    )


OUTPUTS = (
    OutputChange(
        name="model",
        actions=("create",),
        before=None,
        after=None,
        after_unknown=True,
        sensitive=False,
    ),
    OutputChange(
        name="owner",
        actions=("update",),
        before="alice",
        after="bob",
        after_unknown=False,
        sensitive=False,
    ),
    OutputChange(
        name="token",
        actions=("create",),
        before=None,
        after=None,
        after_unknown=False,
        sensitive=True,
    ),
    OutputChange(
        name="old",
        actions=("delete",),
        before=1,
        after=None,
        after_unknown=False,
        sensitive=False,
    ),
    OutputChange(
        name="same", actions=("no-op",), before=2, after=2, after_unknown=False, sensitive=False
    ),
)


def plan(
    desired: list[Desired],
    tracked: list[Tracked],
    outputs: tuple[OutputChange, ...] = (),
    **options: Any,
) -> str:
    made = make_plan(desired, tracked, NOW, lineage="golden", serial=7, **options)
    made = dataclasses.replace(made, output_changes=outputs)
    # Render from the JSON text, as `plan --json` would print it: the view sees nothing else.
    return render_plan(Plan.from_json(json.loads(json.dumps(made.to_json()))).to_json())


CASES = {
    "create": lambda: plan([job()], []),
    "replace": lambda: plan([job(suffix="support-v2")], [tracked_job()]),
    "replace_requested": lambda: plan(
        [job()], [tracked_job(status="failed")], replace=("openai_fine_tuning_job.support",)
    ),
    "update_in_place": lambda: plan(
        [job(settings={"cancel_after_timeout": 10_800})], [tracked_job(status="running")]
    ),
    "cancel_past_deadline": lambda: plan(
        [job(settings={"cancel_after_timeout": 3600})],
        [tracked_job(status="running", settings={"cancel_after_timeout": 3600})],
    ),
    "remove_running_job": lambda: plan([], [tracked_job(status="running")]),
    "remove_finished_job_and_file": lambda: plan([], [tracked_job(), tracked_file()]),
    "no_changes": lambda: plan([job()], [tracked_job()]),
    "failed_out_of_band": lambda: plan([job()], [tracked_job(status="failed")]),
    "for_each_key_removed": lambda: plan(
        [instance("a")],
        [tracked_instance("a"), tracked_instance("b")],
        declared=("openai_fine_tuning_job.support",),
    ),
    "replace_triggered": lambda: plan(
        [job()], [tracked_job()], triggered=("openai_fine_tuning_job.support",)
    ),
    "sensitive_argument": lambda: plan(
        [dataclasses.replace(job(suffix="s3cr3t-v2"), sensitive=("suffix",))], [tracked_job()]
    ),
    "sensitive_argument_created": lambda: plan(
        [dataclasses.replace(job(suffix="s3cr3t"), sensitive=("suffix",))], []
    ),
    "outputs_only": lambda: plan([job()], [tracked_job()], OUTPUTS),
    "outputs_with_changes": lambda: plan([job()], [], OUTPUTS[:1]),
}


@pytest.mark.parametrize("case", CASES)
def test_plan_renders_as_its_golden_file(case: str) -> None:
    rendered = CASES[case]()
    golden = GOLDEN / f"{case}.txt"
    if os.environ.get("FTCTL_REGENERATE_GOLDEN") == "1":
        golden.write_text(rendered)
    assert rendered == golden.read_text()


def test_a_sensitive_argument_is_in_no_part_of_the_plan_document() -> None:
    desired = dataclasses.replace(job(suffix="s3cr3t-v2"), sensitive=("suffix",))
    made = make_plan([desired], [tracked_job()], NOW, lineage="golden", serial=7)
    text = json.dumps(made.to_json())
    assert "s3cr3t" not in text and "suffix" not in (made.changes[0].before or {})
    (change,) = made.to_json()["resource_changes"]
    assert change["change"]["after_sensitive"] == {"suffix": True}
    assert change["change"]["replace_paths"] == [["suffix"]]
    assert Plan.from_json(made.to_json()).changes[0].sensitive == made.changes[0].sensitive
