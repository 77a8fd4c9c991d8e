"""Values as Terraform prints them in outputs: HCL-like, maps one key per line."""

import json
from typing import Any


def render_value(value: Any, indent: int = 0) -> str:
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return "{}"
        width = max(len(_key(k)) for k in value)
        lines = ["{"]
        for key in sorted(value):
            shown = render_value(value[key], indent + 2)
            lines.append(f"{pad}  {_key(key).ljust(width)} = {shown}")
        lines.append(f"{pad}}}")
        return "\n".join(lines)
    if isinstance(value, list):
        if not value:
            return "[]"
        items = [f"{pad}  {render_value(item, indent + 2)}," for item in value]
        return "\n".join(["[", *items, f"{pad}]"])
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False)


def _key(key: str) -> str:
    return key if key.isidentifier() else json.dumps(key, ensure_ascii=False)
