"""The configuration language, table by table, with Terraform's results: the value of each kind
of expression (typed: 1, 1.0, "1" and true are told apart), each error's summary, detail and
exact `file:line:col`, and the configuration-level rules (variables and their sources, types,
validation, locals, outputs, count/for_each, references to instances, cycles).

Rows hold only what differs: an expression's text (with a `»` where its error must point),
or a few lines of configuration. Where ftctl knowingly differs from Terraform, the row says
what Terraform gives and is marked xfail(strict), so that fixing it is noticed."""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ftctl.diagnostics import Diagnostic, Severity
from ftctl.engine.desired import Walk, prepare
from ftctl.lang import functions
from ftctl.lang.config import Configuration, load_configuration
from ftctl.lang.evaluate import EvaluationFailed, Evaluator
from ftctl.lang.loader import parse_source
from ftctl.lang.syntax import Expression
from ftctl.lang.values import UNKNOWN, Sensitive, SetValue
from ftctl.lang.variables import VariableInput
from tests.lang import MARK, marked, write

# --- expressions ---------------------------------------------------------------------------

# What `var.NAME` is in the expression tables: one of each kind of value.
VARIABLES: dict[str, Any] = {
    "u": UNKNOWN,
    "s": Sensitive("hush"),
    "flag": Sensitive(True),
    "smap": Sensitive({"k": "v"}),
    "n": None,
    "l": [10, 20, 30],
    "m": {"a": 1, "b": 2},
    "objs": [{"name": "x", "size": 1}, {"name": "y", "size": 2}],
    "tags": SetValue(["b", "a"]),
}
# What `local.NAME` is: a chain, each refers to the one before.
LOCALS = {"one": "1", "two": "local.one + 1", "greeting": '"hi ${local.two}"'}


def parse_expression(text: str, name: str = "main.tf") -> Expression:
    parsed, problems = parse_source(name, f"x = {text}\n")
    assert problems == [], [(p.summary, p.detail, str(p.where)) for p in problems]
    assert parsed is not None
    return parsed.body.attributes[0].value


def evaluator(directory: Path) -> Evaluator:
    return Evaluator(
        directory=directory,
        variables=VARIABLES,
        locals_={name: parse_expression(text, "locals.tf") for name, text in LOCALS.items()},
        resource_types=(),
        resources=lambda kind, name, where: UNKNOWN,
    )


def evaluate(text: str, directory: Path = Path("/configuration")) -> Any:
    return evaluator(directory).evaluate(parse_expression(text))


def typed(value: Any) -> Any:
    """A value with its type spelled out, so that 1 and "1", 1 and true, a list and a set, a
    value and the same value marked sensitive all compare different (1 and 1.0 stay equal:
    Terraform has one number type)."""
    if value is UNKNOWN:
        return "(unknown)"
    if isinstance(value, Sensitive):
        return ("sensitive", typed(value.value))
    if value is None:
        return ("null",)
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", value)
    if isinstance(value, str):
        return ("string", value)
    if isinstance(value, SetValue):
        return ("set", [typed(v) for v in value])
    if isinstance(value, list | tuple):
        return ("list", [typed(v) for v in value])
    if isinstance(value, dict):
        return ("map", {k: typed(v) for k, v in value.items()})
    raise AssertionError(f"not a language value: {value!r}")


def row(text: str, expected: Any, *marks: Any) -> Any:
    return pytest.param(text, expected, id=text, marks=marks)


def diverges(reason: str) -> Any:
    return pytest.mark.xfail(strict=True, reason=f"ftctl differs from Terraform: {reason}")


