"""make_plan: the resources the configuration wants against those the state tracks, as a Plan.

Pure: no I/O, no clock (`now` is the API server's), no randomness; imports only the standard
library and ftctl.plan. DESIGN §2 is its specification.
"""

import dataclasses
import heapq
import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, TypeVar, assert_never

from ftctl.plan import (
    DEPOSED,
    RESERVED_METADATA_KEY,
    UNKNOWN,
    Action,
    Change,
    Path,
    Plan,
    Reason,
    has_unknowns,
    hidden_names,
    sensitive_digest,
    split_unknowns,
)

JOB_TYPE: Final = "openai_fine_tuning_job"
FILE_TYPE: Final = "openai_file"

# A job in one of these states never changes again: cancelling it is pointless (and refused).
FINISHED_STATUSES: Final = frozenset({"succeeded", "failed", "cancelled"})

CANCEL_AFTER_TIMEOUT: Final = "cancel_after_timeout"
CREATE_BEFORE_DESTROY: Final = "create_before_destroy"
# Older state rows and hand-built configs may leave a setting out: it means its default.
SETTING_DEFAULTS: Final[Mapping[str, Any]] = {
    CANCEL_AFTER_TIMEOUT: None,
    CREATE_BEFORE_DESTROY: False,
}


@dataclass(frozen=True, kw_only=True)
class Desired:
    """One resource block of the evaluated configuration."""

    address: str  # "TYPE.NAME"
    type: str
    # The essence that would be SENT to the API, already normalised; UNKNOWN where only apply
    # will know the value (the id of a file not yet uploaded).
    arguments: Mapping[str, Any]
    # ftctl's own settings, never sent: cancel_after_timeout (int | None), create_before_destroy.
    settings: Mapping[str, Any] = field(default_factory=dict)
    # Addresses this resource needs first: references and the depends_on meta-argument.
    depends_on: tuple[str, ...] = ()
    # Attributes the API assigns besides `id` (status, fine_tuned_model, …): shown as
    # "(known after apply)" when a new object is planned.
    computed: tuple[str, ...] = ()
    # Arguments derived from sensitive values: the plan holds only a digest of each.
    sensitive: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Tracked:
    """One resource recorded in the state."""

    address: str
    type: str
    remote_id: str
    applied: Mapping[str, Any]  # what ftctl last sent: the diff base, never the server's view
    settings: Mapping[str, Any] = field(default_factory=dict)  # as recorded by the last apply
    # Jobs: validating_files, queued, running, pausing, paused, succeeded, failed or cancelled
    # as last observed (None: never observed, treated as unfinished). Files: None.
    status: str | None = None
    created_at: int | None = None  # unix seconds, the server's; the deadline counts from it
    tainted: bool = False  # created, but a later step of its apply failed
    # Exported attributes as last observed, for rendering only; never diffed.
    observed: Mapping[str, Any] = field(default_factory=dict)
    # Arguments recorded as derived from sensitive values: hidden in `before`, even once the
    # configuration no longer marks them or no longer has the resource.
    sensitive: tuple[str, ...] = ()


_Item = TypeVar("_Item", Desired, Tracked)


class _Kind(StrEnum):
    JOB = "job"  # immutable, cannot be deleted: stopped by a cancel, dropped by a forget
    FILE = "file"  # immutable, can be deleted


