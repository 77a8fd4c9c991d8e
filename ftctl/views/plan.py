"""The human plan, in Terraform's layout, rendered from the plan's JSON document (the same one
`plan --json` prints) so that the two can never disagree."""

import json
from collections.abc import Mapping
from typing import Any

from ftctl.plan import Action, Reason
from ftctl.planner import SETTING_DEFAULTS

KNOWN_LATER = "(known after apply)"
# The plan document's ftctl.mode for `plan --refresh-only`; absent from a normal plan.
REFRESH_ONLY = "refresh-only"
# Shown even when unchanged, as Terraform does for `id`.
_ALWAYS_SHOWN = ("id",)
_LEGEND = {
    "+": "create",
    "~": "update in-place",
    "-": "destroy",
    "-/+": "destroy and then create replacement",
    "+/-": "create replacement and then destroy",
    ".": "forget (drop from state; nothing is deleted)",
    "./+": "forget and then create replacement",
    "+/.": "create replacement and then forget",
}
_HEADLINES = {
    Action.CREATE: "will be created",
    Action.UPDATE: "will be updated in-place",
    Action.DELETE: "will be destroyed",
    Action.FORGET: "will be removed from state (the job and its model stay)",
    Action.CANCEL: "will be cancelled",
    Action.CANCEL_THEN_FORGET: "will be cancelled, then removed from state",
}
_REASON_LINES = {
    Reason.NOT_IN_CONFIGURATION: "because {address} is not in configuration",
    Reason.PAST_DEADLINE: "because it is past its cancel_after_timeout deadline",
    Reason.EACH_KEY_REMOVED: "because its key is not in for_each",
    Reason.COUNT_INDEX_REMOVED: "because its index is not in count",
    Reason.SENSITIVITY_CHANGED: "because a value it was applied with is now sensitive: "
    "only the state's record changes",
}


def render_plan(document: Mapping[str, Any], *, hints: bool = True) -> str:
    """`hints`: the sentences that suggest a command to run next (left out in automation)."""
    if document["ftctl"].get("mode") == REFRESH_ONLY:
        return render_refresh_only(document, hints=hints)
    changes = [c for c in document["resource_changes"] if c["ftctl"]["action"] != "no-op"]
    warnings = [w for c in document["resource_changes"] for w in c["ftctl"]["warnings"]]
    warnings += document["ftctl"]["warnings"]
    out: list[str] = []
    moved = [
        f"  {d['address']}: {d['change']['before'].get('status')} -> "
        f"{d['change']['after'].get('status')}"
        for d in document.get("resource_drift", [])
    ]
    if moved:
        out += ["Note: Objects have changed outside ftctl since the last run:", *moved, ""]
    outputs = _output_lines(document.get("output_changes", {}))
    moves = [f"  # {old} has moved to {new}" for old, new in document["ftctl"].get("moves", [])]
    if moves:
        out += ["Objects that keep their identity under a new address (no API call):", *moves, ""]
    if not changes and outputs:
        out += [
            "Changes to Outputs:",
            *outputs,
            "",
            "You can apply this plan to save these new output values, without changing any "
            "real infrastructure.",
        ]
    elif not changes and moves:
        out += [
            _summary_line([]),
            "",
            "Apply this plan to record the moves in the state; nothing changes remotely.",
        ]
    elif not changes:
        out += [
            "No changes. Your infrastructure matches the configuration.",
            "",
            "ftctl has compared your real infrastructure against your configuration and found "
            "no differences, so no changes are needed.",
        ]
    else:
        symbols = {Action(c["ftctl"]["action"]).symbol for c in changes}
        out += [
            "ftctl used the selected providers to generate the following execution plan. "
            "Resource actions are indicated with the following symbols:"
        ]
        out += [f"{symbol:>3} {text}" for symbol, text in _LEGEND.items() if symbol in symbols]
        out += ["", "ftctl will perform the following actions:"]
        for change in changes:
            out += ["", *_change_lines(change)]
        out += ["", _summary_line(changes)]
        if outputs:
            out += ["", "Changes to Outputs:", *outputs]
    for warning in warnings:
        out += ["", f"Warning: {warning}"]
    return "\n".join(out) + "\n"


