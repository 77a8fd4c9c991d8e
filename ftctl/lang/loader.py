"""Reads .tf files into ftctl's syntax tree, keeping every position. The only importer of
python-hcl2 (and its parser, Lark): its dict output drops positions (`with_meta` is a stub), so
the loader walks the raw Lark tree, whose nodes carry line and column."""

import gc
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import hcl2
from lark import Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ftctl.diagnostics import Diagnostic, SourceRange, error
from ftctl.lang.syntax import (
    Attribute,
    Block,
    Body,
    Expression,
    Literal,
    ObjectExpr,
    ObjectItem,
    SourceFile,
    Traversal,
    TupleExpr,
    Unsupported,
)

# Lark's terminal names, as a reader of the error would say them.
_TERMINALS = {
    "RBRACE": "'}'",
    "LBRACE": "'{'",
    "RSQB": "']'",
    "LSQB": "'['",
    "RPAR": "')'",
    "EQ": "'='",
    "COMMA": "','",
    "DBLQUOTE": "a closing '\"'",
    "NAME": "a name",
    "$END": "the end of the file",
    "NL_OR_COMMENT": "a new line",
}
_EXPRESSION_STARTS = {
    "INT_LITERAL",
    "FLOAT_LITERAL",
    "NAME",
    "DBLQUOTE",
    "LSQB",
    "LBRACE",
    "MINUS",
    "NOT",
    "LPAR",
    "HEREDOC_TEMPLATE",
    "HEREDOC_TEMPLATE_TRIM",
}
_STRING_PARTS = {"STRING_CHARS", "INTERP_START"}
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
_ESCAPE = re.compile(r"\\(u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)|\$\$\{|%%\{")


def load_directory(
    directory: Path,
) -> tuple[list[SourceFile], dict[str, str], list[Diagnostic]]:
    """Every `*.tf` file of `directory` in name order, the text of each (parsed or not, for
    diagnostics' excerpts), and the problems found reading them."""
    # Dot files are editors' lock and backup files (Emacs's .#main.tf), never configuration.
    paths = sorted(p for p in directory.glob("*.tf") if not p.name.startswith(".") and p.is_file())
    if not paths:
        return (
            [],
            {},
            [
                error(
                    "No configuration files",
                    f"ftctl reads every *.tf file in {directory}, and found none. "
                    "Run it where your .tf files are, or pass --chdir DIR.",
                )
            ],
        )
    files: list[SourceFile] = []
    sources: dict[str, str] = {}
    problems: list[Diagnostic] = []
    for path in paths:
        content = path.read_bytes()
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError as exc:
            before = content[: exc.start]
            line = before.count(b"\n") + 1
            column = exc.start - (before.rfind(b"\n") + 1) + 1
            problems.append(
                error(
                    "File is not UTF-8",
                    f"{path.name} has a byte that is not UTF-8 here; save it as UTF-8.",
                    SourceRange(path.name, line, column),
                )
            )
            continue
        sources[path.name] = text
        parsed, found = parse_source(path.name, text)
        problems += found
        if parsed is not None:
            files.append(parsed)
    return files, sources, problems


def parse_source(name: str, text: str) -> tuple[SourceFile | None, list[Diagnostic]]:
    try:
        with _gc_paused():
            tree = hcl2.parses_to_tree(text if text.endswith("\n") else text + "\n")
    except UnexpectedInput as exc:
        return None, [_syntax_error(name, text, exc)]
    body = tree.children[0]
    assert isinstance(body, Tree)
    return SourceFile(name, text, _Converter(name, text).body(body)), []


