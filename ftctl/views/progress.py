"""Jobs' progress while they train: a live table on a terminal, and in CI logs one plain line
per job when its status changes, or every 30 s (of the API's clock) while it makes progress."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Protocol

from rich.console import Console
from rich.live import Live
from rich.table import Table

from ftctl.engine.watch import JobProgress

PLAIN_EVERY = 30  # seconds between "Still running..." lines for one job
BAR_WIDTH = 20


class ProgressView(Protocol):
    def update(self, jobs: Sequence[JobProgress], now: int) -> None: ...

    def close(self) -> None: ...


def duration(seconds: int | None) -> str:
    """Terraform-like elapsed time: 45s, 02m10s, 1h02m10s."""
    if seconds is None or seconds < 0:
        return "-"
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes:02d}m{secs:02d}s"
    return f"{secs}s"


def steps(job: JobProgress) -> str | None:
    if job.step is None:
        return None
    return f"step {job.step}/{job.total_steps}" if job.total_steps else f"step {job.step}"


def loss(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def ending(job: JobProgress) -> str:
    """How a finished job ended, in a line's words."""
    if job.cancelled_for_deadline:
        return "cancelled: past its cancel_after_timeout"
    if job.status == "failed" and job.error:
        return f"failed: {job.error.get('message') or job.error.get('code')}"
    if job.status == "succeeded" and job.fine_tuned_model:
        return f"succeeded [model={job.fine_tuned_model}]"
    return job.status


@dataclass
class PlainProgress:
    """Lines for logs: the status as it changes ("ADDR: status running"), and "Still
    running..." with the elapsed time, step and loss every 30 s while the job moves on."""

    out: IO[str]
    _status: dict[str, str] = field(default_factory=dict)
    _printed_at: dict[str, int] = field(default_factory=dict)
    _printed: dict[str, tuple[int | None, float | None]] = field(default_factory=dict)

    def update(self, jobs: Sequence[JobProgress], now: int) -> None:
        for job in jobs:
            if self._status.get(job.address) != job.status:
                self._status[job.address] = job.status
                self._printed_at[job.address] = now
                self._printed[job.address] = (job.step, job.train_loss)
                self.out.write(f"{job.address}: status {job.status}\n")
                if job.finished and ending(job) != job.status:
                    said = ending(job)  # str.capitalize would lowercase the model's name
                    self.out.write(f"{job.address}: {said[:1].upper()}{said[1:]}\n")
                continue
            moved = self._printed.get(job.address) != (job.step, job.train_loss)
            if job.finished or not moved:
                continue
            if now - self._printed_at.get(job.address, now) < PLAIN_EVERY:
                continue
            self._printed_at[job.address] = now
            self._printed[job.address] = (job.step, job.train_loss)
            details = [f"{duration(_elapsed(job, now))} elapsed"]
            if steps(job):
                details.append(str(steps(job)))
            if job.train_loss is not None:
                details.append(f"loss {loss(job.train_loss)}")
            self.out.write(f"{job.address}: Still running... [{', '.join(details)}]\n")
        self.out.flush()

    def close(self) -> None:
        pass


class LiveProgress:
    """A table redrawn in place on a terminal: one row per job with its status, a bar of its
    steps, its latest train and validation loss, the time elapsed and the time left."""

    def __init__(self, console: Console) -> None:
        self._live = Live(console=console, auto_refresh=False, transient=False)
        self._live.start()

    def update(self, jobs: Sequence[JobProgress], now: int) -> None:
        self._live.update(table(jobs, now), refresh=True)

    def close(self) -> None:
        self._live.stop()


def table(jobs: Sequence[JobProgress], now: int) -> Table:
    grid = Table(box=None, pad_edge=False, header_style="bold")
    for heading in ("job", "status", "progress", "train loss", "valid loss", "elapsed", "eta"):
        grid.add_column(heading, no_wrap=True)
    for job in jobs:
        left = job.estimated_finish - now if job.estimated_finish and not job.finished else None
        grid.add_row(
            job.address,
            ending(job) if job.finished else job.status,
            bar(job),
            loss(job.train_loss),
            loss(job.valid_loss),
            duration(_elapsed(job, now)),
            duration(left) if left is not None else "-",
        )
    return grid


def bar(job: JobProgress) -> str:
    if job.step is None or not job.total_steps:
        done = 1.0 if job.status == "succeeded" else 0.0
        label = "" if done == 0 else "done"
    else:
        done = min(1.0, job.step / job.total_steps)
        label = f"{job.step}/{job.total_steps}"
    filled = round(done * BAR_WIDTH)
    return "█" * filled + "░" * (BAR_WIDTH - filled) + (f" {label}" if label else "")


def _elapsed(job: JobProgress, now: int) -> int | None:
    if job.created_at is None:
        return None
    end = job.finished_at if job.finished and job.finished_at else now
    return end - job.created_at
