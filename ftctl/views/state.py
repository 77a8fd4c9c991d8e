"""The state for people (a status table, one resource's attributes) and for machines
(Terraform's `show -json` state shape)."""

import json
from typing import Any

from ftctl.state.model import ResourceState, State


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
    said of it (status, model, ...)."""
    return {
        **dict(resource.applied),
        **{k: v for k, v in resource.settings.items() if v is not None},
        **dict(resource.observed),
        "id": resource.remote_id,
        "tainted": resource.tainted,
        "last_updated": resource.updated_at.isoformat() if resource.updated_at else None,
    }


def describe(resource: ResourceState) -> str:
    values = attributes(resource)
    width = max(len(name) for name in values)
    lines = [
        f"# {resource.address}:",
        f'resource "{resource.type}" "{resource.address.split(".", 1)[1]}" {{',
    ]
    for name in sorted(values):
        lines.append(f"    {name.ljust(width)} = {json.dumps(values[name])}")
    lines.append("}")
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
                        }
                        for address, resource in sorted(state.resources.items())
                    ]
                }
            },
        },
        indent=2,
    )
