"""Plan and apply: the sequence around the pure planner. Reads the configuration and the state,
recovers interrupted creates, refreshes what may have changed, plans, and carries a plan out
one step at a time, writing the state after every call that changed something remotely."""

import contextlib
import dataclasses
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from ftctl.diagnostics import Diagnostic, DiagnosticsError, FtctlError, Severity, error
from ftctl.engine.desired import Walk, resource_of, unique
from ftctl.lang.config import Configuration
from ftctl.lang.values import UNKNOWN, is_known, unmark
from ftctl.plan import (
    DEPOSED,
    Action,
    Change,
    OutputChange,
    Plan,
    Reason,
    Step,
    has_unknowns,
    hidden_names,
    join_unknowns,
)
from ftctl.planner import FINISHED_STATUSES, Desired, Tracked, make_plan, plan_change
from ftctl.provider.base import (
    Ambiguous,
    NotFound,
    Provider,
    ProviderError,
    RemoteFile,
    RemoteJob,
)
from ftctl.resources import file as openai_file
from ftctl.resources import fine_tuning_job
from ftctl.state.model import OutputState, ResourceState, State

# With no answer from the API yet to tell its time, a pending upload's lookup starts this far
# before this machine's clock (seconds): room for a skew between the two clocks.
UPLOAD_WINDOW = 300

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


def tracked_by_address(state: State) -> dict[str, Tracked]:
    return {t.address: t for t in tracked_resources(Refreshed(state))}


def tracked_resources(refreshed: Refreshed) -> list[Tracked]:
    tracked = []
    live = {r.remote_id for a, r in refreshed.state.resources.items() if not a.endswith(DEPOSED)}
    for resource in refreshed.state.resources.values():
        if resource.remote_id is None:
            continue  # a create still pending: recovered before planning, or planned again
        if resource.address.endswith(DEPOSED) and resource.remote_id in live:
            continue  # the same object is still the live record: never remove it twice
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
                sensitive=resource.sensitive,
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


def drift(refreshed: Refreshed) -> list[dict[str, Any]]:
    """Terraform's `resource_drift`: tracked jobs the API now describes differently from the
    state's record (a status moved on, a job failed or was cancelled outside ftctl)."""
    changes = []
    for address, job in sorted(refreshed.observed.items()):
        resource = refreshed.state.resources[address]
        before = dict(resource.observed)
        after = {**before, **job_attributes(job)}
        if before.get("status") == after.get("status"):
            continue
        # The API's copies of arguments recorded as sensitive stay out, as in every view.
        hidden = hidden_names(resource.sensitive) & {*before, *after}
        marks = dict.fromkeys(sorted(hidden), True)
        changes.append(
            {
                "address": address,
                "mode": "managed",
                "type": resource.type,
                "name": address.split(".", 1)[1],
                "change": {
                    "actions": ["update"],
                    "before": {k: v for k, v in before.items() if k not in hidden},
                    "after": {k: v for k, v in after.items() if k not in hidden},
                    **({"before_sensitive": marks, "after_sensitive": marks} if marks else {}),
                },
            }
        )
    return changes


def finished_attributes(job: RemoteJob, provider: Provider) -> dict[str, Any]:
    """A job's attributes, with validation_loss read once, when it is first seen finished."""
    attributes = job_attributes(job)
    if job.status in FINISHED_STATUSES:
        attributes["validation_loss"] = provider.last_validation_loss(job.id)
    return attributes


def make(
    configuration: Configuration,
    refreshed: Refreshed,
    *,
    replace_addresses: Sequence[str] = (),
    targets: Sequence[str] = (),
) -> Plan:
    """The plan for `configuration` against the refreshed state. Raises DiagnosticsError for
    what only values show (an evaluation error, a prevent_destroy violation)."""
    plan = _make(configuration, refreshed, replace_addresses, targets)
    protected = prevent_destroy_violations(plan.changes, configuration)
    if protected:
        raise DiagnosticsError(protected, configuration.sources)
    return plan


