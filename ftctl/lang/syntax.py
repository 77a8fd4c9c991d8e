"""ftctl's own syntax tree for .tf files: blocks, attributes and expressions, each with the
source range it came from. Built by the loader; nothing here knows about python-hcl2."""

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
    key: str
    value: "Expression"
    where: SourceRange  # of the key


@dataclass(frozen=True)
class ObjectExpr:
    items: tuple[ObjectItem, ...]
    where: SourceRange


@dataclass(frozen=True)
class Traversal:
    """A reference such as `openai_file.train.id`: a root name and the steps after it."""

    root: str
    steps: tuple[str | int, ...]
    where: SourceRange

    def __str__(self) -> str:
        return ".".join([self.root, *(str(s) for s in self.steps)])


@dataclass(frozen=True)
class Unsupported:
    """An expression ftctl does not evaluate yet (functions, templates, operators...)."""

    kind: str
    text: str
    where: SourceRange


Expression = Literal | TupleExpr | ObjectExpr | Traversal | Unsupported


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
