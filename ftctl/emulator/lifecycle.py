"""How a job moves through its statuses, as a pure function of its history and the clock.

A job keeps only its explicit transitions ("anchors": created, pause, resume, cancel, a change
made from the dashboard). Everything automatic (files validated, queued, running, each step,
success) follows from the last anchor and the durations, so reading a job never writes and no
background thread is needed: move the clock and the job has moved.
"""

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class Status(StrEnum):
    VALIDATING_FILES = "validating_files"
    QUEUED = "queued"
    RUNNING = "running"
    PAUSING = "pausing"
    PAUSED = "paused"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)


@dataclass(frozen=True)
class Durations:
    """Emulated seconds each automatic phase takes (documented in the README)."""

    validating_files: int = 10
    queued: int = 20
    step: int = 1
    pausing: int = 5


@dataclass(frozen=True)
class JobError:
    code: str
    message: str
    param: str | None = None


@dataclass(frozen=True)
class Anchor:
    """An explicit transition; automatic progress restarts from it."""

    status: Status
    at: int
    steps_done: int = 0
    error: JobError | None = None


@dataclass(frozen=True)
class Training:
    """What a job will do once it runs, fixed when it is created."""

    total_steps: int
    n_epochs: int
    # A bad training or validation file, found at creation and revealed when validation ends.
    file_problem: JobError | None = None

    @property
    def checkpoint_steps(self) -> tuple[int, ...]:
        """The step that ends each epoch."""
        return tuple(
            max(1, math.ceil(epoch * self.total_steps / self.n_epochs))
            for epoch in range(1, self.n_epochs + 1)
        )


@dataclass(frozen=True)
class Change:
    at: int
    status: Status
    explicit: bool
    error: JobError | None = None


@dataclass(frozen=True)
class Run:
    """A stretch of uninterrupted training: steps first..last, one every `step_seconds`."""

    start: int
    first: int
    last: int
    step_seconds: int

    def time_of(self, step: int) -> int:
        return self.start + (step - self.first + 1) * self.step_seconds


@dataclass(frozen=True)
class Segment:
    """An anchor and what followed from it until the next anchor (or now)."""

    anchor: Anchor
    changes: tuple[Change, ...]  # the anchor's own change first
    run: Run | None


@dataclass(frozen=True)
class Timeline:
    segments: tuple[Segment, ...]
    # The last anchor's automatic changes still to come, for estimated_finish.
    pending: tuple[Change, ...] = field(default=())

    @property
    def last_change(self) -> Change:
        return self.segments[-1].changes[-1]

    @property
    def status(self) -> Status:
        return self.last_change.status

    @property
    def error(self) -> JobError | None:
        return self.last_change.error if self.status is Status.FAILED else None

    @property
    def finished_at(self) -> int | None:
        return self.last_change.at if self.status.finished else None

    @property
    def steps_done(self) -> int:
        last = self.segments[-1]
        return last.run.last if last.run else last.anchor.steps_done

    @property
    def started(self) -> bool:
        """Training began (or was declared done): "auto" hyperparameters are resolved by now."""
        return any(
            change.status in (Status.RUNNING, Status.SUCCEEDED)
            for segment in self.segments
            for change in segment.changes
        )

    @property
    def estimated_finish(self) -> int | None:
        if self.status is not Status.RUNNING:
            return None
        return next((c.at for c in self.pending if c.status is Status.SUCCEEDED), None)

    def runs(self) -> Iterator[Run]:
        return (segment.run for segment in self.segments if segment.run is not None)

    def step_time(self, step: int) -> int | None:
        for run in self.runs():
            if run.first <= step <= run.last:
                return run.time_of(step)
        return None


def progression(
    anchor: Anchor, training: Training, durations: Durations
) -> tuple[list[Change], int | None]:
    """The automatic changes that follow an anchor if nothing interrupts, and when training
    (re)starts from it."""
    remaining = (training.total_steps - anchor.steps_done) * durations.step
    at = anchor.at
    match anchor.status:
        case Status.VALIDATING_FILES:
            validated = at + durations.validating_files
            if training.file_problem is not None:
                return [Change(validated, Status.FAILED, False, training.file_problem)], None
            started = validated + durations.queued
            return [
                Change(validated, Status.QUEUED, False),
                Change(started, Status.RUNNING, False),
                Change(started + remaining, Status.SUCCEEDED, False),
            ], started
        case Status.QUEUED:
            started = at + durations.queued
            return [
                Change(started, Status.RUNNING, False),
                Change(started + remaining, Status.SUCCEEDED, False),
            ], started
        case Status.RUNNING:
            return [Change(at + remaining, Status.SUCCEEDED, False)], at
        case Status.PAUSING:
            return [Change(at + durations.pausing, Status.PAUSED, False)], None
        case _:
            return [], None


def settles_at(anchor: Anchor, training: Training, durations: Durations) -> int | None:
    """When the automatic progress from `anchor` ends the job, if nothing interrupts it."""
    changes, _ = progression(anchor, training, durations)
    return next((c.at for c in changes if c.status.finished), None)


def timeline(
    anchors: Sequence[Anchor], training: Training, durations: Durations, now: int
) -> Timeline:
    if not anchors:
        raise ValueError("a job has at least its creation anchor")
    segments = []
    pending: list[Change] = []
    for index, anchor in enumerate(anchors):
        # Inclusive: whatever happened at the very second of the next anchor still happened.
        cutoff = anchors[index + 1].at if index + 1 < len(anchors) else now
        automatic, run_start = progression(anchor, training, durations)
        changes = [Change(anchor.at, anchor.status, True, anchor.error)]
        changes += [c for c in automatic if c.at <= cutoff]
        pending = [c for c in automatic if c.at > cutoff]
        run = None
        if run_start is not None and run_start <= cutoff:
            done = min(
                training.total_steps,
                anchor.steps_done + (cutoff - run_start) // durations.step,
            )
            if done > anchor.steps_done:
                run = Run(run_start, anchor.steps_done + 1, done, durations.step)
        segments.append(Segment(anchor, tuple(changes), run))
    return Timeline(tuple(segments), tuple(pending))


def reported_steps(run: Run, total_steps: int, checkpoint_steps: Sequence[int]) -> list[int]:
    """Steps that get a metrics event: every step of a short job, about a hundred of a long
    one, and always the first, the last and every epoch's end."""
    every = max(1, math.ceil(total_steps / 100))
    regular = range(math.ceil(run.first / every) * every, run.last + 1, every)
    marked = {s for s in (*checkpoint_steps, 1, total_steps) if run.first <= s <= run.last}
    return sorted(marked.union(regular))
