"""The expression evaluator: syntax tree + scope → value, with Terraform's operators, references,
templates, `for` expressions and splats. Unknown values flow through (anything computed from
one is unknown), and so do sensitive ones (anything computed from one is sensitive)."""

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ftctl.diagnostics import Diagnostic, SourceRange, error
from ftctl.lang import functions
from ftctl.lang.syntax import (
    Binary,
    Conditional,
    Expression,
    ForExpr,
    FunctionCall,
    GetAttr,
    IfDirective,
    Index,
    IndexStep,
    Interpolation,
    Literal,
    ObjectExpr,
    Splat,
    Step,
    Template,
    TemplatePart,
    Traversal,
    TupleExpr,
    Unary,
    Unsupported,
)
from ftctl.lang.values import (
    UNKNOWN,
    EvaluationError,
    Sensitive,
    SetValue,
    equal,
    is_known,
    mark,
    normalise_number,
    to_bool,
    to_number,
    to_string,
    type_name,
    unmark,
)

# Roots every configuration may refer to besides resources.
_VALUE_ROOTS = ("var", "local", "each", "count", "path", "terraform")
# Functions whose result needs only a collection itself, not its elements' values: as in
# Terraform, they are called on a list or map whose elements are unknown, so that
# length(openai_file.shard) is known at plan even though every shard's id is not.
_SHAPE_FUNCTIONS = frozenset({"concat", "element", "keys", "length", "lookup", "merge", "values"})