@contextmanager
def _gc_paused() -> Iterator[None]:
    # Lark builds many small objects; the cyclic GC pass over them makes big files 2-3x slower.
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _syntax_error(name: str, text: str, exc: UnexpectedInput) -> Diagnostic:
    lines = text.splitlines() or [""]
    line = max(1, exc.line or 1)
    column = max(1, exc.column or 1)
    if not text.endswith("\n") and line > len(lines):  # on the newline the loader added
        line, column = len(lines), len(lines[-1]) + 1
    where = SourceRange(name, line, column)
    token = exc.token if isinstance(exc, UnexpectedToken) else None
    if (
        token is not None
        and token.type == "STRING_CHARS"
        and str(token).strip()
        and not str(token).startswith(("\n", "\r"))  # that is a value missing at line end
    ):
        # Outside a string, python-hcl2 lexes a stray character and the rest of its line as
        # string text: name the character alone.
        value = str(token)
        offset = len(value) - len(value.lstrip())
        return error(
            "Invalid character",
            f"The character {value.strip()[0]!r} cannot appear here.",
            SourceRange(name, line, column + offset),
        )
    if isinstance(exc, UnexpectedCharacters):
        return error("Invalid character", f"The character {exc.char!r} cannot appear here.", where)
    terminals = set(getattr(exc, "expected", None) or ())
    if terminals & _EXPRESSION_STARTS:
        terminals = (terminals - _EXPRESSION_STARTS) | {"an expression"}
    if terminals & _STRING_PARTS:
        # Lark stops after the opening quote (or an interpolation): point at the quote itself.
        opening = lines[line - 1].rfind('"', 0, column - 1) if line <= len(lines) else -1
        return error(
            "Unterminated string",
            "A string opened here is not closed with a '\"' on the same line.",
            SourceRange(name, line, opening + 1) if opening >= 0 else where,
        )
    expected = sorted({_TERMINALS.get(t, t.lower().replace("_", " ")) for t in terminals})
    shown = ", ".join(expected[:6]) + (", ..." if len(expected) > 6 else "")
    if isinstance(exc, UnexpectedEOF) or (
        isinstance(exc, UnexpectedToken) and exc.token.type == "$END"
    ):
        return error(
            "Unexpected end of file",
            f"The file ends before the syntax is complete; expected {shown}.",
            where,
        )
    found = exc.token if isinstance(exc, UnexpectedToken) else None
    what = (
        "a new line"
        if found is not None and found.type == "NL_OR_COMMENT"
        else (repr(str(found).strip()) if found is not None else "this")
    )
    return error("Syntax error", f"Unexpected {what} here; expected {shown}.", where)