def check_before_any_call(
    configuration: Configuration,
    state: State,
    replace_addresses: Sequence[str] = (),
    targets: Sequence[str] = (),
) -> None:
    """What the state alone shows must stop the run before the API hears of it: a
    prevent_destroy instance the plan would forget, delete or replace. A deadline's cancel is
    left to the refreshed plan: the job may have finished meanwhile."""
    if not any(r.lifecycle.prevent_destroy for r in configuration.resources.values()):
        return
    plan = _make(configuration, Refreshed(state), replace_addresses, targets)
    protected = prevent_destroy_violations(
        [c for c in plan.changes if c.reason is not Reason.PAST_DEADLINE], configuration
    )
    if protected:
        raise DiagnosticsError(protected, configuration.sources)


def _make(
    configuration: Configuration,
    refreshed: Refreshed,
    replace_addresses: Sequence[str],
    targets: Sequence[str],
) -> Plan:
    state = refreshed.state
    # Deadlines are judged by the API server's clock; without a call this run, by ours.
    now = refreshed.server_time if refreshed.server_time is not None else int(time.time())
    moves = automatic_moves(configuration, state)
    tracked = moved(tracked_resources(refreshed), moves)
    walk = Walk(
        configuration,
        configuration.values,
        {t.address: t for t in tracked},
        now,
        replace_addresses,
    )
    desired = walk.run()
    outputs = walk.outputs()
    if any(p.severity is Severity.ERROR for p in walk.problems):
        raise DiagnosticsError(unique(walk.problems), configuration.sources)
    plan = make_plan(
        desired,
        tracked,
        now,
        replace=tuple(replace_addresses),
        triggered=tuple(walk.triggered),
        targets=_targeted(targets, [d.address for d in desired], [t.address for t in tracked]),
        declared=tuple(configuration.resources),
        sensitive_salt=secrets.token_hex(16),
        lineage=state.lineage,
        serial=state.serial,
    )
    return dataclasses.replace(
        plan,
        output_changes=output_changes(outputs, state.outputs, configuration),
        moves=tuple(moves),
    )


def moved(tracked: Sequence[Tracked], moves: Sequence[tuple[str, str]]) -> list[Tracked]:
    """The tracked objects under the addresses `moves` give them."""
    renamed = dict(moves)
    return [dataclasses.replace(t, address=renamed.get(t.address, t.address)) for t in tracked]


def automatic_moves(configuration: Configuration, state: State) -> list[tuple[str, str]]:
    """Terraform's implied moves: a resource that gains `count` keeps its object as
    instance [0], and one that loses it keeps instance [0] as the resource; never a retrain."""
    moves = []
    for address, resource in configuration.resources.items():
        first = f"{address}[0]"
        tracked = state.resources
        if resource.count is not None and address in tracked and first not in tracked:
            moves.append((address, first))
        repeated = resource.count is not None or resource.for_each is not None
        if not repeated and first in tracked and address not in tracked:
            moves.append((first, address))
    return moves


def _targeted(
    targets: Sequence[str], desired: Sequence[str], tracked: Sequence[str]
) -> tuple[str, ...]:
    """--target addresses as instances: a resource address (TYPE.NAME) names all its
    instances, as in Terraform, and a target takes its deposed object along (it is part of that
    resource's replacement). `tracked` are the state's addresses after any moves."""
    known = {*desired, *tracked}
    found: list[str] = []
    for target in targets:
        instances = [a for a in sorted(known) if "[" in a and resource_of(a) == target]
        found += instances if target not in known and instances else [target]
    return tuple((*found, *(f"{t}{DEPOSED}" for t in found if f"{t}{DEPOSED}" in known)))


def prevent_destroy_violations(
    changes: Sequence[Change], configuration: Configuration
) -> list[Diagnostic]:
    """Terraform's "Instance cannot be destroyed", for every change that would cancel, forget,
    delete or replace an instance of a resource whose block sets lifecycle.prevent_destroy."""
    found = []
    for change in changes:
        resource = configuration.resources.get(resource_of(change.address))
        if resource is None or not resource.lifecycle.prevent_destroy:
            continue
        if change.action in (Action.NO_OP, Action.CREATE, Action.UPDATE):
            continue
        found.append(
            error(
                "Instance cannot be destroyed",
                f"Resource {change.address} has lifecycle.prevent_destroy set, but the plan "
                f"calls for it to be {_destroy_word(change.action)}. To avoid this error and "
                "continue with the plan, either disable lifecycle.prevent_destroy or reduce the "
                "scope of the plan using the --target flag.",
                resource.where,
            )
        )
    return found


