"""What the configuration wants, in the planner's terms: for each resource the request ftctl
would send (references resolved from the state, or unknown until apply) and its settings."""

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ftctl.lang.config import Configuration, ResourceConfig
from ftctl.plan import UNKNOWN
from ftctl.planner import Desired
from ftctl.resources import file as openai_file
from ftctl.resources import fine_tuning_job
from ftctl.resources.schema import Reference

# Attributes the API assigns: "(known after apply)" on a new object.
COMPUTED: Mapping[str, tuple[str, ...]] = {
    fine_tuning_job.TYPE: ("fine_tuned_model", "organization_id", "status", "created_at"),
    openai_file.TYPE: ("bytes", "created_at"),
}


def desired_resources(configuration: Configuration, remote_ids: Mapping[str, str]) -> list[Desired]:
    """`remote_ids`: the id each tracked address has in the state, to resolve references."""
    return [
        _desired(configuration.directory, resource, remote_ids)
        for resource in configuration.resources.values()
    ]


def desired_resource(
    configuration: Configuration, address: str, remote_ids: Mapping[str, str]
) -> Desired:
    """One resource's desire, without deriving (and hashing) all the others."""
    return _desired(configuration.directory, configuration.resources[address], remote_ids)


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for chunk in iter(lambda: data.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _desired(directory: Path, resource: ResourceConfig, remote_ids: Mapping[str, str]) -> Desired:
    depends_on = tuple(sorted({reference.address for reference in resource.references()}))
    if resource.type == openai_file.TYPE:
        relative = str(resource.arguments["file"])
        arguments: dict[str, Any] = {
            "file": relative,
            "purpose": resource.arguments.get("purpose", "fine-tune"),
            # The content decides replacement: a changed file is a new upload.
            "sha256": file_digest(directory / relative),
        }
        settings: dict[str, Any] = {}
    else:
        resolved = _resolve(dict(resource.arguments), remote_ids)
        arguments = fine_tuning_job.create_request(resolved)
        settings = fine_tuning_job.settings(resolved)
    return Desired(
        address=resource.address,
        type=resource.type,
        arguments=arguments,
        settings=settings,
        depends_on=depends_on,
        computed=COMPUTED[resource.type],
    )


def _resolve(value: Any, remote_ids: Mapping[str, str]) -> Any:
    if isinstance(value, Reference):
        if value.attribute == "id" and value.address in remote_ids:
            return remote_ids[value.address]
        return UNKNOWN
    if isinstance(value, dict):
        return {key: _resolve(item, remote_ids) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(item, remote_ids) for item in value]
    return value
