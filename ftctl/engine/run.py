"""Plan and apply: the sequence around the pure planner. Reads the configuration and the state,
recovers interrupted creates, refreshes what may have changed, plans, and carries a plan out
one step at a time, writing the state after every call that changed something remotely."""

import contextlib
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from ftctl.engine.desired import desired_resources
from ftctl.lang.config import Configuration
from ftctl.plan import Action, Change, Plan, Step, has_unknowns
from ftctl.planner import FINISHED_STATUSES, Tracked, make_plan
from ftctl.provider.base import Ambiguous, NotFound, Provider, RemoteFile, RemoteJob
from ftctl.resources import file as openai_file
from ftctl.resources import fine_tuning_job
from ftctl.state.model import ResourceState, State

# Hooks report progress to a view: (address, event, detail).
Progress = Callable[[str, str, str], None]


@dataclass(frozen=True)
class Refreshed:
    """The state as tracked, with what the API said of unfinished jobs just now."""

    state: State
    observed: Mapping[str, RemoteJob] = field(default_factory=dict)
    missing: tuple[str, ...] = ()  # tracked jobs the API does not know (wrong key or project?)
    server_time: int | None = None


def empty_state() -> State:
    return State(lineage="", serial=0, resources={})


def tracked_resources(refreshed: Refreshed) -> list[Tracked]:
    tracked = []
    for resource in refreshed.state.resources.values():
        if resource.remote_id is None:
            continue  # a create still pending: recovered before planning, or planned again
        remote = refreshed.observed.get(resource.address)
        observed = dict(resource.observed)
        if remote is not None:
            observed.update(job_attributes(remote))
        tracked.append(
            Tracked(
                address=resource.address,
                type=resource.type,
                remote_id=resource.remote_id,
                applied=resource.applied,
                settings=resource.settings,
                status=observed.get("status"),
                created_at=observed.get("created_at"),
                tainted=resource.tainted,
                observed=observed,
            )
        )
    return tracked


def refresh(state: State, provider: Provider) -> Refreshed:
    """Reads only unfinished jobs (finished ones never change), through the list endpoint."""
    unfinished = {
        r.remote_id: r.address
        for r in state.resources.values()
        if r.type == fine_tuning_job.TYPE
        and r.remote_id is not None
        and r.observed.get("status") not in FINISHED_STATUSES
    }
    if not unfinished:
        return Refreshed(state)
    found = {job.id: job for job in provider.list_jobs(unfinished)}
    observed = {unfinished[job_id]: job for job_id, job in found.items() if job_id in unfinished}
    missing = tuple(sorted(a for i, a in unfinished.items() if i not in found))
    return Refreshed(state, observed, missing, provider.server_time())


def make(
    configuration: Configuration,
    refreshed: Refreshed,
    *,
    replace_addresses: Sequence[str] = (),
    targets: Sequence[str] = (),
) -> Plan:
    state = refreshed.state
    remote_ids = {a: r.remote_id for a, r in state.resources.items() if r.remote_id}
    # Deadlines are judged by the API server's clock; without a call this run, by ours.
    now = refreshed.server_time if refreshed.server_time is not None else int(time.time())
    return make_plan(
        desired_resources(configuration, remote_ids),
        tracked_resources(refreshed),
        now,
        replace=tuple(replace_addresses),
        targets=tuple(targets),
        lineage=state.lineage,
        serial=state.serial,
    )


class StateWriter(Protocol):
    """What apply needs of the state store: the lock is held by the caller."""

    def put(self, resource: ResourceState, *, operation: str, action: str) -> ResourceState: ...

    def remove(self, address: str, *, operation: str, action: str) -> None: ...

    def snapshot(self) -> State: ...


def recover_pending(store: StateWriter, provider: Provider, operation: str) -> list[str]:
    """Creates interrupted after their pending record was written (a crash, a timeout): find
    each job by its token before anything could create it again (DESIGN 2.7)."""
    notes = []
    for resource in store.snapshot().resources.values():
        if resource.pending_token is None:
            continue
        job = provider.find_job_by_token(resource.pending_token)
        if job is not None:
            store.put(
                replace(
                    resource,
                    remote_id=job.id,
                    pending_token=None,
                    observed=job_attributes(job),
                ),
                operation=operation,
                action="recover",
            )
            notes.append(f"{resource.address}: found {job.id}, created by an interrupted run")
        elif resource.remote_id is None:
            store.remove(resource.address, operation=operation, action="recover")
            notes.append(f"{resource.address}: an interrupted create never reached the API")
        else:
            store.put(replace(resource, pending_token=None), operation=operation, action="recover")
    return notes