class EvaluationFailed(Exception):
    """An expression that cannot be evaluated, with the diagnostic that says why and where."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.summary)
        self.diagnostic = diagnostic


def failure(summary: str, detail: str, where: SourceRange | None) -> EvaluationFailed:
    return EvaluationFailed(error(summary, detail, where))


# What a reference to a resource yields: (type, name, where) → its value (an object, a list of
# objects for count, a map of objects for for_each), UNKNOWN while it cannot be known.
ResourceValues = Callable[[str, str, SourceRange], Any]


class Evaluator:
    """Evaluates expressions of one configuration. Locals are computed once, on first use."""

    def __init__(
        self,
        *,
        directory: Path,
        variables: Mapping[str, Any],
        locals_: Mapping[str, Expression],
        resource_types: Sequence[str],
        resources: ResourceValues,
    ) -> None:
        self.directory = directory
        self.variables = variables
        self.local_expressions = locals_
        self.resource_types = frozenset(resource_types)
        self.resources = resources
        self.local_values: dict[str, Any] = {}
        self._evaluating_locals: list[str] = []
        self.context = functions.FunctionContext(directory, self._render_template_file)
        self._dispatch: dict[type, Callable[[Any, Mapping[str, Any]], Any]] = {
            Literal: self._literal,
            Template: self._template,
            Traversal: self._traversal,
            TupleExpr: self._tuple,
            ObjectExpr: self._object,
            Index: self._index_expression,
            GetAttr: self._get_attr,
            Splat: self._splat,
            FunctionCall: self._call,
            Unary: self._unary,
            Binary: self._binary,
            Conditional: self._conditional,
            ForExpr: self._for,
            Unsupported: self._unsupported,
        }

    def evaluate(self, expression: Expression, bound: Mapping[str, Any] | None = None) -> Any:
        """The value of `expression`; `bound` names each, count and the like. Raises
        EvaluationFailed."""
        return self._dispatch[type(expression)](expression, bound or {})

    # -- leaves ---------------------------------------------------------------------------------

    def _literal(self, expression: Literal, bound: Mapping[str, Any]) -> Any:
        return expression.value

    def _unsupported(self, expression: Unsupported, bound: Mapping[str, Any]) -> Any:
        raise failure(
            f"Unsupported {expression.kind}",
            f"ftctl does not evaluate {expression.kind}s: {expression.text}",
            expression.where,
        )

    # -- references ---------------------------------------------------------------------------

    def _traversal(self, expression: Traversal, bound: Mapping[str, Any]) -> Any:
        root, steps, where = expression.root, expression.steps, expression.where
        if root in bound:
            return self._apply_steps(bound[root], steps, where, root)
        match root:
            case "var":
                name = _first_name(expression, "var")
                if name not in self.variables:
                    raise failure(
                        "Reference to undeclared input variable",
                        f'An input variable with the name "{name}" has not been declared. '
                        f'Declare it with a variable "{name}" {{}} block.',
                        where,
                    )
                return self._apply_steps(self.variables[name], steps[1:], where, f"var.{name}")
            case "local":
                name = _first_name(expression, "local")
                return self._apply_steps(
                    self._local(name, where), steps[1:], where, f"local.{name}"
                )
            case "path":
                name = _first_name(expression, "path")
                paths = {"module": ".", "root": ".", "cwd": str(self.directory.resolve())}
                if name not in paths:
                    raise failure(
                        'Invalid "path" attribute',
                        f'The "path" object has no attribute "{name}": use path.module, '
                        "path.root or path.cwd.",
                        where,
                    )
                return self._apply_steps(paths[name], steps[1:], where, f"path.{name}")
            case "terraform":
                name = _first_name(expression, "terraform")
                if name != "workspace":
                    raise failure(
                        'Invalid "terraform" attribute',
                        'The "terraform" object has only the attribute "workspace".',
                        where,
                    )
                return self._apply_steps("default", steps[1:], where, "terraform.workspace")
            case "each":
                raise failure(
                    'Reference to "each" in context without for_each',
                    'The "each" object can be used only in "resource" blocks, and only when the '
                    '"for_each" argument is set.',
                    where,
                )
            case "count":
                raise failure(
                    'Reference to "count" in non-counted context',
                    'The "count" object can be used only in "resource" blocks, and only when the '
                    '"count" argument is set.',
                    where,
                )
            case "self" | "data" | "module":
                raise failure(
                    f'"{root}" references are not supported',
                    f"ftctl's configurations have no {root} objects: refer to var., local., "
                    "or a resource such as openai_file.NAME.id.",
                    where,
                )
        if not steps or not isinstance(steps[0], str):
            raise failure(
                "Invalid reference",
                "A reference to a resource type must be followed by at least one attribute "
                "access, specifying the resource name.",
                where,
            )
        name = steps[0]
        if root not in self.resource_types:
            raise failure(
                "Reference to undeclared resource",
                f'A managed resource "{root}" "{name}" has not been declared in the root module.',
                where,
            )
        value = self.resources(root, name, where)
        return self._apply_steps(value, steps[1:], where, f"{root}.{name}")

    def _local(self, name: str, where: SourceRange) -> Any:
        if name in self.local_values:
            return self.local_values[name]
        expression = self.local_expressions.get(name)
        if expression is None:
            raise failure(
                "Reference to undeclared local value",
                f'A local value with the name "{name}" has not been declared.',
                where,
            )
        if name in self._evaluating_locals:  # the graph reports cycles; this is a backstop
            raise failure("Cycle in local values", f"local.{name} depends on its own value.", where)
        self._evaluating_locals.append(name)
        try:
            value = self.evaluate(expression)
        finally:
            self._evaluating_locals.pop()
        self.local_values[name] = value
        return value

    def _apply_steps(
        self, value: Any, steps: Sequence[Step], where: SourceRange, shown: str
    ) -> Any:
        for step in steps:
            if isinstance(step, IndexStep):
                value = index(value, step.key, where)
                shown += str(step)
            else:
                value = attribute(value, step, where, shown)
                shown += f".{step}"
        return value

    # -- collections --------------------------------------------------------------------------

    def _tuple(self, expression: TupleExpr, bound: Mapping[str, Any]) -> Any:
        return [self.evaluate(item, bound) for item in expression.items]

    def _object(self, expression: ObjectExpr, bound: Mapping[str, Any]) -> Any:
        result: dict[str, Any] = {}
        for item in expression.items:
            key = self.evaluate(item.key, bound)
            if key is UNKNOWN:
                return UNKNOWN
            plain_key, sensitive_key = unmark(key)
            if sensitive_key:
                raise failure(
                    "Sensitive object key",
                    "A sensitive value cannot be an object key: keys are always shown.",
                    item.where,
                )
            try:
                text = to_string(plain_key)
            except EvaluationError:
                raise failure(
                    "Incorrect key type",
                    f"Can't use this value as a key: a string is required, not {type_name(key)}.",
                    item.where,
                ) from None
            result[text] = self.evaluate(item.value, bound)
        return result

    def _index_expression(self, expression: Index, bound: Mapping[str, Any]) -> Any:
        collection = self.evaluate(expression.collection, bound)
        key = self.evaluate(expression.key, bound)
        plain_key, sensitive = unmark(key)
        if plain_key is UNKNOWN:
            return UNKNOWN
        return mark(index(collection, plain_key, expression.where), sensitive)

    def _get_attr(self, expression: GetAttr, bound: Mapping[str, Any]) -> Any:
        target = self.evaluate(expression.target, bound)
        return attribute(target, expression.name, expression.where, "This value")

    def _splat(self, expression: Splat, bound: Mapping[str, Any]) -> Any:
        source = self.evaluate(expression.source, bound)
        plain, sensitive = (
            (source.value, True) if isinstance(source, Sensitive) else (source, False)
        )
        if plain is UNKNOWN:
            return UNKNOWN
        if plain is None:
            return mark([], sensitive)
        items = list(plain) if isinstance(plain, list | tuple) else [plain]
        results = [
            self._apply_steps(item, expression.steps, expression.where, "Each element")
            for item in items
        ]
        return mark(results, sensitive)

    def _for(self, expression: ForExpr, bound: Mapping[str, Any]) -> Any:
        collection = self.evaluate(expression.collection, bound)
        plain, sensitive = (
            (collection.value, True) if isinstance(collection, Sensitive) else (collection, False)
        )
        if plain is UNKNOWN:
            return UNKNOWN
        pairs = _iteration_pairs(plain, expression.collection.where)
        values: list[Any] = []
        grouped: dict[str, Any] = {}
        for key, value in pairs:
            names = dict(bound)
            names[expression.value_name] = value
            if expression.key_name is not None:
                names[expression.key_name] = key
            if expression.condition is not None:
                keep = self.evaluate(expression.condition, names)
                keep_plain, _ = unmark(keep)
                if keep_plain is UNKNOWN:
                    return UNKNOWN
                if not isinstance(keep_plain, bool):
                    raise failure(
                        "Invalid 'for' condition",
                        f"The 'if' clause must be a bool, not {type_name(keep)}.",
                        expression.condition.where,
                    )
                if not keep_plain:
                    continue
            item = self.evaluate(expression.value, names)
            if expression.key is None:
                values.append(item)
                continue
            object_key = self.evaluate(expression.key, names)
            key_plain, key_sensitive = unmark(object_key)
            if key_plain is UNKNOWN:
                return UNKNOWN
            try:
                text = to_string(key_plain)
            except EvaluationError:
                raise failure(
                    "Invalid object key",
                    f"The key must be a string, not {type_name(object_key)}.",
                    expression.key.where,
                ) from None
            if expression.grouping:
                grouped.setdefault(text, []).append(item)
            elif text in grouped:
                raise failure(
                    "Duplicate object key",
                    f"Two different items produced the key \"{text}\" in this 'for' expression. "
                    "If duplicates are expected, use the ellipsis (...) after the value "
                    "expression to enable grouping by key.",
                    expression.key.where,
                )
            else:
                grouped[text] = item
            sensitive = sensitive or key_sensitive
        return mark(values if expression.key is None else grouped, sensitive)

    # -- operators ----------------------------------------------------------------------------

    def _unary(self, expression: Unary, bound: Mapping[str, Any]) -> Any:
        operand, sensitive = unmark(self.evaluate(expression.operand, bound))
        if operand is UNKNOWN:
            return UNKNOWN
        if expression.operator == "!":
            if not isinstance(operand, bool):
                raise _operand_failure("a bool", operand, expression.operand.where, "")
            return mark(not operand, sensitive)
        number = _number_operand(operand, expression.operand.where, "")
        return mark(-number, sensitive)

    def _binary(self, expression: Binary, bound: Mapping[str, Any]) -> Any:
        left, left_sensitive = unmark(self.evaluate(expression.left, bound))
        right, right_sensitive = unmark(self.evaluate(expression.right, bound))
        sensitive = left_sensitive or right_sensitive
        operator = expression.operator
        if operator in ("==", "!="):
            if not (is_known(left) and is_known(right)):
                return UNKNOWN
            same = equal(left, right)
            return mark(same if operator == "==" else not same, sensitive)
        if left is UNKNOWN or right is UNKNOWN:
            return UNKNOWN
        if operator in ("&&", "||"):
            for value, side in ((left, expression.left), (right, expression.right)):
                if not isinstance(value, bool):
                    which = "left" if side is expression.left else "right"
                    raise _operand_failure("a bool", value, side.where, which)
            return mark(left and right if operator == "&&" else left or right, sensitive)
        a = _number_operand(left, expression.left.where, "left")
        b = _number_operand(right, expression.right.where, "right")
        return mark(_arithmetic(operator, a, b, expression.where), sensitive)

    def _conditional(self, expression: Conditional, bound: Mapping[str, Any]) -> Any:
        condition, sensitive = unmark(self.evaluate(expression.condition, bound))
        if condition is UNKNOWN:
            return UNKNOWN
        chosen = _condition(condition, expression.condition.where)
        value = self.evaluate(expression.then if chosen else expression.otherwise, bound)
        return mark(value, sensitive)

    # -- templates ----------------------------------------------------------------------------

    def _template(self, expression: Template, bound: Mapping[str, Any]) -> Any:
        parts = expression.parts
        if len(parts) == 1 and isinstance(parts[0], Interpolation):
            # "${x}" alone is x itself, keeping its type.
            return self.evaluate(parts[0].expression, bound)
        pieces: list[str] = []
        sensitive = False
        for part in parts:
            result, part_sensitive = self._render(part, bound)
            if result is UNKNOWN:
                return UNKNOWN
            pieces.append(result)
            sensitive = sensitive or part_sensitive
        return mark("".join(pieces), sensitive)

    def _render(self, part: TemplatePart, bound: Mapping[str, Any]) -> tuple[Any, bool]:
        """One template part as text (or UNKNOWN), and whether it was sensitive."""
        if isinstance(part, str):
            return part, False
        if isinstance(part, Interpolation):
            value, sensitive = unmark(self.evaluate(part.expression, bound))
            if not is_known(value):
                return UNKNOWN, sensitive
            try:
                return to_string(value), sensitive
            except EvaluationError as exc:
                detail = exc.detail
                if value is not None:
                    detail = f"Cannot include a {type_name(value)} in a string template."
                raise failure(
                    "Invalid template interpolation value", detail, part.expression.where
                ) from None
        if isinstance(part, IfDirective):
            condition, sensitive = unmark(self.evaluate(part.condition, bound))
            if condition is UNKNOWN:
                return UNKNOWN, sensitive
            # HCL reads %{ if } as a conditional expression: the same conversion, the same errors.
            chosen = _condition(condition, part.condition.where)
            return self._render_all(part.then if chosen else part.otherwise, bound, sensitive)
        collection, sensitive = unmark(self.evaluate(part.collection, bound))
        if collection is UNKNOWN:
            return UNKNOWN, sensitive
        pieces: list[str] = []
        for key, value in _iteration_pairs(collection, part.collection.where):
            names = {**bound, part.value_name: value}
            if part.key_name is not None:
                names[part.key_name] = key
            text, part_sensitive = self._render_all(part.body, names, False)
            if text is UNKNOWN:
                return UNKNOWN, sensitive
            pieces.append(text)
            sensitive = sensitive or part_sensitive
        return "".join(pieces), sensitive

    def _render_all(
        self, parts: Sequence[TemplatePart], bound: Mapping[str, Any], sensitive: bool
    ) -> tuple[Any, bool]:
        pieces: list[str] = []
        for part in parts:
            text, part_sensitive = self._render(part, bound)
            if text is UNKNOWN:
                return UNKNOWN, sensitive
            pieces.append(text)
            sensitive = sensitive or part_sensitive
        return "".join(pieces), sensitive

    def _render_template_file(self, text: str, variables: Mapping[str, Any], name: str) -> Any:
        """templatefile(): the file's text as a template over `variables` alone."""
        from ftctl.lang.loader import parse_template

        template, problems = parse_template(name, text)
        if problems:
            raise EvaluationError(
                "Error in function call",
                f'Call to function "templatefile" failed: {problems[0].where}: '
                f"{problems[0].summary}; {problems[0].detail}",
            )
        for reference in _template_references(template):
            if reference not in variables:
                raise EvaluationError(
                    "Error in function call",
                    f'Call to function "templatefile" failed: {name}: vars map does not contain '
                    f'key "{reference}", referenced in the template.',
                )
        # The template sees its vars and functions only: no var., local. or resources.
        isolated = Evaluator(
            directory=self.directory,
            variables={},
            locals_={},
            resource_types=(),
            resources=self.resources,
        )
        try:
            return isolated.evaluate(template, dict(variables))
        except EvaluationFailed as exc:
            raise EvaluationError(
                "Error in function call",
                f'Call to function "templatefile" failed: {exc.diagnostic.where}: '
                f"{exc.diagnostic.summary}; {exc.diagnostic.detail}",
            ) from None

    # -- functions ----------------------------------------------------------------------------

    def _call(self, expression: FunctionCall, bound: Mapping[str, Any]) -> Any:
        name = expression.name
        if name not in functions.SUPPORTED:
            raise failure(
                "Call to unknown function",
                f'There is no function named "{name}". ftctl supports: '
                + ", ".join(functions.SUPPORTED)
                + ".",
                expression.where,
            )
        arguments = [self.evaluate(argument, bound) for argument in expression.arguments]
        wheres = [argument.where for argument in expression.arguments]
        if expression.expand_final and arguments:
            last, last_sensitive = unmark(arguments.pop())
            last_where = wheres.pop()
            if last is UNKNOWN:
                return UNKNOWN
            if not isinstance(last, list | tuple):
                raise failure(
                    "Invalid expanding argument value",
                    f"The expanding argument (indicated by ...) must be of a tuple, list, or set "
                    f"type, not {type_name(last)}.",
                    last_where,
                )
            arguments += [mark(item, last_sensitive) for item in last]
            wheres += [last_where] * len(last)
        plain: list[Any] = []
        sensitive = False
        for argument in arguments:
            value, argument_sensitive = unmark(argument)
            plain.append(value)
            sensitive = sensitive or argument_sensitive
        if not all(is_known(value) for value in plain) and not (
            name in _SHAPE_FUNCTIONS
            and all(v is not UNKNOWN and not isinstance(v, SetValue) for v in plain)
        ):
            return UNKNOWN
        try:
            result = functions.call_function(name, plain, self.context)
        except EvaluationError as exc:
            at = expression.where
            if exc.argument is not None and exc.argument < len(wheres):
                at = wheres[exc.argument]
            raise failure(exc.summary, exc.detail, at) from None
        return mark(result, sensitive)