def _destroy_word(action: Action) -> str:
    if action.creates:
        return "replaced"
    steps = action.steps
    if Step.CANCEL in steps:
        return "cancelled"
    return "deleted" if Step.DELETE in steps else "forgotten"


def output_changes(
    outputs: Mapping[str, Any], recorded: Mapping[str, OutputState], configuration: Configuration
) -> tuple[OutputChange, ...]:
    changes = []
    for name in sorted(set(outputs) | set(recorded)):
        old = recorded.get(name)
        if name not in outputs:
            if old is None:
                continue
            changes.append(
                OutputChange(
                    name=name,
                    actions=("delete",),
                    before=old.value,
                    after=None,
                    after_unknown=False,
                    sensitive=old.sensitive,
                )
            )
            continue
        value, sensitive = unmark(outputs[name])
        sensitive = sensitive or configuration.outputs[name].sensitive
        known = is_known(value)
        after = output_value(value)
        if old is None:
            actions: tuple[str, ...] = ("create",)
        elif old.value == after and old.sensitive == sensitive:
            # Unknown parts are recorded as null: a model still training is no change.
            actions = ("no-op",)
        else:
            actions = ("update",)
        changes.append(
            OutputChange(
                name=name,
                actions=actions,
                before=None if old is None else old.value,
                after=after if known else None,
                after_unknown=not known,
                sensitive=sensitive,
            )
        )
    return tuple(changes)


def output_value(value: Any) -> Any:
    """A value as state keeps it: plain JSON, sets as lists, anything still unknown as null."""
    plain, _ = unmark(value)
    if plain is UNKNOWN:
        return None
    if isinstance(plain, dict):
        return {k: output_value(v) for k, v in plain.items()}
    if isinstance(plain, list | tuple):
        return [output_value(v) for v in plain]
    return plain


def record_outputs(store: "OutputWriter", configuration: Configuration, operation: str) -> None:
    """Evaluates the outputs against the state as it now is, and records them."""
    state = store.snapshot()
    tracked = tracked_resources(Refreshed(state))
    walk = Walk(
        configuration, configuration.values, {t.address: t for t in tracked}, int(time.time())
    )
    walk.run()
    outputs = walk.outputs()
    store.put_outputs(
        {
            name: OutputState(
                output_value(value),
                unmark(value)[1] or configuration.outputs[name].sensitive,
            )
            for name, value in outputs.items()
        },
        operation=operation,
    )


class _Stopped(Exception):
    """A stop was requested while a change waited: it is skipped, and nothing was sent."""


class StateWriter(Protocol):
    """What apply needs of the state store: the lock is held by the caller."""

    def put(self, resource: ResourceState, *, operation: str, action: str) -> ResourceState: ...

    def remove(self, address: str, *, operation: str, action: str) -> None: ...

    def snapshot(self) -> State: ...

    def get(self, address: str) -> ResourceState | None: ...

    def select(self, wanted: Callable[[str], bool]) -> dict[str, ResourceState]: ...


class OutputWriter(Protocol):
    def put_outputs(self, outputs: Mapping[str, OutputState], *, operation: str) -> None: ...

    def snapshot(self) -> State: ...


