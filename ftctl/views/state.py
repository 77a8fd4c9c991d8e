"""The state for people (a status table, one resource's attributes, the history of writes)
and for machines (Terraform's `show -json` state shape). Plain text: no colour, no width."""

import json
from collections.abc import Mapping, Sequence
from datetime import UTC
from typing import Any

from ftctl.plan import DEPOSED, hidden_names
from ftctl.state.model import HistoryEntry, ResourceState, State
from ftctl.views.values import hcl_key, render_value

SENSITIVE_VALUE = "(sensitive value)"


class _Hidden:
    """Stands in for a sensitive value in a rendered block."""


_HIDDEN = _Hidden()


def status_table(state: State) -> str:
    rows = [("ADDRESS", "ID", "STATUS", "FINE-TUNED MODEL")]
    for address in sorted(state.resources):
        resource = state.resources[address]
        observed = resource.observed
        rows.append(
            (
                address,
                resource.remote_id or "(pending)",
                str(observed.get("status") or "-"),
                str(observed.get("fine_tuned_model") or "-"),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def attributes(resource: ResourceState) -> dict[str, Any]:
    """What ftctl knows of a resource: its arguments as sent, its settings, then what the API
    said of it (status, model, ...). Sensitive ones are left out, as `sensitive_values` names
    them (the shape of Terraform's JSON)."""
    merged = {
        **dict(resource.applied),
        **{k: v for k, v in resource.settings.items() if v is not None},
        **dict(resource.observed),
    }
    hidden = sensitive_values(resource)
    return {
        **{k: v for k, v in merged.items() if k not in hidden},
        "id": resource.remote_id,
        "tainted": resource.tainted,
        "last_updated": resource.updated_at.isoformat() if resource.updated_at else None,
    }


def sensitive_values(resource: ResourceState) -> dict[str, bool]:
    """The attributes `attributes` leaves out for being sensitive, each marked true."""
    names = hidden_names(resource.sensitive)
    present = {*resource.applied, *resource.observed}
    return dict.fromkeys(sorted(names & present), True)


def describe(resource: ResourceState) -> str:
    """One resource as Terraform's `state show` prints it: `# ADDR:` then a `resource` block
    with every recorded attribute, sorted and aligned, in groups that never merge two values
    of one name (the API's `model` is not the `model` ftctl sent)."""
    marks = (" (tainted)" if resource.tainted else "") + (
        " (deposed object)" if resource.address.endswith(DEPOSED) else ""
    )
    name = resource.address.removesuffix(DEPOSED).split("[", 1)[0].split(".", 1)[-1]
    # The state keeps sensitive values (they are the diff base); no view prints them.
    arguments = _hiding(resource.applied, set(resource.sensitive))
    observed = _hiding(resource.observed, hidden_names(resource.sensitive))
    record: dict[str, Any] = {
        "last_updated": resource.updated_at.isoformat() if resource.updated_at else None,
        "pending_token": resource.pending_token,
        "tainted": resource.tainted,
    }
    # The API's id reads as Terraform's `id`, unless an argument has that name already.
    (record if "id" in arguments else arguments)["id"] = resource.remote_id
    groups: list[tuple[str | None, Mapping[str, Any]]] = [
        (None, arguments),
        ("# ftctl's own settings: they change with no API call", resource.settings),
        (
            "# As the API last reported it: for status, outputs and drift notes only",
            {"observed": observed} if observed else {},
        ),
        ("# ftctl's record", record),
    ]
    lines = [f"# {resource.address}:{marks}", f'resource "{resource.type}" "{name}" {{']
    for comment, values in groups:
        if not values:
            continue
        if len(lines) > 2:
            lines.append("")
        if comment:
            lines.append(f"{_INDENT}{comment}")
        width = max(len(hcl_key(key)) for key in values)
        for key in sorted(values):
            lines.append(f"{_INDENT}{hcl_key(key).ljust(width)} = {_value(values[key], 1)}")
    lines.append("}")
    return "\n".join(lines)


_INDENT = "    "


def _hiding(values: Mapping[str, Any], names: set[str]) -> dict[str, Any]:
    return {k: _HIDDEN if k in names else v for k, v in values.items()}


def _value(value: Any, depth: int) -> str:
    """An HCL-like value, nested one indent per level, as Terraform's state show does."""
    if value is _HIDDEN:
        return SENSITIVE_VALUE
    if isinstance(value, Mapping) and any(item is _HIDDEN for item in value.values()):
        # render_value's own layout for a map, one level down by hand for the marker's sake.
        pad = _INDENT * depth
        width = max(len(hcl_key(key)) for key in value)
        lines = ["{"]
        for key in sorted(value):
            shown = _value(value[key], depth + 1)
            lines.append(f"{pad}{_INDENT}{hcl_key(key).ljust(width)} = {shown}")
        lines.append(f"{pad}}}")
        return "\n".join(lines)
    return render_value(value, indent=len(_INDENT) * depth, step=len(_INDENT))


def history_table(entries: Sequence[HistoryEntry], restorable_since: int) -> str:
    """One line per write, oldest first, then which serials `state restore` can bring back."""
    if not entries:
        return "The state has no history yet."
    rows = [("SERIAL", "TIME (UTC)", "OPERATION", "WHO", "ADDRESS", "ACTION")]
    rows.extend(
        (
            str(entry.serial),
            entry.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            entry.operation,
            entry.who or "-",
            entry.address,
            entry.action,
        )
        for entry in entries
    )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    last = entries[-1].serial
    lines.append("")
    if restorable_since == last - 1:
        lines.append(f"Serial {restorable_since} can be restored: ftctl state restore SERIAL.")
    elif restorable_since < last:
        lines.append(
            f"Serials {restorable_since} to {last - 1} can be restored: ftctl state restore SERIAL."
        )
    if restorable_since > 0:
        lines.append(
            f"Serials before {restorable_since} were written before this state kept "
            "revisions: they cannot be restored."
        )
    return "\n".join(lines)


def as_json(state: State) -> str:
    return json.dumps(
        {
            "format_version": "1.0",
            "values": {
                "root_module": {
                    "resources": [
                        {
                            "address": address,
                            "mode": "managed",
                            "type": resource.type,
                            "name": address.split(".", 1)[1],
                            "values": attributes(resource),
                            "sensitive_values": sensitive_values(resource),
                        }
                        for address, resource in sorted(state.resources.items())
                    ]
                }
            },
        },
        indent=2,
    )
