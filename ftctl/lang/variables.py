"""Input variable values: gathered from their sources in Terraform's precedence (default <
TF_VAR_name < terraform.tfvars < *.auto.tfvars < -var/-var-file in command-line order),
converted to each variable's type, and checked by its validation blocks."""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftctl.diagnostics import Diagnostic, SourceRange, error, warning
from ftctl.lang.config import Configuration, VariableConfig
from ftctl.lang.evaluate import EvaluationFailed, Evaluator
from ftctl.lang.loader import parse_source
from ftctl.lang.syntax import Expression
from ftctl.lang.types import convert
from ftctl.lang.values import UNKNOWN, EvaluationError, Sensitive, unmark


@dataclass(frozen=True)
class VariableInput:
    """One -var NAME=VALUE or -var-file FILE, in the order given on the command line."""

    kind: str  # "var" or "var-file"
    text: str


@dataclass(frozen=True)
class _Raw:
    value: Any  # a value, or a str still to be read by the variable's type
    where: SourceRange | None
    from_text: bool  # from the environment or -var: a string, parsed if the type is complex


def variable_values(
    configuration: Configuration,
    inputs: Sequence[VariableInput],
    environ: Mapping[str, str],
    *,
    require: bool = True,
) -> tuple[dict[str, Any], list[Diagnostic]]:
    """Each declared variable's value (Sensitive-wrapped when declared sensitive). Without
    `require`, a variable with no value is UNKNOWN rather than an error (validate)."""
    problems: list[Diagnostic] = []
    declared = configuration.variables
    constants = _constant_evaluator(configuration.directory)
    raw: dict[str, _Raw] = {}
    for name in declared:
        if f"TF_VAR_{name}" in environ:
            raw[name] = _Raw(environ[f"TF_VAR_{name}"], None, True)
    directory = configuration.directory
    files = [directory / "terraform.tfvars", directory / "terraform.tfvars.json"]
    files += sorted(
        p for p in directory.iterdir() if p.name.endswith((".auto.tfvars", ".auto.tfvars.json"))
    )
    for path in files:
        if path.is_file():
            raw.update(_file_values(path, path.name, declared, constants, problems))
    for given in inputs:
        if given.kind == "var-file":
            path = Path(given.text)
            if not path.is_absolute() and not path.exists():
                path = directory / given.text
            if not path.is_file():
                problems.append(
                    error(
                        "Failed to read variables file",
                        f"Given variables file {given.text} does not exist.",
                    )
                )
                continue
            raw.update(_file_values(path, given.text, declared, constants, problems))
            continue
        name, equals, text = given.text.partition("=")
        name = name.strip()
        if not equals or not name:
            problems.append(
                error(
                    "Invalid -var option",
                    f'The given -var option "{given.text}" is not correctly specified. '
                    'Variable names and values are given as NAME=VALUE, for example -var="lr=0.1".',
                )
            )
            continue
        if name not in declared:
            problems.append(
                error(
                    "Value for undeclared variable",
                    f'A variable named "{name}" was assigned on the command line, but the root '
                    "module does not declare a variable of that name. To use this value, add a "
                    '"variable" block to the configuration.',
                )
            )
            continue
        raw[name] = _Raw(text, None, True)

    values: dict[str, Any] = {}
    for name, variable in declared.items():
        values[name] = _value(variable, raw.get(name), constants, require, problems)
    for name, variable in declared.items():
        if values[name] is not UNKNOWN:
            problems += _validate(variable, values[name], configuration.directory)
    return values, problems


def _value(
    variable: VariableConfig,
    given: _Raw | None,
    constants: Evaluator,
    require: bool,
    problems: list[Diagnostic],
) -> Any:
    if given is None and variable.default is not None:
        try:
            given = _Raw(constants.evaluate(variable.default), variable.default.where, False)
        except EvaluationFailed as exc:
            problems.append(exc.diagnostic)
            return UNKNOWN
    if given is None:
        if require:
            problems.append(
                error(
                    "No value for required variable",
                    f'The root module input variable "{variable.name}" is not set, and has no '
                    "default value. Use a --var or --var-file command line argument, a "
                    f"terraform.tfvars file or TF_VAR_{variable.name} to provide a value for it.",
                    variable.where,
                )
            )
        return UNKNOWN
    value = given.value
    if given.from_text and not (variable.type.primitive or variable.type.kind == "any"):
        parsed = _parse_text(variable.name, value, constants, problems)
        if parsed is UNKNOWN:
            return UNKNOWN
        value = parsed
    if value is None and not variable.nullable:
        from_default = variable.default is not None and given.where == variable.default.where
        if variable.default is not None and not from_default:
            # Terraform: a non-nullable variable set to null takes its default instead.
            return _value(variable, None, constants, require, problems)
        problems.append(
            error(
                "Invalid default value for variable",
                "A null default value is not valid when nullable=false.",
                given.where,
            )
            if from_default
            else error(
                "Required variable not set",
                f"The given value is not suitable for var.{variable.name} defined at "
                f"{variable.where}: required variable may not be set to null.",
                given.where or variable.where,
            )
        )
        return UNKNOWN
    try:
        value = convert(value, variable.type)
    except EvaluationError as exc:
        problems.append(
            error(
                "Invalid value for variable",
                f"The given value is not suitable for var.{variable.name} declared at "
                f"{variable.where}: {exc.detail.rstrip('.')}.",
                given.where or variable.where,
            )
        )
        return UNKNOWN
    return Sensitive(value) if variable.sensitive and value is not None else value