VALUES = [
    # literals and numbers
    row("1", 1),
    row("1.5", 1.5),
    row("-3", -3),
    row("1e3", 1000),
    row("2.5e-1", 0.25),
    row("true", True),
    row("false", False),
    row("null", None),
    row('""', ""),
    row("[]", []),
    row("{}", {}),
    row('[1, "a", true, null]', [1, "a", True, None]),
    row('{a = 1, "b c" = 2}', {"a": 1, "b c": 2}),
    row("{a = 1, b = {c = [2]}}", {"a": 1, "b": {"c": [2]}}),
    row("{(local.one) = 1}", {"1": 1}),
    # strings and escapes
    row('"a\\nb"', "a\nb"),
    row('"a\\tb"', "a\tb"),
    row('"say \\"hi\\""', 'say "hi"'),
    row('"back\\\\slash"', "back\\slash"),
    row('"\\u00e9t\\u00e9"', "été"),
    row('"\\U0001F600"', "\U0001f600"),
    row('"100% sure"', "100% sure"),
    row('"$5"', "$5"),
    # templates
    row('"${1}"', 1),
    row('"${true}"', True),
    row('"${[1, 2]}"', [1, 2]),
    row('"${null}"', None),
    row('"${ "x" }"', "x"),
    row('"a${1}"', "a1"),
    row('"${1}${2}"', "12"),
    row('"v${1.5}"', "v1.5"),
    row('"${5 / 2}"', 2.5),
    row('"x${true}"', "xtrue"),
    row('"${local.greeting}!"', "hi 2!"),
    row('"$${x}"', "${x}"),
    row('"%%{x}"', "%{x}"),
    row('"$${x} and ${1}"', "${x} and 1"),
    row('"$${ ${1} }"', "${ 1 }"),
    row('"%%{-%{ if true }y%{ endif }"', "%{-y"),
    row('"$${"', "${", diverges('python-hcl2 lexes "$${" only up to a closing brace')),
    row('"%{ if true }yes%{ else }no%{ endif }"', "yes"),
    row('"%{ if false }yes%{ else }no%{ endif }"', "no"),
    row('"%{ if false }yes%{ endif }"', ""),
    row('"%{ if "true" }yes%{ endif }"', "yes"),
    row('"%{ for x in [1, 2] }${x},%{ endfor }"', "1,2,"),
    row('"%{ for i, x in ["a", "b"] }${i}${x}%{ endfor }"', "0a1b"),
    row('"%{ for k, v in {b = 2, a = 1} }${k}=${v};%{ endfor }"', "a=1;b=2;"),
    row('"%{ for x in [1, 2, 3] }%{ if x > 1 }${x}%{ endif }%{ endfor }"', "23"),
    row('"%{ for x in [] }${x}%{ endfor }"', ""),
    row('"a %{~ if true ~} b %{~ endif ~} c"', "abc"),
    row('"a %{ if true ~} b %{ endif } c"', "a b  c"),
    row('"[ %{~ for x in [1, 2] ~} ${x} %{~ endfor ~} ]"', "[12]"),
    row('"a ${~ "x" ~} b"', "axb", diverges("python-hcl2's grammar has no ${~ strip marker")),
    # heredocs
    row("<<EOT\nhello ${1 + 1}\n  world\nEOT", "hello 2\n  world\n"),
    row('<<-EOT\n    hello\n      ${upper("x")}\n    EOT', "hello\n  X\n"),
    row("<<-EOT\n  a\n\n  b\n  EOT", "a\n\nb\n"),
    row("<<EOT\nEOT", ""),
    row("<<EOT\n$${x} %%{y}\nEOT", "${x} %{y}\n"),
    row("<<EOT\n%{ for x in [1, 2] ~}\n${x}\n%{ endfor ~}\nEOT", "1\n2\n"),
    row("<<EOT\n%{ if false }yes%{ else }no%{ endif }\nEOT", "no\n"),
    row('<<EOT\n${"}"}\nEOT', "}\n"),
    row("<<EOT\n${var.s}\nEOT", Sensitive("hush\n")),
    # arithmetic and precedence
    row("1 + 2 * 3", 7),
    row("(1 + 2) * 3", 9),
    row("10 - 2 - 3", 5),
    row("2 * 3 % 4", 2),
    row("7 % 3", 1),
    row("-7 % 3", -1),
    row("7.5 % 2", 1.5),
    row("5 / 2", 2.5),
    row("4 / 2", 2),
    row("-5 / 2", -2.5),
    row("1 / 4 * 2", 0.5),
    row("-(2 + 3)", -5),
    row("- var.l[0]", -10),
    row('"2" * "3"', 6),
    row('"1" + 1', 2),
    # comparison and logic
    row("1 < 2", True),
    row("2 <= 2", True),
    row("3 > 4", False),
    row("3 >= 3", True),
    row('1 < "2"', True),
    row("1 + 2 == 3", True),
    row("1 < 2 == true", True),
    row("!true || true", True),
    row("!(true || true)", False),
    row("true && false || true", True),
    row("false || true && false", False),
    row("!false && !false", True),
    row("!!true", True, diverges("python-hcl2's grammar takes no unary operator after another")),
    row("- -2", 2, diverges("python-hcl2's grammar takes no unary operator after another")),
    # equality: values of different types are never equal
    row('1 == "1"', False),
    row('1 != "1"', True),
    row("2 == 2.0", True),
    row('true == "true"', False),
    row("1 == true", False),
    row('"a" == "a"', True),
    row("null == null", True),
    row("null == 1", False),
    row("[1, 2] == [1, 2]", True),
    row("[1] == [1, 2]", False),
    row("{a = 1} == {a = 1}", True),
    row("{a = 1} == {a = 2}", False),
    row("var.tags == var.tags", True),
    # conditionals
    row("true ? 1 : 2", 1),
    row("false ? 1 : 2", 2),
    row('2 > 1 ? "big" : "small"', "big"),
    row("false ? 1 : true ? 2 : 3", 2),
    row('"true" ? "y" : "n"', "y"),
    row('"0" ? "y" : "n"', "n"),
    row("true ? [1] : []", [1]),
    row('true ? 1 : "a"', "1", diverges("Terraform unifies both results' types: string")),
    # for expressions
    row("[for x in [1, 2, 3] : x * 2]", [2, 4, 6]),
    row("[for x in [1, 2, 3, 4] : x if x % 2 == 0]", [2, 4]),
    row('[for i, x in ["a", "b"] : "${i}${x}"]', ["0a", "1b"]),
    row("[for k, v in {b = 1, a = 2} : k]", ["a", "b"]),
    row("[for v in {b = 1, a = 2} : v]", [2, 1]),
    row("{for k, v in {a = 1, b = 2} : k => v + 1}", {"a": 2, "b": 3}),
    row("{for k, v in {a = 1, b = 2} : v => k}", {"1": "a", "2": "b"}),
    row('{for x in ["a", "bb"] : x => length(x)}', {"a": 1, "bb": 2}),
    row('[for x in toset(["b", "a", "b"]) : x]', ["a", "b"]),
    row('[for k, v in toset(["b", "a"]) : "${k}${v}"]', ["aa", "bb"]),
    row("[for x in var.tags : upper(x)]", ["A", "B"]),
    row('{for x in ["a", "b", "a"] : x => x...}', {"a": ["a", "a"], "b": ["b"]}),
    row(
        '{for s in ["x1", "y1", "x2"] : substr(s, 0, 1) => s...}',
        {"x": ["x1", "x2"], "y": ["y1"]},
    ),
    row("[for x in [] : x]", []),
    row("{for x in [] : x => x}", {}),
    row("[for o in var.objs : o.name if o.size > 1]", ["y"]),
    row("[for x in [[1, 2], [3]] : [for y in x : y * 10]]", [[10, 20], [30]]),
    # splats
    row("[{a = 1}, {a = 2}][*].a", [1, 2]),
    row("[{a = 1}, {a = 2}].*.a", [1, 2]),
    row("var.objs[*].name", ["x", "y"]),
    row("var.objs.*.size", [1, 2]),
    row("[{a = {b = 1}}][*].a.b", [1]),
    row("[[1, 2], [3]][*][0]", [1, 3]),
    row("[[1, 2], [3, 4]].*[0]", [1, 2]),
    row("var.n[*].a", []),
    row("null[*]", []),
    row("[][*].a", []),
    row("{a = 1}[*].a", [1]),
    row('"x"[*]', ["x"]),
    # index and attribute access
    row("[10, 20, 30][1]", 20),
    row('["a", "b"]["1"]', "b"),
    row("[10, 20].1", 20),
    row('{a = 1}["a"]', 1),
    row("{a = {b = 2}}.a.b", 2),
    row('{"key with space" = 1}["key with space"]', 1),
    row("[[1, 2], [3]][0][1]", 2),
    row("var.l[2]", 30),
    row("var.l[var.l[0] / 10]", 20),
    row("var.m.a", 1),
    row('var.m["b"]', 2),
    row("var.objs[1].name", "y"),
    row("var.objs[0]", {"name": "x", "size": 1}),
    # references
    row("path.module", "."),
    row("path.root", "."),
    row("terraform.workspace", "default"),
    row("local.one", 1),
    row("local.two", 2),
    row("var.tags", SetValue(["a", "b"])),
    # unknown values: anything computed from one is unknown
    row("var.u", UNKNOWN),
    row("var.u + 1", UNKNOWN),
    row("1 + var.u", UNKNOWN),
    row("-var.u", UNKNOWN),
    row("!var.u", UNKNOWN),
    row("var.u == 1", UNKNOWN),
    row("var.u == null", UNKNOWN),
    row("[var.u] == [1]", UNKNOWN),
    row('"a${var.u}b"', UNKNOWN),
    row('"${var.u}"', UNKNOWN),
    row('"%{ if var.u }y%{ endif }"', UNKNOWN),
    row('"%{ for x in var.u }${x}%{ endfor }"', UNKNOWN),
    row("upper(var.u)", UNKNOWN),
    row('coalesce(var.u, "a")', UNKNOWN),
    row("jsonencode([var.u])", UNKNOWN),
    row("length(var.u)", UNKNOWN),
    row("length([var.u, 1])", 2),
    row("keys({a = var.u, b = 1})", ["a", "b"]),
    row("concat([var.u], [1])", [UNKNOWN, 1]),
    row('lookup({a = var.u}, "a")', UNKNOWN),
    row("var.u ? 1 : 2", UNKNOWN),
    row("true ? 1 : var.u", 1),
    row("false ? 1 : var.u", UNKNOWN),
    row("[var.u, 1]", [UNKNOWN, 1]),
    row("{a = var.u}", {"a": UNKNOWN}),
    row("{(var.u) = 1}", UNKNOWN),
    row("var.u[0]", UNKNOWN),
    row("var.u.a", UNKNOWN),
    row("var.u[*].a", UNKNOWN),
    row("[1, 2][var.u]", UNKNOWN),
    row("[for x in var.u : x]", UNKNOWN),
    row("[for x in [1, var.u] : x * 2]", [2, UNKNOWN]),
    row("[for x in [1, 2] : x if var.u]", UNKNOWN),
    row("{for x in [1] : var.u => x}", UNKNOWN),
    # sensitive values: anything computed from one is sensitive
    row("var.s", Sensitive("hush")),
    row("upper(var.s)", Sensitive("HUSH")),
    row("length(var.s)", Sensitive(4)),
    row('"<${var.s}>"', Sensitive("<hush>")),
    row('"%{ if true }${var.s}%{ endif }"', Sensitive("hush")),
    row('var.s == "hush"', Sensitive(True)),
    row("!var.flag", Sensitive(False)),
    row("var.flag ? 1 : 2", Sensitive(1)),
    row('true ? var.s : "x"', Sensitive("hush")),
    row('false ? var.s : "x"', "x"),
    row("[var.s]", [Sensitive("hush")]),
    row("[var.s][0]", Sensitive("hush")),
    row("{a = var.s}.a", Sensitive("hush")),
    row("var.smap.k", Sensitive("v")),
    row('var.smap["k"]', Sensitive("v")),
    row("[for k, v in var.smap : v]", Sensitive(["v"])),
    row("[for x in [1] : var.s]", [Sensitive("hush")]),
    row("var.smap[*]", Sensitive([{"k": "v"}])),
    row("[1, 2][var.flag ? 1 : 0]", Sensitive(2)),
]


