"""A configuration: what a directory's .tf files declare (resources, variables, locals, outputs,
the provider), checked as far as can be without values: block structure, references, and the
dependency graph, whose cycles are errors."""

import codecs
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ftctl.diagnostics import Diagnostic, SourceRange, error, warning
from ftctl.lang.loader import load_directory
from ftctl.lang.syntax import (
    Attribute,
    Block,
    Body,
    Expression,
    IndexStep,
    Literal,
    SourceFile,
    Template,
    Traversal,
    TupleExpr,
    traversals,
)
from ftctl.lang.types import ANY, TypeError_, TypeSpec, parse_type
from ftctl.resources import file as openai_file
from ftctl.resources import fine_tuning_job, provider
from ftctl.resources.schema import BlockType, Decoder

RESOURCE_SCHEMAS: Mapping[str, BlockType] = {
    fine_tuning_job.TYPE: fine_tuning_job.SCHEMA,
    openai_file.TYPE: openai_file.SCHEMA,
}
# What each resource type exports besides its arguments. FINISH_EXPORTS are known only once a
# job has finished: a resource that needs one waits for the job.
EXPORTS: Mapping[str, tuple[str, ...]] = {
    fine_tuning_job.TYPE: (
        "id",
        "status",
        "fine_tuned_model",
        "organization_id",
        "result_files",
        "validation_loss",
        "trained_tokens",
        "created_at",
        "finished_at",
        "last_updated",
    ),
    openai_file.TYPE: ("id", "bytes", "filename", "sha256", "created_at"),
}
FINISH_EXPORTS = frozenset(
    {"fine_tuned_model", "result_files", "validation_loss", "trained_tokens", "finished_at"}
)
SHOWN_DATA_PROBLEMS = 5
CYCLE = "Cycle in the configuration"
META_ARGUMENTS = ("count", "for_each", "depends_on", "provider", "lifecycle")
_LATER = ("data", "module", "moved", "import", "check", "removed")


@dataclass(frozen=True)
class Lifecycle:
    create_before_destroy: bool = False
    prevent_destroy: bool = False
    # Argument paths: ("metadata",), or ("metadata", "team") for metadata["team"].
    ignore_changes: tuple[tuple[str | int, ...], ...] = ()
    ignore_all: bool = False
    replace_triggered_by: tuple[Traversal, ...] = ()


@dataclass(frozen=True)
class ResourceConfig:
    type: str
    name: str
    body: Body
    where: SourceRange
    count: Expression | None = None
    for_each: Expression | None = None
    depends_on: tuple[Traversal, ...] = ()
    lifecycle: Lifecycle = field(default_factory=Lifecycle)

    @property
    def address(self) -> str:
        return f"{self.type}.{self.name}"

    def expressions(self) -> Iterator[Expression]:
        """Every expression of the block that feeds its arguments, meta-arguments excluded."""
        yield from _body_expressions(self.body, skip=META_ARGUMENTS)


@dataclass(frozen=True)
class Validation:
    condition: Expression
    error_message: Expression
    where: SourceRange


@dataclass(frozen=True)
class VariableConfig:
    name: str
    where: SourceRange
    type: TypeSpec = ANY
    default: Expression | None = None
    description: str = ""
    sensitive: bool = False
    nullable: bool = True
    validations: tuple[Validation, ...] = ()


@dataclass(frozen=True)
class OutputConfig:
    name: str
    value: Expression
    where: SourceRange
    description: str = ""
    sensitive: bool = False
    depends_on: tuple[Traversal, ...] = ()


