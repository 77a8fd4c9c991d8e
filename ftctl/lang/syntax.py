"""ftctl's own syntax tree for .tf files: blocks, attributes and expressions, each with the
source range it came from. Built by the loader; nothing here knows about python-hcl2."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ftctl.diagnostics import SourceRange


@dataclass(frozen=True)
class Literal:
    value: Any  # str, int, float, bool or None
    where: SourceRange


@dataclass(frozen=True)
class TupleExpr:
    items: tuple["Expression", ...]
    where: SourceRange


@dataclass(frozen=True)
class ObjectItem:
    key: "Expression"  # a bare name is a Literal string, as in Terraform
    value: "Expression"
    where: SourceRange  # of the key


@dataclass(frozen=True)
class ObjectExpr:
    items: tuple[ObjectItem, ...]
    where: SourceRange


@dataclass(frozen=True)
class IndexStep:
    """`[0]` or `["key"]` with a literal key, inside a traversal."""

    key: str | int

    def __str__(self) -> str:
        return f"[{self.key}]" if isinstance(self.key, int) else f'["{self.key}"]'


# A traversal step: an attribute name, or a literal index.
Step = str | IndexStep


@dataclass(frozen=True)
class Traversal:
    """A reference written with names and literal indexes from a root: `var.model`,
    `openai_file.shard[2].id`, `each.key`. Static, so the dependency graph can be read from it."""

    root: str
    steps: tuple[Step, ...]
    where: SourceRange

    def __str__(self) -> str:
        text = self.root
        for step in self.steps:
            text += str(step) if isinstance(step, IndexStep) else f".{step}"
        return text


@dataclass(frozen=True)
class Index:
    """`collection[key]` with a computed key, or any index of a computed collection."""

    collection: "Expression"
    key: "Expression"
    where: SourceRange


@dataclass(frozen=True)
class GetAttr:
    """`.name` after something that is not a plain traversal, such as a call or a paren."""

    target: "Expression"
    name: str
    where: SourceRange


@dataclass(frozen=True)
class Splat:
    """`source[*].a.b` (or `source.*.a`): the steps applied to each element of source."""

    source: "Expression"
    steps: tuple[Step, ...]
    where: SourceRange


@dataclass(frozen=True)
class FunctionCall:
    name: str
    arguments: tuple["Expression", ...]
    expand_final: bool  # `f(list...)`: the last argument's elements are the arguments
    where: SourceRange


@dataclass(frozen=True)
class Unary:
    operator: str  # "-" or "!"
    operand: "Expression"
    where: SourceRange


@dataclass(frozen=True)
class Binary:
    operator: str  # || && == != < > <= >= + - * / %
    left: "Expression"
    right: "Expression"
    where: SourceRange


@dataclass(frozen=True)
class Conditional:
    condition: "Expression"
    then: "Expression"
    otherwise: "Expression"
    where: SourceRange


@dataclass(frozen=True)
class ForExpr:
    """`[for k, v in c : value if cond]`, or `{for k, v in c : key => value... if cond}`."""

    key_name: str | None  # the first name, when two are given
    value_name: str
    collection: "Expression"
    key: "Expression | None"  # None for a tuple result
    value: "Expression"
    condition: "Expression | None"
    grouping: bool  # `...` after the value: values with one key are gathered into a list
    where: SourceRange


@dataclass(frozen=True)
class Interpolation:
    expression: "Expression"


@dataclass(frozen=True)
class IfDirective:
    condition: "Expression"
    then: tuple["TemplatePart", ...]
    otherwise: tuple["TemplatePart", ...]
    where: SourceRange


@dataclass(frozen=True)
class ForDirective:
    key_name: str | None
    value_name: str
    collection: "Expression"
    body: tuple["TemplatePart", ...]
    where: SourceRange


TemplatePart = str | Interpolation | IfDirective | ForDirective


@dataclass(frozen=True)
class Template:
    """A string with interpolations or directives. A template that is one interpolation and
    nothing else keeps its value's type, as in Terraform ("${3}" is the number 3)."""

    parts: tuple[TemplatePart, ...]
    where: SourceRange


@dataclass(frozen=True)
class Unsupported:
    """Syntax ftctl recognises but does not evaluate (provider-defined functions)."""

    kind: str
    text: str
    where: SourceRange


Expression = (
    Literal
    | TupleExpr
    | ObjectExpr
    | Traversal
    | Index
    | GetAttr
    | Splat
    | FunctionCall
    | Unary
    | Binary
    | Conditional
    | ForExpr
    | Template
    | Unsupported
)


def traversals(expression: "Expression | TemplatePart") -> Iterator[Traversal]:
    """Every reference in `expression`, including those inside nested expressions. Names a
    `for` expression or directive binds are references too: callers skip those they bind."""
    match expression:
        case Traversal():
            yield expression
        case str() | Literal() | Unsupported():
            return
        case TupleExpr(items=items):
            for item in items:
                yield from traversals(item)
        case ObjectExpr(items=object_items):
            for object_item in object_items:
                yield from traversals(object_item.key)
                yield from traversals(object_item.value)
        case Index(collection=collection, key=key):
            yield from traversals(collection)
            yield from traversals(key)
        case GetAttr(target=target):
            yield from traversals(target)
        case Splat(source=source):
            yield from traversals(source)
        case FunctionCall(arguments=arguments):
            for argument in arguments:
                yield from traversals(argument)
        case Unary(operand=operand):
            yield from traversals(operand)
        case Binary(left=left, right=right):
            yield from traversals(left)
            yield from traversals(right)
        case Conditional(condition=condition, then=then, otherwise=otherwise):
            yield from traversals(condition)
            yield from traversals(then)
            yield from traversals(otherwise)
        case ForExpr():
            yield from traversals(expression.collection)
            bound = {expression.key_name, expression.value_name}
            inner = [expression.key, expression.value, expression.condition]
            for part in inner:
                if part is not None:
                    yield from (t for t in traversals(part) if t.root not in bound)
        case Template(parts=parts):
            for template_part in parts:
                yield from traversals(template_part)
        case Interpolation(expression=inner_expression):
            yield from traversals(inner_expression)
        case IfDirective():
            yield from traversals(expression.condition)
            for template_part in (*expression.then, *expression.otherwise):
                yield from traversals(template_part)
        case ForDirective():
            yield from traversals(expression.collection)
            bound = {expression.key_name, expression.value_name}
            for template_part in expression.body:
                yield from (t for t in traversals(template_part) if t.root not in bound)


@dataclass(frozen=True)
class Attribute:
    name: str
    value: Expression
    where: SourceRange  # of the name


@dataclass(frozen=True)
class Block:
    type: str
    labels: tuple[str, ...]
    body: "Body"
    where: SourceRange


@dataclass(frozen=True)
class Body:
    # Kept in source order, duplicates included: python-hcl2 would keep only the last
    # duplicate attribute, and validation must be able to point at both.
    attributes: tuple[Attribute, ...]
    blocks: tuple[Block, ...]

    def attribute(self, name: str) -> Attribute | None:
        found = [a for a in self.attributes if a.name == name]
        return found[-1] if found else None

    def blocks_of(self, type_: str) -> list[Block]:
        return [b for b in self.blocks if b.type == type_]


@dataclass(frozen=True)
class SourceFile:
    name: str  # as shown to the user, relative to the config directory
    text: str
    body: Body
