"""Properties of the configuration language, over generated configurations and expressions:

- a configuration's values do not depend on how its blocks are split into files, nor on the
  order of files, blocks or attributes, and they are what a model of it computes;
- evaluating the same configuration twice gives the same values and the same problems;
- any expression of the grammar, rendered to text, parses and evaluates to a value or to a
  positioned diagnostic, never to another exception; broken text is a diagnostic too;
- string and number literals survive rendering: escapes and `$${`/`%%{` give back the text."""

import math
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ftctl.diagnostics import Diagnostic
from ftctl.engine.desired import Walk, prepare
from ftctl.lang import functions
from ftctl.lang.evaluate import EvaluationFailed, Evaluator
from ftctl.lang.loader import parse_source
from ftctl.lang.values import UNKNOWN, Sensitive, SetValue
from tests.lang import write


def examples(count: int) -> settings:
    """Settings for a property: `count` examples, no deadline (parsing a file takes a few
    milliseconds, more on a loaded machine), and no example database left in the checkout."""
    return settings(
        max_examples=count,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@contextmanager
def directory() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="ftctl-lang-") as name:
        yield Path(name)


def shown(problems: list[Diagnostic]) -> list[tuple[str, str, str, str]]:
    return [(p.severity.value, p.summary, p.detail, str(p.where)) for p in problems]


# --- generated configurations: variables, locals and outputs that refer to earlier ones ------


@dataclass(frozen=True)
class Node:
    """A variable, local or output: its block text parts and its value under the model."""

    kind: str  # variable, local or output
    name: str
    attributes: tuple[tuple[str, str], ...]  # (name, expression text) in a canonical order
    value: Any


@st.composite
def configurations(draw: st.DrawFn) -> list[Node]:
    """Variables with defaults, locals over them and earlier locals, outputs over any of them.
    References only go backwards, so the graph is acyclic; the model computes each value."""
    nodes: list[Node] = []
    known: list[tuple[str, Any]] = []  # (reference, value) usable by later nodes
    for index in range(draw(st.integers(1, 3))):
        value = draw(st.integers(-20, 20))
        name = f"v{index}"
        attributes = [("default", str(value)), ("type", "number")]
        if draw(st.booleans()):
            attributes.append(("description", f'"variable {index}"'))
        nodes.append(Node("variable", name, tuple(attributes), value))
        known.append((f"var.{name}", value))
    for index in range(draw(st.integers(1, 6))):
        text, value = draw(combined(known))
        name = f"l{index}"
        nodes.append(Node("local", name, (("value", text),), value))
        known.append((f"local.{name}", value))
    for index in range(draw(st.integers(1, 3))):
        reference, value = draw(st.sampled_from(known))
        if draw(st.booleans()):
            text, value = f'"out-${{{reference}}}"', f"out-{value}"
        else:
            text = reference
        attributes = [("value", text)]
        if draw(st.booleans()):
            attributes.append(("description", '"an output"'))
        nodes.append(Node("output", f"o{index}", tuple(attributes), value))
    return nodes


def combined(known: list[tuple[str, Any]]) -> st.SearchStrategy[tuple[str, Any]]:
    """An expression over one or two earlier values, and its value."""
    operand = st.sampled_from(known)

    def build(left: tuple[str, Any], right: tuple[str, Any], how: int) -> tuple[str, Any]:
        (a, x), (b, y) = left, right
        match how:
            case 0:
                return f"{a} + {b}", x + y
            case 1:
                return f"{a} - {b} * 2", x - y * 2
            case 2:
                return f"max({a}, {b}, 0)", max(x, y, 0)
            case 3:
                return f"{a} > {b} ? {a} : {b}", x if x > y else y
            case 4:
                return f'length("${{{a}}}:${{{b}}}")', len(f"{x}:{y}")
            case _:
                return f"[for n in [{a}, {b}] : n * 3][1]", y * 3

    return st.builds(build, operand, operand, st.integers(0, 5))


def render_block(node: Node, order: list[int]) -> str:
    attributes = [node.attributes[i] for i in order]
    body = "".join(f"  {name} = {text}\n" for name, text in attributes)
    return f'{node.kind} "{node.name}" {{\n{body}}}\n'