def make_plan(
    desired: Iterable[Desired],
    tracked: Iterable[Tracked],
    now: int,
    *,
    replace: Iterable[str] = (),
    triggered: Iterable[str] = (),
    targets: Iterable[str] = (),
    declared: Collection[str] = (),
    sensitive_salt: str = "",
    lineage: str,
    serial: int,
) -> Plan:
    """The plan that takes `tracked` to `desired`. `triggered`: addresses to replace because
    their replace_triggered_by fired; `declared`: resource addresses (TYPE.NAME) the
    configuration has, to say why one of their instances goes. ValueError for inputs no valid
    config and state produce (duplicate addresses, unknown types, dependency cycles, non-JSON
    values)."""
    wanted = _by_address(map(_plain_desired, desired))
    known = _by_address(map(_plain_tracked, tracked))
    requested = frozenset(replace)
    fired = frozenset(triggered) - requested
    targeted = frozenset(targets)
    new_edges = {
        address: frozenset(dep for dep in item.depends_on if dep in wanted)
        for address, item in wanted.items()
    }
    old_edges = _recorded_references(known.values())
    warnings: list[str] = []

    everything = set(wanted) | set(known)
    scope = everything
    if targeted:
        warnings.append(
            "Resource targeting is in effect: this plan may leave out changes the"
            " configuration asks for. Use --target for exceptions, not routine work."
        )
        warnings += [f"--target {a} matches no resource" for a in sorted(targeted - everything)]
        # Only what a target needs to exist: a removed target needs nothing, and whatever it
        # used stays unless targeted too.
        scope = _with_dependencies(targeted & everything, new_edges)
    warnings += [f"--replace {a} matches no resource" for a in sorted(requested - everything)]

    changes: dict[str, Change] = {}
    # The old ids of objects this plan replaces: an argument still holding one will hold the
    # new object's id after apply, which nobody knows yet.
    renewed: dict[str, str] = {}
    for address in _topological(wanted, new_edges):
        if address not in scope:
            continue
        item = wanted[address]
        stale = frozenset(renewed[dep] for dep in new_edges[address] if dep in renewed)
        change = _plan_wanted(
            item,
            _unknown_where(item.arguments, stale),
            known.get(address),
            now,
            requested,
            fired,
            sensitive_salt,
        )
        if change.action.creates and address in known:
            renewed[address] = known[address].remote_id
        changes[address] = change
    for address in scope - set(wanted):
        changes[address] = _plan_removed(known[address], frozenset(declared))

    removed = [a for a in changes if changes[a].action.removes]
    kept = [a for a in changes if not changes[a].action.removes]
    # Removals go first and dependents before what they use (a job before its file); then
    # everything else with dependencies first (a file before the job that trains on it).
    dependents = {a: frozenset(b for b in removed if a in old_edges.get(b, ())) for a in removed}
    order = _topological(removed, dependents) + _topological(kept, new_edges)
    return Plan(
        changes=tuple(changes[address] for address in order),
        warnings=tuple(warnings),
        created_at=now,
        state_lineage=lineage,
        state_serial=serial,
        sensitive_salt=sensitive_salt,
    )


def plan_change(
    item: Desired,
    old: Tracked | None,
    now: int,
    requested: Collection[str] = (),
    triggered: Collection[str] = (),
    salt: str = "",
) -> Change:
    """One resource's change as make_plan plans it, for a caller that needs each resource's
    outcome before it can say what the next one wants (references to a new object's id)."""
    plain = _plain_desired(item)
    return _plan_wanted(
        plain,
        plain.arguments,
        None if old is None else _plain_tracked(old),
        now,
        frozenset(requested),
        frozenset(triggered),
        salt,
    )