@dataclass
class Applier:
    """Carries out a plan's changes in order. Acts on each change's action steps alone."""

    configuration: Configuration
    store: StateWriter
    provider: Provider
    progress: Progress
    operation: str = "apply"
    counts: dict[str, int] = field(
        default_factory=lambda: {"added": 0, "changed": 0, "destroyed": 0}
    )

    def apply(self, plan: Plan) -> None:
        for change in plan.changes:
            if change.action is Action.NO_OP:
                continue
            started = time.monotonic()
            for step in change.action.steps:
                self._step(change, step)
            seconds = int(time.monotonic() - started)
            words = change.action.json_actions
            self.counts["added"] += words.count("create")
            self.counts["changed"] += words.count("update")
            self.counts["destroyed"] += words.count("delete")
            self.progress(change.address, "done", f"{change.action.value} after {seconds}s")

    def _step(self, change: Change, step: Step) -> None:
        match step:
            case Step.CREATE:
                self._create(change)
            case Step.UPDATE:
                current = self._current(change.address)
                settings = {k: (change.after or {}).get(k) for k in current.settings} | _settings(
                    change
                )
                self.store.put(
                    replace(current, settings=settings), operation=self.operation, action="update"
                )
            case Step.CANCEL:
                current = self._current(change.address)
                assert current.remote_id is not None
                self.progress(change.address, "cancelling", current.remote_id)
                job = self.provider.cancel_job(current.remote_id)
                self.store.put(
                    replace(current, observed={**current.observed, **job_attributes(job)}),
                    operation=self.operation,
                    action="cancel",
                )
            case Step.DELETE:
                current = self._current(change.address)
                assert current.remote_id is not None
                self.progress(change.address, "destroying", current.remote_id)
                with contextlib.suppress(NotFound):  # already gone: the goal of a delete
                    self.provider.delete_file(current.remote_id)
                self.store.remove(change.address, operation=self.operation, action="delete")
            case Step.FORGET:
                self.store.remove(change.address, operation=self.operation, action="forget")

    def _create(self, change: Change) -> None:
        resource = self.configuration.resources[change.address]
        remote_ids = {
            a: r.remote_id for a, r in self.store.snapshot().resources.items() if r.remote_id
        }
        [desired] = [
            d
            for d in desired_resources(self.configuration, remote_ids)
            if d.address == change.address
        ]
        if has_unknowns(desired.arguments):
            raise RuntimeError(f"{change.address}: a value it needs is still unknown")
        self.progress(change.address, "creating", "")
        if resource.type == openai_file.TYPE:
            path = self.configuration.directory / str(desired.arguments["file"])
            uploaded = self.provider.upload_file(path, str(desired.arguments["purpose"]))
            self.store.put(
                ResourceState(
                    address=change.address,
                    type=resource.type,
                    remote_id=uploaded.id,
                    applied=dict(desired.arguments),
                    observed=file_attributes(uploaded),
                ),
                operation=self.operation,
                action="create",
            )
            self.progress(change.address, "created", uploaded.id)
            return
        token = uuid.uuid4().hex
        previous = self.store.snapshot().resources.get(change.address)
        pending = ResourceState(
            address=change.address,
            type=resource.type,
            # A replacement keeps the old id until the new one is confirmed.
            remote_id=previous.remote_id if previous else None,
            applied=dict(desired.arguments),
            settings=dict(desired.settings),
            observed=dict(previous.observed) if previous else {},
            pending_token=token,
        )
        # Persist first: if ftctl dies after the server created the job, the token finds it.
        self.store.put(pending, operation=self.operation, action="create-pending")
        try:
            job = self.provider.create_job(dict(desired.arguments), token)
        except Ambiguous:
            found = self.provider.find_job_by_token(token)
            if found is None:
                raise
            job = found
        self.store.put(
            replace(pending, remote_id=job.id, pending_token=None, observed=job_attributes(job)),
            operation=self.operation,
            action="create",
        )
        self.progress(change.address, "created", job.id)

    def _current(self, address: str) -> ResourceState:
        return self.store.snapshot().resources[address]


def _settings(change: Change) -> dict[str, Any]:
    after = change.after or {}
    return {k: after[k] for k in ("cancel_after_timeout", "create_before_destroy") if k in after}


def job_attributes(job: RemoteJob) -> dict[str, Any]:
    return {
        "id": job.id,
        "status": job.status,
        "model": job.model,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
        "fine_tuned_model": job.fine_tuned_model,
        "organization_id": job.organization_id,
        "trained_tokens": job.trained_tokens,
        "result_files": list(job.result_files),
        "error": dict(job.error) if job.error else None,
        "estimated_finish": job.estimated_finish,
    }


def file_attributes(file: RemoteFile) -> dict[str, Any]:
    return {
        "id": file.id,
        "bytes": file.bytes,
        "filename": file.filename,
        "created_at": file.created_at,
    }


def state_path(directory: Path, option: str | None, environ: Mapping[str, str]) -> Path:
    chosen = option or environ.get("FTCTL_STATE")
    return Path(chosen) if chosen else directory / "state" / "ftctl.db"