def recover_pending(store: StateWriter, provider: Provider, operation: str) -> list[str]:
    """Creates interrupted after their pending record was written (a crash, a timeout): find
    each object before anything could create it again (DESIGN 2.7)."""
    notes = []
    state = store.snapshot()
    tracked = remote_ids(state)
    for resource in state.resources.values():
        if resource.pending_token is None:
            continue
        found = find_created(provider, resource, tracked)
        if found is not None:
            tracked.add(found.id)  # two uploads of one content: each record gets its own
            store.put(
                replace(
                    resource,
                    remote_id=found.id,
                    pending_token=None,
                    observed=remote_attributes(found),
                ),
                operation=operation,
                action="recover",
            )
            notes.append(f"{resource.address}: found {found.id}, created by an interrupted run")
        elif resource.remote_id is None:
            store.remove(resource.address, operation=operation, action="recover")
            notes.append(f"{resource.address}: an interrupted create never reached the API")
        else:
            # An interrupted replacement: the record names the old job but the new arguments.
            # Tainted, the old job is replaced by the next plan rather than taken as matching.
            store.put(
                replace(resource, pending_token=None, tainted=True),
                operation=operation,
                action="recover",
            )
            notes.append(f"{resource.address}: an interrupted replacement will be planned again")
    resources = store.snapshot().resources
    for address, resource in resources.items():
        live = resources.get(address.removesuffix(DEPOSED))
        if address.endswith(DEPOSED) and live is not None and live.remote_id == resource.remote_id:
            # Deposed, then interrupted before a new object was asked for: the live record
            # still holds this object, and a second record of it would block every apply.
            store.remove(address, operation=operation, action="undepose")
            notes.append(f"{live.address}: an interrupted replacement will be planned again")
    return notes