def render_refresh_only(document: Mapping[str, Any], *, hints: bool = True) -> str:
    """A refresh-only plan: what the API says changed on tracked objects since the state
    recorded them (the document's resource_drift), in Terraform's words; it proposes nothing."""
    drifted = document.get("resource_drift", [])
    out: list[str] = []
    if drifted:
        out += [
            "Note: Objects have changed outside of ftctl",
            "",
            "ftctl detected the following changes made outside of ftctl since the last "
            '"ftctl apply" which may have affected this plan:',
        ]
        for change in drifted:
            out += ["", *_drift_lines(change)]
        undo = "This is a refresh-only plan, so ftctl will not take any actions to undo these."
        if hints:
            # Unlike Terraform's, applying a refresh-only plan records nothing: refresh does.
            undo += (
                " If you were expecting these changes, run ftctl refresh to record the updated "
                "values in the ftctl state without changing any remote objects."
            )
        out += ["", undo]
    else:
        out += [
            "No changes. Your infrastructure still matches the configuration.",
            "",
            "ftctl has checked that the real remote objects still match the result of your "
            "most recent changes, and found no differences.",
        ]
    for warning in document["ftctl"]["warnings"]:
        out += ["", f"Warning: {warning}"]
    return "\n".join(out) + "\n"


def _drift_lines(change: Mapping[str, Any]) -> list[str]:
    """Terraform's drift block: `~`, the attributes that moved, `id`, a count of the rest."""
    name = change["name"].split("[", 1)[0]  # the resource's name; the address keeps the key
    return [
        f"  # {change['address']} has changed",
        f'  ~ resource "{change["type"]}" "{name}" {{',
        *_attribute_lines({"change": {**change["change"], "after_unknown": {}}}, Action.UPDATE),
        "    }",
    ]


def _output_lines(changes: Mapping[str, Any]) -> list[str]:
    lines = []
    shown = [name for name in sorted(changes) if changes[name]["actions"] != ["no-op"]]
    width = max((len(name) for name in shown), default=0)
    for name in shown:
        body = changes[name]
        actions = body["actions"]
        label = name.ljust(width)
        new: Any = (
            _Sensitive()
            if body["after_sensitive"]
            else _Later()
            if body["after_unknown"]
            else body["after"]
        )
        old: Any = _Sensitive() if body["before_sensitive"] else body["before"]
        if actions == ["create"]:
            lines += _value_lines("+", label, new, indent=0)
        elif actions == ["delete"]:
            lines += _value_lines("-", label, old, indent=0, suffix=" -> null")
        else:
            lines.append(f"  ~ {label} = {_inline(old)} -> {_inline(new)}")
    return lines


class _Sensitive:
    def __repr__(self) -> str:
        return "(sensitive value)"


def _summary_line(changes: list[Mapping[str, Any]]) -> str:
    words = [w for c in changes for w in c["change"]["actions"]]
    line = (
        f"Plan: {words.count('create')} to add, {words.count('update')} to change, "
        f"{words.count('delete')} to destroy"
    )
    forget = words.count("forget")
    return line + (f", {forget} to forget." if forget else ".")


def _change_lines(change: Mapping[str, Any]) -> list[str]:
    action = Action(change["ftctl"]["action"])
    reason = (
        Reason.from_action_reason(change["action_reason"]) if "action_reason" in change else None
    )
    address = change["address"]
    lines = [f"  # {address} {_headline(action, reason)}"]
    if reason in _REASON_LINES:
        lines.append(f"  # ({_REASON_LINES[reason].format(address=address)})")
    lines.append(f'{action.symbol:>3} resource "{change["type"]}" "{change["name"]}" {{')
    lines += _attribute_lines(change, action)
    lines.append("    }")
    return lines


def _headline(action: Action, reason: Reason | None) -> str:
    if len(action.json_actions) == 2:  # a replacement: create plus delete or forget
        if reason is Reason.REPLACE_REQUESTED:
            return "will be replaced, as requested"
        if reason is Reason.TAINTED:
            return "is tainted, so must be replaced"
        if reason is Reason.REPLACE_TRIGGERED:
            return "will be replaced due to changes in replace_triggered_by"
        return "must be replaced"
    return _HEADLINES.get(action, "will change")


