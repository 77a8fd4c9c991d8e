"""Values as Terraform prints them in outputs and state: HCL-like, maps one key per line."""

import json
from collections.abc import Mapping
from typing import Any


def render_value(value: Any, indent: int = 0, step: int = 2) -> str:
    """`value` starting at column `indent`, each nesting level `step` spaces further in."""
    pad = " " * indent
    inner = " " * step
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        width = max(len(hcl_key(k)) for k in value)
        lines = ["{"]
        for key in sorted(value):
            shown = render_value(value[key], indent + step, step)
            lines.append(f"{pad}{inner}{hcl_key(key).ljust(width)} = {shown}")
        lines.append(f"{pad}}}")
        return "\n".join(lines)
    if isinstance(value, list):
        if not value:
            return "[]"
        items = [f"{pad}{inner}{render_value(item, indent + step, step)}," for item in value]
        return "\n".join(["[", *items, f"{pad}]"])
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False)


def hcl_key(key: str) -> str:
    """A map key as HCL writes it: bare when it is a name, quoted otherwise."""
    return key if key.isidentifier() else json.dumps(key, ensure_ascii=False)
