"""Type constraints of variables (`string`, `list(number)`, `object({...})`...) and Terraform's
conversion of a value to one, with its messages when the value does not fit."""

from dataclasses import dataclass
from typing import Any

from ftctl.lang.syntax import Expression, FunctionCall, ObjectExpr, Traversal, TupleExpr
from ftctl.lang.values import (
    UNKNOWN,
    EvaluationError,
    Sensitive,
    SetValue,
    mark,
    to_bool,
    to_number,
    to_string,
    type_name,
)

PRIMITIVES = ("string", "number", "bool")
_COLLECTIONS = ("list", "set", "map")


@dataclass(frozen=True)
class Attribute:
    name: str
    type: "TypeSpec"
    optional: bool = False
    default: Any = None  # an optional attribute's value when left out


@dataclass(frozen=True)
class TypeSpec:
    kind: str  # string, number, bool, any, list, set, map, object or tuple
    element: "TypeSpec | None" = None  # of a list, set or map
    attributes: tuple[Attribute, ...] = ()  # of an object
    elements: tuple["TypeSpec", ...] = ()  # of a tuple

    def __str__(self) -> str:
        if self.kind in _COLLECTIONS:
            return f"{self.kind}({self.element})"
        if self.kind == "object":
            inner = ", ".join(
                f"{a.name} = " + (f"optional({a.type})" if a.optional else str(a.type))
                for a in self.attributes
            )
            return f"object({{{inner}}})"
        if self.kind == "tuple":
            return "tuple([" + ", ".join(map(str, self.elements)) + "])"
        return self.kind

    @property
    def primitive(self) -> bool:
        return self.kind in PRIMITIVES

    def describe(self) -> str:
        """As Terraform's messages name a type: "list of string", "map of number"."""
        if self.kind in _COLLECTIONS and self.element is not None:
            return f"{self.kind} of {self.element.describe()}"
        return self.kind


ANY = TypeSpec("any")


class TypeError_(Exception):
    """A type expression that is not one."""

    def __init__(self, detail: str, expression: Expression) -> None:
        super().__init__(detail)
        self.detail = detail
        self.expression = expression


def parse_type(expression: Expression) -> TypeSpec:
    """The type an expression such as `map(object({a = string}))` names. Raises TypeError_."""
    if isinstance(expression, Traversal) and not expression.steps:
        if expression.root in (*PRIMITIVES, "any"):
            return TypeSpec(expression.root)
        raise TypeError_(
            f'"{expression.root}" is not a type: use string, number, bool, any, list(T), '
            "set(T), map(T), object({...}) or tuple([...]).",
            expression,
        )
    if isinstance(expression, FunctionCall):
        name, arguments = expression.name, expression.arguments
        if name in _COLLECTIONS:
            if len(arguments) != 1:
                raise TypeError_(
                    f"{name}(...) takes one element type, as in {name}(string).", expression
                )
            return TypeSpec(name, element=parse_type(arguments[0]))
        if name == "object":
            if len(arguments) != 1 or not isinstance(arguments[0], ObjectExpr):
                raise TypeError_(
                    "object(...) takes attribute types: object({ name = string }).", expression
                )
            attributes = []
            for item in arguments[0].items:
                key = getattr(item.key, "value", None)
                if not isinstance(key, str):
                    raise TypeError_("An object type's attribute names must be names.", item.key)
                attributes.append(_object_attribute(key, item.value))
            return TypeSpec("object", attributes=tuple(attributes))
        if name == "tuple":
            if len(arguments) != 1 or not isinstance(arguments[0], TupleExpr):
                raise TypeError_(
                    "tuple(...) takes a list of types: tuple([string, number]).", expression
                )
            return TypeSpec("tuple", elements=tuple(parse_type(e) for e in arguments[0].items))
        if name == "optional":
            raise TypeError_(
                "optional(...) is allowed only for an attribute of object({...}).", expression
            )
    raise TypeError_(
        "A type constraint is a type name such as string, or list(T), set(T), map(T), "
        "object({...}), tuple([...]).",
        expression,
    )