def _attribute_lines(change: Mapping[str, Any], action: Action) -> list[str]:
    body = change["change"]
    before: Mapping[str, Any] = body["before"] or {}
    after: Mapping[str, Any] | None = body["after"]
    unknown: Mapping[str, Any] = body["after_unknown"] or {}
    forcing = {path[0] for path in body.get("replace_paths", []) if path}
    secret = set(body.get("after_sensitive") or {}) | set(body.get("before_sensitive") or {})
    names = sorted(
        name
        for name in {
            *before,
            *(after or {}),
            *(k for k, v in unknown.items() if v is True),
            *secret,
        }
        if name in unknown
        or name in secret
        or _shown(name, before.get(name))
        or _shown(name, (after or {}).get(name))
    )
    width = max((len(n) for n in names), default=0)
    lines: list[str] = []
    hidden = 0
    for name in names:
        label = name.ljust(width)
        old = before.get(name)
        if name in secret:
            shown = _secret_line(name, label, before, after, forcing)
            if shown is None:
                hidden += 1
            else:
                lines.append(shown)
            continue
        if after is None:  # the object leaves: everything goes
            lines += _value_lines("-", label, old, suffix=" -> null", indent=4)
            continue
        if unknown.get(name) is True:
            new_text: Any = _Later()
        else:
            new_text = after.get(name)
        if not before:
            lines += _value_lines("+", label, new_text, indent=4)
        elif isinstance(new_text, _Later) or old != new_text:
            note = " # forces replacement" if name in forcing else ""
            if _empty(old):
                lines += _value_lines("+", label, new_text, indent=4, note=note)
            elif _empty(new_text):
                lines += _value_lines("-", label, old, indent=4, suffix=" -> null", note=note)
            else:
                lines.append(f"      ~ {label} = {_inline(old)} -> {_inline(new_text)}{note}")
        elif name in _ALWAYS_SHOWN:
            lines.append(f"        {label} = {_inline(old)}")
        else:
            hidden += 1
    if hidden:
        plural = "s" if hidden > 1 else ""
        lines.append(f"        # ({hidden} unchanged attribute{plural} hidden)")
    return lines


def _secret_line(
    name: str,
    label: str,
    before: Mapping[str, Any],
    after: Mapping[str, Any] | None,
    forcing: set[str],
) -> str | None:
    """A sensitive argument's line: the plan holds no value for it, only whether it changes."""
    if after is None:
        return f"      - {label} = (sensitive value) -> null"
    if not before:
        return f"      + {label} = (sensitive value)"
    if name in forcing:
        return f"      ~ {label} = (sensitive value) # forces replacement"
    return None


class _Later:
    def __repr__(self) -> str:
        return KNOWN_LATER


def _shown(name: str, value: Any) -> bool:
    # Unset values and ftctl's settings at their defaults are noise on every block.
    if name in SETTING_DEFAULTS and value == SETTING_DEFAULTS[name]:
        return False
    return not _empty(value)


def _empty(value: Any) -> bool:
    return value is None or value == {} or value == []


def _value_lines(
    symbol: str, label: str, value: Any, indent: int, suffix: str = "", note: str = ""
) -> list[str]:
    """`suffix` ends the value (` -> null`); `note` ends the attribute's own line, as
    Terraform places `# forces replacement` after a map's opening brace."""
    pad = " " * indent
    if isinstance(value, dict) and value:
        lines = [f"{pad}  {symbol} {label} = {{{note}"]
        width = max(len(_key(k)) for k in value)
        for key in sorted(value):
            lines += _value_lines(symbol, _key(key).ljust(width), value[key], indent + 4)
        lines.append(f"{pad}    }}{suffix}")
        return lines
    return [f"{pad}  {symbol} {label} = {_inline(value)}{suffix}{note}"]


def _key(key: str) -> str:
    return json.dumps(key)


def _inline(value: Any) -> str:
    if isinstance(value, _Later):
        return KNOWN_LATER
    if isinstance(value, _Sensitive):
        return "(sensitive value)"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    return "{ " + ", ".join(f"{_key(k)} = {_inline(v)}" for k, v in sorted(value.items())) + " }"
