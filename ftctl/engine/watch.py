"""Watching jobs train: polls until every watched job has finished, at one list request per
round for all of them plus the new events of the running ones, backing off while nothing
changes. Enforces each job's cancel_after_timeout, records what it learns in the state, and
reports each round's progress to a view."""

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from ftctl.engine.run import finished_attributes, job_attributes
from ftctl.planner import FINISHED_STATUSES
from ftctl.provider.base import Provider, RemoteJob
from ftctl.state.model import ResourceState, StateLocked

# While nothing changes, each round waits this much longer than the last, up to MAX_INTERVAL.
BACKOFF = 1.5
MAX_INTERVAL = 60.0


@dataclass(frozen=True)
class JobProgress:
    """What is known of one watched job after a round."""

    address: str
    job_id: str
    status: str
    created_at: int | None = None
    finished_at: int | None = None
    estimated_finish: int | None = None
    step: int | None = None
    total_steps: int | None = None
    train_loss: float | None = None
    valid_loss: float | None = None
    fine_tuned_model: str | None = None
    error: Mapping[str, Any] | None = None
    cancelled_for_deadline: bool = False

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES


class StateRecorder(Protocol):
    """Where a round's news is written: holding the lock for a whole wait would block every
    apply for hours, so each write takes it briefly (and skips the round if it is busy)."""

    def record(self, updates: Sequence[tuple[str, str, Mapping[str, Any]]]) -> None:
        """(address, job id, attributes): written only where the address still holds that
        job (an apply may have replaced it meanwhile)."""
        ...

    def settings(self, address: str, job_id: str) -> Mapping[str, Any] | None:
        """The address's settings while it still holds `job_id`; None once it does not."""
        ...