@pytest.mark.parametrize(("text", "expected"), VALUES)
def test_each_expression_has_terraforms_value(text: str, expected: Any) -> None:
    assert typed(evaluate(text)) == typed(expected)


def test_path_cwd_is_the_configuration_directory(tmp_path: Path) -> None:
    assert evaluate("path.cwd", tmp_path) == str(tmp_path.resolve())
    assert evaluate('"${path.module}/data.jsonl"', tmp_path) == "./data.jsonl"


# (expression with » where the error points, summary, words of the detail)
FAILURES = [
    # operators
    ("»1 / 0", "Operation failed", "Error during operation: can't divide by zero."),
    ("2 * (»3 / 0)", "Operation failed", "Error during operation: can't divide by zero."),
    (
        '»"a" + 1',
        "Invalid operand",
        "Unsuitable value for left operand: a number is required",
    ),
    ("1 + »true", "Invalid operand", "Unsuitable value for right operand: a number is required"),
    ("1 * »[1]", "Invalid operand", "Unsuitable value for right operand: a number is required"),
    ("true && »1", "Invalid operand", "Unsuitable value for right operand: a bool is required"),
    ("»null || true", "Invalid operand", "Unsuitable value for left operand: a bool is required"),
    ("!»1", "Invalid operand", "Unsuitable value for operand: a bool is required"),
    ('-»"a"', "Invalid operand", "Unsuitable value for operand: a number is required"),
    ('»"a" < "b"', "Invalid operand", "Unsuitable value for left operand: a number is required"),
    # conditionals
    ("»1 ? 2 : 3", "Incorrect condition type", "The condition expression must be of type bool"),
    (
        '»"yes" ? 2 : 3',
        "Incorrect condition type",
        "The condition expression must be of type bool",
    ),
    (
        "»null ? 1 : 2",
        "Null condition",
        "The condition value is null. Conditions must either be true or false.",
    ),
    ("true ? »1 / 0 : 2", "Operation failed", "can't divide by zero"),
    # templates
    (
        '"x${»null}"',
        "Invalid template interpolation value",
        "The expression result is null. Cannot include a null value in a string template.",
    ),
    (
        '"a${»[1]}"',
        "Invalid template interpolation value",
        "Cannot include a list of number in a string template.",
    ),
    (
        '"%{ if »1 }y%{ endif }"',
        "Incorrect condition type",
        "The condition expression must be of type bool",
    ),
    ('"%{ if »null }y%{ endif }"', "Null condition", "Conditions must either be true or false."),
    (
        '"%{ for x in »1 }${x}%{ endfor }"',
        "Iteration over non-iterable value",
        "not a number",
    ),
    ("<<EOT\nline\n${»1 / 0}\nEOT", "Operation failed", "can't divide by zero"),
    ("<<-EOT\n    ${»nosuch()}\n    EOT", "Call to unknown function", 'named "nosuch"'),
    # for expressions
    ("[for x in »3 : x]", "Iteration over non-iterable value", "not a number"),
    (
        "[for x in »null : x]",
        "Iteration over null value",
        "A null value cannot be used as the collection in a 'for' expression.",
    ),
    (
        '{for x in ["a", "b", "a"] : »x => x}',
        "Duplicate object key",
        "Two different items produced the key \"a\" in this 'for' expression. If duplicates "
        "are expected, use the ellipsis (...) after the value expression to enable grouping "
        "by key.",
    ),
    ("[for x in [1] : x if »x]", "Invalid 'for' condition", "must be a bool, not number"),
    ("{for x in [1] : »[x] => x}", "Invalid object key", "must be a string, not list"),
    # index and attribute access
    (
        "»[1, 2][5]",
        "Invalid index",
        "The given key does not identify an element in this collection value: the given "
        "index (5) is greater than or equal to the length of the collection (2).",
    ),
    (
        "»var.l[-1]",
        "Invalid index",
        "The given key does not identify an element in this collection value: a negative "
        "number is not a valid index for a sequence.",
    ),
    ("»var.l[1.5]", "Invalid index", "The index must be a whole number."),
    ('»var.l["x"]', "Invalid index", "A list of number is indexed by a number, not string."),
    (
        '»{a = 1}["b"]',
        "Invalid index",
        'The given key does not identify an element in this collection value: "b" is not one '
        "of its keys.",
    ),
    (
        "»var.tags[0]",
        "Invalid index",
        "Elements of a set are identified only by their value and don't have any separate "
        "index or key to select with",
    ),
    ("»var.n[0]", "Attempt to index null value", "This value is null, so it does not have any"),
    ('»"abc"[0]', "Invalid index", "This value (string) does not have any indices."),
    ("»{a = 1}.b", "Unsupported attribute", 'This value has no attribute named "b" (it has: a).'),
    ("»var.m.c", "Unsupported attribute", 'var.m has no attribute named "c" (it has: a, b).'),
    (
        "»var.objs.name",
        "Unsupported attribute",
        'var.objs is a list of object, which has no attributes: "name" cannot be read. To read '
        "it from every element, use a splat: [*].name",
    ),
    (
        "»null.a",
        "Attempt to get attribute from null value",
        "This value is null, so it does not have any attributes.",
    ),
    (
        "»var.n.a",
        "Attempt to get attribute from null value",
        "var.n is null, so it does not have any attributes.",
    ),
    (
        "»var.m.a.b",
        "Unsupported attribute",
        'Can\'t access attributes on a primitive-typed value (number): "b".',
    ),
    (
        "»[{a = null}][*].a.b",
        "Attempt to get attribute from null value",
        "Each element.a is null",
    ),
    # references
    (
        "»var.nope",
        "Reference to undeclared input variable",
        'An input variable with the name "nope" has not been declared.',
    ),
    (
        "»local.nope",
        "Reference to undeclared local value",
        'A local value with the name "nope" has not been declared.',
    ),
    ("»path.nope", 'Invalid "path" attribute', "use path.module, path.root or path.cwd"),
    ("»terraform.env", 'Invalid "terraform" attribute', 'only the attribute "workspace"'),
    ("»each.key", 'Reference to "each" in context without for_each', '"for_each" argument'),
    ("»count.index", 'Reference to "count" in non-counted context', '"count" argument is set'),
    (
        "»openai_file.nope.id",
        "Reference to undeclared resource",
        'A managed resource "openai_file" "nope" has not been declared in the root module.',
    ),
    ("»self.id", '"self" references are not supported', "no self objects"),
    # functions
    ("»nosuch(1)", "Call to unknown function", 'There is no function named "nosuch".'),
    (
        "upper(»[1])",
        "Invalid function argument",
        'Invalid value for "str" parameter: string required.',
    ),
    (
        "»upper()",
        "Not enough function arguments",
        'Function "upper" expects 1 argument(s). Missing value for "str".',
    ),
    ('upper("a", »"b")', "Too many function arguments", 'Function "upper" expects only 1'),
    (
        "max(»1...)",
        "Invalid expanding argument value",
        "The expanding argument (indicated by ...) must be of a tuple, list, or set type, "
        "not number.",
    ),
]