@dataclass
class Applier:
    """Carries out a plan's changes in order. Acts on each change's action steps alone."""

    configuration: Configuration
    store: StateWriter
    provider: Provider
    progress: Progress
    operation: str = "apply"
    # Asked between changes: an interrupt lets the call in flight finish and be recorded.
    stop_requested: Callable[[], bool] = lambda: False
    counts: dict[str, int] = field(
        default_factory=lambda: {"added": 0, "changed": 0, "destroyed": 0}
    )
    touched_jobs: list[str] = field(default_factory=list)  # addresses, for apply --wait
    # How often to poll a job that a later resource needs finished (its fine_tuned_model).
    poll_seconds: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _walks: dict[tuple[Any, ...], Walk] = field(default_factory=dict)  # the latest, by its key

    def apply(self, plan: Plan, parallelism: int = 1) -> bool:
        """Carries the plan out, up to `parallelism` changes at a time, each as soon as what it
        needs is done; False if stopped on request before the end."""
        for old, new in plan.moves:
            self._move(old, new)
        removing, creating = phases(plan)
        with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
            for group in removing:
                if not self._run(pool, group, {c.address: frozenset() for c in group}):
                    return False
            needs = self._needs(creating)
            if creating and not self._run(pool, creating, needs):
                return False
        return True

    def _needs(self, changes: Sequence[Change]) -> dict[str, frozenset[str]]:
        """For each change, the other changes it must wait for: those of the resources its
        configuration refers to, directly or through others."""
        by_resource: dict[str, list[str]] = {}
        for change in changes:
            by_resource.setdefault(resource_of(change.address), []).append(change.address)
        needs = {}
        for change in changes:
            wanted = self.configuration.resource_closure(resource_of(change.address))
            needs[change.address] = frozenset(
                a for resource in wanted for a in by_resource.get(resource, [])
            )
        return needs

    def _run(
        self,
        pool: ThreadPoolExecutor,
        changes: Sequence[Change],
        needs: Mapping[str, frozenset[str]],
    ) -> bool:
        """Runs `changes` on `pool`, each once the changes it needs are done; False if stopped
        on request first. As in Terraform, a failed change's dependents never start while
        independent changes carry on; after a stop nothing new starts. Every change in flight
        finishes (and is recorded) before the apply ends: nothing is abandoned."""
        pending = {c.address: c for c in changes}
        running: dict[Future[bool], str] = {}
        done: set[str] = set()
        failed: set[str] = set()  # failed, or needing one that failed: never started
        errors: list[BaseException] = []
        skipped = False
        while pending or running:
            if not skipped and not self.stop_requested():
                for address, change in list(pending.items()):
                    if needs[address] & failed:
                        failed.add(address)
                        del pending[address]
                    elif not (needs[address] - done):
                        running[pool.submit(self._one, change)] = address
                        del pending[address]
            if not running:
                break
            finished, _ = futures_wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                address = running.pop(future)
                problem = future.exception()
                if problem is not None:
                    errors.append(problem)
                    failed.add(address)
                elif future.result():
                    done.add(address)
                else:
                    skipped = True
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise FtctlError(
                f"{len(errors)} changes failed:\n" + "\n".join(f"  {e}" for e in errors)
            ) from errors[0]
        return not pending and not skipped

    def _one(self, change: Change) -> bool:
        """Carries out one change; False if it was skipped (a stop came before it started,
        or during its wait for another job)."""
        if self.stop_requested():
            return False
        started = time.monotonic()
        try:
            self._carry_out(change)
        except _Stopped:
            return False
        seconds = int(time.monotonic() - started)
        words = change.action.json_actions
        with self._lock:
            self.counts["added"] += words.count("create")
            self.counts["changed"] += words.count("update")
            self.counts["destroyed"] += words.count("delete")
            if change.type == fine_tuning_job.TYPE and change.after is not None:
                self.touched_jobs.append(change.address)
        self.progress(change.address, "done", f"{change.action.value} after {seconds}s")
        return True

    def _carry_out(self, change: Change) -> None:
        # The object before this change: in a create-then-cancel/forget/delete replacement, the
        # steps after the create act on it, never on the record the create just wrote.
        old = self.store.get(change.address)
        created = False
        deposed = f"{change.address}{DEPOSED}"
        steps = change.action.steps
        deposing = bool(
            old is not None and old.remote_id and steps[0] is Step.CREATE and len(steps) > 1
        )
        # Everything the create needs is settled first: a wait for another job's result can
        # take hours, and nothing about this resource changes until it is over.
        desired = self._settled(change) if Step.CREATE in steps else None
        if desired is not None and self.stop_requested():
            raise _Stopped()  # the wait outlasted a stop: send nothing
        if deposing:
            assert old is not None
            if self.store.get(deposed) is not None:
                # One deposed object per address: overwriting it would lose track of its job.
                raise FtctlError(
                    f"{deposed} still holds an earlier replaced object; run ftctl apply "
                    f"(or target {deposed}) to deal with it first."
                )
            # create_before_destroy: the create overwrites the record, so the old object is
            # kept under its own address until it is dealt with. A crash in between leaves it
            # there, not in the configuration: the next plan cancels or forgets it.
            self.store.put(
                replace(old, address=deposed, pending_token=None),
                operation=self.operation,
                action="depose",
            )
        for step in steps:
            match step:
                case Step.CREATE:
                    assert desired is not None
                    try:
                        self._create(change, desired)
                    except Exception:
                        unchanged = old and replace(old, updated_at=None)
                        if deposing and self._current_or_none(change.address) == unchanged:
                            # Nothing replaced the old object: it is still the live record.
                            self.store.remove(deposed, operation=self.operation, action="undepose")
                        raise
                    created = True
                case Step.UPDATE:
                    current = self._current(change.address)
                    settings = dict(current.settings) | _settings(change)
                    # The change hides what was recorded as sensitive and what is now: a name
                    # stays sensitive until its object is replaced.
                    self.store.put(
                        replace(current, settings=settings, sensitive=tuple(change.sensitive)),
                        operation=self.operation,
                        action="update",
                    )
                case Step.CANCEL:
                    assert old is not None and old.remote_id is not None
                    self.progress(change.address, "cancelling", old.remote_id)
                    job = self.provider.cancel_job(old.remote_id)
                    if not created:
                        current = self._current(change.address)
                        self.store.put(
                            replace(current, observed={**current.observed, **job_attributes(job)}),
                            operation=self.operation,
                            action="cancel",
                        )
                case Step.DELETE:
                    assert old is not None and old.remote_id is not None
                    self.progress(change.address, "destroying", old.remote_id)
                    with contextlib.suppress(NotFound):  # already gone: the goal of a delete
                        self.provider.delete_file(old.remote_id)
                    self.store.remove(
                        deposed if created else change.address,
                        operation=self.operation,
                        action="delete",
                    )
                case Step.FORGET:
                    self.store.remove(
                        deposed if created else change.address,
                        operation=self.operation,
                        action="forget",
                    )

    def _move(self, old: str, new: str) -> None:
        """Records an object under its new address (written first: a crash in between leaves
        the object recorded twice, never lost)."""
        resources = self.store.snapshot().resources
        if old not in resources or new in resources:
            return  # already moved, by an earlier run of this plan
        self.store.put(
            replace(resources[old], address=new), operation=self.operation, action="move"
        )
        self.store.remove(old, operation=self.operation, action="move")
        self.progress(old, "moved", new)

    def _desire(self, address: str) -> Desired:
        """What `address` wants now that what it needs exists: evaluated against the state.
        One walk serves every instance while the records of what they need stay the same (a
        sweep's thousand jobs and the one file they train on): evaluating the configuration
        afresh for each would make a large apply quadratic."""
        needed = self.configuration.resource_closure(resource_of(address))
        records = self.store.select(lambda a: a == address or resource_of(a) in needed)
        tracked = tracked_by_address(State(lineage="", serial=0, resources=records))
        key = tuple(
            sorted(
                (a, t.remote_id, t.status, t.tainted, str(t.observed.get("fine_tuned_model")))
                for a, t in tracked.items()
                if resource_of(a) in needed
            )
        )
        with self._lock:
            walk = self._walks.get(key)
            if walk is not None:
                # The instance's own record (ignore_changes reads it) is not in the key.
                own = tracked.get(address)
                if own is None:
                    walk.tracked.pop(address, None)
                else:
                    walk.tracked[address] = own
            else:
                walk = Walk(
                    self.configuration, self.configuration.values, tracked, int(time.time())
                )
                self._walks = {key: walk}
            return walk.desire(address)

    def _settled(self, change: Change) -> Desired:
        """The change's desire with every value known. While a value waits for a job's result
        (a model that exists once its job has succeeded), polls the unfinished jobs it may
        come from, until the desire is known or none of them can make it so."""
        announced = False
        last: dict[str, str] = {}
        while True:
            if self.stop_requested():
                raise _Stopped()
            try:
                desired = self._desire(change.address)
            except DiagnosticsError:
                # A failed job's model is null: say which job, not only that a value is null.
                self._raise_for_failed(change, self._needed_jobs(change.address))
                raise
            if not has_unknowns(desired.arguments):
                return desired
            statuses = self._needed_jobs(change.address)
            running = sorted(a for a, s in statuses.items() if s not in FINISHED_STATUSES)
            if not running:
                self._raise_for_failed(change, statuses)
                raise FtctlError(
                    f"{change.address}: a value it needs is still unknown (a resource it "
                    "refers to was not created); nothing was sent for it."
                )
            if not announced:
                self.progress(change.address, "waiting", ", ".join(running))
                announced = True
            poll(self.store, self.provider, running, self.progress, last)
            if self.stop_requested():
                raise _Stopped()
            if all(last.get(a) not in FINISHED_STATUSES for a in running):
                self.sleep(self.poll_seconds)

    def _needed_jobs(self, address: str) -> dict[str, str | None]:
        """The status of each job instance that `address`'s resource refers to."""
        needed = self.configuration.resource_closure(resource_of(address))
        return {
            a: r.observed.get("status")
            for a, r in self.store.select(lambda a: resource_of(a) in needed).items()
            if r.type == fine_tuning_job.TYPE
            and resource_of(a) in needed
            and not a.endswith(DEPOSED)
        }

    @staticmethod
    def _raise_for_failed(change: Change, statuses: Mapping[str, str | None]) -> None:
        failed = sorted(
            (a, str(s)) for a, s in statuses.items() if s in FINISHED_STATUSES - {"succeeded"}
        )
        if failed:
            raise FtctlError(
                f"{change.address} was not created: it needs "
                + ", ".join(f"{a}, which ended {s}" for a, s in failed)
                + "."
            )

    def _create(self, change: Change, desired: Desired) -> None:
        """Creates the change's object with a pending record persisted first, so that a crash
        or a lost answer is followed by a lookup, never by a second create (DESIGN 2.7)."""
        resource = self.configuration.resources[resource_of(change.address)]
        self.progress(change.address, "creating", "")
        previous = self.store.get(change.address)
        uploading = resource.type == openai_file.TYPE
        token = upload_token(self.provider) if uploading else uuid.uuid4().hex
        was_hidden = previous.sensitive if previous else ()
        pending = ResourceState(
            address=change.address,
            type=resource.type,
            # A replacement keeps the old id until the new one is confirmed.
            remote_id=previous.remote_id if previous else None,
            applied=dict(desired.arguments),
            settings=dict(desired.settings),
            observed=dict(previous.observed) if previous else {},
            pending_token=token,
            # Until the create is confirmed the record may still show the old object's
            # attributes: hide what was hidden for either.
            sensitive=tuple(sorted({*desired.sensitive, *was_hidden})),
        )
        created: RemoteFile | RemoteJob
        self.store.put(pending, operation=self.operation, action="create-pending")
        try:
            if uploading:
                path = self.configuration.directory / str(desired.arguments["file"])
                created = self.provider.upload_file(path, str(desired.arguments["purpose"]))
            else:
                created = self.provider.create_job(dict(desired.arguments), token)
        except Ambiguous as sent:
            created = self._created_after_all(pending, sent)
        except ProviderError:
            # Refused for certain: nothing was created; the record goes back to what it was.
            if previous is None:
                self.store.remove(change.address, operation=self.operation, action="create-failed")
            else:
                self.store.put(previous, operation=self.operation, action="create-failed")
            raise
        self.store.put(
            replace(
                pending,
                remote_id=created.id,
                pending_token=None,
                observed=remote_attributes(created),
                sensitive=tuple(desired.sensitive),
            ),
            operation=self.operation,
            action="create",
        )
        self.progress(change.address, "created", created.id)

    def _created_after_all(self, pending: ResourceState, sent: Ambiguous) -> RemoteFile | RemoteJob:
        """The object an ambiguous create made after all, or `sent` raised again. The pending
        record stays in both failures: a lookup that fails is as ambiguous as the create."""
        try:
            found = find_created(self.provider, pending, remote_ids(self.store.snapshot()))
        except ProviderError as lookup:
            raise Ambiguous(f"{sent} Looking for what it made failed too: {lookup}") from lookup
        if found is None:
            raise sent
        return found

    def _current_or_none(self, address: str) -> ResourceState | None:
        current = self.store.get(address)
        return None if current is None else replace(current, updated_at=None)

    def _current(self, address: str) -> ResourceState:
        current = self.store.get(address)
        if current is None:
            raise KeyError(f"{address} is not in state")
        return current