def _plan_wanted(
    item: Desired,
    arguments: Mapping[str, Any],
    old: Tracked | None,
    now: int,
    requested: Collection[str],
    triggered: Collection[str] = (),
    salt: str = "",
) -> Change:
    kind = _kind(item.type)
    settings = _settings(item.settings)
    new_object = {name: UNKNOWN for name in ("id", *item.computed)}
    if old is None:
        after = _view(new_object, arguments, settings)
        return _change(item, Action.CREATE, None, None, after, salt=salt)

    before = _old_view(old)
    paths = tuple(_differences(_essence(arguments), _essence(old.applied)))
    finished = kind is _Kind.JOB and old.status in FINISHED_STATUSES

    replacing: Reason | None = None
    if old.tainted:
        replacing = Reason.TAINTED
    elif item.address in requested:
        replacing = Reason.REPLACE_REQUESTED
    elif item.address in triggered:
        replacing = Reason.REPLACE_TRIGGERED
    elif paths:
        replacing = Reason.ARGUMENT_CHANGED
    if replacing is not None:
        action = _replacement(kind, finished, bool(settings[CREATE_BEFORE_DESTROY]))
        after = _view(new_object, arguments, settings)
        return _change(item, action, replacing, before, after, paths, salt=salt, old=old)

    staying = _old_extras(old)
    warnings: tuple[str, ...] = ()
    if finished and old.status in ("failed", "cancelled"):
        # Re-creating would spend money unasked, and in a loop if the job fails again.
        warnings = (
            f"{item.address} has status {old.status!r}; ftctl never re-creates it on its own."
            f" To train it again, run: ftctl apply --replace {item.address}",
        )
    timeout = settings[CANCEL_AFTER_TIMEOUT]
    if (
        kind is _Kind.JOB
        and not finished
        and timeout is not None
        and old.created_at is not None
        and old.created_at + timeout <= now
    ):
        after = _view({**staying, "status": "cancelled"}, arguments, settings)
        return _change(item, Action.CANCEL, Reason.PAST_DEADLINE, before, after, salt=salt, old=old)

    after = _view(staying, arguments, settings)
    update: Reason | None = None
    if _differences(settings, _settings(old.settings)):
        update = Reason.SETTINGS_CHANGED
    elif set(item.sensitive) - set(old.sensitive):
        update = Reason.SENSITIVITY_CHANGED
    if update is not None:
        return _change(
            item,
            Action.UPDATE,
            update,
            before,
            after,
            (),
            warnings,
            salt=salt,
            old=old,
        )
    reason = None
    if finished and old.status == "failed":
        reason = Reason.FAILED_OUT_OF_BAND
    elif finished and old.status == "cancelled":
        reason = Reason.CANCELLED_OUT_OF_BAND
    return _change(item, Action.NO_OP, reason, before, after, (), warnings, salt=salt, old=old)


def _plan_removed(old: Tracked, declared: Collection[str] = ()) -> Change:
    kind = _kind(old.type)
    reason = Reason.NOT_IN_CONFIGURATION
    resource, bracket, key = old.address.partition("[")
    if bracket and resource in declared and not old.address.endswith(DEPOSED):
        reason = Reason.EACH_KEY_REMOVED if key.startswith('"') else Reason.COUNT_INDEX_REMOVED
    match kind:
        case _Kind.FILE:
            action = Action.DELETE
        case _Kind.JOB:
            # A fine-tuned model is never deleted: a finished job only leaves the state.
            finished = old.status in FINISHED_STATUSES
            action = Action.FORGET if finished else Action.CANCEL_THEN_FORGET
        case _:
            assert_never(kind)
    return _change(old, action, reason, _old_view(old), None, old=old)


def _replacement(kind: _Kind, finished: bool, create_first: bool) -> Action:
    """The replace action, naming what happens to the old object so apply needs no reason."""
    match kind:
        case _Kind.FILE:
            return Action.CREATE_THEN_DELETE if create_first else Action.DELETE_THEN_CREATE
        case _Kind.JOB if finished:
            return Action.CREATE_THEN_FORGET if create_first else Action.FORGET_THEN_CREATE
        case _Kind.JOB:
            return Action.CREATE_THEN_CANCEL if create_first else Action.CANCEL_THEN_CREATE
        case _:
            assert_never(kind)


