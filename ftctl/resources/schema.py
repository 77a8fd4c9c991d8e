"""Declarative block schemas and the one decoder that checks a body against them.

Decoding collects every problem (unknown names with a suggestion, duplicates, missing required
arguments, wrong types, out-of-range values) as diagnostics with positions, and returns plain
values: scalars, lists, dicts, and References to other resources' attributes.
"""

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from ftctl.diagnostics import Diagnostic, SourceRange, error
from ftctl.lang.syntax import (
    Body,
    Expression,
    Literal,
    ObjectExpr,
    Traversal,
    TupleExpr,
    Unsupported,
)

AUTO = "auto"


class Kind(Enum):
    STRING = "a string"
    INTEGER = "a whole number"
    NUMBER = "a number"
    BOOL = "true or false"
    STRING_LIST = "a list of strings"
    STRING_MAP = "a map of strings"
    OBJECT = "an object"


@dataclass(frozen=True)
class Reference:
    """`openai_file.train.id`: a value known only once that resource exists."""

    address: str  # e.g. openai_file.train
    attribute: str
    where: SourceRange
    kind: Kind = Kind.STRING  # what the argument it supplies needs

    def __str__(self) -> str:
        return f"{self.address}.{self.attribute}"


# A check returns what is wrong with a value (a sentence), or None.
Check = Callable[[Any], str | None]


@dataclass(frozen=True)
class Argument:
    name: str
    kind: Kind
    required: bool = False
    auto: bool = False  # also accepts the string "auto"
    check: Check | None = None
    referable: tuple[str, ...] = ()  # resource types whose attributes may supply the value
    hint: str = ""  # how to fix a wrong value


@dataclass(frozen=True)
class BlockType:
    name: str
    arguments: tuple[Argument, ...] = ()
    blocks: tuple["BlockType", ...] = ()
    repeatable: bool = False
    required: bool = False


def integer_range(low: int, high: int | None = None) -> Check:
    def check(value: Any) -> str | None:
        if value < low or (high is not None and value > high):
            return (
                f"must be from {low} to {high}" if high is not None else f"must be at least {low}"
            )
        return None

    return check


def number_range(above: float, at_most: float | None = None) -> Check:
    def check(value: Any) -> str | None:
        if value <= above or (at_most is not None and value > at_most):
            limit = f" and at most {at_most:g}" if at_most is not None else ""
            return f"must be greater than {above:g}{limit}"
        return None

    return check


def length_range(low: int, high: int) -> Check:
    def check(value: Any) -> str | None:
        if not low <= len(value) <= high:
            return f"must be {low} to {high} characters long (it has {len(value)})"
        return None

    return check


def one_of(*options: str) -> Check:
    def check(value: Any) -> str | None:
        if value not in options:
            return "must be one of " + ", ".join(f'"{o}"' for o in options)
        return None

    return check


