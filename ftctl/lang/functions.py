"""Terraform's built-in functions: each one's parameters, conversions, results and error texts,
as Terraform (HCL and cty) gives them, over ftctl's plain-Python values."""

import base64
import binascii
import functools
import hashlib
import json
import math
import os
import posixpath
import re
import stat
import unicodedata
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from ftctl.lang.values import (
    EvaluationError,
    SetValue,
    equal,
    normalise_number,
    to_string,
    type_name,
)

__all__ = ["SUPPORTED", "FunctionContext", "call_function"]


@dataclass(frozen=True)
class FunctionContext:
    """What the file functions need from the evaluator."""

    base: Path
    render_template: Callable[[str, Mapping[str, Any], str], Any]


# --- errors -----------------------------------------------------------------------------------


class _ArgError(Exception):
    """Terraform's function.ArgError: reported as "Invalid function argument" against the
    parameter at `index` (a position in the call, variadic arguments included)."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index
        self.message = message


class _Failure(Exception):
    """Any other error from inside a function: "Error in function call"."""

    def __init__(self, message: str, argument: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.argument = argument


_QUOTE_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def _escape_char(ch: str) -> str:
    escaped = _QUOTE_ESCAPES.get(ch)
    if escaped is not None:
        return escaped
    if ch.isprintable():
        return ch
    code = ord(ch)
    if code < 0x80:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _quote(text: str) -> str:
    """Go's %q of a string, which Terraform uses to show paths, keys and format verbs."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    return '"' + "".join(_escape_char(ch) for ch in text) + '"'


def _quote_char(ch: str) -> str:
    """Go's %q of one character, as in 'x'."""
    if ch == "'":
        return "'\\''"
    return "'" + ('"' if ch == '"' else _escape_char(ch)) + "'"


# --- parameters and conversions ---------------------------------------------------------------


class Kind(Enum):
    """What a parameter accepts, and so how an argument is converted before the call."""

    ANY = "any"
    STRING = "string"
    NUMBER = "number"
    LIST_OF_STRING = "list of string"
    LIST = "list of any single type"


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    kind: Kind = Kind.ANY
    nullable: bool = False


@dataclass(frozen=True, slots=True)
class Spec:
    """One function: its implementation, its fixed parameters and its variadic one, if any.
    A `contextual` implementation receives the FunctionContext first."""

    impl: Callable[..., Any]
    params: tuple[Param, ...]
    variadic: Param | None = None
    contextual: bool = False


_NUMBER_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _parse_number(text: str) -> int | float | None:
    """A decimal number as cty parses one from a string (no surrounding spaces, no hex)."""
    if not _NUMBER_TEXT.fullmatch(text):
        return None
    try:
        return int(text)
    except ValueError:
        pass
    number = float(text)
    return normalise_number(number) if math.isfinite(number) else None


def _as_string(value: Any, index: int) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return to_string(value)
    raise _ArgError(index, "string required")


def _as_number(value: Any, index: int) -> int | float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        number = _parse_number(value)
        if number is None:
            raise _ArgError(index, "a number is required")
        return number
    raise _ArgError(index, "number required")


def _as_list_of_string(value: Any, index: int) -> list[str | None]:
    if not isinstance(value, list | tuple):
        raise _ArgError(index, "list of string required")
    items: list[str | None] = []
    for position, item in enumerate(value):
        if item is None:
            items.append(None)
        elif isinstance(item, str | bool | int | float):
            items.append(item if isinstance(item, str) else to_string(item))
        else:
            raise _ArgError(index, f"element {position}: string required")
    return items


def _as_list(value: Any, index: int) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise _ArgError(index, "list of any single type required")
    unified = _unify(value)
    if unified is None:
        raise _ArgError(index, "all list elements must have the same type")
    return unified


_CONVERTERS: dict[Kind, Callable[[Any, int], Any]] = {
    Kind.STRING: _as_string,
    Kind.NUMBER: _as_number,
    Kind.LIST_OF_STRING: _as_list_of_string,
    Kind.LIST: _as_list,
}


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, SetValue):
        return "set"
    if isinstance(value, list | tuple):
        return "list"
    return "map"


def _unify(items: Iterable[Any]) -> list[Any] | None:
    """The elements converted to one type, as cty unifies a tuple into a list: strings win over
    numbers and bools, nulls fit anything; None when there is no such type (e.g. 1 and true).
    Nested collections are only checked for kind, not converted."""
    values = list(items)
    kinds = {_kind_of(v) for v in values if v is not None}
    if len(kinds) <= 1:
        return values
    if "string" in kinds and kinds <= {"string", "number", "bool"}:
        return [v if v is None or isinstance(v, str) else to_string(v) for v in values]
    return None


def _whole(value: int | float, what: str, argument: int) -> int:
    """gocty's conversion of a number to a Go int."""
    if isinstance(value, int):
        if -(2**63) <= value < 2**63:
            return value
    elif value.is_integer() and -(2**63) <= value < 2**63:
        return int(value)
    raise _Failure(
        f"{what}value must be a whole number, between -9223372036854775808 and 9223372036854775807",
        argument,
    )


# --- text helpers -----------------------------------------------------------------------------

# Go's unicode.IsSpace, which strings.TrimSpace uses; str.strip() would also trim \x1c-\x1f.
_GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)