def _parse_text(name: str, text: str, constants: Evaluator, problems: list[Diagnostic]) -> Any:
    parsed, found = parse_source(f"<value for var.{name}>", f"value = {text}\n")
    if parsed is None or found or not parsed.body.attributes:
        problems.append(
            error(
                "Invalid value for variable",
                f"The value given for var.{name} is not a valid expression: {text}",
            )
        )
        return UNKNOWN
    try:
        return constants.evaluate(parsed.body.attributes[0].value)
    except EvaluationFailed as exc:
        problems.append(exc.diagnostic)
        return UNKNOWN


def _file_values(
    path: Path,
    shown: str,
    declared: Mapping[str, VariableConfig],
    constants: Evaluator,
    problems: list[Diagnostic],
) -> dict[str, _Raw]:
    found: dict[str, _Raw] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(error("Failed to read variables file", f"{shown}: {exc}"))
        return found
    entries: list[tuple[str, Any, SourceRange | None]] = []
    if path.name.endswith(".json"):
        try:
            document = json.loads(text)
        except ValueError as exc:
            problems.append(error("Invalid JSON variables file", f"{shown}: {exc}"))
            return found
        if not isinstance(document, dict):
            problems.append(error("Invalid JSON variables file", f"{shown} must hold an object."))
            return found
        entries = [(k, v, SourceRange(shown, 1, 1)) for k, v in document.items()]
    else:
        parsed, syntax = parse_source(shown, text)
        problems += syntax
        if parsed is None:
            return found
        for block in parsed.body.blocks:
            problems.append(
                error(
                    "Unexpected block in a variables file",
                    "A .tfvars file holds NAME = VALUE lines only.",
                    block.where,
                )
            )
        for attribute in parsed.body.attributes:
            try:
                value = constants.evaluate(attribute.value)
            except EvaluationFailed as exc:
                problems.append(exc.diagnostic)
                continue
            entries.append((attribute.name, value, attribute.where))
    for name, value, where in entries:
        if name not in declared:
            problems.append(
                warning(
                    "Value for undeclared variable",
                    f'{shown} assigns "{name}", but the configuration declares no variable of '
                    "that name: the value is ignored.",
                    where,
                )
            )
            continue
        found[name] = _Raw(value, where, False)
    return found


def _validate(variable: VariableConfig, value: Any, directory: Path) -> list[Diagnostic]:
    problems: list[Diagnostic] = []
    evaluator = Evaluator(
        directory=directory,
        variables={variable.name: value},
        locals_={},
        resource_types=(),
        resources=no_resources,
    )
    for validation in variable.validations:
        try:
            passed, _ = unmark(evaluator.evaluate(validation.condition))
        except EvaluationFailed as exc:
            problems.append(exc.diagnostic)
            continue
        if passed is UNKNOWN or passed is True:
            continue
        if passed is not False:
            problems.append(
                error(
                    "Invalid validation condition",
                    "The condition must be true or false.",
                    validation.condition.where,
                )
            )
            continue
        try:
            message, secret = unmark(evaluator.evaluate(validation.error_message))
        except EvaluationFailed as exc:
            problems.append(exc.diagnostic)
            continue
        if secret:
            message = "The error message included a sensitive value, so it will not be displayed."
        problems.append(
            error(
                "Invalid value for variable",
                f"{message}\n\nThis was checked by the validation rule at {validation.where}.",
                validation.condition.where,
            )
        )
    return problems


def _constant_evaluator(directory: Path) -> Evaluator:
    """Defaults, .tfvars and -var values may use functions, but no references."""
    return Evaluator(
        directory=directory, variables={}, locals_={}, resource_types=(), resources=no_resources
    )


def no_resources(kind: str, name: str, where: SourceRange) -> Any:
    """For evaluations that come before any resource: defaults, .tfvars, the provider block."""
    raise EvaluationFailed(
        error(
            "Resources cannot be referred to here",
            "Variables' values and the provider block are read before any resource exists.",
            where,
        )
    )


def constant(expression: Expression, directory: Path) -> Any:
    return _constant_evaluator(directory).evaluate(expression)
