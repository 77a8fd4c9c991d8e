"""The .tf loader: python-hcl2's raw Lark tree becomes ftctl's syntax tree, with a value and an
exact source range for every expression, every block and attribute kept in source order
(duplicates included), and syntax errors as positioned diagnostics in plain words."""

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from ftctl.diagnostics import Diagnostic, Severity
from ftctl.lang.loader import load_directory, parse_source
from ftctl.lang.syntax import (
    Binary,
    Block,
    Body,
    Conditional,
    Expression,
    FunctionCall,
    IfDirective,
    Interpolation,
    Literal,
    ObjectExpr,
    SourceFile,
    Template,
    TemplatePart,
    Traversal,
    TupleExpr,
    Unary,
)
from tests.lang import at, line_col, marked, write


@dataclass(frozen=True)
class Ref:
    """Expected shape of a Traversal."""

    path: str


@dataclass(frozen=True)
class Node:
    """Expected shape of an operator, call or template: its kind and its operands' shapes."""

    kind: str
    parts: tuple[object, ...]


def shape(expression: Expression) -> object:
    """An expression without its positions, for comparing with a table's expectation."""
    match expression:
        case Literal(value=value):
            return value
        case TupleExpr(items=items):
            return [shape(item) for item in items]
        case ObjectExpr(items=items):
            return {shape(item.key): shape(item.value) for item in items}
        case Traversal():
            return Ref(str(expression))
        case FunctionCall(name=name, arguments=arguments):
            return Node(f"call {name}", tuple(shape(a) for a in arguments))
        case Binary(operator=operator, left=left, right=right):
            return Node(operator, (shape(left), shape(right)))
        case Unary(operator=operator, operand=operand):
            return Node(operator, (shape(operand),))
        case Conditional(condition=condition, then=then, otherwise=otherwise):
            return Node("?:", (shape(condition), shape(then), shape(otherwise)))
        case Template(parts=parts):
            return Node("template", tuple(_part(p) for p in parts))
    raise AssertionError(f"unknown expression {expression!r}")


def _part(part: TemplatePart) -> object:
    if isinstance(part, str):
        return part
    if isinstance(part, Interpolation):
        return Node("${}", (shape(part.expression),))
    if isinstance(part, IfDirective):
        then = tuple(_part(p) for p in part.then)
        otherwise = tuple(_part(p) for p in part.otherwise)
        return Node("%{if}", (shape(part.condition), then, otherwise))
    return Node("%{for}", (part.key_name, part.value_name, shape(part.collection)))


def parse(text: str, name: str = "main.tf") -> SourceFile:
    parsed, problems = parse_source(name, text)
    assert problems == []
    assert parsed is not None
    return parsed


def nested(expression: str) -> str:
    """A fixture with `value = EXPRESSION` two blocks deep, so positions are not trivial."""
    return f'resource "t" "n" {{\n  nested {{\n    value = {expression}\n  }}\n}}\n'


def value_of(text: str) -> Expression:
    (resource,) = parse(text).body.blocks
    (inner,) = resource.body.blocks
    (attribute,) = inner.body.attributes
    return attribute.value


# (source of the expression, its value or shape). Literal values are compared through repr,
# so that 1, 1.0 and True stay different.
EXPRESSIONS = [
    pytest.param(
        r'"line\nbreak \"quoted\" back\\slash \u00e9t\u00e9 tab\t"',
        'line\nbreak "quoted" back\\slash été tab\t',
        id="string-with-escapes",
    ),
    pytest.param('""', "", id="empty-string"),
    pytest.param('"$${not_interpolated}"', "${not_interpolated}", id="escaped-interpolation"),
    pytest.param('"100%%{x}"', "100%{x}", id="escaped-directive"),
    pytest.param("<<EOT\nhello\n  world\nEOT", "hello\n  world\n", id="heredoc"),
    pytest.param(
        "<<-EOT\n      hello\n        world\n      EOT", "hello\n  world\n", id="indented-heredoc"
    ),
    pytest.param("42", 42, id="int"),
    pytest.param("12345678901234567890", 12345678901234567890, id="big-int-exact"),
    pytest.param("0.5", 0.5, id="float"),
    pytest.param("1e3", 1000.0, id="scientific-float"),
    pytest.param("-1", -1, id="negative-int"),
    pytest.param("-2.5", -2.5, id="negative-float"),
    pytest.param("true", True, id="true"),
    pytest.param("false", False, id="false"),
    pytest.param("null", None, id="null"),
    pytest.param('["a", 1, true, null]', ["a", 1, True, None], id="list"),
    pytest.param("[]", [], id="empty-list"),
    pytest.param(
        '{ bare = 1, "quoted-key" = "v", n = [2] }',
        {"bare": 1, "quoted-key": "v", "n": [2]},
        id="map-with-bare-and-quoted-keys",
    ),
    pytest.param("openai_file.train.id", Ref("openai_file.train.id"), id="reference"),
    pytest.param("var.x", Ref("var.x"), id="variable-reference"),
    pytest.param('file("prompt.txt")', Node("call file", ("prompt.txt",)), id="function-call"),
    pytest.param(
        '"${var.x}-v1"', Node("template", (Node("${}", (Ref("var.x"),)), "-v1")), id="template"
    ),
    pytest.param(
        '"%{ if true }x%{ endif }"',
        Node("template", (Node("%{if}", (True, ("x",), ())),)),
        id="template-directive",
    ),
    pytest.param(
        'var.env == "prod" ? 3 : 1',
        Node("?:", (Node("==", (Ref("var.env"), "prod")), 3, 1)),
        id="conditional",
    ),
    pytest.param("2 * var.n + 1", Node("+", (Node("*", (2, Ref("var.n"))), 1)), id="arithmetic"),
    pytest.param("-var.n", Node("-", (Ref("var.n"),)), id="negated-reference"),
]


