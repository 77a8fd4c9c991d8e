"""Terraform's built-in functions: results and error texts as Terraform documents and gives them,
one table row per case; the file functions against real files under tmp_path."""

import hashlib
import itertools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from ftctl.lang.functions import SUPPORTED, FunctionContext, call_function
from ftctl.lang.values import EvaluationError, SetValue

NO_BASE = Path("/nonexistent-ftctl-base")
INVALID = "Invalid function argument"
FAILED = "Error in function call"
NOT_FOUND_HINT = (
    "; this function works only with files that are distributed as part of the configuration "
    "source code, so if this file will be created by a resource in this configuration you must "
    "instead obtain this result from an attribute of that resource."
)


class Renderer:
    """A stand-in for the evaluator's template renderer that records what it was given."""

    def __init__(self, result: Any = "rendered") -> None:
        self.result = result
        self.calls: list[tuple[str, dict[str, Any], str]] = []

    def __call__(self, text: str, variables: Mapping[str, Any], filename: str) -> Any:
        self.calls.append((text, dict(variables), filename))
        return self.result


def call(name: str, *args: Any, base: Path = NO_BASE, renderer: Renderer | None = None) -> Any:
    return call_function(name, list(args), FunctionContext(base, renderer or Renderer()))


def failure(name: str, *args: Any, base: Path = NO_BASE) -> EvaluationError:
    with pytest.raises(EvaluationError) as caught:
        call(name, *args, base=base)
    return caught.value


def same(result: Any, expected: Any) -> None:
    # repr tells 1 from 1.0 and True, a SetValue from a list, and shows dict order.
    assert repr(result) == repr(expected)


