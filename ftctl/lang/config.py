"""A configuration: the resources and provider settings a directory's .tf files declare,
decoded, checked, and with every reference between resources resolved."""

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftctl.diagnostics import Diagnostic, SourceRange, error
from ftctl.lang.loader import load_directory
from ftctl.lang.syntax import Block, SourceFile
from ftctl.resources import file as openai_file
from ftctl.resources import fine_tuning_job, provider
from ftctl.resources.schema import BlockType, Decoder, Kind, Reference

RESOURCE_SCHEMAS: Mapping[str, BlockType] = {
    fine_tuning_job.TYPE: fine_tuning_job.SCHEMA,
    openai_file.TYPE: openai_file.SCHEMA,
}
# What each resource type exports for others to reference, and of what kind.
EXPORTS: Mapping[str, Mapping[str, Kind]] = {
    fine_tuning_job.TYPE: {
        "id": Kind.STRING,
        "fine_tuned_model": Kind.STRING,
        "status": Kind.STRING,
    },
    openai_file.TYPE: {
        "id": Kind.STRING,
        "bytes": Kind.INTEGER,
        "filename": Kind.STRING,
        "sha256": Kind.STRING,
        "created_at": Kind.INTEGER,
    },
}
SHOWN_DATA_PROBLEMS = 5
_LATER = ("variable", "locals", "output", "data", "module", "moved", "import", "check")


@dataclass(frozen=True)
class ResourceConfig:
    type: str
    name: str
    arguments: Mapping[str, Any]
    where: SourceRange

    @property
    def address(self) -> str:
        return f"{self.type}.{self.name}"

    def references(self) -> Iterator[Reference]:
        yield from _references(self.arguments)


@dataclass(frozen=True)
class Configuration:
    directory: Path
    sources: Mapping[str, str]  # file name -> text, for diagnostics' excerpts
    resources: Mapping[str, ResourceConfig]  # by address, in source order
    provider: Mapping[str, Any] = field(default_factory=dict)


def load_configuration(directory: Path) -> tuple[Configuration, list[Diagnostic]]:
    files, sources, problems = load_directory(directory)
    # With a file unread, its resources are unknown: "undeclared" would be a false alarm.
    everything_read = not problems
    reader = _Reader(directory, problems)
    for source in files:
        reader.read(source)
    reader.resolve_references(report_undeclared=everything_read)
    for resource in reader.resources.values():
        if resource.type == openai_file.TYPE:
            problems += check_data_file(directory, resource)
    configuration = Configuration(directory, sources, dict(reader.resources), reader.provider)
    return configuration, problems