@pytest.mark.parametrize(("source", "expected"), EXPRESSIONS)
def test_each_expression_kind_converts_to_its_value(source: str, expected: object) -> None:
    assert repr(shape(value_of(nested(source)))) == repr(expected)


@pytest.mark.parametrize("source", [pytest.param(p.values[0], id=p.id) for p in EXPRESSIONS])
def test_each_expression_kind_keeps_its_exact_range(source: str) -> None:
    text = nested(source)
    where = value_of(text).where
    assert str(where) == at("main.tf", text, source)
    if "\n" not in source:  # a heredoc's end is the line after its closing marker
        start = text.index(source)
        assert (where.end_line, where.end_column) == line_col(text, start + len(source))


def test_object_items_keep_the_position_of_their_keys() -> None:
    text = 'x = {\n  bare = 1\n  "quoted-key" = "v"\n}\n'
    value = parse(text).body.attributes[0].value
    assert isinstance(value, ObjectExpr)
    assert [(shape(item.key), str(item.where)) for item in value.items] == [
        ("bare", at("main.tf", text, "bare")),
        ("quoted-key", at("main.tf", text, '"quoted-key"')),
    ]
    assert [str(item.value.where) for item in value.items] == [
        at("main.tf", text, "1"),
        at("main.tf", text, '"v"'),
    ]


def test_heredoc_interpolation_is_parsed_at_its_place_in_the_file() -> None:
    text = "x = <<EOT\nhi ${var.x}\nEOT\n"
    value = parse(text).body.attributes[0].value
    assert shape(value) == Node("template", ("hi ", Node("${}", (Ref("var.x"),)), "\n"))
    assert isinstance(value, Template) and isinstance(value.parts[1], Interpolation)
    assert str(value.parts[1].expression.where) == at("main.tf", text, "var.x")


def test_heredoc_resolves_escaped_interpolation() -> None:
    value = parse("x = <<EOT\nhi $${x}\nEOT\n").body.attributes[0].value
    assert shape(value) == "hi ${x}\n"


def test_unsupported_text_leaves_out_a_trailing_comment() -> None:
    text = "x = 2 * 3 # why\n"
    value = parse(text).body.attributes[0].value
    assert shape(value) == Node("*", (2, 3))
    assert (value.where.end_line, value.where.end_column) == line_col(text, text.index(" #"))


NESTED = """\
resource "openai_fine_tuning_job" "bot" {
  model = "m"

  method {
    type = "supervised"
    supervised {
      hyperparameters { n_epochs = 3 }
    }
  }

  integrations {
    wandb { project = "a" }
  }
  integrations {
    wandb { project = "b" }
  }
}
"""


def outline(body: Body, depth: int = 0) -> list[tuple[int, str, tuple[str, ...], str]]:
    """Every block and attribute, depth-first in source order: (depth, name, labels, where)."""
    rows: list[tuple[int, str, tuple[str, ...], str]] = [
        (depth, a.name, (), str(a.where)) for a in body.attributes
    ]
    for block in body.blocks:
        rows.append((depth, block.type, block.labels, str(block.where)))
        rows += outline(block.body, depth + 1)
    return rows