def phases(plan: Plan) -> tuple[list[list[Change]], list[Change]]:
    """The plan's changes in the order apply takes them: removals and in-place changes first,
    in groups (jobs before the files they used); then creates and replacements, which run as
    soon as what each needs is done."""
    active = [c for c in plan.changes if c.action is not Action.NO_OP]
    removing = [c for c in active if Step.CREATE not in c.action.steps]
    creating = [c for c in active if Step.CREATE in c.action.steps]
    groups = [
        [c for c in removing if c.type == kind] for kind in (fine_tuning_job.TYPE, openai_file.TYPE)
    ]
    return [g for g in groups if g], creating


def changed_since(plan: Plan, configuration: Configuration, refreshed: Refreshed) -> list[str]:
    """Addresses whose creation the configuration now describes differently from the saved
    plan (or no longer describes): applying it would send what nobody reviewed. Evaluated as
    the plan was (against a refresh, with its moves and its replacements), and a value the
    plan showed as known after apply may be anything now: a job that finished since, or a
    file its own replacement will upload, is not a difference."""
    now = refreshed.server_time if refreshed.server_time is not None else int(time.time())
    tracked = {t.address: t for t in moved(tracked_resources(refreshed), plan.moves)}
    requested = [c.address for c in plan.changes if c.reason is Reason.REPLACE_REQUESTED]
    walk = Walk(configuration, configuration.values, tracked, now, requested)
    desired = {d.address: d for d in walk.run()}
    changed = []
    for change in plan.changes:
        if Step.CREATE not in change.action.steps:
            continue
        wanted = desired.get(change.address)
        if wanted is None:
            changed.append(change.address)
            continue
        old = tracked.get(change.address)
        if old is not None and old.sensitive:
            # The plan hid what the state recorded as sensitive too: compare like with like.
            hidden = tuple(sorted({*wanted.sensitive, *old.sensitive}))
            wanted = replace(wanted, sensitive=hidden)
        # The new object as it would be planned now: arguments, settings and what is unknown.
        again = plan_change(wanted, None, now, salt=plan.sensitive_salt)
        reviewed = join_unknowns(change.after or {}, change.after_unknown)
        now_planned = join_unknowns(again.after or {}, again.after_unknown)
        if not _agrees(reviewed, now_planned) or dict(again.sensitive) != dict(change.sensitive):
            changed.append(change.address)
    return changed


