"""Import: the arguments ftctl records for a job it did not create, rebuilt from the job itself.

Nothing is invented. Where the job is compatible with the configuration's value (an alias the
server resolved to this snapshot; "auto" or an unset value where the server chose a number or a
seed) the configuration's spelling is kept, so a matching block plans "No changes"; anywhere
else the job's own value is recorded, so the next plan shows the real difference.
"""

import json
import re
from collections.abc import Mapping
from typing import Any

from ftctl.plan import RESERVED_METADATA_KEY
from ftctl.provider.base import RemoteJob

AUTO = "auto"
_DEFAULT_METHOD = {"type": "supervised"}
_SNAPSHOT_DATE = re.compile(r"-\d{4}-\d{2}-\d{2}$|-\d{4}$")


def job_request(job: RemoteJob) -> dict[str, Any]:
    """The create request that would reproduce `job`, as far as the job tells."""
    raw = job.raw
    request: dict[str, Any] = {"model": job.model, "training_file": raw.get("training_file")}
    for name, value in (
        ("validation_file", raw.get("validation_file")),
        ("suffix", raw.get("user_provided_suffix")),
        ("seed", raw.get("seed")),
        ("metadata", _user_metadata(job.metadata)),
        ("integrations", _integrations(raw.get("integrations"))),
    ):
        if value not in (None, {}, []):
            request[name] = value
    method = raw.get("method")
    if isinstance(method, dict) and method.get("type"):
        kind = method["type"]
        block = {k: v for k, v in (method.get(kind) or {}).items() if v is not None}
        request["method"] = {"type": kind, kind: block} if block else {"type": kind}
    return request


def reconcile(configured: Mapping[str, Any], job: RemoteJob) -> dict[str, Any]:
    """What ftctl records as sent for `job`, given the block's request `configured`."""
    actual = job_request(job)
    recorded: dict[str, Any] = {}
    for name in sorted({*configured, *actual}):
        wanted, found = configured.get(name), actual.get(name)
        if name == "model" and _same_model(wanted, found):
            recorded[name] = wanted
        elif name == "seed" and wanted is None:
            continue  # the server chose it: the block did not ask for one
        elif name == "method":
            method = _reconcile_value(wanted or _DEFAULT_METHOD, found)
            # A block without `method` asked for plain supervised training.
            if wanted is not None or method != _DEFAULT_METHOD:
                recorded[name] = method
        elif found is not None:
            recorded[name] = found
    return recorded


def generated_block(name: str, job: RemoteJob) -> str:
    """A resource block that reproduces `job`, for `ftctl import ID`."""
    request = job_request(job)
    lines = [f'resource "openai_fine_tuning_job" "{name}" {{', f"  # imported from {job.id}"]
    for key in ("model", "training_file", "validation_file", "suffix", "seed"):
        if key in request:
            lines.append(f"  {key} = {_hcl(request[key])}")
    if "metadata" in request:
        lines.append(f"  metadata = {_hcl(request['metadata'])}")
    if "method" in request:
        lines += _block("method", request["method"], indent=2)
    for integration in request.get("integrations", []):
        lines += _block("integrations", integration, indent=2)
    lines.append("}")
    return "\n".join(lines) + "\n"


def block_name(job: RemoteJob) -> str:
    suffix = job.raw.get("user_provided_suffix") or job.id
    name = re.sub(r"[^A-Za-z0-9_]", "_", str(suffix)).strip("_") or "imported"
    return name if name[0].isalpha() else f"job_{name}"


def _same_model(wanted: Any, found: Any) -> bool:
    if wanted == found:
        return True
    # The API answers an alias with its dated snapshot (gpt-4o-mini -> gpt-4o-mini-2024-07-18).
    return (
        isinstance(wanted, str)
        and isinstance(found, str)
        and found.startswith(wanted + "-")
        and bool(_SNAPSHOT_DATE.search(found[len(wanted) :]))
    )


def _reconcile_value(wanted: Any, found: Any) -> Any:
    """Recursively: the configured value where the found one is what the server made of it."""
    if isinstance(found, dict) and (wanted is None or isinstance(wanted, dict)):
        # A map the configuration leaves unset is compared as empty: "auto" and resolved
        # numbers inside it are still what the server made of nothing.
        wanted = wanted or {}
        merged = {}
        for key in {*wanted, *found}:
            value = _reconcile_value(wanted.get(key), found.get(key))
            if value not in (None, {}):
                merged[key] = value
        return merged
    if wanted == AUTO or (wanted is None and isinstance(found, int | float)):
        # The server resolves "auto" (or an unset hyperparameter) to a number once training
        # starts: that number is not a difference.
        return wanted
    if wanted is None and isinstance(found, str) and found in (AUTO, "default"):
        return None
    return found


def _user_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in metadata.items() if k != RESERVED_METADATA_KEY}


def _integrations(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        return []
    cleaned = []
    for item in value:
        wandb = {
            k: v
            for k, v in (item.get("wandb") or {}).items()
            if k in ("project", "name", "entity", "tags") and v is not None
        }
        cleaned.append({"type": item.get("type", "wandb"), "wandb": wandb})
    return cleaned


def _hcl(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_hcl(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_hcl(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def _block(name: str, body: Mapping[str, Any], indent: int) -> list[str]:
    pad = " " * indent
    lines = [f"{pad}{name} {{"]
    for key, value in body.items():
        if isinstance(value, dict):
            lines += _block(key, value, indent + 2)
        else:
            lines.append(f"{pad}  {key} = {_hcl(value)}")
    lines.append(f"{pad}}}")
    return lines