def fail(text: str) -> tuple[Diagnostic, str]:
    """The diagnostic evaluating `text` (marked with »), and 'main.tf:L:C' of the marker."""
    files, where = marked({"main.tf": f"x = {text}\n"})
    with pytest.raises(EvaluationFailed) as caught:
        evaluate(files["main.tf"].removeprefix("x = ").removesuffix("\n"))
    return caught.value.diagnostic, where


@pytest.mark.parametrize(
    ("text", "summary", "detail"), [pytest.param(*f, id=f[0]) for f in FAILURES]
)
def test_each_failure_has_terraforms_words_and_points_at_the_culprit(
    text: str, summary: str, detail: str
) -> None:
    diagnostic, where = fail(text)
    assert diagnostic.severity is Severity.ERROR
    assert diagnostic.summary == summary
    assert detail in diagnostic.detail
    assert str(diagnostic.where) == where


def test_unknown_function_lists_every_supported_one() -> None:
    diagnostic, _ = fail('»frobnicate("x")')
    assert diagnostic.detail == (
        'There is no function named "frobnicate". ftctl supports: '
        + ", ".join(functions.SUPPORTED)
        + "."
    )
    assert {"length", "templatefile", "zipmap", "jsonencode"} <= set(functions.SUPPORTED)


def test_an_unchosen_branch_is_not_evaluated() -> None:
    # Its error would be reported only if chosen: a guard in the condition protects it.
    assert evaluate('length(var.l) > 5 ? var.l[5] : "none"') == "none"
    assert evaluate("var.n == null ? 0 : var.n.a") == 0


# --- configurations ------------------------------------------------------------------------

DATA = '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n'


@dataclass
class Run:
    configuration: Configuration
    problems: list[Diagnostic]

    @property
    def values(self) -> Mapping[str, Any]:
        return self.configuration.values

    def walk(self, *, validating: bool = False) -> Walk:
        assert not self.configuration.has_cycle
        return Walk(self.configuration, self.configuration.values, {}, 0, validating=validating)


def run(
    directory: Path,
    files: Mapping[str, str],
    inputs: Sequence[tuple[str, str]] = (),
    environ: Mapping[str, str] | None = None,
    *,
    require: bool = True,
) -> Run:
    write(directory, files)
    configuration, problems = prepare(
        directory,
        [VariableInput(kind, text) for kind, text in inputs],
        dict(environ or {}),
        require_variables=require,
    )
    return Run(configuration, problems)


def only(problems: Sequence[Diagnostic]) -> Diagnostic:
    assert len(problems) == 1, [(p.summary, p.detail, str(p.where)) for p in problems]
    return problems[0]


def outputs(result: Run) -> dict[str, Any]:
    walk = result.walk()
    walk.run()
    found = walk.outputs()
    assert walk.problems == [], [(p.summary, p.detail, str(p.where)) for p in walk.problems]
    return found


# -- variable types and conversion

VARIABLE = 'variable "v" {{\n  type = {type}\n}}\noutput "o" {{\n  value = var.v\n}}\n'


@dataclass(frozen=True)
class Bad:
    """The detail after "The given value is not suitable for var.v declared at main.tf:1:1: "."""

    reason: str


# (type, the value in terraform.tfvars, the variable's value or why it is refused)
TYPES = [
    ("string", '"a"', "a"),
    ("string", "1", "1"),
    ("string", "1.5", "1.5"),
    ("string", "true", "true"),
    ("string", "null", None),
    ("string", "[1]", Bad("string required")),
    ("string", "{a = 1}", Bad("string required")),
    ("number", '"1"', 1),
    ("number", '"2.5"', 2.5),
    ("number", "-4", -4),
    ("number", '"x"', Bad("a number is required")),
    ("number", "true", Bad("number required")),
    ("number", "[1]", Bad("number required")),
    ("bool", "true", True),
    ("bool", '"false"', False),
    ("bool", '"1"', True),
    ("bool", '"0"', False),
    ("bool", '"yes"', Bad("a bool is required")),
    ("bool", '"True"', Bad('a bool is required; to convert from string, use lowercase "true"')),
    ("bool", "1", Bad("bool required")),
    ("list(string)", '[1, "a", true]', ["1", "a", "true"]),
    ("list(number)", '["1", 2]', [1, 2]),
    ("list(number)", "[]", []),
    ("list(number)", '["1", "x"]', Bad("element 1: a number is required")),
    ("list(number)", '"x"', Bad("list of number required")),
    ("list(string)", "{a = 1}", Bad("list of string required")),
    ("set(string)", '["b", "a", "b"]', SetValue(["a", "b"])),
    ("set(number)", "[3, 1, 3]", SetValue([1, 3])),
    ("map(string)", '{a = 1, b = "x"}', {"a": "1", "b": "x"}),
    ("map(number)", '{a = "x"}', Bad('element "a": a number is required')),
    ("map(string)", '["a"]', Bad("map of string required")),
    ("map(list(number))", '{a = [1, "y"]}', Bad('element "a": element 1: a number is required')),
    ("object({a = string, b = number})", '{a = "x", b = "2"}', {"a": "x", "b": 2}),
    ("object({a = string})", '{a = "x", extra = 1}', {"a": "x"}),
    ("object({a = string, b = number})", '{a = "x"}', Bad('attribute "b" is required')),
    ("object({a = number})", '{a = "x"}', Bad('attribute "a": a number is required')),
    ("object({a = string, b = optional(number)})", '{a = "x"}', {"a": "x", "b": None}),
    ("object({a = string, b = optional(number, 5)})", '{a = "x"}', {"a": "x", "b": 5}),
    ("object({a = string, b = optional(number, 5)})", '{a = "x", b = 1}', {"a": "x", "b": 1}),
    ("list(object({n = number}))", "[{n = 1}, {n = 2}]", [{"n": 1}, {"n": 2}]),
    ("list(object({n = number}))", '[{n = 1}, {n = "x"}]', Bad('element 1: attribute "n": a')),
    ("tuple([string, number])", '["a", "2"]', ["a", 2]),
    ("tuple([string, number])", '["a"]', Bad("tuple required with 2 elements")),
    ("tuple([string, number])", '["a", "b"]', Bad("element 1: a number is required")),
    ("any", '[1, "a"]', [1, "a"]),
    ("any", "{a = 1}", {"a": 1}),
]


@pytest.mark.parametrize(
    ("type_", "given", "expected"),
    [pytest.param(*t, id=f"{t[0]}={t[1]}") for t in TYPES],
)
def test_a_variable_value_is_converted_to_its_type(
    tmp_path: Path, type_: str, given: str, expected: Any
) -> None:
    result = run(
        tmp_path,
        {"main.tf": VARIABLE.format(type=type_), "terraform.tfvars": f"v = {given}\n"},
    )
    if isinstance(expected, Bad):
        problem = only(result.problems)
        assert problem.summary == "Invalid value for variable"
        prefix = "The given value is not suitable for var.v declared at main.tf:1:1: "
        assert problem.detail.startswith(prefix + expected.reason)
        assert problem.detail.endswith(".") and not problem.detail.endswith("..")
        assert str(problem.where) == "terraform.tfvars:1:1"
        assert result.values["v"] is UNKNOWN
    else:
        assert result.problems == []
        assert typed(result.values["v"]) == typed(expected)
        assert typed(outputs(result)["o"]) == typed(expected)