@dataclass
class Watch:
    """Watches the jobs at `addresses` (address → job id). `report` gets every round's
    progress and the server's time; `stop_requested` ends the watch early and `timeout`
    (seconds) ends it with jobs still running: neither cancels anything."""

    provider: Provider
    recorder: StateRecorder
    addresses: Mapping[str, str]
    report: Callable[[Sequence[JobProgress], int], None]
    poll_seconds: float = 30.0
    sleep: Callable[[float], object] = time.sleep
    stop_requested: Callable[[], bool] = lambda: False
    timeout: float | None = None  # seconds of waiting, by the local clock
    monotonic: Callable[[], float] = time.monotonic
    progress: dict[str, JobProgress] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)  # addresses the API does not know
    _last_event: dict[str, str] = field(default_factory=dict)
    _cancelled: set[str] = field(default_factory=set)  # by their deadline, while watched

    def run(self) -> dict[str, JobProgress]:
        """Watches until every job finished (or a stop, or the timeout); the last progress."""
        interval = self.poll_seconds
        started = self.monotonic()
        while True:
            changed = self.round()
            settled = all(
                a in self.missing or (a in self.progress and self.progress[a].finished)
                for a in self.addresses
            )
            if settled or self.stop_requested():
                return dict(self.progress)
            if self.timeout is not None and self.monotonic() - started >= self.timeout:
                return dict(self.progress)
            interval = self.poll_seconds if changed else min(interval * BACKOFF, MAX_INTERVAL)
            interval = max(interval, self.poll_seconds)
            if self.timeout is not None:
                interval = min(interval, max(0.0, self.timeout - (self.monotonic() - started)))
            self.sleep(interval)

    def round(self) -> bool:
        """One list request and the running jobs' new events; True if anything changed."""
        unfinished = {
            job_id: address
            for address, job_id in self.addresses.items()
            if address not in self.missing
            and not (address in self.progress and self.progress[address].finished)
        }
        jobs = {job.id: job for job in self.provider.list_jobs(unfinished)}
        now = self.provider.server_time() or int(time.time())
        updates: list[tuple[str, str, Mapping[str, Any]]] = []
        changed = False
        for job_id, address in unfinished.items():
            job = jobs.get(job_id)
            if job is None:  # a wrong key or project: jobs are never deleted
                self.missing.add(address)
                changed = True
                continue
            job = self._deadline(address, job, now)
            before = self.progress.get(address)
            after = self._progress(address, job, before)
            if after != before:
                changed = True
                self.progress[address] = after
            if before is None or before.status != job.status:
                attributes = (
                    finished_attributes(job, self.provider)
                    if job.status in FINISHED_STATUSES
                    else job_attributes(job)
                )
                updates.append((address, job_id, attributes))
        if updates:
            self.recorder.record(updates)
        self.report([self.progress[a] for a in self.addresses if a in self.progress], now)
        return changed

    def _deadline(self, address: str, job: RemoteJob, now: int) -> RemoteJob:
        """cancel_after_timeout, enforced while waiting as apply would: not a second early."""
        settings = self.recorder.settings(address, job.id)
        if settings is None:  # the address holds another job now: its deadline is not ours
            return job
        timeout = settings.get("cancel_after_timeout")
        if job.status in FINISHED_STATUSES or not isinstance(timeout, int):
            return job
        if job.created_at + timeout > now:
            return job
        cancelled = self.provider.cancel_job(job.id)
        self._cancelled.add(address)
        return cancelled

    def _progress(self, address: str, job: RemoteJob, before: JobProgress | None) -> JobProgress:
        step = before.step if before else None
        total = before.total_steps if before else None
        train = before.train_loss if before else None
        valid = before.valid_loss if before else None
        if job.status not in ("validating_files", "queued"):
            for event in self.provider.events(job.id, after=self._last_event.get(address)):
                self._last_event[address] = event.id
                data = event.data
                if event.type != "metrics" or not data:
                    continue
                step = _int(data.get("step"), step)
                total = _int(data.get("total_steps"), total)
                train = _float(data.get("train_loss"), train)
                valid = _float(data.get("full_valid_loss"), _float(data.get("valid_loss"), valid))
        return JobProgress(
            address=address,
            job_id=job.id,
            status=job.status,
            created_at=job.created_at,
            finished_at=job.finished_at,
            estimated_finish=job.estimated_finish,
            step=step,
            total_steps=total,
            train_loss=train,
            valid_loss=valid,
            fine_tuned_model=job.fine_tuned_model,
            error=job.error,
            cancelled_for_deadline=address in self._cancelled,
        )


def _int(value: Any, fallback: int | None) -> int | None:
    return (
        int(value) if isinstance(value, int | float) and not isinstance(value, bool) else fallback
    )


def _float(value: Any, fallback: float | None) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return fallback


@dataclass
class LockedRecorder:
    """Records a round's news under a brief hold of the state lock; while an apply holds it,
    the round's news waits for the next round (the view still shows it)."""

    store: Any  # StateStore: put, get, lock
    operation: str = "wait"
    held: bool = False  # the caller holds the lock already (apply --wait)
    _pending: dict[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)

    def settings(self, address: str, job_id: str) -> Mapping[str, Any] | None:
        record = self.store.get(address)
        return record.settings if record is not None and record.remote_id == job_id else None

    def record(self, updates: Sequence[tuple[str, str, Mapping[str, Any]]]) -> None:
        for address, job_id, attributes in updates:
            key = (address, job_id)
            self._pending[key] = {**self._pending.get(key, {}), **attributes}
        if self.held:
            self._write()
            return
        try:
            with self.store.lock(self.operation, timeout=0):
                self._write()
        except StateLocked:
            return

    def _write(self) -> None:
        for (address, job_id), attributes in list(self._pending.items()):
            record: ResourceState | None = self.store.get(address)
            # Only onto the record of the job watched: an apply may have replaced it, and its
            # new job's record must not take the old job's status.
            if record is not None and record.remote_id == job_id:
                self.store.put(
                    replace(record, observed={**record.observed, **attributes}),
                    operation=self.operation,
                    action="refresh",
                )
            del self._pending[(address, job_id)]