def _agrees(reviewed: Any, now: Any) -> bool:
    """`now` is what was reviewed, where anything goes where the review saw an unknown."""
    if reviewed is UNKNOWN:
        return True
    if isinstance(reviewed, Mapping) and isinstance(now, Mapping):
        return reviewed.keys() == now.keys() and all(_agrees(reviewed[k], now[k]) for k in reviewed)
    if isinstance(reviewed, list) and isinstance(now, list):
        return len(reviewed) == len(now) and all(
            _agrees(a, b) for a, b in zip(reviewed, now, strict=True)
        )
    if isinstance(reviewed, bool) or isinstance(now, bool):
        return type(reviewed) is type(now) and reviewed == now
    if isinstance(reviewed, int | float) and isinstance(now, int | float):
        return reviewed == now
    return type(reviewed) is type(now) and bool(reviewed == now)


def _settings(change: Change) -> dict[str, Any]:
    after = change.after or {}
    return {k: after[k] for k in ("cancel_after_timeout", "create_before_destroy") if k in after}


def poll(
    store: StateWriter,
    provider: Provider,
    addresses: Sequence[str],
    progress: Progress,
    last: dict[str, str],
) -> None:
    """One list request for the jobs at `addresses`: records and reports each status that
    changed since `last`, which it updates."""
    records = {a: r for a in addresses if (r := store.get(a)) is not None}
    ids = {r.remote_id: a for a, r in records.items() if r.remote_id is not None}
    for job in provider.list_jobs(ids):
        address = ids[job.id]
        resource = store.get(address)
        if resource is None:
            continue
        if last.get(address) != job.status:
            progress(address, "status", job.status)
            last[address] = job.status
            store.put(
                replace(
                    resource,
                    observed={**resource.observed, **finished_attributes(job, provider)},
                ),
                operation="wait",
                action="refresh",
            )


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


