"""A plan: what apply will do to each resource, and why, as an immutable JSON-serialisable value.

Data only: the planner builds it, apply executes it, views render its JSON. Stdlib imports only.
"""

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum, StrEnum
from typing import Any, Final, NamedTuple, TypeAlias, assert_never

# Terraform's plan JSON version: tools written for Terraform plans check it.
FORMAT_VERSION: Final = "1.2"

# The metadata key ftctl sends with every create to find a job again after an ambiguous
# failure (DESIGN §2.7). Users never write it, so it is invisible to diffs and renderings.
RESERVED_METADATA_KEY: Final = "ftctl_token"

# The address suffix of an object a create_before_destroy replacement has not yet dealt with.
DEPOSED: Final = "~deposed"

_TIMESTAMP_FORMAT: Final = "%Y-%m-%dT%H:%M:%SZ"

# A step into a value: a mapping key or a list index (Terraform's replace_paths steps).
PathStep: TypeAlias = str | int
Path: TypeAlias = tuple[PathStep, ...]


class Unknown(Enum):
    """The type of UNKNOWN: a value only apply will know (the id of a file not yet uploaded)."""

    UNKNOWN = "unknown"

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = Unknown.UNKNOWN


class Step(StrEnum):
    """One thing apply does for a change. "Old" is the object in state, "new" the one created."""

    CREATE = "create"  # create the new object through the API
    UPDATE = "update"  # record the plan's settings in state; no API call
    CANCEL = "cancel"  # cancel the old job through the API; its record stays until a FORGET
    DELETE = "delete"  # delete the old object through the API and drop its record
    FORGET = "forget"  # drop the old object's record; no API call (a fine-tuned model stays)


class _Traits(NamedTuple):
    json_actions: tuple[str, ...]
    symbol: str
    steps: tuple[Step, ...]


class Action(StrEnum):
    """What apply does to one resource. Every action names its API calls literally, so apply
    never needs the resource type or the reason to know whether "replace" means delete, cancel
    or forget the old object."""

    NO_OP = "no-op"
    CREATE = "create"
    UPDATE = "update"  # only ftctl's own settings changed: state is rewritten, no API call
    DELETE = "delete"  # a removed openai_file
    DELETE_THEN_CREATE = "delete-then-create"  # replace a file (-/+)
    CREATE_THEN_DELETE = "create-then-delete"  # replace a file, create_before_destroy (+/-)
    FORGET = "forget"  # a removed finished job: its model stays, only the record goes
    FORGET_THEN_CREATE = "forget-then-create"  # replace a finished job
    CREATE_THEN_FORGET = "create-then-forget"  # replace a finished job, create_before_destroy
    CANCEL = "cancel"  # a job past its cancel_after_timeout: cancelled, kept in state
    CANCEL_THEN_FORGET = "cancel-then-forget"  # a removed unfinished job
    CANCEL_THEN_CREATE = "cancel-then-create"  # replace an unfinished job (-/+)
    CREATE_THEN_CANCEL = "create-then-cancel"  # replace an unfinished job, create_before_destroy

    @property
    def json_actions(self) -> tuple[str, ...]:
        """Terraform's `change.actions`, so tools that scan plans for "delete" find every
        object ftctl destroys or stops (a cancel stops a job and spends no more money)."""
        return _traits(self).json_actions

    @property
    def symbol(self) -> str:
        """The plan's action column, unpadded; empty for no-op (Terraform does not show it)."""
        return _traits(self).symbol

    @property
    def steps(self) -> tuple[Step, ...]:
        """What apply does, in order."""
        return _traits(self).steps

    @property
    def creates(self) -> bool:
        """A new remote object (with a new id) comes out of this change."""
        return Step.CREATE in self.steps

    @property
    def removes(self) -> bool:
        """The object leaves state and nothing replaces it."""
        return not self.creates and (Step.FORGET in self.steps or Step.DELETE in self.steps)

    @property
    def calls_api(self) -> bool:
        return any(s in (Step.CREATE, Step.CANCEL, Step.DELETE) for s in self.steps)