# -v and TF_VAR_ give text: a complex type reads it as an expression, a primitive as is.
TEXT_VALUES = [
    ("number", "var", "5", 5),
    ("string", "var", "[1, 2]", "[1, 2]"),
    ("string", "var", "null", "null"),
    ("list(number)", "var", '[1, "2"]', [1, 2]),
    ("map(string)", "env", '{a = "b"}', {"a": "b"}),
    ("bool", "env", "true", True),
    ("any", "env", "[1]", "[1]"),
    ("object({n = number})", "var", "{n = 3}", {"n": 3}),
]


@pytest.mark.parametrize(
    ("type_", "how", "text", "expected"),
    [pytest.param(*t, id=f"{t[1]}:{t[0]}={t[2]}") for t in TEXT_VALUES],
)
def test_command_line_and_environment_values_are_read_by_the_type(
    tmp_path: Path, type_: str, how: str, text: str, expected: Any
) -> None:
    inputs = [("var", f"v={text}")] if how == "var" else []
    environ = {"TF_VAR_v": text} if how == "env" else {}
    result = run(tmp_path, {"main.tf": VARIABLE.format(type=type_)}, inputs, environ)
    assert result.problems == []
    assert typed(result.values["v"]) == typed(expected)


def test_a_command_line_value_that_is_not_an_expression_is_refused(tmp_path: Path) -> None:
    result = run(tmp_path, {"main.tf": VARIABLE.format(type="list(number)")}, [("var", "v=[1,")])
    problem = only(result.problems)
    assert (problem.summary, problem.detail) == (
        "Invalid value for variable",
        "The value given for var.v is not a valid expression: [1,",
    )


def test_an_environment_value_of_the_wrong_type_points_at_the_variable(tmp_path: Path) -> None:
    result = run(tmp_path, {"main.tf": VARIABLE.format(type="bool")}, environ={"TF_VAR_v": "x"})
    problem = only(result.problems)
    assert problem.summary == "Invalid value for variable"
    assert problem.detail.endswith("main.tf:1:1: a bool is required.")
    assert str(problem.where) == "main.tf:1:1"


# -- where a variable's value comes from

PRECEDENCE_TF = 'variable "v" {\n  default = "default"\n}\noutput "o" {\n  value = var.v\n}\n'


def precedence(
    expected: str,
    files: Mapping[str, str] | None = None,
    inputs: Sequence[tuple[str, str]] = (),
    environ: Mapping[str, str] | None = None,
    *,
    id: str,
) -> Any:
    return pytest.param(dict(files or {}), list(inputs), dict(environ or {}), expected, id=id)


PRECEDENCE = [
    precedence("default", id="default"),
    precedence("env", environ={"TF_VAR_v": "env"}, id="TF_VAR-over-default"),
    precedence(
        "tfvars",
        {"terraform.tfvars": 'v = "tfvars"\n'},
        environ={"TF_VAR_v": "env"},
        id="terraform.tfvars-over-TF_VAR",
    ),
    precedence(
        "json",
        {"terraform.tfvars": 'v = "tfvars"\n', "terraform.tfvars.json": '{"v": "json"}'},
        id="tfvars.json-over-tfvars",
    ),
    precedence(
        "auto",
        {"terraform.tfvars.json": '{"v": "json"}', "a.auto.tfvars": 'v = "auto"\n'},
        id="auto-over-tfvars.json",
    ),
    precedence(
        "b",
        {"b.auto.tfvars": 'v = "b"\n', "a.auto.tfvars": 'v = "a"\n'},
        id="auto-files-alphabetical",
    ),
    precedence(
        "c-json",
        {"b.auto.tfvars": 'v = "b"\n', "c.auto.tfvars.json": '{"v": "c-json"}'},
        id="auto.tfvars.json-is-an-auto-file",
    ),
    precedence("cli", {"z.auto.tfvars": 'v = "auto"\n'}, [("var", "v=cli")], id="var-over-auto"),
    precedence(
        "file",
        {"z.auto.tfvars": 'v = "auto"\n', "vars/x.tfvars": 'v = "file"\n'},
        [("var-file", "vars/x.tfvars")],
        id="var-file-over-auto",
    ),
    precedence(
        "file",
        {"vars/x.tfvars": 'v = "file"\n'},
        [("var", "v=cli"), ("var-file", "vars/x.tfvars")],
        id="var-then-var-file",
    ),
    precedence(
        "cli",
        {"vars/x.tfvars": 'v = "file"\n'},
        [("var-file", "vars/x.tfvars"), ("var", "v=cli")],
        id="var-file-then-var",
    ),
    precedence("second", inputs=[("var", "v=first"), ("var", "v=second")], id="last-var-wins"),
    precedence(
        "json-file",
        {"vars/x.tfvars.json": '{"v": "json-file"}'},
        [("var-file", "vars/x.tfvars.json")],
        id="json-var-file",
    ),
    precedence("a=b", inputs=[("var", "v=a=b")], id="value-keeps-later-equals-signs"),
    precedence("default", environ={"TF_VAR_other": "x", "TF_VAR_V": "x"}, id="TF_VAR-undeclared"),
]


@pytest.mark.parametrize(("files", "inputs", "environ", "expected"), PRECEDENCE)
def test_the_higher_source_of_a_value_wins(
    tmp_path: Path,
    files: dict[str, str],
    inputs: list[tuple[str, str]],
    environ: dict[str, str],
    expected: str,
) -> None:
    result = run(tmp_path, {"main.tf": PRECEDENCE_TF, **files}, inputs, environ)
    assert result.problems == []
    assert result.values["v"] == expected
    assert outputs(result) == {"o": expected}