@dataclass(frozen=True)
class Configuration:
    directory: Path
    sources: Mapping[str, str]  # file name -> text, for diagnostics' excerpts
    resources: Mapping[str, ResourceConfig]  # by address, in source order
    provider_body: Body | None = None
    variables: Mapping[str, VariableConfig] = field(default_factory=dict)
    locals: Mapping[str, Attribute] = field(default_factory=dict)
    outputs: Mapping[str, OutputConfig] = field(default_factory=dict)
    # Node → the nodes it needs: resources by address, "var.x", "local.x", "output.x".
    graph: Mapping[str, frozenset[str]] = field(default_factory=dict)
    has_cycle: bool = False
    # Every file was read: without one, its declarations are unknown and nothing is evaluated.
    complete: bool = False
    # Resources whose blocks have structural errors: evaluated for diagnostics, never planned.
    invalid: frozenset[str] = frozenset()
    # Filled in once the variables' values are known (ftctl.engine.desired.prepare):
    values: Mapping[str, Any] = field(default_factory=dict)  # var.NAME → value
    provider: Mapping[str, Any] = field(default_factory=dict)  # the provider block's settings

    def resource_order(self) -> list[str]:
        """Resource addresses with each after every resource it needs (graph has no cycles)."""
        needs = {a: self.resource_needs(a) for a in self.resources}
        done: list[str] = []
        placed: set[str] = set()

        def visit(address: str) -> None:
            if address in placed:
                return
            placed.add(address)
            for need in sorted(needs[address]):
                visit(need)
            done.append(address)

        for address in self.resources:
            visit(address)
        return done

    def resource_closure(self, resource: str) -> frozenset[str]:
        """Every resource `resource` needs, directly or through other resources."""
        found: set[str] = set()
        todo = [resource]
        while todo:
            for needed in self.resource_needs(todo.pop()):
                if needed not in found:
                    found.add(needed)
                    todo.append(needed)
        return frozenset(found)

    def resource_needs(self, node: str) -> frozenset[str]:
        """The resources `node` needs, directly or through locals and variables."""
        found: set[str] = set()
        seen: set[str] = set()
        todo = list(self.graph.get(node, ()))
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            if current in self.resources:
                found.add(current)
            else:
                todo.extend(self.graph.get(current, ()))
        return frozenset(found)


def load_configuration(directory: Path) -> tuple[Configuration, list[Diagnostic]]:
    files, sources, problems = load_directory(directory)
    # With a file unread, its declarations are unknown: "undeclared" would be a false alarm.
    everything_read = not problems
    reader = _Reader(directory, problems)
    for source in files:
        reader.read(source)
    configuration = Configuration(
        directory,
        sources,
        dict(reader.resources),
        reader.provider,
        dict(reader.variables),
        dict(reader.locals),
        dict(reader.outputs),
        invalid=frozenset(reader.invalid),
    )
    # With a file unread, its declarations are unknown: "undeclared" would be a false alarm.
    if everything_read:
        before = len(problems)
        graph = _Graph(configuration, problems).build()
        cycle = any(p.summary == CYCLE for p in problems[before:])
        configuration = replace(configuration, graph=graph, has_cycle=cycle, complete=True)
    return configuration, problems