def upload_token(provider: Provider) -> str:
    """A pending upload's token: files carry no metadata, so it holds where a lookup starts
    instead, the API's time before the upload (or this machine's, less a margin for skew)."""
    now = provider.server_time()
    since = now if now is not None else int(time.time()) - UPLOAD_WINDOW
    return f"{uuid.uuid4().hex}@{since}"


def find_created(
    provider: Provider, pending: ResourceState, tracked: Collection[str]
) -> RemoteFile | RemoteJob | None:
    """What the create of a pending record made, if it reached the API: a job by the token it
    carried; an upload by its name and content, made since the token's time and not already
    tracked (an identical file of another resource, or the one being replaced)."""
    token = pending.pending_token
    assert token is not None
    if pending.type != openai_file.TYPE:
        return provider.find_job_by_token(token)
    _, at, since = token.partition("@")
    if not at or not since.lstrip("-").isdigit():
        return None  # not a pending upload's token: nothing safe to search by
    name = Path(str(pending.applied["file"])).name
    for candidate in provider.find_files(name, int(since)):
        if candidate.id not in tracked and (
            provider.get_file(candidate.id)[1] == pending.applied["sha256"]
        ):
            return candidate
    return None


def remote_ids(state: State) -> set[str]:
    """The API objects a state tracks, by id."""
    return {r.remote_id for r in state.resources.values() if r.remote_id}


def remote_attributes(created: RemoteFile | RemoteJob) -> dict[str, Any]:
    return file_attributes(created) if isinstance(created, RemoteFile) else job_attributes(created)


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