def _change(
    item: Desired | Tracked,
    action: Action,
    reason: Reason | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    replace_paths: tuple[Path, ...] = (),
    warnings: tuple[str, ...] = (),
    salt: str = "",
    old: Tracked | None = None,
) -> Change:
    after_known, after_unknown = split_unknowns(after) if after is not None else (None, {})
    # What was sensitive stays hidden: a value recorded as secret does not become showable
    # because the configuration stopped marking it, or dropped the resource.
    hidden = sorted(set(item.sensitive) | set(old.sensitive if old is not None else ()))
    # A removal has no new value: its mark carries no digest.
    digests = {
        name: "" if after_known is None else sensitive_digest(after_known.get(name), salt)
        for name in hidden
    }
    if hidden:
        # `before` holds the old object's attributes too: the API's copies of hidden arguments.
        gone = hidden_names(hidden)
        before = None if before is None else {k: v for k, v in before.items() if k not in gone}
        if after_known is not None:
            after_known = {k: v for k, v in after_known.items() if k not in hidden}
    return Change(
        address=item.address,
        type=item.type,
        name=item.address.removeprefix(f"{item.type}.").split("[", 1)[0],
        action=action,
        reason=reason,
        before=before,
        after=after_known,
        # Terraform writes {} for a wholly known value rather than a mirror full of false.
        after_unknown=after_unknown if has_unknowns(after) else {},
        replace_paths=replace_paths,
        warnings=warnings,
        sensitive=digests,
    )


def _old_extras(old: Tracked) -> dict[str, Any]:
    extras = {**old.observed, "id": old.remote_id}
    if old.status is not None:
        extras["status"] = old.status
    if old.created_at is not None:
        extras["created_at"] = old.created_at
    return extras


def _old_view(old: Tracked) -> dict[str, Any]:
    return _view(_old_extras(old), old.applied, _settings(old.settings))


def _view(
    extras: Mapping[str, Any], arguments: Mapping[str, Any], settings: Mapping[str, Any]
) -> dict[str, Any]:
    """What a change shows: arguments (without the reserved key) and settings, over the
    object's exported attributes (where an argument and an export share a name, the argument
    wins: the server's resolution of it is drift, not the plan)."""
    essence = _essence(arguments)
    clash = sorted(set(essence) & set(settings))
    if clash:
        raise ValueError(f"settings {clash} have the names of arguments")
    return {**extras, **essence, **settings}