class _Reader:
    def __init__(self, directory: Path, problems: list[Diagnostic]) -> None:
        self.directory = directory
        self.problems = problems
        self.decoder = Decoder(problems)
        self.resources: dict[str, ResourceConfig] = {}
        self.invalid: set[str] = set()
        self.variables: dict[str, VariableConfig] = {}
        self.locals: dict[str, Attribute] = {}
        self.outputs: dict[str, OutputConfig] = {}
        self.provider: Body | None = None
        self.provider_at: SourceRange | None = None

    def read(self, source: SourceFile) -> None:
        for attribute in source.body.attributes:
            self.problems.append(
                error(
                    f'Unexpected argument "{attribute.name}" outside any block',
                    "A .tf file holds blocks: resource, variable, locals, output, provider "
                    "and terraform.",
                    attribute.where,
                )
            )
        for block in source.body.blocks:
            match block.type:
                case "resource":
                    self.resource(block)
                case "variable":
                    self.variable(block)
                case "locals":
                    self.locals_block(block)
                case "output":
                    self.output(block)
                case "provider":
                    self.provider_block(block)
                case "terraform":
                    pass  # accepted; its settings mean nothing to ftctl yet
                case kind if kind in _LATER:
                    self.problems.append(
                        error(
                            f'"{kind}" blocks are not supported',
                            "ftctl reads resource, variable, locals, output, provider and "
                            "terraform blocks; a configuration is one root module.",
                            block.where,
                        )
                    )
                case kind:
                    self.problems.append(
                        error(
                            f'Unknown block type "{kind}"',
                            "A .tf file for ftctl holds resource, variable, locals, output, "
                            "provider and terraform blocks.",
                            block.where,
                        )
                    )

    def _labels(self, block: Block, count: int, example: str) -> bool:
        if len(block.labels) == count:
            return True
        self.problems.append(
            error(
                f"A {block.type} block needs {'a type and a name' if count == 2 else 'a name'}",
                f"Write {example}.",
                block.where,
            )
        )
        return False

    def resource(self, block: Block) -> None:
        if not self._labels(block, 2, 'resource "openai_fine_tuning_job" "NAME" { ... }'):
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
        before = len(self.problems)
        self.decoder.structure(block.body, schema, block.where, META_ARGUMENTS)
        if any(p.severity.value == "error" for p in self.problems[before:]):
            self.invalid.add(address)
        body = block.body
        count = _attribute_value(body, "count")
        for_each = _attribute_value(body, "for_each")
        if count is not None and for_each is not None:
            self.problems.append(
                error(
                    'Invalid combination of "count" and "for_each"',
                    'The "count" and "for_each" meta-arguments are mutually-exclusive, only one '
                    "should be used to be explicit about the number of resources to be created.",
                    for_each.where,
                )
            )
        provider_attribute = body.attribute("provider")
        if provider_attribute is not None:
            self.problems.append(
                error(
                    'The "provider" meta-argument is not supported',
                    'ftctl has one provider configuration, provider "openai"; remove this line.',
                    provider_attribute.where,
                )
            )
        self.resources[address] = ResourceConfig(
            kind,
            name,
            body,
            block.where,
            count=count,
            for_each=for_each,
            depends_on=self.references_list(body, "depends_on"),
            lifecycle=self.lifecycle(body),
        )

    def references_list(self, body: Body, name: str) -> tuple[Traversal, ...]:
        attribute = body.attribute(name)
        if attribute is None:
            return ()
        value = attribute.value
        items = value.items if isinstance(value, TupleExpr) else None
        if items is None or not all(isinstance(i, Traversal) for i in items):
            self.problems.append(
                error(
                    f'Invalid "{name}"',
                    f"{name} is a list of references, such as [openai_file.train] or "
                    "[openai_fine_tuning_job.base.fine_tuned_model].",
                    value.where,
                )
            )
            return ()
        return tuple(i for i in items if isinstance(i, Traversal))

    def lifecycle(self, body: Body) -> Lifecycle:
        blocks = body.blocks_of("lifecycle")
        if not blocks:
            return Lifecycle()
        for extra in blocks[1:]:
            self.problems.append(
                error('Duplicate "lifecycle" block', "Only one is allowed.", extra.where)
            )
        block = blocks[0]
        flags: dict[str, bool] = {}
        ignore: list[tuple[str | int, ...]] = []
        ignore_all = False
        for attribute in block.body.attributes:
            match attribute.name:
                case "create_before_destroy" | "prevent_destroy":
                    value = attribute.value
                    if not (isinstance(value, Literal) and isinstance(value.value, bool)):
                        self.problems.append(
                            error(
                                f'Invalid "{attribute.name}"',
                                "A static value is required: write true or false.",
                                value.where,
                            )
                        )
                        continue
                    flags[attribute.name] = value.value
                case "ignore_changes":
                    value = attribute.value
                    if isinstance(value, Traversal) and str(value) == "all":
                        ignore_all = True
                        continue
                    items = value.items if isinstance(value, TupleExpr) else None
                    paths = [_argument_path(i) for i in items or ()]
                    if items is None or None in paths:
                        self.problems.append(
                            error(
                                'Invalid "ignore_changes"',
                                "ignore_changes is all, or a list of argument names such as "
                                '[metadata, suffix] or metadata["team"].',
                                value.where,
                            )
                        )
                        continue
                    ignore += [path for path in paths if path is not None]
                case "replace_triggered_by":
                    continue
                case other:
                    self.problems.append(
                        error(
                            f'Unsupported lifecycle argument "{other}"',
                            "lifecycle takes create_before_destroy, prevent_destroy, "
                            "ignore_changes and replace_triggered_by.",
                            attribute.where,
                        )
                    )
        return Lifecycle(
            create_before_destroy=flags.get("create_before_destroy", False),
            prevent_destroy=flags.get("prevent_destroy", False),
            ignore_changes=tuple(ignore),
            ignore_all=ignore_all,
            replace_triggered_by=self.references_list(block.body, "replace_triggered_by"),
        )

    def variable(self, block: Block) -> None:
        if not self._labels(block, 1, 'variable "NAME" { ... }'):
            return
        name = block.labels[0]
        if name in self.variables:
            self.problems.append(
                error(
                    f'Duplicate variable "{name}"',
                    f"It is already declared at {self.variables[name].where}.",
                    block.where,
                )
            )
            return
        settings: dict[str, object] = {}
        for attribute in block.body.attributes:
            value = attribute.value
            match attribute.name:
                case "type":
                    try:
                        settings["type"] = parse_type(value)
                    except TypeError_ as exc:
                        self.problems.append(
                            error("Invalid type specification", exc.detail, exc.expression.where)
                        )
                case "default":
                    settings["default"] = value
                case "description":
                    settings["description"] = self.static(value, str, attribute.name)
                case "sensitive" | "nullable" | "ephemeral":
                    settings[attribute.name] = self.static(value, bool, attribute.name)
                case other:
                    self.problems.append(
                        error(
                            f'Unsupported argument "{other}" in variable',
                            "A variable takes type, default, description, sensitive, nullable "
                            "and validation blocks.",
                            attribute.where,
                        )
                    )
        validations = []
        for inner in block.body.blocks:
            if inner.type != "validation":
                self.problems.append(
                    error(
                        f'Unsupported block "{inner.type}" in variable',
                        "A variable holds validation blocks only.",
                        inner.where,
                    )
                )
                continue
            condition = inner.body.attribute("condition")
            message = inner.body.attribute("error_message")
            if condition is None or message is None:
                self.problems.append(
                    error(
                        "Incomplete validation block",
                        "A validation block needs condition and error_message.",
                        inner.where,
                    )
                )
                continue
            validations.append(Validation(condition.value, message.value, inner.where))
        settings.pop("ephemeral", None)
        self.variables[name] = VariableConfig(
            name,
            block.where,
            validations=tuple(validations),
            **{k: v for k, v in settings.items() if v is not None},  # type: ignore[arg-type]
        )

    def static(self, value: Expression, kind: type, name: str) -> object:
        if isinstance(value, Literal) and isinstance(value.value, kind):
            return value.value
        wanted = "a string" if kind is str else "true or false"
        self.problems.append(
            error(f'Invalid "{name}"', f"A static value is required: {wanted}.", value.where)
        )
        return None

    def locals_block(self, block: Block) -> None:
        for inner in block.body.blocks:
            self.problems.append(
                error("Unexpected block in locals", "locals holds name = value lines.", inner.where)
            )
        for attribute in block.body.attributes:
            if attribute.name in self.locals:
                self.problems.append(
                    error(
                        f'Duplicate local value "{attribute.name}"',
                        f"local.{attribute.name} is already defined at "
                        f"{self.locals[attribute.name].where}.",
                        attribute.where,
                    )
                )
                continue
            self.locals[attribute.name] = attribute

    def output(self, block: Block) -> None:
        if not self._labels(block, 1, 'output "NAME" { value = ... }'):
            return
        name = block.labels[0]
        if name in self.outputs:
            self.problems.append(
                error(
                    f'Duplicate output "{name}"',
                    f"It is already declared at {self.outputs[name].where}.",
                    block.where,
                )
            )
            return
        value = block.body.attribute("value")
        if value is None:
            self.problems.append(
                error(
                    'Missing required argument "value"',
                    f'output "{name}" needs value = EXPRESSION.',
                    block.where,
                )
            )
            return
        description, sensitive = "", False
        for attribute in block.body.attributes:
            match attribute.name:
                case "value" | "depends_on":
                    pass
                case "description":
                    description = str(self.static(attribute.value, str, "description") or "")
                case "sensitive":
                    sensitive = bool(self.static(attribute.value, bool, "sensitive"))
                case other:
                    self.problems.append(
                        error(
                            f'Unsupported argument "{other}" in output',
                            "An output takes value, description, sensitive and depends_on.",
                            attribute.where,
                        )
                    )
        self.outputs[name] = OutputConfig(
            name,
            value.value,
            block.where,
            description,
            sensitive,
            self.references_list(block.body, "depends_on"),
        )

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
        self.decoder.structure(block.body, provider.SCHEMA, block.where)
        key = block.body.attribute("api_key")
        if key is not None and isinstance(key.value, Literal | Template):
            found = warning(
                "API key written in the configuration",
                "Anyone who can read this file, or the repository it is committed to, has "
                f"the key. Remove it and set {provider.ENVIRONMENT['api_key']} in the "
                "environment instead (or pass it through a variable marked sensitive = true).",
                key.where,
            )
            self.problems.append(replace(found, excerpt=False))  # the line holds the key
        self.provider = block.body