def _extends_cluster(cluster: str, ch: str) -> bool:
    """Whether `ch` continues the grapheme cluster `cluster` (an approximation of Unicode's
    rules good enough for combining marks, emoji sequences, flags and CR LF)."""
    last = cluster[-1]
    if ch == "\n":
        return cluster == "\r"
    if last in "\r\n" or unicodedata.category(last) == "Cc":
        return False
    code = ord(ch)
    if last == "\u200d":
        return True
    if code < 0x300:
        return False
    if ch == "\u200d" or 0xFE00 <= code <= 0xFE0F or 0x1F3FB <= code <= 0x1F3FF:
        return True
    if 0xE0020 <= code <= 0xE007F or 0xE0100 <= code <= 0xE01EF:
        return True
    if 0x1F1E6 <= code <= 0x1F1FF:
        return len(cluster) == 1 and 0x1F1E6 <= ord(last) <= 0x1F1FF
    return unicodedata.category(ch) in ("Mn", "Me", "Mc")


def _graphemes(text: str) -> list[str]:
    """The characters of `text` as Terraform counts them: grapheme clusters, not code points."""
    if text.isascii() and "\r\n" not in text:
        return list(text)
    clusters: list[str] = []
    for ch in text:
        if clusters and _extends_cluster(clusters[-1], ch):
            clusters[-1] += ch
        else:
            clusters.append(ch)
    return clusters


def _text_length(text: str) -> int:
    if text.isascii():
        return len(text) - text.count("\r\n")
    return len(_graphemes(text))


def _simple_case(text: str, convert: Callable[[str], str]) -> str:
    """Go maps case one character to one character: "ß" stays "ß" under upper()."""
    if text.isascii():
        return convert(text)
    out = []
    for ch in text:
        mapped = convert(ch)
        out.append(mapped if len(mapped) == 1 else ch)
    return "".join(out)


# --- JSON, as cty writes it -------------------------------------------------------------------


def _decimal(number: int | float) -> Decimal:
    # repr() is the shortest text that reads back the same float: close to what the user wrote,
    # which is what cty's 512-bit numbers keep.
    return Decimal(number) if isinstance(number, int) else Decimal(repr(number))