def _traits(action: Action) -> _Traits:
    S = Step
    match action:
        case Action.NO_OP:
            return _Traits(("no-op",), "", ())
        case Action.CREATE:
            return _Traits(("create",), "+", (S.CREATE,))
        case Action.UPDATE:
            return _Traits(("update",), "~", (S.UPDATE,))
        case Action.DELETE:
            return _Traits(("delete",), "-", (S.DELETE,))
        case Action.DELETE_THEN_CREATE:
            return _Traits(("delete", "create"), "-/+", (S.DELETE, S.CREATE))
        case Action.CREATE_THEN_DELETE:
            return _Traits(("create", "delete"), "+/-", (S.CREATE, S.DELETE))
        case Action.FORGET:
            return _Traits(("forget",), ".", (S.FORGET,))
        case Action.FORGET_THEN_CREATE:
            # OpenTofu's ForgetThenCreate; the symbol mirrors Terraform's "+/." below.
            return _Traits(("forget", "create"), "./+", (S.FORGET, S.CREATE))
        case Action.CREATE_THEN_FORGET:
            return _Traits(("create", "forget"), "+/.", (S.CREATE, S.FORGET))
        case Action.CANCEL:
            # The object stays and only its status changes: an in-place update to Terraform.
            return _Traits(("update",), "~", (S.CANCEL, S.UPDATE))
        case Action.CANCEL_THEN_FORGET:
            return _Traits(("delete",), "-", (S.CANCEL, S.FORGET))
        case Action.CANCEL_THEN_CREATE:
            return _Traits(("delete", "create"), "-/+", (S.CANCEL, S.FORGET, S.CREATE))
        case Action.CREATE_THEN_CANCEL:
            return _Traits(("create", "delete"), "+/-", (S.CREATE, S.CANCEL, S.FORGET))
        case _:
            assert_never(action)


class Reason(StrEnum):
    """Why a change has its action: for people reading the plan only. Apply never branches on it."""

    NOT_IN_CONFIGURATION = "not_in_configuration"
    REPLACE_REQUESTED = "replace_requested"  # --replace ADDR
    ARGUMENT_CHANGED = "argument_changed"  # an argument differs from what was sent
    TAINTED = "tainted"  # created, but a later step of its apply failed
    FAILED_OUT_OF_BAND = "failed_out_of_band"  # no change, and a warning: never re-created alone
    CANCELLED_OUT_OF_BAND = "cancelled_out_of_band"
    PAST_DEADLINE = "past_deadline"  # created_at + cancel_after_timeout <= the server's now
    SETTINGS_CHANGED = "settings_changed"  # only ftctl's own settings differ
    # An argument's value is unchanged but now derives from a sensitive one: only the state's
    # record of what to hide changes.
    SENSITIVITY_CHANGED = "sensitivity_changed"
    EACH_KEY_REMOVED = "each_key_removed"  # the key left the resource's for_each
    COUNT_INDEX_REMOVED = "count_index_removed"  # the index is beyond the resource's count
    REPLACE_TRIGGERED = "replace_triggered"  # lifecycle.replace_triggered_by fired

    @property
    def action_reason(self) -> str:
        """Terraform's `action_reason` where Terraform has one; ftctl's own in the same style
        otherwise (Terraform's format says consumers must tolerate unknown reasons)."""
        match self:
            case Reason.NOT_IN_CONFIGURATION:
                return "delete_because_no_resource_config"
            case Reason.REPLACE_REQUESTED:
                return "replace_by_request"
            case Reason.ARGUMENT_CHANGED:
                return "replace_because_cannot_update"
            case Reason.TAINTED:
                return "replace_because_tainted"
            case Reason.FAILED_OUT_OF_BAND:
                return "noop_because_failed_out_of_band"
            case Reason.CANCELLED_OUT_OF_BAND:
                return "noop_because_cancelled_out_of_band"
            case Reason.PAST_DEADLINE:
                return "cancel_because_past_deadline"
            case Reason.SETTINGS_CHANGED:
                return "update_because_settings_changed"
            case Reason.SENSITIVITY_CHANGED:
                return "update_because_sensitivity_changed"
            case Reason.EACH_KEY_REMOVED:
                return "delete_because_each_key"
            case Reason.COUNT_INDEX_REMOVED:
                return "delete_because_count_index"
            case Reason.REPLACE_TRIGGERED:
                return "replace_by_triggers"
            case _:
                assert_never(self)

    @classmethod
    def from_action_reason(cls, value: str) -> "Reason":
        for reason in cls:
            if reason.action_reason == value:
                return reason
        raise PlanFormatError(f"unknown action_reason {value!r}")