RESULTS: list[tuple[str, tuple[Any, ...], Any]] = [
    # numbers
    ("abs", (23,), 23),
    ("abs", (0,), 0),
    ("abs", (-12.4,), 12.4),
    ("abs", ("-3",), 3),
    ("ceil", (5,), 5),
    ("ceil", (5.1,), 6),
    ("ceil", (-1.5,), -1),
    ("floor", (4.9,), 4),
    ("floor", (-4.1,), -5),
    ("max", (12, 54, 3), 54),
    ("max", (-1, -2.5), -1),
    ("max", ("5", 2), 5),
    ("min", (12, 54, 3), 3),
    ("min", (1.5, "0.5"), 0.5),
    # strings
    ("lower", ("HELLO",), "hello"),
    ("lower", ("АЛЛО!",), "алло!"),
    ("upper", ("hello",), "HELLO"),
    ("upper", ("алло!",), "АЛЛО!"),
    ("upper", (5,), "5"),
    ("upper", (True,), "TRUE"),
    ("upper", ("straße",), "STRAßE"),  # Go maps case one character to one
    ("title", ("hello world",), "Hello World"),
    ("title", ("hello wORLD-foo_bar o'neil",), "Hello WORLD-Foo_bar O'Neil"),
    ("title", ("",), ""),
    ("trimspace", ("  hello\n\n",), "hello"),
    ("trimspace", ("\u3000\xa0 a b \t",), "a b"),
    ("trimspace", ("\x1ca\x1c",), "\x1ca\x1c"),  # not space to Go
    ("trimprefix", ("helloworld", "hello"), "world"),
    ("trimprefix", ("helloworld", "cat"), "helloworld"),
    ("trimprefix", ("hellohello", "hello"), "hello"),
    ("trimsuffix", ("helloworld", "world"), "hello"),
    ("trimsuffix", ("abc", "abc"), ""),
    ("split", (",", "foo"), ["foo"]),
    ("split", (",", "foo,bar,baz"), ["foo", "bar", "baz"]),
    ("split", (",", "a,,b,"), ["a", "", "b", ""]),
    ("split", (",", ""), [""]),
    ("split", ("", ""), []),
    ("split", ("", "abc"), ["a", "b", "c"]),
    ("join", (", ", ["foo", "bar", "baz"]), "foo, bar, baz"),
    ("join", (", ", ["foo"]), "foo"),
    ("join", ("-", []), ""),
    ("join", ("-", ["a"], ["b", "c"]), "a-b-c"),
    ("join", ("-", ["a", 1, True]), "a-1-true"),
    ("join", ("-", SetValue(["b", "a"])), "a-b"),
    ("join", (1, ["a", "b"]), "a1b"),
    ("replace", ("1 + 2 + 3", "+", "-"), "1 - 2 - 3"),
    ("replace", ("hello world", "/w.*d/", "everybody"), "hello everybody"),
    ("replace", ("a.b.c", ".", "-"), "a-b-c"),  # not a regex without the slashes
    ("replace", ("foo", "/", "x"), "foo"),  # a lone slash is a plain substring
    ("replace", ("abc", "", "-"), "-a-b-c-"),
    ("replace", ("abc-def", "/(\\w+)-(\\w+)/", "$2:${1}"), "def:abc"),
    ("replace", ("abc-def", "/(?P<first>\\w+)-/", "${first}+"), "abc+def"),
    ("replace", ("ab", "/(?<n>a)/", "<$n>"), "<a>b"),
    ("replace", ("abc-def", "/(\\w+)-/", "$1x|$$|$"), "|$|$def"),  # $1x names group "1x"
    ("replace", ("abc", "/b*/", "-"), "-a-c-"),  # Go skips the empty match after "b"
    ("replace", ("a\n", "/a$/", "b"), "a\n"),  # $ is the end of the text in Go
    ("replace", ("l1\nl2", "/(?m)^l/", "L"), "L1\nL2"),
    ("replace", ("a1b22", "/[[:digit:]]+/", "#"), "a#b#"),
    ("replace", ("é1", "/\\w/", "x"), "éx"),  # Go's \w is ASCII
    ("substr", ("hello world", 1, 4), "ello"),
    ("substr", ("🤔🤷", 0, 1), "🤔"),
    ("substr", ("hello world", -5, -1), "world"),
    ("substr", ("hello world", 6, 10), "world"),
    ("substr", ("hello", 10, 2), ""),
    ("substr", ("hello", -10, 2), "he"),
    ("substr", ("hello", 1, 0), ""),
    ("substr", ("héllo wörld", 1, 4), "éllo"),
    ("substr", ("e\u0301tude", 0, 1), "e\u0301"),  # a combining accent stays with its letter
    ("substr", ("hello", "1", "2"), "el"),
    ("length", ([],), 0),
    ("length", (["a", "b"],), 2),
    ("length", ({"a": "b"},), 1),
    ("length", (SetValue([1, 2, 3]),), 3),
    ("length", ("hello",), 5),
    ("length", ("",), 0),
    ("length", ("👾🕹️",), 2),
    ("length", ("🇺🇸👍🏽",), 2),
    ("length", ("a\r\nb",), 3),
    # format
    ("format", ("Hello, %s!", "Ander"), "Hello, Ander!"),
    ("format", ("There are %d lights", 4), "There are 4 lights"),
    ("format", ("%#v", "hello"), '"hello"'),
    ("format", ("%#v", True), "true"),
    ("format", ("%#v", 1), "1"),
    ("format", ("%#v", {"b": 1, "a": [True]}), '{"a":[true],"b":1}'),
    ("format", ("%#v", None), "null"),
    ("format", ("%v|%v|%v", "a", True, ["x", 1]), 'a|true|["x",1]'),
    ("format", ("%v %v %v", 100000, 1000000, 0.5), "100000 1e+06 0.5"),  # Go's shortest %g
    ("format", ("%v", None), "null"),
    ("format", ("%s|%s|%s", 1.5, True, 7), "1.5|true|7"),
    ("format", ("%q", 'a"<b'), '"a\\"\\u003cb"'),
    ("format", ("%t|%t", True, "false"), "true|false"),
    ("format", ("%d", "12"), "12"),
    ("format", ("%d", 3.0), "3"),
    ("format", ("%.2f|%5.1f|%f", 3.14159, 3.14159, 1), "3.14|  3.1|1.000000"),
    (
        "format",
        ("%+.2f|% .2f|%08.2f|%-8.2f|", 3.14159, 3.14159, -3.14159, 3.14159),
        "+3.14| 3.14|-0003.14|3.14    |",
    ),
    ("format", ("%-5d|%05d|%+d|%.3d|%8.3d", 42, 7, 3, 7, 7), "42   |00007|+3|007|     007"),
    ("format", ("%x %X %o %b %#x %#o", 255, 255, 8, 5, 255, 8), "ff FF 10 101 0xff 010"),
    (
        "format",
        ("%e|%E|%g|%G", 1234.5678, 0.5, 0.00001234, 1e21),
        "1.234568e+03|5.000000E-01|1.234e-05|1E+21",
    ),
    ("format", ("%5s|%-5s|%05s|%.3s", "ab", "ab", "ab", "abcdef"), "   ab|ab   |000ab|abc"),
    ("format", ("%[2]s %[1]s", "a", "b"), "b a"),
    ("format", ("%[2]s %s", "a", "b", "c"), "b c"),
    ("format", ("100%%",), "100%"),
    ("format", ("plain",), "plain"),
    ("format", ("%s", "unused", "extra"), "unused"),
    ("formatlist", ("Hello, %s!", ["Valentina", "Ander"]), ["Hello, Valentina!", "Hello, Ander!"]),
    (
        "formatlist",
        ("%s, %s!", "Salutations", ["Valentina", "Ander"]),
        ["Salutations, Valentina!", "Salutations, Ander!"],
    ),
    ("formatlist", ("%s=%d", ["a", "b"], [1, 2]), ["a=1", "b=2"]),
    ("formatlist", ("%s", SetValue(["b", "a"])), ["a", "b"]),
    ("formatlist", ("%v", {"k": 1}), ['{"k":1}']),  # a map is one value, not iterated
    ("formatlist", ("%s", []), []),
    ("formatlist", ("x",), ["x"]),
    # collections
    ("concat", (["a", ""], ["b", "c"]), ["a", "", "b", "c"]),
    ("concat", (["a"], [1, True], []), ["a", 1, True]),
    ("merge", ({"a": "b", "c": "d"}, {"e": "f", "c": "z"}), {"a": "b", "c": "z", "e": "f"}),
    ("merge", ({"a": "b"}, {"a": [1, 2], "c": "z"}, {"d": 3}), {"a": [1, 2], "c": "z", "d": 3}),
    ("merge", ({"a": 1}, None), {"a": 1}),
    ("merge", (None, None), None),
    ("merge", (), {}),
    ("lookup", ({"a": "ay", "b": "bee"}, "a", "what?"), "ay"),
    ("lookup", ({"a": "ay", "b": "bee"}, "c", "what?"), "what?"),
    ("lookup", ({"a": "ay"}, "a"), "ay"),
    ("lookup", ({"a": None}, "a"), None),
    ("lookup", ({"1": "one"}, 1), "one"),
    ("keys", ({"a": 1, "c": 2, "d": 3},), ["a", "c", "d"]),
    ("keys", ({"b": 1, "a": 2, "B": 3},), ["B", "a", "b"]),
    ("keys", ({},), []),
    ("values", ({"a": 3, "c": 2, "d": 1},), [3, 2, 1]),
    ("values", ({"b": "x", "a": "y"},), ["y", "x"]),
    ("contains", (["a", "b", "c"], "a"), True),
    ("contains", (["a", "b", "c"], "d"), False),
    ("contains", ([1, 2], "1"), False),  # no conversion: a string is never a number
    ("contains", (SetValue([1, 2]), 2.0), True),
    ("contains", ([[1], [2]], [2]), True),
    ("element", (["a", "b", "c"], 1), "b"),
    ("element", (["a", "b", "c"], 3), "a"),
    ("element", (["a", "b", "c"], 5), "c"),
    ("element", (["a", "b", "c"], "2"), "c"),
    ("flatten", ([["a", "b"], [], ["c"]],), ["a", "b", "c"]),
    ("flatten", ([[["a", "b"], []], ["c"]],), ["a", "b", "c"]),
    ("flatten", ([SetValue(["y", "x"]), "z"],), ["x", "y", "z"]),
    ("flatten", ([{"k": [1]}, [2]],), [{"k": [1]}, 2]),  # maps are left alone
    ("flatten", ([],), []),
    ("distinct", (["a", "b", "a", "c", "d", "b"],), ["a", "b", "c", "d"]),
    ("distinct", (["b", "a", "b"],), ["b", "a"]),
    ("distinct", ([1, "1", 1.0],), ["1"]),
    ("distinct", ([[1], [1], [2]],), [[1], [2]]),
    ("range", (3,), [0, 1, 2]),
    ("range", (0,), []),
    ("range", (-3,), [0, -1, -2]),
    ("range", (1, 4), [1, 2, 3]),
    ("range", (4, 1), [4, 3, 2]),
    ("range", (1, 1), []),
    ("range", (1, 8, 2), [1, 3, 5, 7]),
    ("range", (1, 4, 0.5), [1, 1.5, 2, 2.5, 3, 3.5]),
    ("range", (10, 5, -2), [10, 8, 6]),
    ("range", (0, 0.5, 0.1), [0, 0.1, 0.2, 0.3, 0.4]),
    ("range", ("2",), [0, 1]),
    ("zipmap", (["a", "b"], [1, 2]), {"a": 1, "b": 2}),
    ("zipmap", (["a", "a"], [1, 2]), {"a": 2}),
    ("zipmap", ([], []), {}),
    ("zipmap", ([1, True], ["x", "y"]), {"1": "x", "true": "y"}),
    # conversions
    ("toset", (["a", "b", "c"],), SetValue(["a", "b", "c"])),
    ("toset", (["c", "b", "b"],), SetValue(["b", "c"])),
    ("toset", (["a", "b", 3],), SetValue(["3", "a", "b"])),
    ("toset", ([],), SetValue([])),
    ("toset", (None,), None),
    ("tolist", (SetValue(["a", "b", "c"]),), ["a", "b", "c"]),
    ("tolist", (["a", "b", 3],), ["a", "b", "3"]),
    ("tolist", (["a", None],), ["a", None]),
    ("tolist", (None,), None),
    ("tomap", ({"a": 1, "b": 2},), {"a": 1, "b": 2}),
    ("tomap", ({"a": "foo", "b": True},), {"a": "foo", "b": "true"}),
    ("tomap", (None,), None),
    ("tostring", ("hello",), "hello"),
    ("tostring", (1,), "1"),
    ("tostring", (1.5,), "1.5"),
    ("tostring", (True,), "true"),
    ("tostring", (None,), None),
    ("tonumber", (1,), 1),
    ("tonumber", ("1",), 1),
    ("tonumber", ("-1.5",), -1.5),
    ("tonumber", ("1e3",), 1000),
    ("tonumber", (None,), None),
    ("tobool", (True,), True),
    ("tobool", ("true",), True),
    ("tobool", ("false",), False),
    ("tobool", ("1",), True),
    ("tobool", ("0",), False),
    ("tobool", (None,), None),
    ("coalesce", ("a", "b"), "a"),
    ("coalesce", ("", "b"), "b"),
    ("coalesce", (None, "", "c"), "c"),
    ("coalesce", (1, 2), 1),
    ("coalesce", (None, 0), 0),
    ("coalesce", (1, "x"), "1"),  # unified to string, as Terraform does
    ("coalesce", ([], ["a"]), []),
    # encodings
    ("jsonencode", ({"hello": "world"},), '{"hello":"world"}'),
    ("jsonencode", ({"b": [1, 2.5, None, True], "a": "x"},), '{"a":"x","b":[1,2.5,null,true]}'),
    ("jsonencode", ("<a & b>",), '"\\u003ca \\u0026 b\\u003e"'),
    ("jsonencode", ("é\n\u2028",), '"é\\n\\u2028"'),
    ("jsonencode", (1e21,), "1000000000000000000000"),
    ("jsonencode", (1e-7,), "0.0000001"),
    ("jsonencode", (None,), "null"),
    ("jsonencode", (SetValue(["b", "a"]),), '["a","b"]'),
    ("jsondecode", ('{"hello": "world"}',), {"hello": "world"}),
    ("jsondecode", ("true",), True),
    ("jsondecode", ("null",), None),
    ("jsondecode", ('[1, 2.0, 1.5, 1e2, "x"]',), [1, 2, 1.5, 100, "x"]),
    ("jsondecode", (' {"a": {"b": []}} ',), {"a": {"b": []}}),
    ("base64encode", ("Hello World",), "SGVsbG8gV29ybGQ="),
    ("base64encode", ("é",), "w6k="),
    ("base64encode", ("",), ""),
    ("base64decode", ("SGVsbG8gV29ybGQ=",), "Hello World"),
    ("base64decode", ("SGVs\nbG8=",), "Hello"),  # line breaks are skipped, as in Go
    ("base64decode", ("",), ""),
    (
        "sha256",
        ("hello world",),
        "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9",
    ),
    ("sha256", ("",), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    # paths
    ("basename", ("foo/bar/baz.txt",), "baz.txt"),
    ("basename", ("foo/bar/",), "bar"),
    ("basename", ("/",), "/"),
    ("basename", ("",), "."),
    ("dirname", ("foo/bar/baz.txt",), "foo/bar"),
    ("dirname", ("foo",), "."),
    ("dirname", ("/foo",), "/"),
    ("dirname", ("/foo/bar/",), "/foo/bar"),
    ("dirname", ("",), "."),
    ("abspath", ("/x/./y/../z/",), "/x/z"),
    ("abspath", ("//x",), "/x"),
]


@pytest.mark.parametrize(("name", "arguments", "expected"), RESULTS)
def test_result(name: str, arguments: tuple[Any, ...], expected: Any) -> None:
    same(call(name, *arguments), expected)


ERRORS: list[tuple[str, tuple[Any, ...], str, str, int | None]] = [
    # argument counts and parameter types, checked before the call
    (
        "lower",
        (),
        "Not enough function arguments",
        'Function "lower" expects 1 argument(s). Missing value for "str".',
        None,
    ),
    (
        "lower",
        ("a", "b"),
        "Too many function arguments",
        'Function "lower" expects only 1 argument(s).',
        1,
    ),
    (
        "format",
        (),
        "Not enough function arguments",
        'Function "format" expects at least 1 argument(s). Missing value for "format".',
        None,
    ),
    ("lookup", ({"a": 1},), "Not enough function arguments", 'Missing value for "key".', None),
    ("replace", ("a", "b"), "Not enough function arguments", 'Missing value for "replace".', None),
    ("upper", (None,), INVALID, 'Invalid value for "str" parameter: argument must not be null.', 0),
    ("upper", (["a"],), INVALID, 'Invalid value for "str" parameter: string required.', 0),
    ("trimprefix", ("a", {}), INVALID, 'Invalid value for "prefix" parameter: string required.', 1),
    ("abs", (True,), INVALID, 'Invalid value for "num" parameter: number required.', 0),
    ("abs", ("x",), INVALID, 'Invalid value for "num" parameter: a number is required.', 0),
    ("ceil", (" 1",), INVALID, "a number is required.", 0),
    ("max", (1, "x"), INVALID, 'Invalid value for "numbers" parameter: a number is required.', 1),
    (
        "length",
        (None,),
        INVALID,
        'Invalid value for "value" parameter: argument must not be null.',
        0,
    ),
    ("keys", (None,), INVALID, "argument must not be null.", 0),
    ("contains", ([1], None), INVALID, 'Invalid value for "value" parameter: argument must not', 1),
    (
        "join",
        (",", "a"),
        INVALID,
        'Invalid value for "lists" parameter: list of string required.',
        1,
    ),
    ("join", (",", [["a"]]), INVALID, "element 0: string required.", 1),
    ("distinct", ("x",), INVALID, 'Invalid value for "list" parameter:', 0),
    ("distinct", ([1, True],), INVALID, "all list elements must have the same type.", 0),
    ("zipmap", ("a", ["x"]), INVALID, 'Invalid value for "keys" parameter: list of string', 0),
    (
        "templatefile",
        ("x.tpl", None),
        INVALID,
        'Invalid value for "vars" parameter: argument must not be null.',
        1,
    ),
    # failures inside the functions
    (
        "element",
        ([], 0),
        FAILED,
        'Call to function "element" failed: cannot use element function with an empty list.',
        0,
    ),
    ("element", (["a"], -1), FAILED, "cannot use element function with a negative index.", 1),
    ("element", ("abc", 0), FAILED, "cannot read elements from string.", 0),
    ("element", (SetValue(["a"]), 0), FAILED, "cannot read elements from set of string.", 0),
    ("element", (["a"], 1.5), FAILED, "invalid index: value must be a whole number", 1),
    (
        "length",
        (5,),
        FAILED,
        'Call to function "length" failed: argument must be a string, a collection type, or a '
        "structural type.",
        0,
    ),
    ("length", (True,), FAILED, "argument must be a string, a collection type", 0),
    ("substr", ("hello", 1.5, 1), FAILED, "value must be a whole number, between", 1),
    ("substr", ("hello", 0, 0.5), FAILED, "value must be a whole number, between", 2),
    (
        "range",
        (0, 1, 0),
        INVALID,
        'Invalid value for "params" parameter: step must not be zero.',
        2,
    ),
    (
        "range",
        (0, 2000),
        FAILED,
        'Call to function "range" failed: more than 1024 values were generated; either decrease '
        "the difference between start and end or use a smaller step.",
        None,
    ),
    ("range", (5, 1, 1), INVALID, "end must be greater than start when step is positive.", 1),
    ("range", (0, 3, -1), INVALID, "end must be less than start when step is negative.", 1),
    ("range", (), FAILED, "must have one, two, or three arguments.", None),
    ("range", (1, 2, 3, 4), FAILED, "must have one, two, or three arguments.", None),
    ("min", (), FAILED, 'Call to function "min" failed: must pass at least one number.', None),
    ("max", (), FAILED, "must pass at least one number.", None),
    (
        "lookup",
        ({"a": 1}, "x"),
        FAILED,
        'Call to function "lookup" failed: lookup failed to find key "x".',
        1,
    ),
    (
        "lookup",
        ({"a": 1}, "a", 1, 2),
        FAILED,
        "lookup() takes two or three arguments, got 4.",
        None,
    ),
    (
        "lookup",
        ([1], "a"),
        INVALID,
        'Invalid value for "inputMap" parameter: lookup() requires a map as the first argument.',
        0,
    ),
    ("keys", ([1],), INVALID, 'Invalid value for "inputMap" parameter: must have map or object', 0),
    ("values", ("x",), FAILED, "values() requires a map as the first argument.", 0),
    (
        "merge",
        ({"a": 1}, "x"),
        FAILED,
        'Call to function "merge" failed: arguments must be maps or objects, got "string".',
        1,
    ),
    ("merge", ({"a": 1}, [1]), FAILED, "arguments must be maps or objects, got", 1),
    ("concat", (), FAILED, "at least one argument is required.", None),
    (
        "concat",
        (["a"], SetValue(["b"])),
        INVALID,
        'Invalid value for "seqs" parameter: all arguments must be lists or tuples; got set of '
        "string.",
        1,
    ),
    ("concat", (["a"], "b"), INVALID, "all arguments must be lists or tuples; got string.", 1),
    ("contains", ("ab", "a"), FAILED, "argument must be list, tuple, or set.", 0),
    ("contains", ({"a": 1}, "a"), FAILED, "argument must be list, tuple, or set.", 0),
    ("flatten", ("x",), FAILED, "can only flatten lists, sets and tuples.", 0),
    ("flatten", ({"a": [1]},), FAILED, "can only flatten lists, sets and tuples.", 0),
    (
        "zipmap",
        (["a"], [1, 2]),
        FAILED,
        "number of keys (1) does not match number of values (2).",
        None,
    ),
    ("zipmap", (["a", None], [1, 2]), FAILED, "keys list has null value at index 1.", 0),
    ("zipmap", (["a"], "x"), FAILED, "values argument must be a list or tuple value.", 1),
    (
        "join",
        (",",),
        FAILED,
        'Call to function "join" failed: at least one list is required.',
        None,
    ),
    (
        "join",
        (",", ["a", None]),
        INVALID,
        'Invalid value for "lists" parameter: element 1 is null; cannot concatenate null values.',
        1,
    ),
    (
        "join",
        (",", ["a"], ["b", None]),
        INVALID,
        "element 1 of list 2 is null; cannot concatenate null values.",
        2,
    ),
    (
        "coalesce",
        (None, ""),
        FAILED,
        'Call to function "coalesce" failed: no non-null, non-empty-string arguments.',
        None,
    ),
    ("coalesce", (None,), FAILED, "no non-null, non-empty-string arguments.", None),
    ("coalesce", (1, True), FAILED, "all arguments must have the same type.", None),
    ("tostring", ([1],), INVALID, 'Invalid value for "v" parameter: cannot convert list of', 0),
    ("tostring", ({"a": 1},), INVALID, "cannot convert object to string.", 0),
    (
        "tonumber",
        ("no",),
        INVALID,
        'Invalid value for "v" parameter: cannot convert "no" to number; given string must be a '
        "decimal representation of a number.",
        0,
    ),
    ("tonumber", (" 1",), INVALID, 'cannot convert " 1" to number', 0),
    ("tonumber", ("0x10",), INVALID, 'cannot convert "0x10" to number', 0),
    ("tonumber", (True,), INVALID, "cannot convert bool to number.", 0),
    (
        "tobool",
        ("no",),
        INVALID,
        'Invalid value for "v" parameter: cannot convert "no" to bool; only the strings "true" or '
        '"false" are allowed.',
        0,
    ),
    ("tobool", (1,), INVALID, "cannot convert number to bool.", 0),
    ("tolist", ("a",), INVALID, "cannot convert string to list of any single type.", 0),
    ("tolist", ([1, True],), INVALID, "to list of any single type.", 0),
    ("toset", ({"a": 1},), INVALID, "cannot convert object to set of any single type.", 0),
    ("toset", ([1, False],), INVALID, "to set of any single type.", 0),
    ("tomap", (["a"],), INVALID, "to map of any single type.", 0),
    ("tomap", ({"a": 1, "b": True},), INVALID, "cannot convert object to map of any single", 0),
    (
        "base64decode",
        ("SGVsbG8",),
        FAILED,
        'Call to function "base64decode" failed: failed to decode base64 data "SGVsbG8".',
        0,
    ),
    ("base64decode", ("not base64!",), FAILED, 'failed to decode base64 data "not base64!".', 0),
    (
        "base64decode",
        ("/w==",),
        FAILED,
        "the result of decoding the provided string is not valid UTF-8.",
        0,
    ),
    ("jsondecode", ("{",), FAILED, 'Call to function "jsondecode" failed: unexpected EOF.', 0),
    ("jsondecode", ("",), FAILED, "failed: EOF.", 0),
    (
        "jsondecode",
        ('{"a": 1,}',),
        FAILED,
        "invalid character '}' looking for beginning of object key string.",
        0,
    ),
    ("jsondecode", ("[1 2]",), FAILED, "invalid character '2' after array element.", 0),
    ("jsondecode", ("{} x",), FAILED, "extraneous data after JSON object.", 0),
    ("jsondecode", ("NaN",), FAILED, "invalid character 'N' looking for beginning of value.", 0),
    ("jsondecode", ('"\\x"',), FAILED, "invalid character 'x' in string escape code.", 0),
    ("jsondecode", ("[" * 100_000,), FAILED, 'Call to function "jsondecode" failed:', None),
    (
        "replace",
        ("x", "/(/", "y"),
        FAILED,
        'Call to function "replace" failed: error parsing regexp: ',
        1,
    ),
    # format and formatlist
    (
        "format",
        ("%s, %s", "a"),
        FAILED,
        'Call to function "format" failed: not enough arguments for "%s" at 4: need index 2 but '
        "have 1 total.",
        None,
    ),
    ("format", ("é %s %s", "x"), FAILED, 'not enough arguments for "%s" at 6:', None),  # bytes
    ("format", ("%[3]s", "a"), FAILED, 'for "%[3]s" at 0: need index 3 but have 1 total.', None),
    (
        "format",
        ("%s", None),
        FAILED,
        'unsupported value for "%s" at 0: null value cannot be formatted.',
        None,
    ),
    ("format", ("%s", [1]), FAILED, 'unsupported value for "%s" at 0: string required.', None),
    (
        "format",
        ("%d", 1.5),
        FAILED,
        'unsupported value for "%d" at 0: an integer is required.',
        None,
    ),
    ("format", ("%d", "x"), FAILED, 'unsupported value for "%d" at 0: a number is required.', None),
    ("format", ("%f", True), FAILED, 'unsupported value for "%f" at 0: number required.', None),
    ("format", ("%t", 1), FAILED, 'unsupported value for "%t" at 0: bool required.', None),
    ("format", ("%t", "yes"), FAILED, 'unsupported value for "%t" at 0: a bool is required.', None),
    ("format", ("ab%z", 1), FAILED, "unsupported format verb 'z' in \"%z\" at offset 2.", None),
    ("format", ("abc %", 1), FAILED, "invalid format string starting at offset 5.", None),
    ("format", ("%[0]d", 1), FAILED, "unrecognized format character '0' at offset 2.", None),
    (
        "formatlist",
        ("%s-%s", ["a", "b"], ["c"]),
        INVALID,
        'Invalid value for "args" parameter: argument 2 has length 1, which is inconsistent with '
        "argument 1 of length 2.",
        2,
    ),
    (
        "formatlist",
        ("%s %s", ["a"]),
        FAILED,
        'Call to function "formatlist" failed: error on format iteration 0: not enough arguments',
        None,
    ),
    (
        "formatlist",
        ("%d", [1, "x"]),
        FAILED,
        "error on format iteration 1: unsupported value",
        None,
    ),
]


@pytest.mark.parametrize(("name", "arguments", "summary", "detail", "argument"), ERRORS)
def test_error(
    name: str, arguments: tuple[Any, ...], summary: str, detail: str, argument: int | None
) -> None:
    error = failure(name, *arguments)
    assert (error.summary, error.argument) == (summary, argument)
    assert detail in error.detail


ASKED_FOR = (
    "file filesha256 fileexists templatefile jsonencode jsondecode format formatlist join split "
    "lower upper title trimspace trimprefix trimsuffix replace substr length concat merge lookup "
    "keys values contains element flatten distinct range zipmap toset tolist tomap tostring "
    "tonumber tobool coalesce min max abs ceil floor abspath basename dirname sha256 "
    "base64encode base64decode"
)


def test_supported_is_exactly_the_functions_asked_for_sorted() -> None:
    assert tuple(sorted(ASKED_FOR.split())) == SUPPORTED


def test_results_are_new_values_not_the_arguments() -> None:
    given = {"a": [1]}
    merged = call("merge", given, {"b": 2})
    merged["c"] = 3
    assert given == {"a": [1]}


# --- only EvaluationError ever escapes -------------------------------------------------------

ODD_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    1.5,
    1e300,
    "",
    "a",
    "%",
    "/(/",
    "~x",
    [],
    ["a", None],
    [1, True],
    SetValue(["a"]),
    {},
    {"a": None},
    [[{"k": []}]],
]


