"""Reads .tf files into ftctl's syntax tree, keeping every position. The only importer of
python-hcl2 (and its parser, Lark): its dict output drops positions (`with_meta` is a stub), so
the loader walks the raw Lark tree, whose nodes carry line and column."""

import gc
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import hcl2
from lark import Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ftctl.diagnostics import Diagnostic, SourceRange, error
from ftctl.lang.syntax import (
    Attribute,
    Binary,
    Block,
    Body,
    Conditional,
    Expression,
    ForDirective,
    ForExpr,
    FunctionCall,
    GetAttr,
    IfDirective,
    Index,
    IndexStep,
    Interpolation,
    Literal,
    ObjectExpr,
    ObjectItem,
    SourceFile,
    Splat,
    Template,
    TemplatePart,
    Traversal,
    TupleExpr,
    Unary,
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
    converter = _Converter(name, text)
    return SourceFile(name, text, converter.body(body)), converter.problems


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
    """Lark tree of one file → syntax tree. `origin` places a snippet parsed on its own (an
    interpolation inside a heredoc) where it stands in the file."""

    def __init__(self, name: str, text: str, origin: tuple[int, int] = (1, 1)) -> None:
        self.name = name
        self.text = text
        self.origin = origin
        self.problems: list[Diagnostic] = []

    def at(self, line: int, column: int) -> tuple[int, int]:
        first_line, first_column = self.origin
        return line + first_line - 1, column + (first_column - 1 if line == 1 else 0)

    def where(self, node: Tree | Token) -> SourceRange:
        if isinstance(node, Token):
            return SourceRange(self.name, *self.at(node.line or 1, node.column or 1))
        last = _last_token(node)
        start = self.at(node.meta.line, node.meta.column)
        if last is None or last.end_line is None or last.end_column is None:
            return SourceRange(self.name, *start)
        return SourceRange(self.name, *start, *self.at(last.end_line, last.end_column))

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
            if isinstance(child, Tree) and child.data in ("identifier", "keyword", "literal_value"):
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
            inner = [c for c in node.children if not _is_layout(c)]
            first = inner[0]
            if isinstance(first, Token) and first.type == "LPAR":
                return self.expression(inner[1])
            return self.expression(first)
        where = self.where(node)
        match kind:
            case "string":
                return self.template(node, where)
            case "int_lit":
                return Literal(int(str(node.children[0])), where)
            case "float_lit":
                return Literal(float(str(node.children[0])), where)
            case "literal_value":
                token = str(node.children[0])
                return Literal({"true": True, "false": False, "null": None}[token], where)
            case "unary_op":
                sign, operand = node.children
                value = self.expression(operand)
                if (
                    str(sign) == "-"
                    and isinstance(value, Literal)
                    and isinstance(value.value, int | float)
                    and not isinstance(value.value, bool)
                ):
                    return Literal(-value.value, where)
                return Unary(str(sign), value, where)
            case "binary_op":
                left, term = (c for c in node.children if not _is_layout(c))
                assert isinstance(term, Tree)
                operator, right = (c for c in term.children if not _is_layout(c))
                assert isinstance(operator, Tree)
                return Binary(
                    str(operator.children[0]), self.expression(left), self.expression(right), where
                )
            case "conditional":
                condition, then, otherwise = (c for c in node.children if isinstance(c, Tree))
                return Conditional(
                    self.expression(condition),
                    self.expression(then),
                    self.expression(otherwise),
                    where,
                )
            case "tuple":
                items = [self.expression(c) for c in node.children if isinstance(c, Tree)]
                return TupleExpr(tuple(i for i in items), where)
            case "object":
                return self.object(node)
            case "identifier" | "keyword":
                return Traversal(self.identifier(node), (), where)
            case "get_attr_expr_term":
                target, step = node.children
                assert isinstance(target, Tree) and isinstance(step, Tree)
                return self.step(self.expression(target), self.get_attr_name(step), where)
            case "index_expr_term":
                target, index = node.children
                assert isinstance(target, Tree) and isinstance(index, Tree)
                return self.index(self.expression(target), index, where)
            case "attr_splat_expr_term" | "full_splat_expr_term":
                source, splat = node.children
                assert isinstance(source, Tree) and isinstance(splat, Tree)
                steps: list[str | IndexStep] = []
                after: list[Tree] = []  # steps that apply to the splat's result, not each item
                for step in splat.children:
                    if not isinstance(step, Tree):
                        continue
                    if after or (kind == "attr_splat_expr_term" and step.data != "get_attr"):
                        # HCL's legacy `.*` takes attribute steps only: `x.*[0]` is (x.*)[0].
                        after.append(step)
                    elif step.data == "get_attr":
                        steps.append(self.get_attr_name(step))
                    else:
                        key = self.index_key(step)
                        if not isinstance(key, Literal) or not isinstance(key.value, str | int):
                            return Unsupported(
                                "computed index after a splat", self.source(node), where
                            )
                        steps.append(IndexStep(key.value))
                result: Expression = Splat(self.expression(source), tuple(steps), where)
                for step in after:
                    result = (
                        GetAttr(result, self.get_attr_name(step), where)
                        if step.data == "get_attr"
                        else self.index(result, step, where)
                    )
                return result
            case "function_call":
                names = [
                    self.identifier(c)
                    for c in node.children
                    if isinstance(c, Tree) and c.data == "identifier"
                ]
                if len(names) > 1:
                    return Unsupported("provider-defined function", self.source(node), where)
                arguments = next(
                    (c for c in node.children if isinstance(c, Tree) and c.data == "arguments"),
                    None,
                )
                values: list[Expression] = []
                expand = False
                if arguments is not None:
                    for child in arguments.children:
                        if isinstance(child, Tree) and child.data != "new_line_or_comment":
                            values.append(self.expression(child))
                        elif isinstance(child, Token) and child.type == "ELLIPSIS":
                            expand = True
                return FunctionCall(names[0], tuple(values), expand, where)
            case "for_tuple_expr" | "for_object_expr":
                return self.for_expression(node, where)
            case "heredoc_template" | "heredoc_template_trim":
                heredoc = node.children[0]
                assert isinstance(heredoc, Token)
                return self.heredoc(heredoc, kind.endswith("trim"), where)
            case _:
                return Unsupported(kind.replace("_", " "), self.source(node), where)

    def step(self, base: Expression, name: str, where: SourceRange) -> Expression:
        if isinstance(base, Traversal):
            return Traversal(base.root, (*base.steps, name), where)
        return GetAttr(base, name, where)

    @staticmethod
    def get_attr_name(step: Tree) -> str:
        name = step.children[-1]
        assert isinstance(name, Tree)
        return str(name.children[0])

    def index_key(self, index: Tree) -> Expression:
        if index.data == "short_index":  # `.0`
            token = index.children[-1]
            return Literal(int(str(token)), self.where(index))
        inner = next(c for c in index.children if isinstance(c, Tree) and not _is_layout(c))
        return self.expression(inner)

    def index(self, base: Expression, index: Tree, where: SourceRange) -> Expression:
        key = self.index_key(index)
        if (
            isinstance(base, Traversal)
            and isinstance(key, Literal)
            and isinstance(key.value, str | int)
            and not isinstance(key.value, bool)
        ):
            return Traversal(base.root, (*base.steps, IndexStep(key.value)), where)
        return Index(base, key, where)

    def object(self, node: Tree) -> Expression:
        items: list[ObjectItem] = []
        for element in node.children:
            if not (isinstance(element, Tree) and element.data == "object_elem"):
                continue
            key_node, _, value_node = element.children
            assert isinstance(key_node, Tree) and isinstance(value_node, Tree | Token)
            key_child = key_node.children[0]
            assert isinstance(key_child, Tree | Token)
            key = self.expression(key_child)
            if isinstance(key, Traversal) and not key.steps:
                key = Literal(key.root, key.where)  # `{a = 1}`: a bare name is the key itself
            items.append(ObjectItem(key, self.expression(value_node), self.where(key_node)))
        return ObjectExpr(tuple(items), self.where(node))

    def for_expression(self, node: Tree, where: SourceRange) -> Expression:
        parts = [c for c in node.children if not _is_layout(c)]
        intro = next(c for c in parts if isinstance(c, Tree) and c.data == "for_intro")
        names = [
            self.identifier(c)
            for c in intro.children
            if isinstance(c, Tree) and c.data == "identifier"
        ]
        collection = next(
            c
            for c in intro.children
            if isinstance(c, Tree) and c.data not in ("identifier", "new_line_or_comment")
        )
        cond_node = next((c for c in parts if isinstance(c, Tree) and c.data == "for_cond"), None)
        condition = None
        if cond_node is not None:
            cond_expr = next(
                c for c in cond_node.children if isinstance(c, Tree) and not _is_layout(c)
            )
            condition = self.expression(cond_expr)
        bodies = [
            c for c in parts if isinstance(c, Tree) and c.data not in ("for_intro", "for_cond")
        ]
        grouping = any(isinstance(c, Token) and c.type == "ELLIPSIS" for c in parts)
        key_name, value_name = (names[0], names[1]) if len(names) == 2 else (None, names[0])
        if node.data == "for_object_expr":
            key_expr, value_expr = bodies
            return ForExpr(
                key_name,
                value_name,
                self.expression(collection),
                self.expression(key_expr),
                self.expression(value_expr),
                condition,
                grouping,
                where,
            )
        return ForExpr(
            key_name,
            value_name,
            self.expression(collection),
            None,
            self.expression(bodies[0]),
            condition,
            False,
            where,
        )

    def template(self, node: Tree, where: SourceRange) -> Expression:
        flat: list[_Piece] = []
        for part in node.children:
            if isinstance(part, Token):
                continue  # the quotes
            inner = part.children[0]
            if isinstance(inner, Token):
                literal = inner.value
                if inner.type == "STRING_CHARS":
                    flat.append(_unescape(literal))
                    continue
                # An escaped $${ or %%{ is the text ${ or %{. python-hcl2 lexes it on to the
                # next }, so what follows it is read again: "$${ ${x} }" interpolates x.
                flat.append(literal[1:3])
                origin = (inner.line or 1, (inner.column or 1) + 3)
                for piece in self.scan(literal[3:], _along(origin)):
                    flat.append(_unescape(piece) if isinstance(piece, str) else piece)
                continue
            assert isinstance(inner, Tree)
            tokens = [c for c in inner.children if isinstance(c, Token)]
            strip_left = len(tokens) > 1 and tokens[1].type == "STRIP_MARKER"
            strip_right = len(tokens) > 2 and tokens[-2].type == "STRIP_MARKER"
            trees = [c for c in inner.children if isinstance(c, Tree) and not _is_layout(c)]
            at = self.where(inner)
            match inner.data:
                case "interpolation":
                    flat.append(_Directive("interpolation", at, (self.expression(trees[0]),)))
                case "template_if_start":
                    flat.append(
                        _Directive("if", at, (self.expression(trees[0]),), strip_left, strip_right)
                    )
                case "template_for_start":
                    names = tuple(self.identifier(t) for t in trees if t.data == "identifier")
                    collection = self.expression(trees[-1])
                    flat.append(
                        _Directive("for", at, (collection,), strip_left, strip_right, names)
                    )
                case "template_else" | "template_endif" | "template_endfor":
                    flat.append(
                        _Directive(
                            inner.data.removeprefix("template_"), at, (), strip_left, strip_right
                        )
                    )
        return self.assemble(flat, where)

    def assemble(self, flat: list["_Piece"], where: SourceRange) -> Expression:
        _strip(flat)
        parts, rest = self.nest(flat, 0, None)
        if rest < len(flat):
            piece = flat[rest]
            assert isinstance(piece, _Directive)
            self.problems.append(
                error(
                    f"Unexpected {piece.kind} directive",
                    f"This %{{ {piece.kind} }} has no opening %{{ if }} or %{{ for }} before it.",
                    piece.where,
                )
            )
        if all(isinstance(p, str) for p in parts):
            return Literal("".join(p for p in parts if isinstance(p, str)), where)
        return Template(parts, where)

    def nest(
        self, flat: list["_Piece"], start: int, opener: "_Directive | None"
    ) -> tuple[tuple[TemplatePart, ...], int]:
        """Template parts from `start` up to the directive closing `opener`; the index after."""
        parts: list[TemplatePart] = []
        index = start
        while index < len(flat):
            piece = flat[index]
            if isinstance(piece, str):
                if piece:
                    if parts and isinstance(parts[-1], str):
                        parts[-1] += piece
                    else:
                        parts.append(piece)
                index += 1
                continue
            match piece.kind:
                case "interpolation":
                    parts.append(Interpolation(piece.expressions[0]))
                    index += 1
                case "if":
                    then, index = self.nest(flat, index + 1, piece)
                    otherwise: tuple[TemplatePart, ...] = ()
                    if index < len(flat) and _kind_of(flat[index]) == "else":
                        otherwise, index = self.nest(flat, index + 1, piece)
                    if _kind_of(flat[index] if index < len(flat) else None) != "endif":
                        return self.unclosed(piece, parts, len(flat))
                    parts.append(IfDirective(piece.expressions[0], then, otherwise, piece.where))
                    index += 1
                case "for":
                    body, index = self.nest(flat, index + 1, piece)
                    if _kind_of(flat[index] if index < len(flat) else None) != "endfor":
                        return self.unclosed(piece, parts, len(flat))
                    names = piece.names
                    key_name, value_name = (
                        (names[0], names[1]) if len(names) == 2 else (None, names[0])
                    )
                    parts.append(
                        ForDirective(key_name, value_name, piece.expressions[0], body, piece.where)
                    )
                    index += 1
                case "else" | "endif" | "endfor":
                    if opener is None:
                        return tuple(parts), index
                    if piece.kind == "else" and opener.kind != "if":
                        break
                    return tuple(parts), index
        return tuple(parts), index

    def unclosed(
        self, opener: "_Directive", parts: list[TemplatePart], end: int
    ) -> tuple[tuple[TemplatePart, ...], int]:
        closing = "endif" if opener.kind == "if" else "endfor"
        self.problems.append(
            error(
                f"Unclosed template {opener.kind} directive",
                f"This %{{ {opener.kind} }} needs a matching %{{ {closing} }}.",
                opener.where,
            )
        )
        return tuple(parts), end

    def heredoc(self, token: Token, trim: bool, where: SourceRange) -> Expression:
        raw = str(token)
        lines = raw.split("\n")[1:-2]  # drop the <<MARKER line and the closing marker line
        cut = 0
        if trim:
            indents = [len(line) - len(line.lstrip()) for line in lines if line.strip()]
            cut = min(indents, default=0)
            lines = [line[cut:] for line in lines]
        text = "".join(line + "\n" for line in lines)
        first_line = (token.line or 1) + 1
        column_of_start = cut + 1

        def position(offset: int) -> tuple[int, int]:
            line = text.count("\n", 0, offset)
            line_start = text.rfind("\n", 0, offset) + 1
            return first_line + line, column_of_start + offset - line_start

        return self.assemble(self.scan(text, position), where)

    def scan(self, text: str, position: "Callable[[int], tuple[int, int]]") -> list["_Piece"]:
        """A heredoc's body as template pieces: Lark sees a heredoc as one token, so its
        interpolations and directives are found here and parsed as expressions on their own."""
        flat: list[_Piece] = []
        literal: list[str] = []
        index = 0
        while index < len(text):
            if text.startswith(("$${", "%%{"), index):
                literal.append(text[index + 1 : index + 3])
                index += 3
                continue
            if not text.startswith(("${", "%{"), index):
                literal.append(text[index])
                index += 1
                continue
            end = _closing_brace(text, index + 2)
            line, column = position(index)
            at = SourceRange(self.name, line, column)
            if end is None:
                self.problems.append(
                    error("Unclosed template sequence", "This ${ or %{ has no closing }.", at)
                )
                literal.append(text[index:])
                break
            flat.append("".join(literal))
            literal = []
            inner = text[index + 2 : end]
            piece = self.sequence(text[index], inner, position(index + 2), at)
            if piece is not None:
                flat.append(piece)
            index = end + 1
        flat.append("".join(literal))
        return flat

    def sequence(
        self, opener: str, inner: str, origin: tuple[int, int], at: SourceRange
    ) -> "_Directive | None":
        if opener == "$":
            expression = self.snippet(inner, origin)
            return None if expression is None else _Directive("interpolation", at, (expression,))
        strip_left = inner.startswith("~")
        strip_right = inner.endswith("~")
        words = inner.strip("~").strip()
        keyword = words.split(None, 1)[0] if words else ""
        if keyword in ("else", "endif", "endfor") and words == keyword:
            return _Directive(keyword, at, (), strip_left, strip_right)
        offset = inner.find(keyword) + len(keyword) + 1
        shifted = (origin[0], origin[1] + offset)
        if keyword == "if":
            condition = self.snippet(inner.rstrip("~")[offset:], shifted)
            if condition is None:
                return None
            return _Directive("if", at, (condition,), strip_left, strip_right)
        match = re.fullmatch(r"for\s+(\w+)(?:\s*,\s*(\w+))?\s+in\s+(.+)", words, re.DOTALL)
        if keyword == "for" and match:
            names = tuple(n for n in (match.group(1), match.group(2)) if n)
            start = inner.find(match.group(3))
            collection = self.snippet(match.group(3), (origin[0], origin[1] + start))
            if collection is None:
                return None
            return _Directive("for", at, (collection,), strip_left, strip_right, names)
        self.problems.append(
            error(
                "Invalid template directive",
                "A %{ } sequence holds if, else, endif, for or endfor.",
                at,
            )
        )
        return None

    def snippet(self, text: str, origin: tuple[int, int]) -> Expression | None:
        """An expression from inside a heredoc, with positions where it stands in the file."""
        prefix = "x="
        try:
            with _gc_paused():
                tree = hcl2.parses_to_tree(prefix + text + "\n")
        except UnexpectedInput as exc:
            line = exc.line or 1
            column = (exc.column or 1) - (len(prefix) if line == 1 else 0)
            self.problems.append(
                error(
                    "Invalid expression",
                    "This interpolation or directive does not hold a valid expression.",
                    SourceRange(
                        self.name, *_Converter(self.name, "", origin).at(line, max(1, column))
                    ),
                )
            )
            return None
        body = tree.children[0]
        assert isinstance(body, Tree)
        attribute = next(c for c in body.children if isinstance(c, Tree) and c.data == "attribute")
        value = attribute.children[-1]
        assert isinstance(value, Tree)
        converter = _Converter(self.name, prefix + text, (origin[0], origin[1] - len(prefix)))
        expression = converter.expression(value)
        self.problems += converter.problems
        return expression


@dataclass(frozen=True)
class _Directive:
    """A template sequence before nesting: an interpolation, or an if/else/endif/for/endfor."""

    kind: str
    where: SourceRange
    expressions: tuple[Expression, ...] = ()
    strip_left: bool = False  # `%{~`: the whitespace before it goes
    strip_right: bool = False  # `~}`: the whitespace after it goes
    names: tuple[str, ...] = ()


_Piece = str | _Directive


def _kind_of(piece: "_Piece | None") -> str | None:
    return piece.kind if isinstance(piece, _Directive) else None


def _strip(flat: list[_Piece]) -> None:
    for index, piece in enumerate(flat):
        if not isinstance(piece, _Directive):
            continue
        if piece.strip_left and index > 0 and isinstance(flat[index - 1], str):
            flat[index - 1] = str(flat[index - 1]).rstrip()
        if piece.strip_right and index + 1 < len(flat) and isinstance(flat[index + 1], str):
            flat[index + 1] = str(flat[index + 1]).lstrip()


def _along(origin: tuple[int, int]) -> Callable[[int], tuple[int, int]]:
    """Line and column of each offset in one line of text that starts at `origin`."""
    return lambda offset: (origin[0], origin[1] + offset)


def _closing_brace(text: str, start: int) -> int | None:
    """The index of the `}` closing a sequence opened just before `start`, skipping nested
    braces and quoted strings."""
    depth = 0
    index = start
    quoted = False
    while index < len(text):
        char = text[index]
        if quoted:
            if char == "\\":
                index += 1
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == "{":
            depth += 1
        elif char == "}":
            if depth == 0:
                return index
            depth -= 1
        index += 1
    return None


def _is_layout(node: Tree | Token) -> bool:
    if isinstance(node, Token):
        return node.type == "NL_OR_COMMENT"
    return node.data == "new_line_or_comment"


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


def parse_template(name: str, text: str) -> tuple[Expression, list[Diagnostic]]:
    """A whole file as a template, as templatefile() reads it: text with ${...} and %{...}."""
    converter = _Converter(name, text)

    def position(offset: int) -> tuple[int, int]:
        return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1

    with _gc_paused():
        expression = converter.assemble(converter.scan(text, position), SourceRange(name, 1, 1))
    return expression, converter.problems
