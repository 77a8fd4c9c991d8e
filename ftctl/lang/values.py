"""Values of the configuration language. Python's own types carry most of them (str, int, float,
bool, None, list for lists and tuples, dict for maps and objects); the rest are defined here:
unknown (only apply will know it), sensitive (never shown), and sets."""

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ftctl.plan import UNKNOWN, Unknown

__all__ = [
    "UNKNOWN",
    "EvaluationError",
    "Sensitive",
    "SetValue",
    "Unknown",
    "equal",
    "is_known",
    "mark",
    "normalise_number",
    "to_bool",
    "to_number",
    "to_string",
    "type_name",
    "unmark",
]


class EvaluationError(Exception):
    """A value that cannot be used as asked: the evaluator adds the position and the excerpt.
    `argument` is the 0-based index of the function argument at fault, when one is."""

    def __init__(self, summary: str, detail: str, argument: int | None = None) -> None:
        super().__init__(f"{summary}: {detail}")
        self.summary = summary
        self.detail = detail
        self.argument = argument


class SetValue(tuple[Any, ...]):
    """A set: unique elements in Terraform's order (strings lexically, numbers ascending)."""

    __slots__ = ()

    def __new__(cls, items: Iterable[Any] = ()) -> "SetValue":
        unique: list[Any] = []
        for item in items:
            if not any(equal(item, seen) for seen in unique):
                unique.append(item)
        unique.sort(key=_set_order)
        return super().__new__(cls, unique)

    def __repr__(self) -> str:
        return f"SetValue({list(self)!r})"


def _set_order(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool):
        return (0, value)
    if isinstance(value, int | float):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    return (3, repr(value))


@dataclass(frozen=True)
class Sensitive:
    """A value shown as "(sensitive value)": a sensitive variable's, or one derived from it."""

    value: Any


def unmark(value: Any) -> tuple[Any, bool]:
    """`value` without any Sensitive wrapper, at any depth, and whether it had one."""
    if isinstance(value, Sensitive):
        inner, _ = unmark(value.value)
        return inner, True
    if isinstance(value, SetValue):
        items = [unmark(v) for v in value]
        return SetValue(v for v, _ in items), any(s for _, s in items)
    if isinstance(value, list):
        pairs = [unmark(v) for v in value]
        return [v for v, _ in pairs], any(s for _, s in pairs)
    if isinstance(value, dict):
        marked = {k: unmark(v) for k, v in value.items()}
        return {k: v for k, (v, _) in marked.items()}, any(s for _, s in marked.values())
    return value, False


def mark(value: Any, sensitive: bool) -> Any:
    if not sensitive or isinstance(value, Sensitive):
        return value
    return Sensitive(value)


def is_known(value: Any) -> bool:
    """Whether no part of `value` is unknown."""
    if value is UNKNOWN:
        return False
    if isinstance(value, Sensitive):
        return is_known(value.value)
    if isinstance(value, list | tuple):
        return all(is_known(v) for v in value)
    if isinstance(value, dict):
        return all(is_known(v) for v in value.values())
    return True


def type_name(value: Any) -> str:
    """The value's type as Terraform names it in messages."""
    if isinstance(value, Sensitive):
        return type_name(value.value)
    if value is None:
        return "null"
    if value is UNKNOWN:
        return "unknown"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, SetValue):
        return f"set of {_element_type(value)}"
    if isinstance(value, list):
        element = _element_type(value)
        return "tuple" if element == "dynamic" and value else f"list of {element}"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _element_type(values: Iterable[Any]) -> str:
    names = {type_name(v) for v in values}
    return names.pop() if len(names) == 1 else "dynamic"


def normalise_number(value: int | float) -> int | float:
    """Terraform has one number type: 4/2 is 2, not 2.0."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def to_string(value: Any) -> str:
    """A primitive as a string, as templates and string parameters convert it."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise EvaluationError("Invalid number", f"{value} is not a finite number.")
        number = normalise_number(value)
        return str(number) if isinstance(number, int) else repr(number)
    if value is None:
        raise EvaluationError(
            "Invalid template interpolation value",
            "The expression result is null. Cannot include a null value in a string template.",
        )
    raise EvaluationError(
        "Invalid value", f"Cannot use a {type_name(value)} value where a string is required."
    )


def to_number(value: Any) -> int | float:
    if isinstance(value, bool) or value is None:
        raise EvaluationError("Invalid value", f"a number is required, not {type_name(value)}.")
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            raise EvaluationError(
                "Invalid value", f'Cannot convert "{value}" to number: a number is required.'
            ) from None
        if not math.isfinite(number) or text.lower() in ("nan", "inf", "-inf", "infinity"):
            raise EvaluationError(
                "Invalid value", f'Cannot convert "{value}" to number: a number is required.'
            )
        return normalise_number(number)
    raise EvaluationError("Invalid value", f"a number is required, not {type_name(value)}.")


def to_bool(value: Any) -> bool:
    """A bool as cty converts one: the strings "true" and "1" are true, "false" and "0" false;
    the message is cty's ("a bool is required" for another string, "bool required" otherwise)."""
    if isinstance(value, bool):
        return value
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    if isinstance(value, str):
        lowered = value.lower()
        hint = (
            f'; to convert from string, use lowercase "{lowered}"'
            if lowered in ("true", "false")
            else ""
        )
        raise EvaluationError("Invalid value", f"a bool is required{hint}")
    raise EvaluationError("Invalid value", "bool required")


def equal(left: Any, right: Any) -> bool:
    """Terraform's ==: values of different types are never equal (1 != "1"), numbers compare
    by value (2 == 2.0)."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return (
            isinstance(left, SetValue) == isinstance(right, SetValue)
            and len(left) == len(right)
            and all(equal(a, b) for a, b in zip(left, right, strict=True))
        )
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(equal(left[k], right[k]) for k in left)
    return type(left) is type(right) and bool(left == right)