@pytest.mark.parametrize("name", SUPPORTED)
def test_any_arguments_give_a_value_or_an_evaluation_error(name: str, tmp_path: Path) -> None:
    few = ODD_VALUES[::2]
    combinations = itertools.chain(
        [()],
        ((v,) for v in ODD_VALUES),
        itertools.product(ODD_VALUES, repeat=2),
        itertools.product(few, repeat=3),
    )
    outcomes = {"value": 0, "error": 0}
    for arguments in combinations:
        try:
            call(name, *arguments, base=tmp_path)
        except EvaluationError as error:
            assert error.summary and error.detail
            assert error.argument is None or 0 <= error.argument < max(len(arguments), 1)
            outcomes["error"] += 1
        else:
            outcomes["value"] += 1
    assert outcomes["error"] > 0


# --- the file functions -----------------------------------------------------------------------


def test_file_reads_relative_to_the_base_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "x.txt").write_text("in base\n", encoding="utf-8")
    (tmp_path / "x.txt").write_text("in cwd\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    base = tmp_path / "conf"
    assert call("file", "x.txt", base=base) == "in base\n"
    assert call("file", "./sub/../x.txt", base=base) == "in base\n"
    assert call("file", str(tmp_path / "x.txt"), base=base) == "in cwd\n"


def test_file_keeps_unicode_and_line_endings(tmp_path: Path) -> None:
    (tmp_path / "u.txt").write_bytes("héllo\r\n🤔".encode())
    assert call("file", "u.txt", base=tmp_path) == "héllo\r\n🤔"


def test_file_expands_a_leading_tilde(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "key.pub").write_text("ssh-ed25519 AAA", encoding="utf-8")
    assert call("file", "~/key.pub") == "ssh-ed25519 AAA"


def test_missing_file_names_the_path_as_given(tmp_path: Path) -> None:
    error = failure("file", "./sub/x.txt", base=tmp_path)
    assert (error.summary, error.argument) == (INVALID, 0)
    assert error.detail == (
        f'Invalid value for "path" parameter: no file exists at "sub/x.txt"{NOT_FOUND_HINT}'
    )


def test_file_that_is_not_utf8_points_to_the_other_file_functions(tmp_path: Path) -> None:
    (tmp_path / "x.bin").write_bytes(b"\xff\xfe\x00")
    error = failure("file", "x.bin", base=tmp_path)
    assert (error.summary, error.argument) == (FAILED, 0)
    assert error.detail == (
        'Call to function "file" failed: contents of "x.bin" are not valid UTF-8; use the '
        "filebase64 function to obtain the Base64 encoded contents or the other file functions "
        "(e.g. filemd5, filesha256) to obtain file hashing results instead."
    )


def test_file_of_a_directory_fails_on_the_path(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    error = failure("file", "d", base=tmp_path)
    assert (error.summary, error.argument) == (INVALID, 0)
    assert "is a directory" in error.detail


def test_user_specific_home_is_refused() -> None:
    error = failure("file", "~root/x")
    assert error.detail.endswith("failed to expand ~: cannot expand user-specific home dir.")


def test_filesha256_hashes_the_bytes_even_when_they_are_not_text(tmp_path: Path) -> None:
    (tmp_path / "hello.txt").write_bytes(b"hello world")
    (tmp_path / "x.bin").write_bytes(b"\xff\x00")
    assert call("filesha256", "hello.txt", base=tmp_path) == (
        "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
    )
    assert call("filesha256", "x.bin", base=tmp_path) == hashlib.sha256(b"\xff\x00").hexdigest()
    missing = failure("filesha256", "nope", base=tmp_path)
    assert missing.detail.startswith(
        'Invalid value for "path" parameter: no file exists at "nope";'
    )


def test_fileexists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "here.txt").write_text("x", encoding="utf-8")
    (tmp_path / "only-in-cwd.txt").write_text("x", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    base = tmp_path / "conf"
    assert call("fileexists", "here.txt", base=base) is True
    assert call("fileexists", "only-in-cwd.txt", base=base) is False
    assert call("fileexists", str(tmp_path / "only-in-cwd.txt"), base=base) is True
    assert call("fileexists", "nope/deeper.txt", base=base) is False


def test_fileexists_of_a_directory_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    error = failure("fileexists", "sub", base=tmp_path)
    assert (error.summary, error.argument) == (INVALID, 0)
    assert error.detail == 'Invalid value for "path" parameter: "sub" is a directory, not a file.'


def test_templatefile_renders_the_file_with_the_variables(tmp_path: Path) -> None:
    (tmp_path / "t.tpl").write_text("Hello, ${name}!", encoding="utf-8")
    renderer = Renderer(result="Hello, Ander!")
    result = call("templatefile", "t.tpl", {"name": "Ander"}, base=tmp_path, renderer=renderer)
    assert result == "Hello, Ander!"
    assert renderer.calls == [("Hello, ${name}!", {"name": "Ander"}, "t.tpl")]


def test_templatefile_returns_whatever_the_template_produces(tmp_path: Path) -> None:
    (tmp_path / "t.tpl").write_text("${items}", encoding="utf-8")
    renderer = Renderer(result=["a", "b"])
    assert call(
        "templatefile", "t.tpl", {"items": ["a", "b"]}, base=tmp_path, renderer=renderer
    ) == [
        "a",
        "b",
    ]


@pytest.mark.parametrize(
    ("variables", "detail"),
    [
        ("x", 'Invalid value for "vars" parameter: invalid vars value: must be a map.'),
        (["a"], 'Invalid value for "vars" parameter: invalid vars value: must be a map.'),
        (
            {"1abc": 1},
            'Invalid value for "vars" parameter: invalid template variable name "1abc": must '
            "start with a letter, followed by zero or more letters, digits, and underscores.",
        ),
        ({"a b": 1}, 'invalid template variable name "a b"'),
    ],
)
def test_templatefile_refuses_bad_variables(tmp_path: Path, variables: Any, detail: str) -> None:
    (tmp_path / "t.tpl").write_text("x", encoding="utf-8")
    renderer = Renderer()
    with pytest.raises(EvaluationError) as caught:
        call("templatefile", "t.tpl", variables, base=tmp_path, renderer=renderer)
    assert (caught.value.summary, caught.value.argument) == (INVALID, 1)
    assert detail in caught.value.detail
    assert renderer.calls == []


def test_templatefile_accepts_identifier_like_names(tmp_path: Path) -> None:
    (tmp_path / "t.tpl").write_text("x", encoding="utf-8")
    renderer = Renderer()
    call("templatefile", "t.tpl", {"a_b-c": 1, "_x": 2, "é": 3}, base=tmp_path, renderer=renderer)
    assert renderer.calls[0][1] == {"a_b-c": 1, "_x": 2, "é": 3}


def test_templatefile_file_errors_are_those_of_file(tmp_path: Path) -> None:
    missing = failure("templatefile", "nope.tpl", {}, base=tmp_path)
    assert (missing.summary, missing.argument) == (INVALID, 0)
    assert missing.detail == (
        f'Invalid value for "path" parameter: no file exists at "nope.tpl"{NOT_FOUND_HINT}'
    )
    (tmp_path / "bin.tpl").write_bytes(b"\xff")
    binary = failure("templatefile", "bin.tpl", {}, base=tmp_path)
    assert binary.summary == FAILED
    assert binary.detail.startswith(
        'Call to function "templatefile" failed: contents of "bin.tpl" are not valid UTF-8;'
    )


def test_templatefile_lets_the_renderers_evaluation_errors_through(tmp_path: Path) -> None:
    (tmp_path / "t.tpl").write_text("${nope}", encoding="utf-8")
    raised = EvaluationError("Unknown variable", 'There is no variable named "nope".')

    def renderer(text: str, variables: Mapping[str, Any], filename: str) -> Any:
        raise raised

    with pytest.raises(EvaluationError) as caught:
        call_function("templatefile", ["t.tpl", {}], FunctionContext(tmp_path, renderer))
    assert caught.value is raised


def test_templatefile_wraps_anything_else_the_renderer_raises(tmp_path: Path) -> None:
    (tmp_path / "t.tpl").write_text("x", encoding="utf-8")

    def renderer(text: str, variables: Mapping[str, Any], filename: str) -> Any:
        raise RecursionError("maximum recursion depth exceeded")

    with pytest.raises(EvaluationError) as caught:
        call_function("templatefile", ["t.tpl", {}], FunctionContext(tmp_path, renderer))
    assert caught.value.summary == FAILED
    assert caught.value.detail == (
        'Call to function "templatefile" failed: maximum recursion depth exceeded.'
    )


def test_abspath_resolves_against_the_base(tmp_path: Path) -> None:
    assert call("abspath", "a/../b.txt", base=tmp_path) == f"{tmp_path}/b.txt"
    assert call("abspath", ".", base=tmp_path) == str(tmp_path)