class PlanFormatError(ValueError):
    """A document given to Plan.from_json is not a plan this ftctl can read."""


@dataclass(frozen=True, kw_only=True)
class Change:
    """The planned change of one resource. Values are plain JSON (dicts, lists, scalars), built
    by the planner and never mutated afterwards."""

    address: str  # "TYPE.NAME"
    type: str
    name: str
    action: Action  # what apply does: the only field apply reads to decide
    reason: Reason | None  # why, for people; None for plain creates and no-ops
    # For rendering: the applied arguments (reserved metadata key left out) and settings, over
    # the exported attributes last observed (id, status, created_at, …); None for a create.
    before: dict[str, Any] | None
    # The desired arguments and settings, over the exported attributes (unknown for a new
    # object), unknown values left out as Terraform does; None when the object leaves state.
    after: dict[str, Any] | None
    # Mirrors `after`: true where a value is known only after apply; {} when all are known.
    after_unknown: dict[str, Any]
    # Argument paths whose difference forces the replacement, e.g. (("training_file",),).
    replace_paths: tuple[Path, ...] = ()
    warnings: tuple[str, ...] = ()
    # Arguments derived from sensitive values, left out of before and after: the sha256 of
    # each planned value, so a saved plan can still be checked against the configuration.
    sensitive: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        change: dict[str, Any] = {
            "actions": list(self.action.json_actions),
            "before": self.before,
            "after": self.after,
            "after_unknown": self.after_unknown,
        }
        if self.sensitive:
            marks = dict.fromkeys(sorted(self.sensitive), True)
            change["after_sensitive"] = marks if self.after is not None else False
            change["before_sensitive"] = marks if self.before is not None else False
        if self.replace_paths:
            change["replace_paths"] = [list(path) for path in self.replace_paths]
        document: dict[str, Any] = {
            "address": self.address,
            "mode": "managed",
            "type": self.type,
            "name": self.name,
        }
        key = instance_key(self.address)
        if key is not None:
            document["index"] = key
        document["change"] = change
        if self.reason is not None:
            document["action_reason"] = self.reason.action_reason
        # Terraform's actions lists are ambiguous for ftctl (["delete"] is a file deletion or a
        # job cancellation), so the exact action travels beside them, where tools ignore it.
        document["ftctl"] = {"action": self.action.value, "warnings": list(self.warnings)}
        if self.sensitive:
            document["ftctl"]["sensitive_digests"] = dict(self.sensitive)
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> "Change":
        change = document["change"]
        own = document["ftctl"]
        action = Action(own["action"])
        if list(change["actions"]) != list(action.json_actions):
            raise PlanFormatError(
                f"{document['address']}: actions {change['actions']} do not match {action}"
            )
        reason = document.get("action_reason")
        return cls(
            address=document["address"],
            type=document["type"],
            name=document["name"],
            action=action,
            reason=None if reason is None else Reason.from_action_reason(reason),
            before=change["before"],
            after=change["after"],
            after_unknown=change["after_unknown"],
            replace_paths=tuple(tuple(path) for path in change.get("replace_paths", ())),
            warnings=tuple(own["warnings"]),
            sensitive=dict(own.get("sensitive_digests", {})),
        )