class _Converter:
    """Lark tree of one file → syntax tree."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.text = text

    def where(self, node: Tree | Token) -> SourceRange:
        if isinstance(node, Token):
            return SourceRange(self.name, node.line or 1, node.column or 1)
        last = _last_token(node)
        end_line, end_column = (last.end_line, last.end_column) if last else (None, None)
        return SourceRange(self.name, node.meta.line, node.meta.column, end_line, end_column)

    def source(self, node: Tree) -> str:
        last = _last_token(node)
        end = last.end_pos if last is not None and last.end_pos is not None else node.meta.end_pos
        return self.text[node.meta.start_pos : end].strip()

    def body(self, tree: Tree) -> Body:
        attributes: list[Attribute] = []
        blocks: list[Block] = []
        for child in tree.children:
            if not isinstance(child, Tree):
                continue
            if child.data == "attribute":
                attributes.append(self.attribute(child))
            elif child.data == "block":
                blocks.append(self.block(child))
        return Body(tuple(attributes), tuple(blocks))

    def attribute(self, tree: Tree) -> Attribute:
        name_node, _, value = tree.children
        assert isinstance(name_node, Tree) and isinstance(value, Tree)
        return Attribute(self.identifier(name_node), self.expression(value), self.where(name_node))

    def block(self, tree: Tree) -> Block:
        words: list[str] = []
        body: Body | None = None
        for child in tree.children:
            if isinstance(child, Tree) and child.data == "identifier":
                words.append(self.identifier(child))
            elif isinstance(child, Tree) and child.data == "string":
                words.append(self.plain_string(child) or "")
            elif isinstance(child, Tree) and child.data == "body":
                body = self.body(child)
        assert body is not None and words
        return Block(words[0], tuple(words[1:]), body, self.where(tree))

    @staticmethod
    def identifier(tree: Tree) -> str:
        return str(tree.children[0])

    def plain_string(self, tree: Tree) -> str | None:
        """The value of a string without interpolation, or None if it has any."""
        parts: list[str] = []
        for part in tree.children:
            if isinstance(part, Token):
                continue  # the quotes
            token = part.children[0]
            if not isinstance(token, Token):
                return None  # an interpolation or a template directive
            parts.append(token.value)
        return _unescape("".join(parts))

    def expression(self, node: Tree | Token) -> Expression:
        if isinstance(node, Token):
            return Unsupported("token", node.value, self.where(node))
        kind = node.data
        if kind == "expr_term":
            first = node.children[0]
            if isinstance(first, Token) and first.type == "LPAR":
                inner = [c for c in node.children if isinstance(c, Tree)]
                return self.expression(next(c for c in inner if c.data != "new_line_or_comment"))
            assert isinstance(first, Tree | Token)
            return self.expression(first)
        where = self.where(node)
        match kind:
            case "string":
                value = self.plain_string(node)
                if value is None:
                    return Unsupported("template", self.source(node), where)
                return Literal(value, where)
            case "int_lit":
                return Literal(int(str(node.children[0])), where)
            case "float_lit":
                return Literal(float(str(node.children[0])), where)
            case "literal_value":
                token = str(node.children[0])
                return Literal({"true": True, "false": False, "null": None}[token], where)
            case "unary_op":
                sign, operand = node.children
                negated = self.expression(operand)
                if (
                    str(sign) == "-"
                    and isinstance(negated, Literal)
                    and isinstance(negated.value, int | float)
                    and not isinstance(negated.value, bool)
                ):
                    return Literal(-negated.value, where)
                return Unsupported("operator", self.source(node), where)
            case "tuple":
                items = [
                    self.expression(c)
                    for c in node.children
                    if isinstance(c, Tree) and c.data != "new_line_or_comment"
                ]
                return TupleExpr(tuple(items), where)
            case "object":
                return self.object(node)
            case "identifier":
                return Traversal(self.identifier(node), (), where)
            case "get_attr_expr_term":
                return self.get_attr(node)
            case "heredoc_template" | "heredoc_template_trim":
                raw = str(node.children[0])
                if re.search(r"(?<!\$)\$\{|(?<!%)%\{", raw):
                    return Unsupported("template", self.source(node), where)
                body = _heredoc(raw, kind.endswith("trim"))
                return Literal(body.replace("$${", "${").replace("%%{", "%{"), where)
            case _:
                return Unsupported(kind, self.source(node), where)

    def object(self, node: Tree) -> Expression:
        items: list[ObjectItem] = []
        for element in node.children:
            if not (isinstance(element, Tree) and element.data == "object_elem"):
                continue
            key_node, _, value_node = element.children
            assert isinstance(key_node, Tree) and isinstance(value_node, Tree | Token)
            key_child = key_node.children[0] if key_node.children else None
            key = self.expression(key_child) if isinstance(key_child, Tree | Token) else None
            if isinstance(key, Traversal) and not key.steps:
                name = key.root
            elif isinstance(key, Literal) and isinstance(key.value, str):
                name = key.value
            else:
                return Unsupported("object key", self.source(node), self.where(node))
            items.append(ObjectItem(name, self.expression(value_node), self.where(key_node)))
        return ObjectExpr(tuple(items), self.where(node))

    def get_attr(self, node: Tree) -> Expression:
        target, step = node.children
        assert isinstance(target, Tree) and isinstance(step, Tree)
        base = self.expression(target)
        name_node = step.children[-1]
        if not isinstance(base, Traversal) or not isinstance(name_node, Tree):
            return Unsupported("attribute access", self.source(node), self.where(node))
        return Traversal(base.root, (*base.steps, self.identifier(name_node)), self.where(node))


def _last_token(node: Tree) -> Token | None:
    """The node's last token that is not a new line or comment: Lark's own end position runs
    on through whatever trails an expression on its line."""
    for child in reversed(node.children):
        if isinstance(child, Token):
            if child.type != "NL_OR_COMMENT":
                return child
        elif child.data != "new_line_or_comment":
            found = _last_token(child)
            if found is not None:
                return found
    return None


def _unescape(raw: str) -> str:
    def replace(match: re.Match[str]) -> str:
        text = match.group(0)
        if text in ("$${", "%%{"):
            return text[1:]
        code = match.group(1)
        if code[0] in "uU" and len(code) > 1:
            return chr(int(code[1:], 16))
        return _ESCAPES.get(code, text)

    return _ESCAPE.sub(replace, raw)


def _heredoc(raw: str, trim: bool) -> str:
    lines = raw.split("\n")[1:-2]  # drop the <<MARKER line and the closing marker line
    if trim:
        indents = [len(line) - len(line.lstrip()) for line in lines if line.strip()]
        cut = min(indents, default=0)
        lines = [line[cut:] for line in lines]
    return "".join(line + "\n" for line in lines)