@st.composite
def arrangements(draw: st.DrawFn, nodes: list[Node]) -> dict[str, str]:
    """The nodes as files: blocks shuffled, locals grouped into locals blocks at random,
    attributes shuffled within blocks, the blocks split across one to three files."""
    blocks: list[str] = []
    plain = [n for n in nodes if n.kind != "local"]
    for node in plain:
        order = draw(st.permutations(range(len(node.attributes))))
        blocks.append(render_block(node, list(order)))
    locals_ = draw(st.permutations([n for n in nodes if n.kind == "local"]))
    while locals_:
        size = draw(st.integers(1, len(locals_)))
        group, locals_ = locals_[:size], locals_[size:]
        body = "".join(f"  {n.name} = {n.attributes[0][1]}\n" for n in group)
        blocks.append(f"locals {{\n{body}}}\n")
    blocks = list(draw(st.permutations(blocks)))
    count = draw(st.integers(1, min(3, len(blocks))))
    cuts = sorted(draw(st.lists(st.integers(1, len(blocks) - 1), min_size=0, max_size=count - 1)))
    pieces = [blocks[a:b] for a, b in zip([0, *cuts], [*cuts, len(blocks)], strict=True)]
    names = draw(st.permutations(["a.tf", "m.tf", "z.tf"]))
    return {names[i]: "\n".join(piece) for i, piece in enumerate(pieces) if piece}


def evaluate_configuration(files: dict[str, str]) -> tuple[dict[str, Any], list[Any], Any]:
    """Outputs, problems and variable values of `files` as prepare + a plan walk see them."""
    with directory() as root:
        write(root, files)
        configuration, problems = prepare(root, [], {})
        walk = Walk(configuration, configuration.values, {}, 0)
        walk.run()
        found = walk.outputs()
        return found, shown(problems) + shown(walk.problems), dict(configuration.values)


@st.composite
def configuration_and_two_arrangements(
    draw: st.DrawFn,
) -> tuple[list[Node], dict[str, str], dict[str, str]]:
    nodes = draw(configurations())
    return nodes, draw(arrangements(nodes)), draw(arrangements(nodes))


@examples(40)
@given(configuration_and_two_arrangements())
def test_values_do_not_depend_on_the_order_of_files_blocks_or_attributes(
    case: tuple[list[Node], dict[str, str], dict[str, str]],
) -> None:
    nodes, first, second = case
    outputs_first, problems_first, variables_first = evaluate_configuration(first)
    outputs_second, problems_second, variables_second = evaluate_configuration(second)
    assert problems_first == [] and problems_second == []
    expected = {n.name: n.value for n in nodes if n.kind == "output"}
    assert outputs_first == expected
    assert outputs_second == expected
    assert (
        variables_first
        == variables_second
        == {n.name: n.value for n in nodes if n.kind == "variable"}
    )


@examples(25)
@given(configurations().flatmap(arrangements))
def test_evaluating_the_same_configuration_twice_gives_the_same_values(
    files: dict[str, str],
) -> None:
    with directory() as root:
        write(root, files)
        runs = []
        for _ in range(2):
            configuration, problems = prepare(root, [], {})
            walks = [Walk(configuration, configuration.values, {}, 0) for _ in range(2)]
            for walk in walks:
                walk.run()
            runs.append(
                (
                    [walk.outputs() for walk in walks],
                    shown(problems),
                    dict(configuration.values),
                )
            )
        (outputs_a, problems_a, values_a), (outputs_b, problems_b, values_b) = runs
        assert outputs_a[0] == outputs_a[1] == outputs_b[0] == outputs_b[1]
        assert problems_a == problems_b
        assert values_a == values_b


# --- generated expressions ---------------------------------------------------------------------

VARIABLES: dict[str, Any] = {
    "u": UNKNOWN,
    "s": Sensitive("hush"),
    "flag": Sensitive(True),
    "n": None,
    "l": [1, 2, 3],
    "m": {"a": 1, "b": "x"},
    "objs": [{"a": 1}, {"a": 2}],
    "tags": SetValue(["b", "a"]),
    "text": "a,b",
}
BOUND_NAMES = ("x", "k", "v")  # names for expressions bind; bare elsewhere, an error
TEXT = st.text(alphabet='ab ,.:-_/\\"$%{}~\n\t*?[]()é', max_size=6)


def string_literal(text: str) -> str:
    """`text` as a quoted HCL string: escapes for \\, " and control characters, and the
    template openers ${ and %{ doubled so that they stay text."""
    escaped = (
        text.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\t", "\\t")
        .replace("${", "$${")
        .replace("%{", "%%{")
    )
    return f'"{escaped}"'