# (files with » where the diagnostic points, or None when it has no position; -var/-var-file;
# severity, summary, words of the detail; the first variable's value after it)
VARIABLE_PROBLEMS = [
    pytest.param(
        {"main.tf": PRECEDENCE_TF},
        [("var", "nope=1")],
        ("error", "Value for undeclared variable"),
        'A variable named "nope" was assigned on the command line, but the root module does '
        'not declare a variable of that name. To use this value, add a "variable" block',
        "default",
        id="var-undeclared-is-an-error",
    ),
    pytest.param(
        {"main.tf": PRECEDENCE_TF, "terraform.tfvars": 'v = "x"\n»other = 1\n'},
        [],
        ("warning", "Value for undeclared variable"),
        'terraform.tfvars assigns "other", but the configuration declares no variable of that '
        "name: the value is ignored.",
        "x",
        id="tfvars-undeclared-is-a-warning",
    ),
    pytest.param(
        {"main.tf": PRECEDENCE_TF, "vars/x.tfvars": "»zz = 1\n"},
        [("var-file", "vars/x.tfvars")],
        ("warning", "Value for undeclared variable"),
        'vars/x.tfvars assigns "zz"',
        "default",
        id="var-file-undeclared-is-a-warning",
    ),
    pytest.param(
        {"main.tf": '»variable "r" {}\nvariable "keep" {}\n', "terraform.tfvars": "keep = 1\n"},
        [],
        ("error", "No value for required variable"),
        'The root module input variable "r" is not set, and has no default value.',
        UNKNOWN,
        id="required-without-value",
    ),
    pytest.param(
        {"main.tf": PRECEDENCE_TF},
        [("var", "novalue")],
        ("error", "Invalid -var option"),
        'The given -var option "novalue" is not correctly specified.',
        "default",
        id="var-without-equals",
    ),
    pytest.param(
        {"main.tf": PRECEDENCE_TF},
        [("var-file", "missing.tfvars")],
        ("error", "Failed to read variables file"),
        "Given variables file missing.tfvars does not exist.",
        "default",
        id="var-file-missing",
    ),
    pytest.param(
        {"main.tf": PRECEDENCE_TF, "terraform.tfvars.json": "[1]"},
        [],
        ("error", "Invalid JSON variables file"),
        "terraform.tfvars.json must hold an object.",
        "default",
        id="json-tfvars-not-an-object",
    ),
    pytest.param(
        {"main.tf": PRECEDENCE_TF, "terraform.tfvars": '»resource "x" "y" {}\n'},
        [],
        ("error", "Unexpected block in a variables file"),
        "NAME = VALUE lines only",
        "default",
        id="block-in-tfvars",
    ),
    pytest.param(
        {"main.tf": PRECEDENCE_TF, "terraform.tfvars": "v = »var.other\n"},
        [],
        ("error", "Reference to undeclared input variable"),
        'An input variable with the name "other" has not been declared.',
        "default",
        id="tfvars-value-is-a-constant",
    ),
    # nullable = false: null takes the default; without one it is refused
    pytest.param(
        {
            "main.tf": 'variable "v" {\n  nullable = false\n}\n',
            "terraform.tfvars": "»v = null\n",
        },
        [],
        ("error", "Required variable not set"),
        "The given value is not suitable for var.v defined at main.tf:1:1: required variable "
        "may not be set to null.",
        UNKNOWN,
        id="not-nullable-set-to-null",
    ),
    pytest.param(
        {"main.tf": 'variable "v" {\n  nullable = false\n  default  = »null\n}\n'},
        [],
        ("error", "Invalid default value for variable"),
        "A null default value is not valid when nullable=false.",
        UNKNOWN,
        id="not-nullable-default-null",
    ),
    # validation blocks
    pytest.param(
        {
            "main.tf": 'variable "lr" {\n  type    = number\n  default = 5\n'
            "  validation {\n    condition     = »var.lr < 1\n"
            '    error_message = "lr must be below 1, got ${var.lr}."\n  }\n}\n'
        },
        [],
        ("error", "Invalid value for variable"),
        "lr must be below 1, got 5.\n\nThis was checked by the validation rule at main.tf:4:3.",
        5,
        id="validation-fails",
    ),
    pytest.param(
        {
            "main.tf": 'variable "name" {\n  default = "ab"\n'
            '  validation {\n    condition     = length(var.name) > 0\n    error_message = "x"\n'
            "  }\n  validation {\n    condition     = »length(var.name) > 2\n"
            '    error_message = "At least 3 characters."\n  }\n}\n'
        },
        [],
        ("error", "Invalid value for variable"),
        "At least 3 characters.\n\nThis was checked by the validation rule at main.tf:7:3.",
        "ab",
        id="second-validation-fails",
    ),
    pytest.param(
        {
            "main.tf": 'variable "v" {\n  default = 1\n  validation {\n'
            '    condition     = »"maybe"\n    error_message = "x"\n  }\n}\n'
        },
        [],
        ("error", "Invalid validation condition"),
        "The condition must be true or false.",
        1,
        id="validation-condition-not-bool",
    ),
]


@pytest.mark.parametrize(("files", "inputs", "problem", "detail", "value"), VARIABLE_PROBLEMS)
def test_each_problem_with_a_variable_is_reported_where_it_is(
    tmp_path: Path,
    files: dict[str, str],
    inputs: list[tuple[str, str]],
    problem: tuple[str, str],
    detail: str,
    value: Any,
) -> None:
    if any(MARK in text for text in files.values()):
        files, where = marked(files)
    else:
        where = ""
    result = run(tmp_path, files, inputs)
    found = only(result.problems)
    assert (found.severity.value, found.summary) == problem
    assert detail in found.detail
    assert (str(found.where) if found.where else "") == where
    first = next(iter(result.values.values()))
    assert typed(first) == typed(value)


def test_not_nullable_null_takes_the_default(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        {
            "main.tf": 'variable "v" {\n  nullable = false\n  default  = "d"\n}\n',
            "terraform.tfvars": "v = null\n",
        },
    )
    assert result.problems == []
    assert result.values["v"] == "d"


def test_nullable_null_overrides_the_default(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        {"main.tf": 'variable "v" {\n  default = "d"\n}\n', "terraform.tfvars": "v = null\n"},
    )
    assert result.problems == []
    assert result.values["v"] is None


def test_a_passing_validation_says_nothing(tmp_path: Path) -> None:
    main = (
        'variable "lr" {\n  type = number\n  validation {\n    condition     = var.lr < 1\n'
        '    error_message = "too big"\n  }\n}\n'
    )
    result = run(tmp_path, {"main.tf": main}, [("var", "lr=0.5")])
    assert result.problems == []
    assert result.values["lr"] == 0.5


def test_validate_leaves_a_required_variable_unknown(tmp_path: Path) -> None:
    main = 'variable "r" {}\noutput "o" {\n  value = "x-${var.r}"\n}\n'
    result = run(tmp_path, {"main.tf": main}, require=False)
    assert result.problems == []
    assert result.values["r"] is UNKNOWN
    assert outputs(result) == {"o": UNKNOWN}


# -- locals, outputs and sensitivity


def test_locals_chain_across_blocks_and_files_in_any_order(tmp_path: Path) -> None:
    files = {
        "a.tf": 'output "o" {\n  value = local.c\n}\nlocals {\n  c = "${local.b}-${local.d}"\n}\n',
        "b.tf": "locals {\n  b = local.a * 10\n  d = upper(var.name)\n}\n",
        "c.tf": 'locals {\n  a = 4\n}\nvariable "name" {\n  default = "x"\n}\n',
    }
    result = run(tmp_path, files)
    assert result.problems == []
    assert outputs(result) == {"o": "40-X"}


def test_a_sensitive_variable_is_marked_and_so_is_what_is_derived_from_it(tmp_path: Path) -> None:
    main = (
        'variable "key" {\n  default   = "sk-1"\n  sensitive = true\n}\n'
        'output "secret" {\n  value     = upper(var.key)\n  sensitive = true\n}\n'
        'output "plain" {\n  value = length("abc")\n}\n'
    )
    result = run(tmp_path, {"main.tf": main})
    assert result.problems == []
    assert result.values["key"] == Sensitive("sk-1")
    assert outputs(result) == {"secret": Sensitive("SK-1"), "plain": 3}


def test_an_output_of_a_sensitive_value_must_say_so(tmp_path: Path) -> None:
    files, where = marked(
        {
            "main.tf": 'variable "key" {\n  default   = "sk"\n  sensitive = true\n}\n'
            'output "leak" {\n  value = »"id-${var.key}"\n}\n'
        }
    )
    result = run(tmp_path, files)
    problem = only(result.problems)
    assert problem.summary == "Output refers to sensitive values"
    assert "add sensitive = true to the output block" in problem.detail
    assert str(problem.where) == where


def test_an_output_marked_sensitive_is_hidden_even_if_its_value_is_not(tmp_path: Path) -> None:
    main = 'output "o" {\n  value     = "public"\n  sensitive = true\n}\n'
    assert outputs(run(tmp_path, {"main.tf": main})) == {"o": Sensitive("public")}


# -- count and for_each, through the walk that plans them

FILE = 'resource "openai_file" "train" {\n  file = "data/train.jsonl"\n}\n'


def job(name: str, body: str, meta: str = "") -> str:
    return (
        f'resource "openai_fine_tuning_job" "{name}" {{\n{meta}'
        '  model         = "gpt-4o-mini"\n  training_file = openai_file.train.id\n'
        f"{body}}}\n"
    )