class _Reader:
    def __init__(self, directory: Path, problems: list[Diagnostic]) -> None:
        self.directory = directory
        self.problems = problems
        self.decoder = Decoder(problems)
        self.resources: dict[str, ResourceConfig] = {}
        self.provider: dict[str, Any] = {}
        self.provider_at: SourceRange | None = None

    def read(self, source: SourceFile) -> None:
        for attribute in source.body.attributes:
            self.problems.append(
                error(
                    f'Unexpected argument "{attribute.name}" outside any block',
                    "A .tf file holds blocks: resource, provider and terraform.",
                    attribute.where,
                )
            )
        for block in source.body.blocks:
            match block.type:
                case "resource":
                    self.resource(block)
                case "provider":
                    self.provider_block(block)
                case "terraform":
                    pass  # accepted; its settings mean nothing to ftctl yet
                case kind if kind in _LATER:
                    self.problems.append(
                        error(
                            f'"{kind}" blocks are not supported yet',
                            "ftctl reads resource, provider and terraform blocks today; "
                            "variables, locals, outputs and the rest arrive with its "
                            "language support.",
                            block.where,
                        )
                    )
                case kind:
                    self.problems.append(
                        error(
                            f'Unknown block type "{kind}"',
                            "A .tf file for ftctl holds resource, provider and terraform blocks.",
                            block.where,
                        )
                    )

    def resource(self, block: Block) -> None:
        if len(block.labels) != 2:
            self.problems.append(
                error(
                    "A resource block needs a type and a name",
                    'Write resource "openai_fine_tuning_job" "NAME" { ... }.',
                    block.where,
                )
            )
            return
        kind, name = block.labels
        schema = RESOURCE_SCHEMAS.get(kind)
        if schema is None:
            self.problems.append(
                error(
                    f'Unsupported resource type "{kind}"',
                    "ftctl manages " + " and ".join(f'"{t}"' for t in RESOURCE_SCHEMAS) + ".",
                    block.where,
                )
            )
            return
        address = f"{kind}.{name}"
        if address in self.resources:
            first = self.resources[address].where
            self.problems.append(
                error(
                    f"Duplicate resource {address}",
                    f"{address} is already declared at {first}; each address must be unique.",
                    block.where,
                )
            )
            return
        arguments = self.decoder.block(block.body, schema, block.where)
        if kind == fine_tuning_job.TYPE:
            self.problems.extend(fine_tuning_job.check(arguments, block))
        self.resources[address] = ResourceConfig(kind, name, arguments, block.where)

    def provider_block(self, block: Block) -> None:
        if block.labels != (provider.NAME,):
            self.problems.append(
                error(
                    "Unsupported provider",
                    f'ftctl talks to one provider: write provider "{provider.NAME}" {{ ... }}.',
                    block.where,
                )
            )
            return
        if self.provider_at is not None:
            self.problems.append(
                error(
                    'Duplicate provider "openai" block',
                    f"It is already configured at {self.provider_at}.",
                    block.where,
                )
            )
            return
        self.provider_at = block.where
        self.provider = self.decoder.block(block.body, provider.SCHEMA, block.where)

    def resolve_references(self, report_undeclared: bool) -> None:
        for resource in self.resources.values():
            for reference in resource.references():
                target = self.resources.get(reference.address)
                if target is None:
                    if not report_undeclared:
                        continue
                    self.problems.append(
                        error(
                            f"Reference to undeclared resource {reference.address}",
                            f"{resource.address} refers to {reference}, but no resource "
                            f"{reference.address} is declared.",
                            reference.where,
                        )
                    )
                elif reference.attribute not in EXPORTS[target.type]:
                    self.problems.append(
                        error(
                            f'Unsupported attribute "{reference.attribute}"',
                            f"{target.type} exports "
                            + ", ".join(EXPORTS[target.type])
                            + f"; {reference} is none of them.",
                            reference.where,
                        )
                    )
                elif EXPORTS[target.type][reference.attribute] is not reference.kind:
                    self.problems.append(
                        error(
                            f"{reference} is not {reference.kind.value}",
                            f"{reference} is {EXPORTS[target.type][reference.attribute].value}; "
                            "this argument needs " + reference.kind.value + ".",
                            reference.where,
                        )
                    )


def check_data_file(directory: Path, resource: ResourceConfig) -> list[Diagnostic]:
    """Every line of an openai_file's data must be a JSON object, checked before any upload."""
    relative = resource.arguments.get("file")
    if not isinstance(relative, str):
        return []
    path = directory / relative
    if not path.is_file():
        return [
            error(
                "Data file not found",
                f"{resource.address} uploads {relative}, which does not exist in {directory}.",
                resource.where,
            )
        ]
    problems: list[Diagnostic] = []
    more = 0
    with path.open("rb") as data:
        for number, raw in enumerate(data, start=1):
            if not raw.strip():
                continue
            try:
                parsed = json.loads(raw)
            except ValueError as exc:
                reason = f"is not valid JSON ({exc})"
            else:
                if isinstance(parsed, dict):
                    continue
                reason = "is JSON but not an object"
            if len(problems) == SHOWN_DATA_PROBLEMS:
                more += 1  # enough to show the pattern; the rest are counted
                continue
            problems.append(
                error(
                    f"Line {number} of {relative} {reason.split(' (')[0]}",
                    f"Each line of a JSONL file is one JSON object; line {number} {reason}.",
                    SourceRange(str(relative), number, 1),
                )
            )
    if more:
        problems.append(
            error(
                f"{more} more lines of {relative} are not JSON objects",
                f"Only the first {SHOWN_DATA_PROBLEMS} are shown.",
                resource.where,
            )
        )
    return problems


def _references(value: Any) -> Iterator[Reference]:
    if isinstance(value, Reference):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)