def attribute(value: Any, name: str, where: SourceRange, shown: str) -> Any:
    """`value.name`, as Terraform reads it: an object's attribute or a map's element."""
    if isinstance(value, Sensitive):
        return mark(attribute(value.value, name, where, shown), True)
    if value is UNKNOWN:
        return UNKNOWN
    if value is None:
        raise failure(
            "Attempt to get attribute from null value",
            f"{shown} is null, so it does not have any attributes.",
            where,
        )
    if isinstance(value, dict):
        if name not in value:
            known = ", ".join(sorted(value)) or "none"
            raise failure(
                "Unsupported attribute",
                f'{shown} has no attribute named "{name}" (it has: {known}).',
                where,
            )
        return value[name]
    if isinstance(value, list | tuple):
        raise failure(
            "Unsupported attribute",
            f'{shown} is a {type_name(value)}, which has no attributes: "{name}" cannot be read. '
            "To read it from every element, use a splat: [*]." + name,
            where,
        )
    raise failure(
        "Unsupported attribute",
        f'Can\'t access attributes on a primitive-typed value ({type_name(value)}): "{name}".',
        where,
    )


def index(value: Any, key: Any, where: SourceRange) -> Any:
    """`value[key]`."""
    if isinstance(value, Sensitive):
        return mark(index(value.value, key, where), True)
    if value is UNKNOWN or key is UNKNOWN:
        return UNKNOWN
    if value is None:
        raise failure(
            "Attempt to index null value",
            "This value is null, so it does not have any indices.",
            where,
        )
    if isinstance(value, SetValue):
        raise failure(
            "Invalid index",
            "Elements of a set are identified only by their value and don't have any separate "
            "index or key to select with, so it's only possible to perform operations across "
            "all elements of the set.",
            where,
        )
    if isinstance(value, list | tuple):
        try:
            number = to_number(key)
        except EvaluationError:
            raise failure(
                "Invalid index",
                f"A {type_name(value)} is indexed by a number, not {type_name(key)}.",
                where,
            ) from None
        if isinstance(number, float) and not number.is_integer():
            raise failure("Invalid index", "The index must be a whole number.", where)
        position = int(number)
        if position < 0:
            raise failure(
                "Invalid index",
                "The given key does not identify an element in this collection value: a "
                "negative number is not a valid index for a sequence.",
                where,
            )
        if position >= len(value):
            raise failure(
                "Invalid index",
                "The given key does not identify an element in this collection value: the "
                f"given index ({position}) is greater than or equal to the length of the "
                f"collection ({len(value)}).",
                where,
            )
        return value[position]
    if isinstance(value, dict):
        try:
            text = to_string(key)
        except EvaluationError:
            raise failure(
                "Invalid index", f"A map is indexed by a string, not {type_name(key)}.", where
            ) from None
        if text not in value:
            raise failure(
                "Invalid index",
                f'The given key does not identify an element in this collection value: "{text}" '
                "is not one of its keys.",
                where,
            )
        return value[text]
    raise failure(
        "Invalid index", f"This value ({type_name(value)}) does not have any indices.", where
    )


