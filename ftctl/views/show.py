"""One resource in full, for people and for machines: its attributes (as the state view writes
them), and for a job read from the API its checkpoints and loss curves; and a job's events as
log lines. Pure: the command reads the state and the API, these only render what it read."""

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeGuard

from ftctl.provider.base import RemoteCheckpoint, RemoteEvent
from ftctl.state.model import ResourceState
from ftctl.views.chart import TRAIN_MARKER, VALIDATION_MARKER, loss_chart
from ftctl.views.state import attributes, describe, sensitive_values

# The metrics events' loss series, in the order the JSON document lists them. valid_loss is
# measured on a batch at every reported step, full_valid_loss on the whole validation file at
# the end of each epoch.
LOSS_SERIES = ("train_loss", "valid_loss", "full_valid_loss")


@dataclass(frozen=True)
class Shown:
    """What `show ADDR` found for a resource."""

    resource: ResourceState  # observed as the API describes it now, when refreshed
    # True once the job, its checkpoints and its events were read; False for a file (the API
    # is read for jobs only) and when reading failed.
    refreshed: bool = False
    problem: str | None = None  # why a job could not be read, for the warning and the JSON
    checkpoints: Sequence[RemoteCheckpoint] = ()  # by step
    # (step, loss) by step, for each of LOSS_SERIES the metrics events reported.
    loss: Mapping[str, Sequence[tuple[int, float]]] = field(default_factory=dict)
    total_steps: int | None = None  # as the metrics events say; None before training starts


def loss_series(events: Iterable[RemoteEvent]) -> dict[str, list[tuple[int, float]]]:
    """Each loss the metrics events report, as (step, loss) by step; a step reported twice
    (a job resumed after a pause) keeps its newer value."""
    found: dict[str, dict[int, float]] = {name: {} for name in LOSS_SERIES}
    for event in events:
        step = event.data.get("step")
        if event.type != "metrics" or not _number(step):
            continue
        for name in LOSS_SERIES:
            value = event.data.get(name)
            if _number(value):
                found[name][int(step)] = float(value)
    return {name: sorted(points.items()) for name, points in found.items() if points}


def total_steps(events: Iterable[RemoteEvent]) -> int | None:
    """The job's step count, as its newest metrics event says (None before training)."""
    found = [e.data["total_steps"] for e in events if _number(e.data.get("total_steps"))]
    return int(found[-1]) if found else None


def render(shown: Shown, *, color: bool = False) -> str:
    """The attributes block, then (for a job that was read) its checkpoints and loss chart."""
    out = [describe(shown.resource)]
    if not shown.refreshed:
        return "\n".join(out) + "\n"
    if shown.checkpoints:
        out += ["", "Checkpoints:", *_checkpoint_lines(shown.checkpoints)]
    train = shown.loss.get("train_loss", ())
    # The per-step batch loss is the curve; a job reporting only epoch ends still has one.
    validation = shown.loss.get("valid_loss") or shown.loss.get("full_valid_loss", ())
    if train or validation:
        steps = sorted({step for step, _ in (*train, *validation)})
        legend = [f"{TRAIN_MARKER} training loss"] if train else []
        legend += [f"{VALIDATION_MARKER} validation loss"] if validation else []
        out += [
            "",
            f"Loss by step ({_span(steps, shown.total_steps)}): {', '.join(legend)}",
            loss_chart(train, validation, color=color),
        ]
    else:
        out += ["", "No training metrics yet."]
    return "\n".join(out) + "\n"


def as_json(shown: Shown) -> str:
    resource = shown.resource
    document: dict[str, Any] = {
        "format_version": "1.0",
        "address": resource.address,
        "mode": "managed",
        "type": resource.type,
        "name": resource.address.split(".", 1)[1],
        "values": attributes(resource),
        "sensitive_values": sensitive_values(resource),
        "refreshed": shown.refreshed,
        "refresh_error": shown.problem,
    }
    if shown.refreshed:
        document["total_steps"] = shown.total_steps
        document["checkpoints"] = [
            {
                "id": c.id,
                "created_at": c.created_at,
                "step": c.step,
                "model": c.model,
                "metrics": dict(c.metrics),
            }
            for c in shown.checkpoints
        ]
        document["loss"] = {
            name: [[step, loss] for step, loss in shown.loss[name]]
            for name in LOSS_SERIES
            if name in shown.loss
        }
    return json.dumps(document, indent=2)


def event_line(event: RemoteEvent) -> str:
    """`2027-01-15T08:00:00Z INFO  message`: UTC, whatever the local zone."""
    when = datetime.fromtimestamp(event.created_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{when} {event.level.upper():<5} {event.message}"


def _checkpoint_lines(checkpoints: Sequence[RemoteCheckpoint]) -> list[str]:
    # The model name goes last: the only wide column, and the only one whose width varies.
    rows = [("STEP", "TRAIN LOSS", "VALID LOSS", "MODEL")]
    for checkpoint in checkpoints:
        metrics = checkpoint.metrics
        valid = metrics.get("full_valid_loss", metrics.get("valid_loss"))
        rows.append(
            (str(checkpoint.step), _loss(metrics.get("train_loss")), _loss(valid), checkpoint.model)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return [
        "  ".join(["", *(row[i].rjust(width) for i, width in enumerate(widths)), row[3]])
        for row in rows
    ]


def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _loss(value: Any) -> str:
    return f"{value:.4f}" if _number(value) else "-"


def _span(steps: Sequence[int], total: int | None) -> str:
    span = f"step {steps[0]}" if len(steps) == 1 else f"steps {steps[0]}-{steps[-1]}"
    return span if total is None else f"{span} of {total}"