def _number_text(number: int | float) -> str:
    """A number in full decimal notation, never with an exponent (cty's Text('f', -1))."""
    if isinstance(number, int):
        return str(number)
    if not math.isfinite(number):
        raise _Failure(f"{number} is not a finite number")
    if number == 0:
        return "0"
    text = format(_decimal(number), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _json_string(text: str) -> str:
    encoded = json.dumps(text, ensure_ascii=False)
    # Go's encoder also escapes HTML-significant characters and the JavaScript line separators.
    if any(c in text for c in "<>&\u2028\u2029"):
        encoded = (
            encoded.replace("<", "\\u003c")
            .replace(">", "\\u003e")
            .replace("&", "\\u0026")
            .replace("\u2028", "\\u2028")
            .replace("\u2029", "\\u2029")
        )
    return encoded


def _json_encode(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, int | float):
        return _number_text(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(_json_encode(v) for v in value) + "]"
    if isinstance(value, Mapping):
        # cty iterates objects and maps in lexical key order.
        return (
            "{"
            + ",".join(f"{_json_string(k)}:{_json_encode(value[k])}" for k in sorted(value))
            + "}"
        )
    raise _Failure(f"cannot encode a {type_name(value)} value as JSON")


_JSON_CONTEXT = {
    "Expecting value": "looking for beginning of value",
    "Expecting ':' delimiter": "after object key",
    "Expecting property name enclosed in double quotes": (
        "looking for beginning of object key string"
    ),
    "Invalid control character at": "in string literal",
}


def _open_container(text: str, end: int) -> str:
    """The innermost bracket still open at `end`, to word the error as Go does."""
    stack: list[str] = []
    in_string = escaped = False
    for ch in text[:end]:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            stack.append(ch)
        elif ch in "]}" and stack:
            stack.pop()
    return stack[-1] if stack else ""


def _json_error(text: str, error: json.JSONDecodeError) -> str:
    """Go's encoding/json wording for the error Python found."""
    if error.msg == "Extra data":
        return "extraneous data after JSON object"
    if not text.strip():
        return "EOF"
    position = error.pos
    if error.msg.startswith("Unterminated string") or position >= len(text):
        return "unexpected EOF"
    if error.msg.startswith("Invalid \\escape"):
        escaped = _quote_char(text[position + 1 : position + 2])
        return f"invalid character {escaped} in string escape code"
    if error.msg == "Expecting ',' delimiter":
        after = (
            "array element" if _open_container(text, position) == "[" else "object key:value pair"
        )
        context = f"after {after}"
    else:
        context = _JSON_CONTEXT.get(error.msg, "in JSON input")
    return f"invalid character {_quote_char(text[position])} {context}"


def _json_float(text: str) -> int | float:
    number = float(text)
    if not math.isfinite(number):
        raise _Failure(f"cannot represent the number {text}", 0)
    return normalise_number(number)


def _json_constant(text: str) -> Any:
    raise _Failure(f"invalid character {_quote_char(text[0])} looking for beginning of value", 0)


# --- format, as cty implements it -------------------------------------------------------------


@dataclass(slots=True)
class _Verb:
    raw: str
    offset: int
    argument: int
    mode: str = ""
    zero: bool = False
    sharp: bool = False
    plus: bool = False
    minus: bool = False
    space: bool = False
    width: int = -1
    precision: int = -1


_FLAGS = {"0": "zero", "#": "sharp", "-": "minus", "+": "plus", " ": "space"}


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8", "surrogatepass"))


def _parse_verb(spec: str, start: int, next_argument: int) -> _Verb:
    """The verb starting at the "%" at `start`: flags, [n], width, .precision, letter."""
    end = len(spec)

    def bad(position: int) -> _Failure:
        if position >= end:
            return _Failure(f"invalid format string starting at offset {_byte_offset(spec, end)}")
        return _Failure(
            f"unrecognized format character {_quote_char(spec[position])} "
            f"at offset {_byte_offset(spec, position)}"
        )

    verb = _Verb(raw="", offset=_byte_offset(spec, start), argument=next_argument)
    i = start + 1
    while i < end and spec[i] in _FLAGS:
        setattr(verb, _FLAGS[spec[i]], True)
        i += 1
    if i < end and spec[i] == "[":
        i += 1
        if i >= end or not "1" <= spec[i] <= "9":
            raise bad(i)
        digits = i
        while i < end and spec[i].isascii() and spec[i].isdigit():
            i += 1
        verb.argument = int(spec[digits:i])
        if i >= end or spec[i] != "]":
            raise bad(i)
        i += 1
    if i < end and "1" <= spec[i] <= "9":
        digits = i
        while i < end and spec[i].isascii() and spec[i].isdigit():
            i += 1
        verb.width = int(spec[digits:i])
    if i < end and spec[i] == ".":
        i += 1
        digits = i
        while i < end and spec[i].isascii() and spec[i].isdigit():
            i += 1
        verb.precision = int(spec[digits:i] or "0")
    if i >= end or not (spec[i].isascii() and spec[i].isalpha()):
        raise bad(i)
    verb.mode = spec[i]
    verb.raw = spec[start : i + 1]
    return verb


def _pad(verb: _Verb, text: str) -> str:
    missing = verb.width - _text_length(text) if verb.width >= 0 else 0
    if missing <= 0:
        return text
    padding = ("0" if verb.zero else " ") * missing
    return text + padding if verb.minus else padding + text


def _fix_exponent(text: str) -> str:
    # Go writes at least two exponent digits (1e+06); Decimal writes one (1e+6).
    return re.sub(r"e([+-])([0-9])$", r"e\g<1>0\2", text)


def _shortest_g(magnitude: Decimal) -> str:
    """Go's %g with the shortest precision: exponent form below 1e-4 or from 1e+06 up."""
    if magnitude == 0:
        return "0"
    sign, digit_tuple, exponent = magnitude.normalize().as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple))
    point = len(digits) + exponent  # value is 0.<digits> x 10**point
    power = point - 1
    prefix = "-" if sign else ""
    if power < -4 or power >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{prefix}{mantissa}e{'+' if power >= 0 else '-'}{abs(power):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return prefix + digits + "0" * (point - len(digits))
    return f"{prefix}{digits[:point]}.{digits[point:]}"


def _format_float(verb: _Verb, number: int | float) -> str:
    value = _decimal(number)
    negative = value.is_signed()
    magnitude = abs(value)
    mode = verb.mode.lower()
    precision = verb.precision
    if mode == "f":
        body = format(magnitude, f".{6 if precision < 0 else precision}f")
    elif mode == "e":
        body = _fix_exponent(format(magnitude, f".{6 if precision < 0 else precision}e"))
    elif precision < 0:
        body = _shortest_g(magnitude)
    else:
        body = format(float(magnitude), f".{max(precision, 1)}g")
    if verb.mode.isupper():
        body = body.upper()
    sign = "-" if negative else "+" if verb.plus else " " if verb.space else ""
    missing = verb.width - len(sign) - len(body)
    if missing <= 0:
        return sign + body
    # math/big's Float.Format: zero padding wins over left alignment.
    if verb.zero:
        return sign + "0" * missing + body
    if verb.minus:
        return sign + body + " " * missing
    return " " * missing + sign + body


_INTEGER_BASES = {"b": "b", "o": "o", "d": "d", "x": "x", "X": "X"}
_INTEGER_PREFIXES = {"b": "0b", "o": "0", "x": "0x", "X": "0X"}


def _format_integer(verb: _Verb, number: int) -> str:
    digits = format(abs(number), _INTEGER_BASES[verb.mode])
    sign = "-" if number < 0 else "+" if verb.plus else " " if verb.space else ""
    prefix = _INTEGER_PREFIXES.get(verb.mode, "") if verb.sharp else ""
    zeros = 0
    if verb.precision >= 0:
        if number == 0 and verb.precision == 0:
            return ""
        zeros = max(verb.precision - len(digits), 0)
    left = right = 0
    missing = verb.width - (len(sign) + len(prefix) + zeros + len(digits))
    if missing > 0:
        if verb.minus:
            right = missing
        elif verb.zero and verb.precision < 0:
            zeros = missing
        else:
            left = missing
    return " " * left + sign + prefix + "0" * zeros + digits + " " * right


def _format_one(verb: _Verb, args: Sequence[Any]) -> str:
    raw = _quote(verb.raw)
    if verb.argument > len(args):
        raise _Failure(
            f"not enough arguments for {raw} at {verb.offset}: "
            f"need index {verb.argument} but have {len(args)} total"
        )
    value = args[verb.argument - 1]
    mode = verb.mode
    if mode != "v" and value is None:
        raise _Failure(
            f"unsupported value for {raw} at {verb.offset}: null value cannot be formatted"
        )

    def unsupported(why: str) -> _Failure:
        return _Failure(f"unsupported value for {raw} at {verb.offset}: {why}")

    if mode == "v":
        if not verb.sharp and isinstance(value, str):
            return _pad(verb, value)
        if not verb.sharp and isinstance(value, int | float) and not isinstance(value, bool):
            return _pad(verb, _shortest_g(_decimal(value)))
        return _pad(verb, _json_encode(value))
    if mode == "t":
        if isinstance(value, bool):
            return "true" if value else "false"
        if value in ("true", "false"):
            return str(value)
        raise unsupported("a bool is required" if isinstance(value, str) else "bool required")
    if mode in "bdoxXeEfgG":
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise unsupported("number required")
        number = _parse_number(value) if isinstance(value, str) else value
        if number is None:
            raise unsupported("a number is required")
        if mode in _INTEGER_BASES:
            if isinstance(number, float) and not number.is_integer():
                raise unsupported("an integer is required")
            return _format_integer(verb, int(number))
        return _format_float(verb, number)
    if mode in "sq":
        if not isinstance(value, str | bool | int | float):
            raise unsupported("string required")
        text = value if isinstance(value, str) else to_string(value)
        if verb.precision > 0:
            text = "".join(_graphemes(text)[: verb.precision])
        return _pad(verb, text if mode == "s" else _json_string(text))
    raise _Failure(f"unsupported format verb {_quote_char(mode)} in {raw} at offset {verb.offset}")


def _sprintf(spec: str, args: Sequence[Any]) -> str:
    out: list[str] = []
    position = 0
    next_argument = 1
    while True:
        percent = spec.find("%", position)
        if percent < 0:
            out.append(spec[position:])
            return "".join(out)
        out.append(spec[position:percent])
        if spec.startswith("%%", percent):
            out.append("%")
            position = percent + 2
            continue
        verb = _parse_verb(spec, percent, next_argument)
        out.append(_format_one(verb, args))
        next_argument = verb.argument + 1
        position = percent + len(verb.raw)


# --- regular expressions, as Go's regexp reads them -------------------------------------------

_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}