def test_nested_blocks_keep_their_labels_order_and_positions() -> None:
    def pos(needle: str, occurrence: int = 1) -> str:
        return at("main.tf", NESTED, needle, occurrence)

    assert outline(parse(NESTED).body) == [
        (0, "resource", ("openai_fine_tuning_job", "bot"), pos("resource")),
        (1, "model", (), pos("model")),
        (1, "method", (), pos("method")),
        (2, "type", (), pos("type")),
        (2, "supervised", (), pos("supervised {")),
        (3, "hyperparameters", (), pos("hyperparameters")),
        (4, "n_epochs", (), pos("n_epochs")),
        (1, "integrations", (), pos("integrations")),
        (2, "wandb", (), pos("wandb")),
        (3, "project", (), pos("project")),
        (1, "integrations", (), pos("integrations", 2)),
        (2, "wandb", (), pos("wandb", 2)),
        (3, "project", (), pos("project", 2)),
    ]


def test_a_block_range_ends_after_its_closing_brace() -> None:
    (resource,) = parse(NESTED).body.blocks
    last_line = NESTED.count("\n")
    assert (resource.where.end_line, resource.where.end_column) == (last_line, 2)


def test_body_helpers_find_the_last_attribute_and_blocks_by_type() -> None:
    (resource,) = parse(NESTED).body.blocks
    assert [str(b.where) for b in resource.body.blocks_of("integrations")] == [
        at("main.tf", NESTED, "integrations", 1),
        at("main.tf", NESTED, "integrations", 2),
    ]
    assert resource.body.blocks_of("lifecycle") == []
    assert resource.body.attribute("missing") is None


def test_duplicate_attributes_are_both_kept_in_source_order() -> None:
    text = 'resource "openai_file" "t" {\n  file = "a.jsonl"\n  file = "b.jsonl"\n}\n'
    (block,) = parse(text).body.blocks
    assert [(a.name, shape(a.value), str(a.where)) for a in block.body.attributes] == [
        ("file", "a.jsonl", at("main.tf", text, "file", 2)),
        ("file", "b.jsonl", at("main.tf", text, "file", 3)),
    ]
    found = block.body.attribute("file")
    assert found is not None and shape(found.value) == "b.jsonl"


def test_block_labels_are_unquoted_and_unescaped() -> None:
    (block,) = parse('resource "openai_file" "a\\"b" {\n}\n').body.blocks
    assert isinstance(block, Block)
    assert block.labels == ("openai_file", 'a"b')


def test_two_attributes_on_one_line_keep_their_own_columns() -> None:
    text = "x = 1 y = 2\n"
    assert [str(a.where) for a in parse(text).body.attributes] == [
        at("main.tf", text, "x"),
        at("main.tf", text, "y"),
    ]


def test_a_file_without_trailing_newline_parses_and_keeps_its_text() -> None:
    text = 'resource "openai_file" "t" {\n  file = "x.jsonl"\n}\nlast = 7'
    parsed = parse(text)
    assert parsed.text == text
    (last,) = parsed.body.attributes
    assert (last.name, shape(last.value), str(last.where)) == ("last", 7, "main.tf:4:1")
    assert str(last.value.where) == at("main.tf", text, "7")


def test_empty_and_comment_only_files_have_empty_bodies() -> None:
    for text in ("", "# nothing here\n// nor here\n/* or\nhere */\n"):
        assert parse(text).body == Body((), ())


def test_files_are_read_in_name_order_and_only_tf_files_of_the_directory(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "b.tf": "b = 1\n",
            "a.tf": "a = 1\n",
            "9.tf": "nine = 1\n",
            "10.tf": "ten = 1\n",
            "notes.tf.bak": "this is not HCL {",
            "README.md": "# not read",
            "sub/inner.tf": "this is not HCL either {",
        },
    )
    files, _, problems = load_directory(tmp_path)
    assert problems == []
    assert [f.name for f in files] == ["10.tf", "9.tf", "a.tf", "b.tf"]
    assert [f.body.attributes[0].name for f in files] == ["ten", "nine", "a", "b"]


def test_no_tf_files_is_one_error_that_says_where_to_run(tmp_path: Path) -> None:
    write(tmp_path, {"main.tf.json": "{}", "sub/main.tf": "x = 1\n"})
    files, _, problems = load_directory(tmp_path)
    assert files == []
    assert [(p.severity, p.summary) for p in problems] == [
        (Severity.ERROR, "No configuration files")
    ]
    assert "--chdir" in problems[0].detail


def test_a_non_utf8_file_is_an_error_and_the_other_files_still_load(tmp_path: Path) -> None:
    write(tmp_path, {"bad.tf": b'x = 1\ny = "caf\xe9"\n', "good.tf": "z = 1\n"})
    files, _, problems = load_directory(tmp_path)
    assert [f.name for f in files] == ["good.tf"]
    assert [p.summary for p in problems] == ["File is not UTF-8"]
    assert "bad.tf" in problems[0].detail