def _essence(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments as compared and shown: the reserved metadata key is ftctl's, not the user's."""
    essence = dict(arguments)
    metadata = essence.get("metadata")
    if isinstance(metadata, Mapping) and RESERVED_METADATA_KEY in metadata:
        rest = {k: v for k, v in metadata.items() if k != RESERVED_METADATA_KEY}
        if rest:
            essence["metadata"] = rest
        else:
            del essence["metadata"]
    return essence


def _settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    return {**SETTING_DEFAULTS, **settings}


def _differences(new: Any, old: Any, path: Path = ()) -> list[Path]:
    """Paths of `new` that differ from `old`, leaf by leaf. Absent, null and empty collections
    are all "nothing sent"; an UNKNOWN always differs (what was sent is always known)."""
    if new is UNKNOWN:
        return [path]
    if _absent(new) and _absent(old):
        return []
    if isinstance(new, Mapping) and isinstance(old, Mapping):
        return [
            found
            for key in sorted(set(new) | set(old))
            for found in _differences(new.get(key), old.get(key), (*path, key))
        ]
    if isinstance(new, list | tuple) and isinstance(old, list | tuple):
        if len(new) != len(old):
            return [path]
        return [
            found
            for index, (n, o) in enumerate(zip(new, old, strict=True))
            for found in _differences(n, o, (*path, index))
        ]
    return [] if _same_scalar(new, old) else [path]


def _absent(value: Any) -> bool:
    return value is None or (isinstance(value, Mapping | list | tuple) and not value)


def _same_scalar(new: Any, old: Any) -> bool:
    # JSON has no bool/int confusion (true is not 1), but 2 and 2.0 are one number to the API.
    if isinstance(new, bool) or isinstance(old, bool):
        return type(new) is type(old) and new == old
    if isinstance(new, int | float) and isinstance(old, int | float):
        return new == old
    return type(new) is type(old) and bool(new == old)


def _unknown_where(value: Any, stale_ids: frozenset[str]) -> Any:
    """`value` with every string that is a stale id replaced by UNKNOWN."""
    if not stale_ids:
        return value
    if isinstance(value, str):
        return UNKNOWN if value in stale_ids else value
    if isinstance(value, Mapping):
        return {k: _unknown_where(v, stale_ids) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_unknown_where(v, stale_ids) for v in value]
    return value


def _recorded_references(tracked: Iterable[Tracked]) -> dict[str, frozenset[str]]:
    """Dependencies of tracked resources as their applied arguments show them: a job that was
    sent a file's id depends on that file. Removed blocks leave no other record of their needs."""
    items = list(tracked)
    owner = {item.remote_id: item.address for item in items}
    return {
        item.address: frozenset(
            owner[s] for s in _strings(item.applied) if s in owner and owner[s] != item.address
        )
        for item in items
    }


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for inner in value.values():
            yield from _strings(inner)
    elif isinstance(value, list | tuple):
        for inner in value:
            yield from _strings(inner)


def _with_dependencies(start: Iterable[str], edges: Mapping[str, Collection[str]]) -> set[str]:
    found: set[str] = set()
    todo = list(start)
    while todo:
        address = todo.pop()
        if address not in found:
            found.add(address)
            todo.extend(edges.get(address, ()))
    return found


def _topological(nodes: Iterable[str], after: Mapping[str, Collection[str]]) -> list[str]:
    """`nodes` with each one after the nodes `after` lists for it (others are ignored); ties
    in address order, so the plan never depends on input order."""
    members = set(nodes)
    waiting = {n: {d for d in after.get(n, ()) if d in members} for n in members}
    freed: dict[str, list[str]] = {n: [] for n in members}
    for node, needs in waiting.items():
        for need in needs:
            freed[need].append(node)
    ready = [n for n, needs in waiting.items() if not needs]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        node = heapq.heappop(ready)
        order.append(node)
        for follower in freed[node]:
            waiting[follower].discard(node)
            if not waiting[follower]:
                heapq.heappush(ready, follower)
    if len(order) != len(members):
        raise ValueError(f"dependency cycle among {sorted(members - set(order))}")
    return order


def _by_address(items: Iterable[_Item]) -> dict[str, _Item]:
    found: dict[str, _Item] = {}
    for item in items:
        _kind(item.type)
        if not item.address.startswith(f"{item.type}.") or item.address == f"{item.type}.":
            raise ValueError(f"address {item.address!r} is not {item.type}.NAME")
        if item.address in found:
            raise ValueError(f"{item.address} appears twice")
        found[item.address] = item
    return found


def _plain_desired(item: Desired) -> Desired:
    """A copy with plain JSON values, so the plan holds nothing its inputs can later change."""
    return dataclasses.replace(
        item,
        arguments=_plain(item.arguments),
        settings=_plain(item.settings),
        depends_on=tuple(item.depends_on),
        computed=tuple(item.computed),
        sensitive=tuple(item.sensitive),
    )


def _plain_tracked(item: Tracked) -> Tracked:
    return dataclasses.replace(
        item,
        sensitive=tuple(item.sensitive),
        applied=_plain(item.applied),
        settings=_plain(item.settings),
        observed=_plain(item.observed),
    )


def _plain(value: Any) -> Any:
    if value is None or value is UNKNOWN or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} has no JSON form")
        return value
    if isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            raise ValueError(f"mapping keys must be strings: {sorted(map(repr, value))}")
        return {key: _plain(inner) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(inner) for inner in value]
    raise ValueError(f"{type(value).__name__} has no JSON form: {value!r}")


def _kind(type_: str) -> _Kind:
    if type_ == JOB_TYPE:
        return _Kind.JOB
    if type_ == FILE_TYPE:
        return _Kind.FILE
    raise ValueError(f"unknown resource type {type_!r}")