def number_literal(number: float) -> str:
    return repr(number)


LEAVES = st.one_of(
    st.integers(-5, 20).map(str),
    st.floats(-100, 100, allow_nan=False, allow_infinity=False).map(number_literal),
    TEXT.map(string_literal),
    st.sampled_from(["true", "false", "null", "[]", "{}"]),
    st.sampled_from([f"var.{name}" for name in VARIABLES] + ["local.one", "local.two"]),
    st.sampled_from([*BOUND_NAMES, "path.module", "terraform.workspace", "count.index"]),
)
BINARY = ["+", "-", "*", "/", "%", "==", "!=", "<", ">", "<=", ">=", "&&", "||"]


COLLECTIONS = st.sampled_from(
    ["var.l", "var.m", "var.objs", "var.tags", "[1, 2]", '{a = 1, b = "x"}', "range(3)"]
)


def compound(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    def call(name: str, arguments: list[str], expand: bool) -> str:
        return f"{name}({', '.join(arguments)}{'...' if expand and arguments else ''})"

    # Mostly something a for, an index or a splat can go through, sometimes anything.
    collection = st.one_of(COLLECTIONS, COLLECTIONS, inner)

    return st.one_of(
        st.builds(lambda o, a: f"{o}{a}", st.sampled_from(["!", "-"]), inner),
        st.builds(lambda a, o, b: f"{a} {o} {b}", inner, st.sampled_from(BINARY), inner),
        st.builds(lambda a: f"({a})", inner),
        st.builds(lambda c, a, b: f"{c} ? {a} : {b}", inner, inner, inner),
        st.builds(lambda items: f"[{', '.join(items)}]", st.lists(inner, max_size=3)),
        st.builds(
            lambda pairs: "{" + ", ".join(f"{k} = {v}" for k, v in pairs) + "}",
            st.lists(st.tuples(st.sampled_from(["a", "b", '"c d"', "(x)"]), inner), max_size=3),
        ),
        st.builds(
            call,
            st.sampled_from(functions.SUPPORTED),
            st.lists(inner, max_size=3),
            st.booleans(),
        ),
        st.builds(lambda c, i: f"{c}[{i}]", collection, inner),
        st.builds(lambda c, a: f"{c}.{a}", collection, st.sampled_from(["a", "name", "0"])),
        st.builds(
            lambda c, s, a: f"{c}{s}{a}",
            collection,
            st.sampled_from(["[*]", ".*"]),
            st.sampled_from(["", ".a", "[0]", ".a.b"]),
        ),
        st.builds(
            lambda c, body, cond: f"[for x in {c} : {body}{f' if {cond}' if cond else ''}]",
            collection,
            inner,
            st.one_of(st.just(""), inner),
        ),
        st.builds(
            lambda c, key, value, group: f"{{for k, v in {c} : {key} => {value}{group}}}",
            collection,
            inner,
            inner,
            st.sampled_from(["", "..."]),
        ),
        st.builds(
            lambda before, value, after: f'"{before}${{{value}}}{after}"',
            TEXT.map(lambda t: string_literal(t)[1:-1]),
            inner,
            TEXT.map(lambda t: string_literal(t)[1:-1]),
        ),
        st.builds(
            lambda c, a, b, strip: (
                f'"%{{{strip} if {c} {strip}}}{a}%{{ else }}${{{b}}}%{{ endif }}"'
            ),
            inner,
            TEXT.map(lambda t: string_literal(t)[1:-1]),
            inner,
            st.sampled_from(["", "~"]),
        ),
        st.builds(
            lambda c, body: f'"%{{ for x in {c} ~}}${{{body}}},%{{ endfor }}"', collection, inner
        ),
        st.builds(lambda value: f"<<-EOT\n  line\n  ${{{value}}}\n  EOT\n", inner),
    )


EXPRESSIONS = st.recursive(LEAVES, compound, max_leaves=12)


def expression_evaluator(root: Path) -> Evaluator:
    locals_: dict[str, Any] = {}
    for name, text in {"one": "1", "two": 'local.one + "1"'}.items():
        parsed, _ = parse_source("locals.tf", f"x = {text}\n")
        assert parsed is not None
        locals_[name] = parsed.body.attributes[0].value
    return Evaluator(
        directory=root,
        variables=VARIABLES,
        locals_=locals_,
        resource_types=("openai_file",),
        resources=lambda kind, name, where: UNKNOWN,
    )


@dataclass(frozen=True)
class Outcome:
    """What became of a text: its value, the diagnostic evaluating it gave, or the problems
    parsing it found."""

    value: Any = None
    failed: Diagnostic | None = None
    problems: tuple[Diagnostic, ...] = ()


def evaluate_text(text: str, root: Path) -> Outcome:
    """What `text` evaluates to, or the diagnostics that say why it has no value. Anything
    else that is raised fails the property."""
    parsed, problems = parse_source("main.tf", f"x = {text}\n")
    if parsed is None or problems:
        assert problems, "a file that does not parse must say why"
        for problem in problems:
            assert isinstance(problem, Diagnostic)
            assert problem.summary and problem.where is not None
        return Outcome(problems=tuple(problems))
    if len(parsed.body.attributes) != 1 or parsed.body.blocks:
        return Outcome()  # the text ended the attribute early; the rest is another construct
    try:
        return Outcome(expression_evaluator(root).evaluate(parsed.body.attributes[0].value))
    except EvaluationFailed as exc:
        diagnostic = exc.diagnostic
        assert diagnostic.summary
        assert diagnostic.where is not None and diagnostic.where.file == "main.tf"
        return Outcome(failed=diagnostic)


def plain(value: Any) -> bool:
    """Whether `value` is made only of the language's values."""
    if value is UNKNOWN or value is None or isinstance(value, bool | str):
        return True
    if isinstance(value, int | float):
        return not (isinstance(value, float) and math.isnan(value))
    if isinstance(value, Sensitive):
        return plain(value.value)
    if isinstance(value, list | tuple):
        return all(plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and plain(v) for k, v in value.items())
    return False


@examples(250)
@given(EXPRESSIONS)
def test_any_expression_evaluates_to_a_value_or_a_diagnostic(text: str) -> None:
    with directory() as root:
        outcome = evaluate_text(text, root)
    assert plain(outcome.value), outcome


@st.composite
def broken(draw: st.DrawFn) -> str:
    """An expression with characters cut out of it or dropped into it."""
    text = draw(EXPRESSIONS)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        if draw(st.booleans()) and text:
            text = text[:at] + text[at + 1 :]
        else:
            text = text[:at] + draw(st.sampled_from(list('"{}[]()$%~<=?:.,\n\\#/*'))) + text[at:]
    return text


@examples(150)
@given(broken())
def test_broken_text_is_a_diagnostic_not_an_exception(text: str) -> None:
    with directory() as root:
        outcome = evaluate_text(text, root)
    assert plain(outcome.value), outcome


@examples(30)
@given(EXPRESSIONS)
def test_a_configuration_with_any_expression_is_prepared_without_exceptions(text: str) -> None:
    with directory() as root:
        write(root, {"main.tf": f'output "o" {{\n  value = {text}\n}}\n'})
        configuration, problems = prepare(root, [], {})
        for problem in problems:
            assert problem.summary
        if not configuration.has_cycle:
            walk = Walk(configuration, configuration.values, {}, 0)
            walk.run()
            walk.outputs()


def unclosed_escape(text: str) -> bool:
    """Whether `text` has a ${ or %{ with no } after it: python-hcl2 lexes an escaped $${ or
    %%{ only up to a closing brace, so "$${" alone does not parse (see test_language)."""
    return any(
        "}" not in text[at + 2 :]
        for at in range(len(text) - 1)
        if text[at + 1] == "{" and text[at] in "$%"
    )


@examples(150)
@given(TEXT.filter(lambda text: not unclosed_escape(text)))
def test_a_string_literal_gives_back_its_text(text: str) -> None:
    with directory() as root:
        assert evaluate_text(string_literal(text), root) == Outcome(text)
        # In a template after an interpolation, too (before one, a "$" would escape it).
        template = '"${"!"}' + string_literal(text)[1:]
        assert evaluate_text(template, root) == Outcome("!" + text)


@examples(100)
@given(
    st.one_of(
        st.integers(-(10**15), 10**15),
        st.floats(-1e12, 1e12, allow_nan=False, allow_infinity=False),
    )
)
def test_a_number_literal_gives_back_its_number(number: float) -> None:
    with directory() as root:
        assert evaluate_text(number_literal(number), root) == Outcome(number)
        assert evaluate_text(f'"${{{number_literal(number)}}}"', root) == Outcome(number)