class _Graph:
    """Checks every reference against the declarations and builds the dependency graph."""

    def __init__(self, configuration: Configuration, problems: list[Diagnostic]) -> None:
        self.configuration = configuration
        self.problems = problems
        self.where: dict[str, SourceRange] = {}

    def build(self) -> dict[str, frozenset[str]]:
        c = self.configuration
        graph: dict[str, frozenset[str]] = {}
        for name, variable in c.variables.items():
            node = f"var.{name}"
            self.where[node] = variable.where
            for validation in variable.validations:
                for expression in (validation.condition, validation.error_message):
                    self.references(expression, node, allowed=("var",))
            graph[node] = frozenset()
        for name, attribute in c.locals.items():
            node = f"local.{name}"
            self.where[node] = attribute.where
            graph[node] = self.references(attribute.value, node)
        for address, resource in c.resources.items():
            self.where[address] = resource.where
            needs: set[str] = set()
            mode = (
                "count"
                if resource.count is not None
                else "for_each"
                if resource.for_each is not None
                else None
            )
            for expression in resource.expressions():
                needs |= self.references(expression, address, mode=mode)
            for meta in (resource.count, resource.for_each):
                if meta is not None:
                    needs |= self.references(meta, address)
            for reference in (*resource.depends_on, *resource.lifecycle.replace_triggered_by):
                needs |= self.references(reference, address)
            graph[address] = frozenset(needs)
        for name, output in c.outputs.items():
            node = f"output.{name}"
            self.where[node] = output.where
            needs = set(self.references(output.value, node))
            for reference in output.depends_on:
                needs |= self.references(reference, node)
            graph[node] = frozenset(needs)
        self.cycles(graph)
        return graph

    def references(
        self,
        expression: Expression,
        node: str,
        mode: str | None = None,
        allowed: tuple[str, ...] | None = None,
    ) -> frozenset[str]:
        needs: set[str] = set()
        c = self.configuration
        for reference in traversals(expression):
            root, steps, where = reference.root, reference.steps, reference.where
            if allowed is not None and root not in allowed:
                self.problems.append(
                    error(
                        "Invalid reference in variable validation",
                        f"A validation may refer only to the variable itself, not {reference}.",
                        where,
                    )
                )
                continue
            first = steps[0] if steps and isinstance(steps[0], str) else None
            match root:
                case "var":
                    if first in c.variables:
                        needs.add(f"var.{first}")
                    elif first is not None:
                        self.problems.append(
                            error(
                                "Reference to undeclared input variable",
                                f'An input variable with the name "{first}" has not been '
                                f'declared. Declare it with a variable "{first}" {{}} block.',
                                where,
                            )
                        )
                case "local":
                    if first in c.locals:
                        needs.add(f"local.{first}")
                    elif first is not None:
                        self.problems.append(
                            error(
                                "Reference to undeclared local value",
                                f'A local value with the name "{first}" has not been declared.',
                                where,
                            )
                        )
                case "each" if mode != "for_each":
                    self.problems.append(
                        error(
                            'Reference to "each" in context without for_each',
                            'The "each" object can be used only in "resource" blocks, and only '
                            'when the "for_each" argument is set.',
                            where,
                        )
                    )
                case "count" if mode != "count":
                    self.problems.append(
                        error(
                            'Reference to "count" in non-counted context',
                            'The "count" object can be used only in "resource" blocks, and '
                            'only when the "count" argument is set.',
                            where,
                        )
                    )
                case root_type if root_type in RESOURCE_SCHEMAS and first is not None:
                    address = f"{root_type}.{first}"
                    target = c.resources.get(address)
                    if target is None:
                        self.problems.append(
                            error(
                                "Reference to undeclared resource",
                                f'A managed resource "{root_type}" "{first}" has not been '
                                "declared in the root module.",
                                where,
                            )
                        )
                        continue
                    self.instance_key(reference, target)
                    needs.add(address)
                case _ if root in c.resources or ("_" in root and first is not None):
                    self.problems.append(
                        error(
                            "Reference to undeclared resource",
                            f'A managed resource "{root}" "{first}" has not been declared in '
                            "the root module.",
                            where,
                        )
                    )
        return frozenset(needs)

    def instance_key(self, reference: Traversal, target: ResourceConfig) -> None:
        rest = reference.steps[1:]
        repeated = target.count is not None or target.for_each is not None
        if repeated and rest and not isinstance(rest[0], IndexStep):
            meta = "count" if target.count is not None else "for_each"
            example = "[count.index]" if meta == "count" else "[each.key]"
            self.problems.append(
                error(
                    "Missing resource instance key",
                    f'Because {target.address} has "{meta}" set, its attributes must be accessed '
                    f"on specific instances. For example: {target.address}{example}.{rest[0]}, "
                    f"or all of them with {target.address}[*].{rest[0]}.",
                    reference.where,
                )
            )
            return
        attribute_at = 1 if repeated else 0
        if not repeated and rest and isinstance(rest[0], IndexStep):
            self.problems.append(
                error(
                    "Unexpected resource instance key",
                    f'Because {target.address} does not have "count" or "for_each" set, '
                    "references to it must not include an index key. Remove the bracketed index "
                    "to refer to the single instance of this resource.",
                    reference.where,
                )
            )
            return
        if len(rest) > attribute_at and isinstance(rest[attribute_at], str):
            name = rest[attribute_at]
            known = _attribute_names(target.type)
            if name not in known:
                self.problems.append(
                    error(
                        "Unsupported attribute",
                        f"{target.type} has no argument, nested block, or exported attribute "
                        f'named "{name}". It has: {", ".join(known)}.',
                        reference.where,
                    )
                )

    def cycles(self, graph: Mapping[str, frozenset[str]]) -> None:
        """Reports each cycle once, naming every member with its position (Tarjan's SCCs)."""
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        on_stack: set[str] = set()
        counter = [0]
        components: list[list[str]] = []

        def connect(node: str) -> None:
            work = [(node, iter(sorted(graph.get(node, ()))))]
            index[node] = low[node] = counter[0]
            counter[0] += 1
            stack.append(node)
            on_stack.add(node)
            while work:
                current, children = work[-1]
                advanced = False
                for child in children:
                    if child not in graph:
                        continue
                    if child not in index:
                        index[child] = low[child] = counter[0]
                        counter[0] += 1
                        stack.append(child)
                        on_stack.add(child)
                        work.append((child, iter(sorted(graph.get(child, ())))))
                        advanced = True
                        break
                    if child in on_stack:
                        low[current] = min(low[current], index[child])
                if advanced:
                    continue
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[current])
                if low[current] == index[current]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == current:
                            break
                    if len(component) > 1 or current in graph.get(current, ()):
                        components.append(component)

        for node in sorted(graph):
            if node not in index:
                connect(node)
        for component in components:
            members = sorted(component, key=lambda n: self.where.get(n, SourceRange("", 0, 0)))
            listed = ", ".join(f"{m} ({self.where[m]})" for m in members if m in self.where)
            self.problems.append(
                error(
                    CYCLE,
                    f"These refer to each other, so none can be evaluated first: {listed}. "
                    "Break the cycle by removing one of the references.",
                    self.where.get(members[0]),
                )
            )