def test_a_non_utf8_file_error_points_at_the_offending_byte(tmp_path: Path) -> None:
    write(tmp_path, {"bad.tf": b'x = 1\ny = "caf\xe9"\n'})
    _, _, problems = load_directory(tmp_path)
    assert str(problems[0].where) == "bad.tf:2:9"


def test_editor_lock_files_are_ignored(tmp_path: Path) -> None:
    write(tmp_path, {"main.tf": "x = 1\n"})
    (tmp_path / ".#main.tf").symlink_to(tmp_path / "user@host.1234")
    files, _, problems = load_directory(tmp_path)
    assert ([f.name for f in files], problems) == (["main.tf"], [])


# (file text with » where the error must point, summary, words the detail must contain)
SYNTAX_ERRORS = [
    pytest.param(
        'resource "openai_fine_tuning_job" "a" {\n  model = »\n}\n',
        "Syntax error",
        "expected an expression",
        id="missing-value-after-equals",
    ),
    pytest.param(
        'resource "openai_file" "t" {\n  file = "x.jsonl"\n»',
        "Unexpected end of file",
        "expected '}'",
        id="missing-closing-brace",
    ),
    pytest.param(
        'resource "openai_file" "t" {\n  file = "x.jsonl"»',
        "Unexpected end of file",
        "expected '}'",
        id="missing-closing-brace-without-newline",
    ),
    pytest.param("x = [1, 2\n»", "Unexpected end of file", "']'", id="missing-closing-bracket"),
    pytest.param("x = 1 »}\n", "Syntax error", "Unexpected '}'", id="stray-closing-brace"),
    pytest.param("x = 1 »@ 2\n", "Invalid character", "'@'", id="invalid-character"),
]


@pytest.mark.parametrize(("text", "summary", "detail"), SYNTAX_ERRORS)
def test_syntax_errors_are_positioned_diagnostics_in_plain_words(
    text: str, summary: str, detail: str
) -> None:
    files, where = marked({"main.tf": text})
    parsed, problems = parse_source("main.tf", files["main.tf"])
    assert parsed is None
    assert [(p.severity, p.summary, str(p.where)) for p in problems] == [
        (Severity.ERROR, summary, where)
    ]
    assert detail in problems[0].detail
    assert_plain_words(problems[0])


def assert_plain_words(problem: Diagnostic) -> None:
    """No Lark terminal names (DBLQUOTE, RBRACE, $END...) or token reprs reach the user."""
    text = f"{problem.summary} {problem.detail}"
    assert not re.search(r"\$?\b[A-Z][A-Z_]{2,}\b", text), text
    assert "Token(" not in text


def test_an_unterminated_string_is_named_on_its_line() -> None:
    text = 'resource "openai_fine_tuning_job" "a" {\n  model = "gpt-4o\n}\n'
    _, problems = parse_source("main.tf", text)
    assert [(p.summary, p.where.line if p.where else None) for p in problems] == [
        ("Unterminated string", 2)
    ]
    assert_plain_words(problems[0])


@pytest.mark.parametrize(
    "text",
    ['  model = »"gpt-4o\n', '  suffix = »"a${b}\n'],
    ids=["plain", "with-interpolation"],
)
def test_an_unterminated_string_points_at_its_opening_quote(text: str) -> None:
    files, where = marked({"main.tf": 'resource "openai_fine_tuning_job" "a" {\n' + text + "}\n"})
    _, problems = parse_source("main.tf", files["main.tf"])
    assert [str(p.where) for p in problems] == [where]


def test_an_invalid_character_is_named_alone() -> None:
    _, problems = parse_source("main.tf", "x = 1 @ 2\n")
    assert [p.summary for p in problems] == ["Invalid character"]
    assert "'@'" in problems[0].detail


def test_syntax_errors_of_several_files_are_all_reported_in_one_run(tmp_path: Path) -> None:
    texts = {
        "a.tf": 'resource "openai_file" "t" {\n  file = "x.jsonl"\n',
        "b.tf": "ok = 1\n",
        "c.tf": 'x = "unterminated\n',
    }
    write(tmp_path, texts)
    files, _, problems = load_directory(tmp_path)
    assert [f.name for f in files] == ["b.tf"]
    assert [(p.summary, p.where.file if p.where else None) for p in problems] == [
        ("Unexpected end of file", "a.tf"),
        ("Unterminated string", "c.tf"),
    ]