def _condition(value: Any, where: SourceRange) -> bool:
    """A known, unmarked condition as a bool, converted as HCL converts one ("true" is true)."""
    if value is None:
        raise failure(
            "Null condition",
            "The condition value is null. Conditions must either be true or false.",
            where,
        )
    try:
        return to_bool(value)
    except EvaluationError:
        raise failure(
            "Incorrect condition type",
            f"The condition expression must be of type bool, not {type_name(value)}.",
            where,
        ) from None


def _first_name(expression: Traversal, root: str) -> str:
    if not expression.steps or not isinstance(expression.steps[0], str):
        raise failure(
            f'Invalid "{root}" reference',
            f'The "{root}" object must be followed by an attribute name, such as {root}.NAME.',
            expression.where,
        )
    return expression.steps[0]


def _iteration_pairs(collection: Any, where: SourceRange) -> list[tuple[Any, Any]]:
    """(key, value) pairs a `for` visits: list index and element, map key (sorted) and value,
    a set's element twice."""
    if isinstance(collection, SetValue):
        return [(item, item) for item in collection]
    if isinstance(collection, list | tuple):
        return list(enumerate(collection))
    if isinstance(collection, dict):
        return [(key, collection[key]) for key in sorted(collection)]
    if collection is None:
        raise failure(
            "Iteration over null value",
            "A null value cannot be used as the collection in a 'for' expression.",
            where,
        )
    raise failure(
        "Iteration over non-iterable value",
        f"A 'for' can iterate over a list, set, map or object, not a {type_name(collection)}.",
        where,
    )