# (configuration besides FILE, {instance address: arguments it must have})
EXPANSIONS = [
    pytest.param(
        'resource "openai_file" "shard" {\n  count = 3\n  file  = "data/train.jsonl"\n}\n',
        {
            "openai_file.shard[0]": {"file": "data/train.jsonl"},
            "openai_file.shard[1]": {"file": "data/train.jsonl"},
            "openai_file.shard[2]": {"file": "data/train.jsonl"},
        },
        id="count",
    ),
    pytest.param(
        job("j", '  suffix = "s${count.index}"\n', "  count = 2\n"),
        {
            "openai_fine_tuning_job.j[0]": {"suffix": "s0"},
            "openai_fine_tuning_job.j[1]": {"suffix": "s1"},
        },
        id="count.index",
    ),
    pytest.param(
        'variable "names" {\n  default = ["a", "b"]\n}\n'
        + job("j", "  suffix = var.names[count.index]\n", "  count = length(var.names)\n"),
        {
            "openai_fine_tuning_job.j[0]": {"suffix": "a"},
            "openai_fine_tuning_job.j[1]": {"suffix": "b"},
        },
        id="count-from-a-variable",
    ),
    pytest.param(job("j", "", "  count = 0\n"), {}, id="count-zero"),
    pytest.param(
        job(
            "sweep",
            '  suffix = each.key\n  method {\n    type = "supervised"\n    supervised {\n'
            "      hyperparameters {\n        learning_rate_multiplier = each.value\n"
            "      }\n    }\n  }\n",
            '  for_each = { "lr-0.1" = 0.1, "lr-0.2" = 0.2 }\n',
        ),
        {
            'openai_fine_tuning_job.sweep["lr-0.1"]': {
                "suffix": "lr-0.1",
                "method": {
                    "type": "supervised",
                    "supervised": {"hyperparameters": {"learning_rate_multiplier": 0.1}},
                },
            },
            'openai_fine_tuning_job.sweep["lr-0.2"]': {
                "suffix": "lr-0.2",
                "method": {
                    "type": "supervised",
                    "supervised": {"hyperparameters": {"learning_rate_multiplier": 0.2}},
                },
            },
        },
        id="for_each-map",
    ),
    pytest.param(
        job("j", '  suffix = "${each.key}-${each.value}"\n', '  for_each = toset(["b", "a"])\n'),
        {
            'openai_fine_tuning_job.j["a"]': {"suffix": "a-a"},
            'openai_fine_tuning_job.j["b"]': {"suffix": "b-b"},
        },
        id="for_each-set",
    ),
    pytest.param(
        'variable "runs" {\n  type = map(object({ seed = number }))\n'
        "  default = { x = { seed = 1 }, y = { seed = 2 } }\n}\n"
        + job("j", "  seed = each.value.seed\n", "  for_each = var.runs\n"),
        {
            'openai_fine_tuning_job.j["x"]': {"seed": 1},
            'openai_fine_tuning_job.j["y"]': {"seed": 2},
        },
        id="for_each-map-of-objects",
    ),
    pytest.param(job("j", "", "  for_each = {}\n"), {}, id="for_each-empty"),
    pytest.param(
        'resource "openai_file" "shard" {\n  count = 2\n  file  = "data/train.jsonl"\n}\n'
        + job("j", "", "  count = length(openai_file.shard)\n").replace(
            "openai_file.train.id", "openai_file.shard[count.index].id"
        ),
        {
            "openai_file.shard[0]": {"file": "data/train.jsonl"},
            "openai_file.shard[1]": {"file": "data/train.jsonl"},
            "openai_fine_tuning_job.j[0]": {"model": "gpt-4o-mini", "training_file": UNKNOWN},
            "openai_fine_tuning_job.j[1]": {"model": "gpt-4o-mini", "training_file": UNKNOWN},
        },
        id="count-from-another-resources-count",
    ),
    pytest.param(
        'resource "openai_file" "shard" {\n  for_each = toset(["a", "b"])\n'
        '  file     = "data/${each.key}.jsonl"\n}\n'
        + job("j", "", "  for_each = openai_file.shard\n").replace(
            "openai_file.train.id", "each.value.id"
        ),
        {
            'openai_file.shard["a"]': {"file": "data/a.jsonl"},
            'openai_file.shard["b"]': {"file": "data/b.jsonl"},
            'openai_fine_tuning_job.j["a"]': {"training_file": UNKNOWN},
            'openai_fine_tuning_job.j["b"]': {"training_file": UNKNOWN},
        },
        id="for_each-over-another-resource",
    ),
]


def data_files() -> dict[str, str]:
    return {f"data/{name}.jsonl": DATA for name in ("train", "a", "b")}


@pytest.mark.parametrize(("configuration", "expected"), EXPANSIONS)
def test_count_and_for_each_expand_to_instances(
    tmp_path: Path, configuration: str, expected: dict[str, dict[str, Any]]
) -> None:
    result = run(tmp_path, {"main.tf": FILE + configuration, **data_files()})
    assert result.problems == []
    walk = result.walk()
    desired = {d.address: d.arguments for d in walk.run()}
    assert walk.problems == []
    repeated = {a: args for a, args in desired.items() if a != "openai_file.train"}
    assert set(repeated) == set(expected)
    for address, arguments in expected.items():
        for name, value in arguments.items():
            assert typed(repeated[address][name]) == typed(value), (address, name)


# (configuration besides FILE with » where the error points, summary, words of the detail,
# whether validate reports it too)
EXPANSION_ERRORS = [
    pytest.param(
        job("j", "", '  for_each = »["a", "b"]\n'),
        "Invalid for_each argument",
        'The given "for_each" argument value is unsuitable: the "for_each" argument must be a '
        "map, or set of strings, and you have provided a value of type",
        True,
        id="for_each-list",
    ),
    pytest.param(
        job("j", "", '  for_each = »["a", "b"]\n'),
        "Invalid for_each argument",
        "you have provided a value of type tuple.",
        True,
        id="for_each-list-is-a-tuple",
        marks=diverges('Terraform calls ["a", "b"] a tuple; ftctl says "list of string"'),
    ),
    pytest.param(
        job("j", "", "  for_each = »toset([1, 2])\n"),
        "Invalid for_each argument",
        '"for_each" supports sets of strings, but you have provided a set of number.',
        True,
        id="for_each-set-of-numbers",
    ),
    pytest.param(
        job("j", "", "  for_each = »null\n"),
        "Invalid for_each argument",
        'the given "for_each" argument value is null. A map, or set of strings is allowed.',
        True,
        id="for_each-null",
    ),
    pytest.param(
        'variable "k" {\n  default   = { a = 1 }\n  sensitive = true\n}\n'
        + job("j", "", "  for_each = »var.k\n"),
        "Invalid for_each argument",
        "Sensitive values, or values derived from sensitive values, cannot be used as "
        "for_each arguments.",
        True,
        id="for_each-sensitive",
    ),
    pytest.param(
        job("j", "", "  for_each = »toset([openai_file.train.id])\n"),
        "Invalid for_each argument",
        'The "for_each" value depends on resource attributes that cannot be determined until apply',
        False,
        id="for_each-unknown",
    ),
    pytest.param(
        job("j", "", "  for_each = »{ (openai_file.train.id) = 1 }\n"),
        "Invalid for_each argument",
        "cannot be determined until apply",
        False,
        id="for_each-unknown-key",
    ),
    pytest.param(
        job("j", "", "  count = »length(openai_file.train.id)\n"),
        "Invalid count argument",
        'The "count" value depends on resource attributes that cannot be determined until apply',
        False,
        id="count-unknown",
    ),
    pytest.param(
        job("j", "", "  count = »-1\n"),
        "Invalid count argument",
        "must be greater than or equal to zero.",
        True,
        id="count-negative",
    ),
    pytest.param(
        job("j", "", "  count = »1.5\n"),
        "Invalid count argument",
        "it must be a whole number.",
        True,
        id="count-fraction",
    ),
    pytest.param(
        job("j", "", '  count = »"two"\n'),
        "Invalid count argument",
        "a number is required",
        True,
        id="count-string",
    ),
    pytest.param(
        job("j", "", "  count = »null\n"),
        "Invalid count argument",
        'The given "count" argument value is null. An integer is required.',
        True,
        id="count-null",
    ),
]