def _object_attribute(name: str, expression: Expression) -> Attribute:
    if isinstance(expression, FunctionCall) and expression.name == "optional":
        arguments = expression.arguments
        if not 1 <= len(arguments) <= 2:
            raise TypeError_("optional(...) takes a type and, optionally, a default.", expression)
        default = None
        if len(arguments) == 2:
            literal = arguments[1]
            default = _literal(literal)
        return Attribute(name, parse_type(arguments[0]), optional=True, default=default)
    return Attribute(name, parse_type(expression))


def _literal(expression: Expression) -> Any:
    from ftctl.lang.syntax import Literal

    if isinstance(expression, Literal):
        return expression.value
    if isinstance(expression, TupleExpr):
        return [_literal(e) for e in expression.items]
    if isinstance(expression, ObjectExpr):
        return {str(getattr(i.key, "value", "")): _literal(i.value) for i in expression.items}
    raise TypeError_("An optional attribute's default must be a literal value.", expression)


def convert(value: Any, spec: TypeSpec) -> Any:
    """`value` as a value of type `spec`, converted as Terraform does; raises EvaluationError
    with Terraform's wording ("string required", `attribute "a" is required`)."""
    if isinstance(value, Sensitive):
        return mark(convert(value.value, spec), True)
    if value is None or value is UNKNOWN or spec.kind == "any":
        return value
    try:
        match spec.kind:
            case "string":
                if isinstance(value, list | tuple | dict):
                    raise _required(spec)
                return to_string(value)
            case "number":
                if isinstance(value, bool) or not isinstance(value, int | float | str):
                    raise _required(spec)
                try:
                    return to_number(value)
                except EvaluationError:
                    # cty's words for a string that is not a number.
                    raise EvaluationError("Invalid value", "a number is required") from None
            case "bool":
                return to_bool(value)
            case "list" | "set":
                if not isinstance(value, list | tuple):
                    raise _required(spec)
                assert spec.element is not None
                items = [_element(item, spec.element, index) for index, item in enumerate(value)]
                return SetValue(items) if spec.kind == "set" else items
            case "map":
                if not isinstance(value, dict):
                    raise _required(spec)
                assert spec.element is not None
                return {key: _element(item, spec.element, key) for key, item in value.items()}
            case "object":
                if not isinstance(value, dict):
                    raise _required(spec)
                result = {}
                for attribute in spec.attributes:
                    if attribute.name in value and value[attribute.name] is not None:
                        result[attribute.name] = _element(
                            value[attribute.name], attribute.type, attribute.name, True
                        )
                    elif attribute.optional:
                        result[attribute.name] = attribute.default
                    else:
                        raise EvaluationError(
                            "Invalid value", f'attribute "{attribute.name}" is required'
                        )
                return result
            case "tuple":
                if not isinstance(value, list | tuple):
                    raise _required(spec)
                if len(value) != len(spec.elements):
                    raise EvaluationError(
                        "Invalid value", f"tuple required with {len(spec.elements)} elements"
                    )
                return [
                    _element(v, t, i)
                    for i, (v, t) in enumerate(zip(value, spec.elements, strict=True))
                ]
    except EvaluationError as exc:
        if exc.summary == "Invalid value" and " required" in exc.detail:
            raise
        raise _required(spec) from None
    raise _required(spec)


def _element(value: Any, spec: TypeSpec, key: int | str, attribute: bool = False) -> Any:
    try:
        return convert(value, spec)
    except EvaluationError as exc:
        where = (
            f'attribute "{key}"'
            if attribute
            else (f"element {key}" if isinstance(key, int) else f'element "{key}"')
        )
        raise EvaluationError("Invalid value", f"{where}: {exc.detail}") from None


def _required(spec: TypeSpec) -> EvaluationError:
    return EvaluationError("Invalid value", f"{spec.describe()} required")


def describe_value(value: Any) -> str:
    return type_name(value)