def _operand_failure(required: str, value: Any, where: SourceRange, side: str) -> EvaluationFailed:
    operand = f"{side} operand" if side else "operand"
    return failure(
        "Invalid operand",
        f"Unsuitable value for {operand}: {required} is required, not {type_name(value)}.",
        where,
    )


def _number_operand(value: Any, where: SourceRange, side: str) -> int | float:
    if value is None or isinstance(value, bool | list | tuple | dict):
        raise _operand_failure("a number", value, where, side)
    try:
        return to_number(value)
    except EvaluationError:
        raise _operand_failure("a number", value, where, side) from None


def _arithmetic(operator: str, a: int | float, b: int | float, where: SourceRange) -> Any:
    match operator:
        case "+":
            return normalise_number(a + b)
        case "-":
            return normalise_number(a - b)
        case "*":
            result = a * b
            if isinstance(result, float) and not math.isfinite(result):
                raise failure("Operation failed", "The result is too large for a number.", where)
            return normalise_number(result)
        case "/" | "%":
            if b == 0:
                raise failure(
                    "Operation failed", "Error during operation: can't divide by zero.", where
                )
            if operator == "/":
                return normalise_number(a / b)
            # Terraform's remainder keeps the dividend's sign, like C's fmod.
            return normalise_number(
                math.fmod(a, b)
                if isinstance(a, float) or isinstance(b, float)
                else int(math.copysign(abs(a) % abs(b), a))
            )
        case "<":
            return a < b
        case ">":
            return a > b
        case "<=":
            return a <= b
        case ">=":
            return a >= b
    raise failure("Unsupported operator", f"ftctl has no operator {operator}.", where)


def _template_references(template: Expression) -> set[str]:
    from ftctl.lang.syntax import traversals

    return {t.root for t in traversals(template)}