class Decoder:
    """Decodes bodies against schemas, appending what it finds to `problems`."""

    def __init__(self, problems: list[Diagnostic]) -> None:
        self.problems = problems

    def block(self, body: Body, schema: BlockType, where: SourceRange) -> dict[str, Any]:
        values: dict[str, Any] = {}
        arguments = {a.name: a for a in schema.arguments}
        blocks = {b.name: b for b in schema.blocks}
        seen: dict[str, SourceRange] = {}
        for attribute in body.attributes:
            spec = arguments.get(attribute.name)
            if spec is None:
                self._unknown(attribute.name, attribute.where, schema, as_block=False)
                continue
            if attribute.name in seen:
                self.problems.append(
                    error(
                        f'Duplicate argument "{attribute.name}"',
                        f"It is already set at line {seen[attribute.name].line}; "
                        "an argument may be set only once in a block.",
                        attribute.where,
                    )
                )
                continue
            seen[attribute.name] = attribute.where
            value = self.value(attribute.value, spec)
            if value is not _INVALID:
                values[attribute.name] = value
        for block in body.blocks:
            spec_block = blocks.get(block.type)
            if spec_block is None:
                self._unknown(block.type, block.where, schema, as_block=True)
                continue
            if block.labels:
                self.problems.append(
                    error(
                        f'Unexpected label on "{block.type}" block',
                        f'A "{block.type}" block takes no labels: write `{block.type} {{`.',
                        block.where,
                    )
                )
            decoded = self.block(block.body, spec_block, block.where)
            if spec_block.repeatable:
                values.setdefault(block.type, []).append(decoded)
            elif block.type in values:
                self.problems.append(
                    error(
                        f'Duplicate "{block.type}" block',
                        f'Only one "{block.type}" block is allowed here.',
                        block.where,
                    )
                )
            else:
                values[block.type] = decoded
        for spec in schema.arguments:
            if spec.required and spec.name not in seen:
                self.problems.append(
                    error(
                        f'Missing required argument "{spec.name}"',
                        f'The "{schema.name}" block needs "{spec.name}"'
                        + (f": {spec.hint}" if spec.hint else "."),
                        where,
                    )
                )
        for spec_block in schema.blocks:
            if spec_block.required and spec_block.name not in values:
                self.problems.append(
                    error(
                        f'Missing required block "{spec_block.name}"',
                        f'The "{schema.name}" block needs a "{spec_block.name}" block.',
                        where,
                    )
                )
        return values

    def value(self, expression: Expression, spec: Argument) -> Any:
        if isinstance(expression, Traversal):
            return self._reference(expression, spec)
        if isinstance(expression, Unsupported):
            self.problems.append(
                error(
                    f'Unsupported expression in "{spec.name}"',
                    f"ftctl does not evaluate {expression.kind.replace('_', ' ')}s yet "
                    f"({expression.text}). Write the value itself, or a reference such as "
                    "openai_file.NAME.id.",
                    expression.where,
                )
            )
            return _INVALID
        plain = _plain(expression)
        if plain is _INVALID:
            self.problems.append(
                error(
                    f'Unsupported value in "{spec.name}"',
                    "Lists and maps may hold only literal values here.",
                    expression.where,
                )
            )
            return _INVALID
        if plain is None:
            if spec.required:
                self.problems.append(
                    error(
                        f'"{spec.name}" cannot be null',
                        f'"{spec.name}" is required; give it a value.',
                        expression.where,
                    )
                )
                return _INVALID
            return _INVALID  # null means "not set", as in Terraform
        if spec.auto and plain == AUTO:
            return AUTO
        problem = _type_problem(plain, spec.kind)
        if problem is None and spec.check is not None:
            problem = spec.check(plain)
        if problem is not None:
            auto = ' or "auto"' if spec.auto else ""
            self.problems.append(
                error(
                    f'Invalid value for "{spec.name}"',
                    f'"{spec.name}" {problem}{auto}; got {_show(plain)}.'
                    + (f" {spec.hint}" if spec.hint else ""),
                    expression.where,
                )
            )
            return _INVALID
        return plain

    def _reference(self, traversal: Traversal, spec: Argument) -> Any:
        steps = traversal.steps
        if traversal.root not in spec.referable or len(steps) != 2:
            allowed = " or ".join(f"{t}.NAME.id" for t in spec.referable)
            self.problems.append(
                error(
                    f'Unsupported reference in "{spec.name}"',
                    f'"{traversal}" cannot be used here. '
                    + (f"Use a literal value or {allowed}." if allowed else "Use a literal value.")
                    + " (Variables and locals arrive with ftctl's language support.)",
                    traversal.where,
                )
            )
            return _INVALID
        return Reference(f"{traversal.root}.{steps[0]}", str(steps[1]), traversal.where, spec.kind)

    def _unknown(self, name: str, where: SourceRange, schema: BlockType, as_block: bool) -> None:
        if name in _META_ARGUMENTS:
            self.problems.append(
                error(
                    f'"{name}" is not supported yet',
                    f"Terraform's \"{name}\" meta-argument arrives with ftctl's language support; "
                    "write one resource block per job for now.",
                    where,
                )
            )
            return
        known = [a.name for a in schema.arguments] + [b.name for b in schema.blocks]
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        suggestion = f' Did you mean "{close[0]}"?' if close else ""
        kind = "block type" if as_block else "argument"
        self.problems.append(
            error(
                f'Unsupported {kind} "{name}"',
                f'"{schema.name}" has no {kind} named "{name}".{suggestion}',
                where,
            )
        )


_INVALID: Any = object()
_META_ARGUMENTS = ("count", "for_each", "depends_on", "provider")


def _plain(expression: Expression) -> Any:
    match expression:
        case Literal(value=value):
            return value
        case TupleExpr(items=items):
            values = [_plain(item) for item in items]
            return _INVALID if any(v is _INVALID for v in values) else values
        case ObjectExpr(items=items):
            pairs = {item.key: _plain(item.value) for item in items}
            return _INVALID if any(v is _INVALID for v in pairs.values()) else pairs
        case _:
            return _INVALID


def _type_problem(value: Any, kind: Kind) -> str | None:
    ok: bool
    match kind:
        case Kind.STRING:
            ok = isinstance(value, str)
        case Kind.INTEGER:
            ok = isinstance(value, int) and not isinstance(value, bool)
        case Kind.NUMBER:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        case Kind.BOOL:
            ok = isinstance(value, bool)
        case Kind.STRING_LIST:
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        case Kind.STRING_MAP:
            ok = isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
        case Kind.OBJECT:
            ok = isinstance(value, dict)
    return None if ok else f"must be {kind.value}"


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)