def _translate_regexp(pattern: str) -> str:
    """Go (RE2) syntax to Python's where they differ: `$` and `\\z` mean end of text unless
    (?m) is given, `(?<name>` names a group, and [[:alpha:]] classes exist."""
    multiline = re.search(r"\(\?[a-zA-Z]*m", pattern) is not None
    out: list[str] = []
    i, end = 0, len(pattern)
    in_class = False
    while i < end:
        ch = pattern[i]
        if ch == "\\" and i + 1 < end:
            pair = pattern[i : i + 2]
            out.append("\\Z" if pair == "\\z" and not in_class else pair)
            i += 2
            continue
        if in_class:
            posix = re.match(r"\[:(\^?)([a-z]+):\]", pattern[i:])
            if posix and posix.group(2) in _POSIX_CLASSES and not posix.group(1):
                out.append(_POSIX_CLASSES[posix.group(2)])
                i += posix.end()
                continue
            if ch == "]":
                in_class = False
            # Literal in Go; Python would warn about (future) nested sets and set operations.
            out.append("\\" + ch if ch in "[&~|" else ch)
            i += 1
            continue
        if ch == "[":
            in_class = True
            out.append(ch)
            i += 1
            if i < end and pattern[i] == "^":
                out.append("^")
                i += 1
            if i < end and pattern[i] == "]":
                out.append("\\]")
                i += 1
            continue
        if ch == "$" and not multiline:
            out.append("\\Z")
        elif pattern.startswith("(?<", i) and not pattern.startswith(("(?<=", "(?<!"), i):
            out.append("(?P<")
            i += 3
            continue
        else:
            out.append(ch)
        i += 1
    return "".join(out)