def _argument_path(expression: Expression) -> tuple[str | int, ...] | None:
    """`metadata` or `metadata["team"]` (or the name as a string) as a path; None otherwise."""
    if isinstance(expression, Literal) and isinstance(expression.value, str):
        return (expression.value,)
    if not isinstance(expression, Traversal):
        return None
    path: list[str | int] = [expression.root]
    for step in expression.steps:
        path.append(step.key if isinstance(step, IndexStep) else step)
    return tuple(path)


def _attribute_names(resource_type: str) -> tuple[str, ...]:
    schema = RESOURCE_SCHEMAS[resource_type]
    arguments = tuple(a.name for a in schema.arguments)
    return tuple(sorted({*arguments, *EXPORTS[resource_type]}))


def _attribute_value(body: Body, name: str) -> Expression | None:
    attribute = body.attribute(name)
    return attribute.value if attribute is not None else None


def _body_expressions(body: Body, skip: tuple[str, ...] = ()) -> Iterator[Expression]:
    for attribute in body.attributes:
        if attribute.name not in skip:
            yield attribute.value
    for block in body.blocks:
        if block.type not in skip:
            yield from _body_expressions(block.body)


def check_data_file(
    directory: Path, address: str, relative: str, where: SourceRange
) -> list[Diagnostic]:
    """Every line of an openai_file's data must be a JSON object, checked before any upload."""
    path = directory / relative
    if not path.is_file():
        return [
            error(
                "Data file not found",
                f"{address} uploads {relative}, which does not exist in {directory}.",
                where,
            )
        ]
    problems: list[Diagnostic] = []
    more = 0
    examples = 0
    with path.open("rb") as data:
        for number, raw in enumerate(data, start=1):
            if number == 1:
                raw = raw.removeprefix(codecs.BOM_UTF8)  # the API allows one, at the start only
            if not raw.strip():
                continue
            examples += 1
            reason = _data_line_problem(raw)
            if reason is None:
                continue
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
    if not examples:
        # The upload would succeed, and the job fail in validation: refused before either.
        return [
            error(
                "Data file is empty",
                f"{address} uploads {relative}, which holds no examples: write one JSON "
                "object per line (fine-tuning needs at least 10).",
                where,
            )
        ]
    if more:
        problems.append(
            error(
                f"{more} more lines of {relative} are not JSON objects",
                f"Only the first {SHOWN_DATA_PROBLEMS} are shown.",
                where,
            )
        )
    return problems


def _data_line_problem(raw: bytes) -> str | None:
    """What keeps one line of a JSONL file from being a JSON object, as the API reads it:
    UTF-8 text (json.loads of bytes would also take UTF-16 and a BOM on any line) and strict
    JSON (Python's json would take NaN and Infinity, which no other reader does)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"is not UTF-8 text (byte {exc.start + 1} of the line cannot be read)"
    try:
        parsed = json.loads(text, parse_constant=_not_json)
    except ValueError as exc:
        return f"is not valid JSON ({exc})"
    return None if isinstance(parsed, dict) else "is JSON but not an object"


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value: write a number, or null")