# The API's attributes that repeat an argument as the server resolved it (the dated snapshot
# of `model`, the name of `file`): hidden along with the argument. `fine_tuned_model`, which
# holds the suffix, stays shown: it is the name the model is used by (README says so).
MIRRORED_BY: Final = {"model": "model", "file": "filename"}


def hidden_names(sensitive: Iterable[str]) -> set[str]:
    """These sensitive arguments and the API's attributes that repeat them: what no view of a
    resource may show."""
    names = set(sensitive)
    return names | {MIRRORED_BY[name] for name in names if name in MIRRORED_BY}


def sensitive_digest(value: Any, salt: str) -> str:
    """Tells a sensitive value's change without holding it: apply checks a saved plan by it.
    Keyed with the plan's random salt, so no table of precomputed digests can read it."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hmac.new(salt.encode(), text.encode(), hashlib.sha256).hexdigest()


def instance_key(address: str) -> str | int | None:
    """The instance key of `openai_file.shard[2]` (2) or `…sweep["lr-1"]` ("lr-1")."""
    _, bracket, rest = address.removesuffix(DEPOSED).partition("[")
    if not bracket:
        return None
    try:
        key = json.loads(rest.removesuffix("]"))
    except ValueError:
        return None  # not an instance key: a name ftctl did not make
    return key if isinstance(key, str | int) and not isinstance(key, bool) else None


@dataclass(frozen=True)
class Summary:
    """Terraform's counts: a replace is one add and one destroy; ftctl's cancel is a change."""

    add: int
    change: int
    destroy: int
    forget: int  # OpenTofu's ", F to forget": records dropped with no API call


@dataclass(frozen=True, kw_only=True)
class OutputChange:
    """An output's planned value against the one recorded by the last apply. A sensitive
    value is never written into the plan: apply evaluates outputs again."""

    name: str
    actions: tuple[str, ...]  # ("create",), ("update",), ("delete",) or ("no-op",)
    before: Any
    after: Any
    after_unknown: bool
    sensitive: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "actions": list(self.actions),
            "before": None if self.sensitive else self.before,
            "after": None if self.sensitive else self.after,
            "after_unknown": self.after_unknown,
            "before_sensitive": self.sensitive,
            "after_sensitive": self.sensitive,
        }

    @classmethod
    def from_json(cls, name: str, document: Mapping[str, Any]) -> "OutputChange":
        return cls(
            name=name,
            actions=tuple(document["actions"]),
            before=document["before"],
            after=document["after"],
            after_unknown=bool(document["after_unknown"]),
            sensitive=bool(document["after_sensitive"]),
        )


@dataclass(frozen=True, kw_only=True)
class Plan:
    """Every change, in the order apply takes them: removals first, dependents before what
    they depend on; then the rest, dependencies first."""

    changes: tuple[Change, ...]
    warnings: tuple[str, ...]  # about the plan as a whole (targeting, unmatched --replace)
    format_version: str = FORMAT_VERSION
    created_at: int  # unix seconds, by the API server's clock
    # The state the plan was made from: apply refuses the plan once either has moved.
    state_lineage: str
    state_serial: int
    output_changes: tuple[OutputChange, ...] = ()
    sensitive_salt: str = ""  # keys the digests of sensitive arguments
    # (from, to): objects that keep their identity under a new address (count added/removed).
    moves: tuple[tuple[str, str], ...] = ()

    @property
    def applyable(self) -> bool:
        """Anything to do; what --detailed-exitcode reports as 2."""
        return (
            any(change.action is not Action.NO_OP for change in self.changes)
            or any(output.actions != ("no-op",) for output in self.output_changes)
            or bool(self.moves)
        )

    def summary(self) -> Summary:
        words = [word for change in self.changes for word in change.action.json_actions]
        return Summary(
            add=words.count("create"),
            change=words.count("update"),
            destroy=words.count("delete"),
            forget=words.count("forget"),
        )

    def to_json(self) -> dict[str, Any]:
        """Terraform's plan JSON (`terraform show -json PLANFILE`), with ftctl's extras under
        "ftctl" keys. json.dumps of it is the saved plan file."""
        document: dict[str, Any] = {
            "format_version": self.format_version,
            "timestamp": datetime.fromtimestamp(self.created_at, UTC).strftime(_TIMESTAMP_FORMAT),
            "applyable": self.applyable,
            "resource_changes": [change.to_json() for change in self.changes],
            "output_changes": {o.name: o.to_json() for o in self.output_changes},
            "ftctl": {
                "state_lineage": self.state_lineage,
                "state_serial": self.state_serial,
                "warnings": list(self.warnings),
            },
        }
        own = document["ftctl"]
        if self.sensitive_salt:
            own["sensitive_salt"] = self.sensitive_salt
        if self.moves:
            own["moves"] = [list(move) for move in self.moves]
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> "Plan":
        """The plan `to_json` wrote; PlanFormatError for anything else."""
        try:
            version = document["format_version"]
            if not isinstance(version, str) or version.split(".")[0] != "1":
                raise PlanFormatError(f"unsupported plan format_version {version!r}")
            own = document["ftctl"]
            stamp = datetime.strptime(document["timestamp"], _TIMESTAMP_FORMAT)
            return cls(
                changes=tuple(Change.from_json(c) for c in document["resource_changes"]),
                warnings=tuple(own["warnings"]),
                format_version=version,
                created_at=int(stamp.replace(tzinfo=UTC).timestamp()),
                state_lineage=own["state_lineage"],
                state_serial=own["state_serial"],
                sensitive_salt=own.get("sensitive_salt", ""),
                moves=tuple((str(a), str(b)) for a, b in own.get("moves", [])),
                output_changes=tuple(
                    OutputChange.from_json(name, body)
                    for name, body in document.get("output_changes", {}).items()
                ),
            )
        except PlanFormatError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise PlanFormatError(f"not an ftctl plan: {type(exc).__name__}: {exc}") from exc


def split_unknowns(value: Any) -> tuple[Any, Any]:
    """(value without unknowns, Terraform's unknown mirror): unknown mapping entries are left
    out and unknown list items become null, while the mirror has true at each unknown, keeps
    lists item by item and leaves known mapping entries out."""
    return _omit_unknowns(value), _unknown_mirror(value)


def join_unknowns(known: Any, mirror: Any) -> Any:
    """The inverse of split_unknowns: UNKNOWN put back where the mirror says true."""
    if mirror is True:
        return UNKNOWN
    if isinstance(mirror, Mapping) and isinstance(known, Mapping):
        joined = dict(known)
        for key, inner in mirror.items():
            joined[key] = join_unknowns(known.get(key), inner)
        return joined
    if isinstance(mirror, Sequence) and isinstance(known, Sequence) and not isinstance(known, str):
        return [join_unknowns(k, m) for k, m in zip(known, mirror, strict=True)]
    return known


def has_unknowns(value: Any) -> bool:
    if value is UNKNOWN:
        return True
    if isinstance(value, Mapping):
        return any(has_unknowns(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(has_unknowns(v) for v in value)
    return False


def _omit_unknowns(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _omit_unknowns(v) for k, v in value.items() if v is not UNKNOWN}
    if isinstance(value, list | tuple):
        # Item positions carry meaning, so an unknown item stays as null (Terraform does too).
        return [None if v is UNKNOWN else _omit_unknowns(v) for v in value]
    return value


def _unknown_mirror(value: Any) -> Any:
    if value is UNKNOWN:
        return True
    if isinstance(value, Mapping):
        mirrored = {k: _unknown_mirror(v) for k, v in value.items()}
        return {k: m for k, m in mirrored.items() if m is not False}
    if isinstance(value, list | tuple):
        return [_unknown_mirror(v) for v in value]
    return False