@functools.lru_cache(maxsize=256)
def _compile_regexp(pattern: str) -> re.Pattern[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Go's \d, \w, \s and \b are ASCII-only.
        return re.compile(_translate_regexp(pattern), re.ASCII)


_TEMPLATE_REFERENCE = re.compile(r"\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")


@dataclass(frozen=True, slots=True)
class _Group:
    """A $1 / ${name} reference in a replacement template."""

    key: int | str


def _parse_replacement(template: str) -> list[str | _Group]:
    """Go's Regexp.Expand template: $1, ${1}, $name, ${name}, $$; a bad $ stays literal."""
    parts: list[str | _Group] = []
    position = 0
    while True:
        dollar = template.find("$", position)
        if dollar < 0:
            parts.append(template[position:])
            return parts
        parts.append(template[position:dollar])
        if template.startswith("$$", dollar):
            parts.append("$")
            position = dollar + 2
            continue
        reference = _TEMPLATE_REFERENCE.match(template, dollar)
        if reference is None:
            parts.append("$")
            position = dollar + 1
            continue
        name = reference.group(1) or reference.group(2)
        parts.append(_Group(int(name) if name.isdigit() else name))
        position = reference.end()


def _expand(parts: list[str | _Group], match: re.Match[str]) -> str:
    """The template for one match; a group that does not exist or did not match is empty."""
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        key = part.key
        exists = key <= match.re.groups if isinstance(key, int) else key in match.re.groupindex
        out.append((match.group(key) if exists else None) or "")
    return "".join(out)


def _regexp_replace(text: str, pattern: re.Pattern[str], template: str) -> str:
    """Go's ReplaceAllString: unlike re.sub, an empty match right after a match is skipped."""
    parts = _parse_replacement(template)
    out: list[str] = []
    last_end = search = 0
    while search <= len(text):
        match = pattern.search(text, search)
        if match is None:
            break
        start, end = match.span()
        out.append(text[last_end:start])
        if end > last_end or start == 0:
            out.append(_expand(parts, match))
        last_end = end
        search = search + 1 if search + 1 > end else end
    out.append(text[last_end:])
    return "".join(out)


# --- paths, as Go's path/filepath treats them -------------------------------------------------


def _clean(path: str) -> str:
    cleaned = posixpath.normpath(path)
    # POSIX keeps exactly two leading slashes; Go does not.
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def _expand_home(path: str) -> str:
    if not path.startswith("~"):
        return path
    if len(path) > 1 and path[1] not in "/\\":
        raise _ArgError(0, "failed to expand ~: cannot expand user-specific home dir")
    return os.path.expanduser("~") + path[1:]


def _locate(context: FunctionContext, path: str) -> tuple[str, str]:
    """Where `path` is on disk, and how Terraform names it in messages (relative to the
    configuration directory, as it does for the root module)."""
    expanded = _expand_home(path)
    shown = _clean(expanded)
    full = expanded if os.path.isabs(expanded) else os.path.join(context.base, expanded)
    return _clean(full), shown


def _read_file(context: FunctionContext, path: str) -> bytes:
    full, shown = _locate(context, path)
    try:
        with open(full, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise _ArgError(
            0,
            f"no file exists at {_quote(shown)}; this function works only with files that are "
            "distributed as part of the configuration source code, so if this file will be "
            "created by a resource in this configuration you must instead obtain this result "
            "from an attribute of that resource",
        ) from None
    except IsADirectoryError:
        raise _ArgError(0, f"failed to read file: read {shown}: is a directory") from None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "invalid argument"
        raise _ArgError(0, f"open {shown}: {reason.lower()}") from None


def _decode_file(content: bytes, path: str) -> str:
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        raise _Failure(
            f"contents of {_quote(path)} are not valid UTF-8; use the filebase64 function to "
            "obtain the Base64 encoded contents or the other file functions (e.g. filemd5, "
            "filesha256) to obtain file hashing results instead",
            0,
        ) from None


# --- the functions ----------------------------------------------------------------------------
# One per Terraform function, named after it; arguments arrive already converted to the kinds
# the registry below declares.


def _file(context: FunctionContext, path: str) -> str:
    return _decode_file(_read_file(context, path), path)


def _filesha256(context: FunctionContext, path: str) -> str:
    return hashlib.sha256(_read_file(context, path)).hexdigest()


def _fileexists(context: FunctionContext, path: str) -> bool:
    full, shown = _locate(context, path)
    try:
        mode = os.stat(full).st_mode
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        raise _Failure(f"failed to stat {_quote(shown)}", 0) from None
    if stat.S_ISREG(mode):
        return True
    name = _quote(shown)
    if stat.S_ISDIR(mode):
        raise _ArgError(0, f"{name} is a directory, not a file")
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        raise _ArgError(0, f"{name} is a device node, not a regular file")
    if stat.S_ISFIFO(mode):
        raise _ArgError(0, f"{name} is a named pipe, not a regular file")
    if stat.S_ISSOCK(mode):
        raise _ArgError(0, f"{name} is a unix domain socket, not a regular file")
    raise _ArgError(0, f"{name} is not a regular file")


_TEMPLATE_VARIABLE = re.compile(r"[^\W\d][\w-]*")


def _templatefile(context: FunctionContext, path: str, variables: Any) -> Any:
    text = _decode_file(_read_file(context, path), path)
    if not isinstance(variables, Mapping):
        raise _ArgError(1, "invalid vars value: must be a map")
    for name in variables:
        if not _TEMPLATE_VARIABLE.fullmatch(name):
            raise _ArgError(
                1,
                f"invalid template variable name {_quote(name)}: must start with a letter, "
                "followed by zero or more letters, digits, and underscores",
            )
    return context.render_template(text, variables, path)


def _jsonencode(value: Any) -> str:
    return _json_encode(value)


def _jsondecode(text: str) -> Any:
    try:
        return json.loads(text, parse_float=_json_float, parse_constant=_json_constant)
    except json.JSONDecodeError as exc:
        raise _Failure(_json_error(text, exc), 0) from None


def _format(spec: str, *args: Any) -> str:
    return _sprintf(spec, args)


def _formatlist(spec: str, *args: Any) -> list[str]:
    length = -1
    chooser = 0
    for i, arg in enumerate(args):
        if isinstance(arg, list | tuple):
            if length < 0:
                length, chooser = len(arg), i
            elif len(arg) != length:
                raise _ArgError(
                    i + 1,
                    f"argument {i + 1} has length {len(arg)}, which is inconsistent with "
                    f"argument {chooser + 1} of length {length}",
                )
    results = []
    # Without any list argument there is exactly one result.
    for iteration in range(1 if length < 0 else length):
        row = [a[iteration] if isinstance(a, list | tuple) else a for a in args]
        try:
            results.append(_sprintf(spec, row))
        except _Failure as exc:
            raise _Failure(f"error on format iteration {iteration}: {exc.message}") from None
    return results


def _join(separator: str, *lists: list[str | None]) -> str:
    if not lists:
        raise _Failure("at least one list is required")
    items: list[str] = []
    for position, strings in enumerate(lists):
        for index, item in enumerate(strings):
            if item is None:
                which = f" of list {position + 1}" if len(lists) > 1 else ""
                raise _ArgError(
                    position + 1,
                    f"element {index}{which} is null; cannot concatenate null values",
                )
            items.append(item)
    return separator.join(items)


def _split(separator: str, text: str) -> list[str]:
    if separator == "":
        # Go splits between characters, and an empty string into nothing at all.
        return list(text)
    return text.split(separator)


def _lower(text: str) -> str:
    return _simple_case(text, str.lower)


def _upper(text: str) -> str:
    return _simple_case(text, str.upper)


def _is_word_separator(ch: str) -> bool:
    """Go's strings.Title idea of a word boundary."""
    if ch.isascii():
        return not (ch.isalnum() or ch == "_")
    if ch.isalpha() or ch.isdecimal():
        return False
    return ch in _GO_SPACE


def _title(text: str) -> str:
    out = []
    after_separator = True
    for ch in text:
        if after_separator:
            titled = ch.title()
            out.append(titled if len(titled) == 1 else ch)
        else:
            out.append(ch)
        after_separator = _is_word_separator(ch)
    return "".join(out)


def _trimspace(text: str) -> str:
    return text.strip(_GO_SPACE)


def _trimprefix(text: str, prefix: str) -> str:
    return text.removeprefix(prefix)


def _trimsuffix(text: str, suffix: str) -> str:
    return text.removesuffix(suffix)


def _replace(text: str, substring: str, replacement: str) -> str:
    if len(substring) > 1 and substring[0] == "/" and substring[-1] == "/":
        pattern = substring[1:-1]
        try:
            compiled = _compile_regexp(pattern)
        except re.error as exc:
            raise _Failure(f"error parsing regexp: {exc.msg}: `{pattern}`", 1) from None
        return _regexp_replace(text, compiled, replacement)
    return text.replace(substring, replacement)


def _substr(text: str, offset: int | float, length: int | float) -> str:
    start = _whole(offset, "", 1)
    count = _whole(length, "", 2)
    characters = _graphemes(text)
    if start < 0:
        start = max(start + len(characters), 0)
    if count == 0 or start >= len(characters):
        return ""
    return "".join(characters[start:] if count < 0 else characters[start : start + count])


def _length(value: Any) -> int:
    if isinstance(value, str):
        return _text_length(value)
    if isinstance(value, list | tuple | Mapping):
        return len(value)
    raise _Failure("argument must be a string, a collection type, or a structural type", 0)


def _concat(*seqs: Any) -> list[Any]:
    if not seqs:
        raise _Failure("at least one argument is required")
    result: list[Any] = []
    for index, seq in enumerate(seqs):
        if not isinstance(seq, list) or isinstance(seq, SetValue):
            raise _ArgError(index, f"all arguments must be lists or tuples; got {type_name(seq)}")
        result.extend(seq)
    return result


def _merge(*maps: Any) -> dict[str, Any] | None:
    merged: dict[str, Any] = {}
    all_null = bool(maps)
    for index, mapping in enumerate(maps):
        if mapping is None:
            continue
        if not isinstance(mapping, Mapping):
            raise _Failure(
                f"arguments must be maps or objects, got {_quote(type_name(mapping))}", index
            )
        all_null = False
        merged.update(mapping)
    return None if all_null else merged


def _lookup(mapping: Any, key: str, *default: Any) -> Any:
    if len(default) > 1:
        raise _Failure(f"lookup() takes two or three arguments, got {2 + len(default)}")
    if not isinstance(mapping, Mapping):
        raise _ArgError(0, "lookup() requires a map as the first argument")
    if key in mapping:
        return mapping[key]
    if default:
        return default[0]
    raise _Failure(f"lookup failed to find key {_quote(key)}", 1)


def _keys(mapping: Any) -> list[str]:
    if not isinstance(mapping, Mapping):
        raise _ArgError(0, "must have map or object type")
    return sorted(mapping)


def _values(mapping: Any) -> list[Any]:
    if not isinstance(mapping, Mapping):
        raise _Failure("values() requires a map as the first argument", 0)
    return [mapping[key] for key in sorted(mapping)]


def _contains(collection: Any, value: Any) -> bool:
    if not isinstance(collection, list | tuple):
        raise _Failure("argument must be list, tuple, or set", 0)
    return any(equal(item, value) for item in collection)


def _element(collection: Any, index: int | float) -> Any:
    if index < 0:
        raise _Failure("cannot use element function with a negative index", 1)
    if not isinstance(collection, list) or isinstance(collection, SetValue):
        raise _Failure(f"cannot read elements from {type_name(collection)}", 0)
    position = _whole(index, "invalid index: ", 1)
    if not collection:
        raise _Failure("cannot use element function with an empty list", 0)
    return collection[position % len(collection)]


def _flattened(items: Iterable[Any]) -> Iterator[Any]:
    for item in items:
        if isinstance(item, list | tuple):
            yield from _flattened(item)
        else:
            yield item


def _flatten(collection: Any) -> list[Any]:
    if not isinstance(collection, list | tuple):
        raise _Failure("can only flatten lists, sets and tuples", 0)
    return list(_flattened(collection))


def _distinct_key(value: Any) -> tuple[str, Any] | None:
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, str | int | float) or value is None:
        return ("primitive", value)
    return None


def _distinct(items: list[Any]) -> list[Any]:
    seen: set[tuple[str, Any]] = set()
    result: list[Any] = []
    for item in items:
        key = _distinct_key(item)
        if key is None:
            if not any(equal(item, kept) for kept in result):
                result.append(item)
        elif key not in seen:
            seen.add(key)
            result.append(item)
    return result


_RANGE_LIMIT = 1024


def _range(*params: int | float) -> list[int | float]:
    if not 1 <= len(params) <= 3:
        raise _Failure("must have one, two, or three arguments")
    if len(params) == 3:
        start, end, step = params
    elif len(params) == 2:
        start, end = params
        step = -1 if end < start else 1
    else:
        start, end, step = 0, params[0], -1 if params[0] < 0 else 1
    if step == 0:
        raise _ArgError(2, "step must not be zero")
    if step < 0 and end > start:
        raise _ArgError(1, "end must be less than start when step is negative")
    if step > 0 and end < start:
        raise _ArgError(1, "end must be greater than start when step is positive")
    # Decimal steps keep range(0, 1, 0.1) at 0.3, not 0.30000000000000004, as cty's do.
    current, last, increment = _decimal(start), _decimal(end), _decimal(step)
    values: list[int | float] = []
    while (current > last) if step < 0 else (current < last):
        if len(values) >= _RANGE_LIMIT:
            raise _Failure(
                "more than 1024 values were generated; either decrease the difference between "
                "start and end or use a smaller step"
            )
        values.append(int(current) if current == current.to_integral_value() else float(current))
        current += increment
    return [normalise_number(v) for v in values]


def _zipmap(keys: list[str | None], values: Any) -> dict[str, Any]:
    if not isinstance(values, list) or isinstance(values, SetValue):
        raise _Failure("values argument must be a list or tuple value", 1)
    if len(keys) != len(values):
        raise _Failure(
            f"number of keys ({len(keys)}) does not match number of values ({len(values)})"
        )
    result: dict[str, Any] = {}
    for index, (key, value) in enumerate(zip(keys, values, strict=True)):
        if key is None:
            raise _Failure(f"keys list has null value at index {index}", 0)
        result[key] = value
    return result


def _cannot_convert(value: Any, target: str) -> _ArgError:
    return _ArgError(0, f"cannot convert {type_name(value)} to {target}")


def _toset(value: Any) -> SetValue | None:
    if value is None:
        return None
    if isinstance(value, list | tuple):
        unified = _unify(value)
        if unified is not None:
            return SetValue(unified)
    raise _cannot_convert(value, "set of any single type")


def _tolist(value: Any) -> list[Any] | None:
    if value is None:
        return None
    if isinstance(value, list | tuple):
        unified = _unify(value)
        if unified is not None:
            return unified
    raise _cannot_convert(value, "list of any single type")


def _tomap(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        unified = _unify(value.values())
        if unified is not None:
            return dict(zip(value.keys(), unified, strict=True))
    raise _cannot_convert(value, "map of any single type")


def _tostring(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return to_string(value)
    raise _cannot_convert(value, "string")


def _tonumber(value: Any) -> int | float | None:
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return value
    if isinstance(value, str):
        number = _parse_number(value)
        if number is None:
            raise _ArgError(
                0,
                f"cannot convert {_quote(value)} to number; given string must be a decimal "
                "representation of a number",
            )
        return number
    raise _cannot_convert(value, "number")


def _tobool(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if value in ("true", "false", "1", "0"):  # cty converts "1" and "0" too
        return value in ("true", "1")
    if isinstance(value, str):
        raise _ArgError(
            0,
            f'cannot convert {_quote(value)} to bool; only the strings "true" or "false" are '
            "allowed",
        )
    raise _cannot_convert(value, "bool")


def _coalesce(*vals: Any) -> Any:
    unified = _unify(vals) if vals else None
    if unified is None:
        raise _Failure("all arguments must have the same type")
    for value in unified:
        if value is not None and value != "":
            return value
    raise _Failure("no non-null, non-empty-string arguments")


def _min(*numbers: int | float) -> int | float:
    if not numbers:
        raise _Failure("must pass at least one number")
    return normalise_number(min(numbers))


def _max(*numbers: int | float) -> int | float:
    if not numbers:
        raise _Failure("must pass at least one number")
    return normalise_number(max(numbers))


def _abs(num: int | float) -> int | float:
    return normalise_number(abs(num))


def _ceil(num: int | float) -> int:
    return math.ceil(num)


def _floor(num: int | float) -> int:
    return math.floor(num)


def _abspath(context: FunctionContext, path: str) -> str:
    # Terraform resolves against its working directory, which is the configuration directory
    # when it runs there (or with -chdir); ftctl's equivalent is the context's base.
    return _clean(os.path.abspath(os.path.join(context.base, path)))


def _basename(path: str) -> str:
    """Go's filepath.Base: "" is ".", trailing slashes are ignored, "/" stays "/"."""
    if path == "":
        return "."
    stripped = path.rstrip("/")
    if stripped == "":
        return "/"
    return stripped.rsplit("/", 1)[-1]


def _dirname(path: str) -> str:
    """Go's filepath.Dir: everything before the last slash, cleaned ("foo" gives ".")."""
    return _clean(path[: path.rfind("/") + 1])


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _base64encode(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _base64decode(text: str) -> str:
    try:
        # Go's standard decoder skips line breaks but is otherwise strict, padding included.
        raw = base64.b64decode(text.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        raise _Failure(f"failed to decode base64 data {_quote(text)}", 0) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _Failure("the result of decoding the provided string is not valid UTF-8", 0) from None


# --- the registry -----------------------------------------------------------------------------


def _string(name: str) -> Param:
    return Param(name, Kind.STRING)


def _number(name: str) -> Param:
    return Param(name, Kind.NUMBER)


def _any(name: str, *, nullable: bool = False) -> Param:
    return Param(name, Kind.ANY, nullable)


_STR = (_string("str"),)
_PATH = (_string("path"),)
_V = (_any("v", nullable=True),)
_NUM = (_number("num"),)

_FUNCTIONS: dict[str, Spec] = {
    "abs": Spec(_abs, _NUM),
    "abspath": Spec(_abspath, _PATH, contextual=True),
    "base64decode": Spec(_base64decode, _STR),
    "base64encode": Spec(_base64encode, _STR),
    "basename": Spec(_basename, _PATH),
    "ceil": Spec(_ceil, _NUM),
    "coalesce": Spec(_coalesce, (), _any("vals", nullable=True)),
    "concat": Spec(_concat, (), _any("seqs")),
    "contains": Spec(_contains, (_any("list"), _any("value"))),
    "dirname": Spec(_dirname, _PATH),
    "distinct": Spec(_distinct, (Param("list", Kind.LIST),)),
    "element": Spec(_element, (_any("list"), _number("index"))),
    "file": Spec(_file, _PATH, contextual=True),
    "fileexists": Spec(_fileexists, _PATH, contextual=True),
    "filesha256": Spec(_filesha256, _PATH, contextual=True),
    "flatten": Spec(_flatten, (_any("list"),)),
    "floor": Spec(_floor, _NUM),
    "format": Spec(_format, (_string("format"),), _any("args", nullable=True)),
    "formatlist": Spec(_formatlist, (_string("format"),), _any("args", nullable=True)),
    "join": Spec(_join, (_string("separator"),), Param("lists", Kind.LIST_OF_STRING)),
    "jsondecode": Spec(_jsondecode, _STR),
    "jsonencode": Spec(_jsonencode, (_any("val", nullable=True),)),
    "keys": Spec(_keys, (_any("inputMap"),)),
    "length": Spec(_length, (_any("value"),)),
    "lookup": Spec(_lookup, (_any("inputMap"), _string("key")), _any("default", nullable=True)),
    "lower": Spec(_lower, _STR),
    "max": Spec(_max, (), _number("numbers")),
    "merge": Spec(_merge, (), _any("maps", nullable=True)),
    "min": Spec(_min, (), _number("numbers")),
    "range": Spec(_range, (), _number("params")),
    "replace": Spec(_replace, (_string("str"), _string("substr"), _string("replace"))),
    "sha256": Spec(_sha256, _STR),
    "split": Spec(_split, (_string("separator"), _string("str"))),
    "substr": Spec(_substr, (_string("str"), _number("offset"), _number("length"))),
    "templatefile": Spec(_templatefile, (_string("path"), _any("vars")), contextual=True),
    "title": Spec(_title, _STR),
    "tobool": Spec(_tobool, _V),
    "tolist": Spec(_tolist, _V),
    "tomap": Spec(_tomap, _V),
    "tonumber": Spec(_tonumber, _V),
    "toset": Spec(_toset, _V),
    "tostring": Spec(_tostring, _V),
    "trimprefix": Spec(_trimprefix, (_string("str"), _string("prefix"))),
    "trimspace": Spec(_trimspace, _STR),
    "trimsuffix": Spec(_trimsuffix, (_string("str"), _string("suffix"))),
    "upper": Spec(_upper, _STR),
    "values": Spec(_values, (_any("mapping"),)),
    "zipmap": Spec(_zipmap, (Param("keys", Kind.LIST_OF_STRING), _any("values"))),
}

SUPPORTED: tuple[str, ...] = tuple(sorted(_FUNCTIONS))


def _parameter(spec: Spec, index: int) -> Param:
    if index < len(spec.params):
        return spec.params[index]
    assert spec.variadic is not None
    return spec.variadic


def _invalid_argument(spec: Spec, index: int, message: str) -> EvaluationError:
    name = _parameter(spec, index).name
    return EvaluationError(
        "Invalid function argument", f'Invalid value for "{name}" parameter: {message}.', index
    )


def _check_count(name: str, spec: Spec, count: int) -> None:
    wanted = len(spec.params)
    if count < wanted:
        at_least = " at least" if spec.variadic is not None else ""
        raise EvaluationError(
            "Not enough function arguments",
            f'Function "{name}" expects{at_least} {wanted} argument(s). '
            f'Missing value for "{spec.params[count].name}".',
        )
    if count > wanted and spec.variadic is None:
        raise EvaluationError(
            "Too many function arguments",
            f'Function "{name}" expects only {wanted} argument(s).',
            wanted,
        )


def call_function(name: str, arguments: Sequence[Any], context: FunctionContext) -> Any:
    """Call the Terraform function `name` on fully known, unmarked values. Raises
    EvaluationError(summary, detail, argument=index-or-None) for every problem."""
    spec = _FUNCTIONS.get(name)
    if spec is None:
        raise EvaluationError("Call to unknown function", f'There is no function named "{name}".')
    _check_count(name, spec, len(arguments))
    converted: list[Any] = []
    for index, value in enumerate(arguments):
        param = _parameter(spec, index)
        if value is None:
            if not param.nullable:
                raise _invalid_argument(spec, index, "argument must not be null")
            converted.append(None)
            continue
        converter = _CONVERTERS.get(param.kind)
        if converter is None:
            converted.append(value)
            continue
        try:
            converted.append(converter(value, index))
        except _ArgError as exc:
            raise _invalid_argument(spec, index, exc.message) from None
    try:
        if spec.contextual:
            return spec.impl(context, *converted)
        return spec.impl(*converted)
    except _ArgError as exc:
        raise _invalid_argument(spec, exc.index, exc.message) from None
    except _Failure as exc:
        raise EvaluationError(
            "Error in function call",
            f'Call to function "{name}" failed: {exc.message}.',
            exc.argument,
        ) from None
    except EvaluationError:
        raise
    except Exception as exc:
        # The contract is EvaluationError only: anything else (RecursionError on deep nesting,
        # OverflowError, OSError from a template renderer...) becomes a plain call failure.
        raise EvaluationError(
            "Error in function call", f'Call to function "{name}" failed: {exc}.'
        ) from exc
