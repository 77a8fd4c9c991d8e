"""Declarative block schemas and the one decoder that checks a body against them.

Decoding collects every problem (unknown names with a suggestion, duplicates, missing required
arguments, wrong types, out-of-range values) as diagnostics with positions, and returns plain
values: scalars, lists, dicts, and UNKNOWN where only apply will know.
"""

import difflib
import json
from collections.abc import Callable, Collection
from dataclasses import dataclass
from enum import Enum
from typing import Any

from ftctl.diagnostics import Diagnostic, SourceRange, error
from ftctl.lang.evaluate import EvaluationFailed
from ftctl.lang.syntax import Body, Expression
from ftctl.lang.values import (
    UNKNOWN,
    EvaluationError,
    Sensitive,
    is_known,
    mark,
    to_number,
    to_string,
    unmark,
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


# A check returns what is wrong with a value (a sentence), or None.
Check = Callable[[Any], str | None]


@dataclass(frozen=True)
class Argument:
    name: str
    kind: Kind
    required: bool = False
    auto: bool = False  # also accepts the string "auto"
    check: Check | None = None
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


# Evaluates one expression of the block being decoded; raises EvaluationFailed.
Evaluate = Callable[[Expression], Any]


class Decoder:
    """Checks bodies against schemas, appending what it finds to `problems`: `structure` once per
    block (names, duplicates, required, nesting), `decode` for each instance (the values)."""

    def __init__(self, problems: list[Diagnostic]) -> None:
        self.problems = problems

    def structure(
        self,
        body: Body,
        schema: BlockType,
        where: SourceRange,
        meta: Collection[str] = (),
    ) -> None:
        """`meta`: names the enclosing reader handles itself (count, for_each, lifecycle...)."""
        arguments = {a.name: a for a in schema.arguments}
        blocks = {b.name: b for b in schema.blocks}
        seen: dict[str, SourceRange] = {}
        for attribute in body.attributes:
            if attribute.name in meta:
                continue
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
        present: set[str] = set()
        for block in body.blocks:
            if block.type in meta:
                continue
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
            self.structure(block.body, spec_block, block.where)
            if not spec_block.repeatable and block.type in present:
                self.problems.append(
                    error(
                        f'Duplicate "{block.type}" block',
                        f'Only one "{block.type}" block is allowed here.',
                        block.where,
                    )
                )
            present.add(block.type)
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
            if spec_block.required and spec_block.name not in present:
                self.problems.append(
                    error(
                        f'Missing required block "{spec_block.name}"',
                        f'The "{schema.name}" block needs a "{spec_block.name}" block.',
                        where,
                    )
                )

    def decode(self, body: Body, schema: BlockType, evaluate: Evaluate) -> dict[str, Any]:
        """The body's values, each checked against its argument; UNKNOWN where only apply will
        know. Names `structure` reported are skipped; null means "not set", as in Terraform."""
        values: dict[str, Any] = {}
        arguments = {a.name: a for a in schema.arguments}
        blocks = {b.name: b for b in schema.blocks}
        for attribute in body.attributes:
            spec = arguments.get(attribute.name)
            if spec is None or attribute.name in values:
                continue
            try:
                value = evaluate(attribute.value)
            except EvaluationFailed as exc:
                self.problems.append(exc.diagnostic)
                continue
            checked = self.value(value, spec, attribute.value.where)
            if checked is not _INVALID:
                values[attribute.name] = checked
        for block in body.blocks:
            spec_block = blocks.get(block.type)
            if spec_block is None:
                continue
            decoded = self.decode(block.body, spec_block, evaluate)
            if spec_block.repeatable:
                values.setdefault(block.type, []).append(decoded)
            elif block.type not in values:
                values[block.type] = decoded
        return values

    def value(self, value: Any, spec: Argument, where: SourceRange) -> Any:
        """The checked value, still marked if it was sensitive."""
        plain, sensitive = unmark(value)
        if plain is UNKNOWN:
            return UNKNOWN
        if plain is None:
            if spec.required:
                self.problems.append(
                    error(
                        f'"{spec.name}" cannot be null',
                        f'"{spec.name}" is required; give it a value.',
                        where,
                    )
                )
            return _INVALID
        if spec.auto and plain == AUTO:
            return AUTO
        plain = _convert(plain, spec.kind)
        problem = _type_problem(plain, spec.kind)
        if problem is None and spec.check is not None and is_known(plain):
            problem = spec.check(plain)
        if problem is not None:
            auto = ' or "auto"' if spec.auto else ""
            self.problems.append(
                error(
                    f'Invalid value for "{spec.name}"',
                    f'"{spec.name}" {problem}{auto}; got {_show(value)}.'
                    + (f" {spec.hint}" if spec.hint else ""),
                    where,
                )
            )
            return _INVALID
        return mark(plain, sensitive)

    def _unknown(self, name: str, where: SourceRange, schema: BlockType, as_block: bool) -> None:
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


def _convert(value: Any, kind: Kind) -> Any:
    """Terraform's automatic conversions for an argument: "5" for a number, 5 for a string,
    a set for a list."""
    try:
        match kind:
            case Kind.STRING if isinstance(value, int | float | bool):
                return to_string(value)
            case Kind.INTEGER | Kind.NUMBER if isinstance(value, str):
                return to_number(value)
            case Kind.STRING_LIST if isinstance(value, list | tuple):
                return [to_string(v) if isinstance(v, int | float | bool) else v for v in value]
            case Kind.STRING_MAP if isinstance(value, dict):
                return {
                    k: to_string(v) if isinstance(v, int | float | bool) else v
                    for k, v in value.items()
                }
    except EvaluationError:
        return value
    return value


def _type_problem(value: Any, kind: Kind) -> str | None:
    ok: bool
    if isinstance(value, float) and kind is Kind.INTEGER and value.is_integer():
        return None
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
            ok = isinstance(value, list) and all(isinstance(v, str) or v is UNKNOWN for v in value)
        case Kind.STRING_MAP:
            ok = isinstance(value, dict) and all(
                isinstance(v, str) or v is UNKNOWN for v in value.values()
            )
        case Kind.OBJECT:
            ok = isinstance(value, dict)
    return None if ok else f"must be {kind.value}"


def _show(value: Any) -> str:
    if isinstance(value, Sensitive):
        return "(sensitive value)"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return str(value)
    # Lists and maps as JSON, the nearest to how they are written in a .tf file.
    return json.dumps(unmark(value)[0], ensure_ascii=False, default=str)