@pytest.mark.parametrize(("configuration", "summary", "detail", "at_validate"), EXPANSION_ERRORS)
def test_an_unusable_count_or_for_each_is_an_error_at_plan(
    tmp_path: Path, configuration: str, summary: str, detail: str, at_validate: bool
) -> None:
    files, where = marked({"main.tf": FILE + configuration})
    result = run(tmp_path, {**files, **data_files()})
    # validate (prepare walks with validating=True) skips what only apply can know
    assert [(p.summary, str(p.where)) for p in result.problems] == (
        [(summary, where)] if at_validate else []
    )
    walk = result.walk(validating=False)
    planned = {d.address for d in walk.run()}
    assert planned == {"openai_file.train"}
    problem = only(walk.problems)
    assert problem.summary == summary
    assert detail in problem.detail
    assert str(problem.where) == where
    skipped = result.walk(validating=True)
    skipped.run()
    assert [p.summary for p in skipped.problems] == ([summary] if at_validate else [])


# (configuration with » where the one static error points, summary, words of the detail)
REFERENCE_ERRORS = [
    pytest.param(
        'resource "openai_file" "s" {\n  count = 2\n  file  = "data/train.jsonl"\n}\n'
        'output "o" {\n  value = »openai_file.s.id\n}\n',
        "Missing resource instance key",
        'Because openai_file.s has "count" set, its attributes must be accessed on specific '
        "instances. For example: openai_file.s[count.index].id, or all of them with "
        "openai_file.s[*].id.",
        id="count-without-key",
    ),
    pytest.param(
        'resource "openai_file" "s" {\n  for_each = toset(["a"])\n  file = "data/train.jsonl"\n'
        '}\noutput "o" {\n  value = »openai_file.s.filename\n}\n',
        "Missing resource instance key",
        "For example: openai_file.s[each.key].filename",
        id="for_each-without-key",
    ),
    pytest.param(
        FILE + 'output "o" {\n  value = »openai_file.train[0].id\n}\n',
        "Unexpected resource instance key",
        'Because openai_file.train does not have "count" or "for_each" set, references to it '
        "must not include an index key.",
        id="single-with-key",
    ),
    pytest.param(
        FILE + 'output "o" {\n  value = »openai_file.train.nope\n}\n',
        "Unsupported attribute",
        'openai_file has no argument, nested block, or exported attribute named "nope". It has: ',
        id="unknown-attribute",
    ),
    pytest.param(
        FILE + 'output "o" {\n  value = »openai_file.other.id\n}\n',
        "Reference to undeclared resource",
        'A managed resource "openai_file" "other" has not been declared in the root module.',
        id="undeclared-resource",
    ),
    pytest.param(
        'output "o" {\n  value = »var.nope\n}\n',
        "Reference to undeclared input variable",
        'An input variable with the name "nope" has not been declared.',
        id="undeclared-variable",
    ),
    pytest.param(
        'output "o" {\n  value = »local.nope\n}\n',
        "Reference to undeclared local value",
        'A local value with the name "nope" has not been declared.',
        id="undeclared-local",
    ),
    pytest.param(
        "locals {\n  x = »each.key\n}\n",
        'Reference to "each" in context without for_each',
        'The "each" object can be used only in "resource" blocks',
        id="each-in-a-local",
    ),
    pytest.param(
        FILE.replace("}\n", "  purpose = »count.index\n}\n"),
        'Reference to "count" in non-counted context',
        'The "count" object can be used only in "resource" blocks',
        id="count-without-count",
    ),
]


@pytest.mark.parametrize(("configuration", "summary", "detail"), REFERENCE_ERRORS)
def test_a_reference_is_checked_before_anything_is_evaluated(
    tmp_path: Path, configuration: str, summary: str, detail: str
) -> None:
    files, where = marked({"main.tf": configuration})
    write(tmp_path, {**files, **data_files()})
    _, problems = load_configuration(tmp_path)
    problem = only(problems)
    assert problem.summary == summary
    assert detail in problem.detail
    assert str(problem.where) == where
    assert summary in {p.summary for p in run(tmp_path, {}).problems}


# -- cycles


def test_a_cycle_names_every_member_with_its_position(tmp_path: Path) -> None:
    files = {
        "a.tf": "locals {\n  a = local.b\n}\n",
        "b.tf": '\nlocals {\n  b = "${local.c}"\n  c = [local.a]\n}\n'
        + 'output "o" {\n  value = local.a\n}\n',
    }
    result = run(tmp_path, files)
    problem = only(result.problems)
    assert problem.summary == "Cycle in the configuration"
    assert problem.detail == (
        "These refer to each other, so none can be evaluated first: local.a (a.tf:2:3), "
        "local.b (b.tf:3:3), local.c (b.tf:4:3). Break the cycle by removing one of the "
        "references."
    )
    assert str(problem.where) == "a.tf:2:3"
    assert result.configuration.has_cycle


def test_a_local_referring_to_itself_is_a_cycle(tmp_path: Path) -> None:
    problem = only(run(tmp_path, {"main.tf": "locals {\n  x = local.x + 1\n}\n"}).problems)
    assert problem.summary == "Cycle in the configuration"
    assert "local.x (main.tf:2:3)" in problem.detail
    assert str(problem.where) == "main.tf:2:3"


def test_resources_referring_to_each_other_are_a_cycle(tmp_path: Path) -> None:
    main = (
        FILE
        + job("a", "  suffix = openai_fine_tuning_job.b.id\n")
        + job("b", "  suffix = openai_fine_tuning_job.a.id\n")
    )
    result = run(tmp_path, {"main.tf": main, **data_files()})
    problem = only(result.problems)
    assert problem.summary == "Cycle in the configuration"
    assert "openai_fine_tuning_job.a (main.tf:4:1), openai_fine_tuning_job.b (main.tf:9:1)" in (
        problem.detail
    )


def test_two_separate_cycles_are_two_errors(tmp_path: Path) -> None:
    main = "locals {\n  a = local.b\n  b = local.a\n  c = local.d\n  d = local.c\n  e = 1\n}\n"
    problems = run(tmp_path, {"main.tf": main}).problems
    assert [(p.summary, str(p.where)) for p in problems] == [
        ("Cycle in the configuration", "main.tf:2:3"),
        ("Cycle in the configuration", "main.tf:4:3"),
    ]


# -- templatefile and file functions see the configuration directory


def test_templatefile_renders_with_its_own_variables(tmp_path: Path) -> None:
    files = {
        "main.tf": 'output "o" {\n'
        + '  value = templatefile("${path.module}/t.tpl", { names = ["a", "b"] })\n}\n',
        "t.tpl": "%{ for n in names ~}\n- ${n}\n%{ endfor ~}\n",
    }
    assert outputs(run(tmp_path, files)) == {"o": "- a\n- b\n"}


def test_jsonencode_of_a_configuration_value_is_terraforms_json(tmp_path: Path) -> None:
    main = 'output "o" {\n  value = jsonencode({ b = [1, "x", true, null], a = 2.5 })\n}\n'
    value = outputs(run(tmp_path, {"main.tf": main}))["o"]
    assert json.loads(value) == {"a": 2.5, "b": [1, "x", True, None]}
    assert value == '{"a":2.5,"b":[1,"x",true,null]}'
