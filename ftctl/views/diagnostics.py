"""Diagnostics for people (Terraform's layout, colour only on a terminal) and for machines
(Terraform's `validate -json` shape)."""

import json
from collections.abc import Mapping, Sequence

from rich.console import Console
from rich.text import Text

from ftctl.diagnostics import Diagnostic, Severity, render


def console(no_color: bool, stderr: bool = False) -> Console:
    # highlight=False: user values must never be restyled; rich honours NO_COLOR itself.
    return Console(stderr=stderr, no_color=no_color, highlight=False, soft_wrap=True)


def show(diagnostics: Sequence[Diagnostic], sources: Mapping[str, str], out: Console) -> None:
    for diagnostic in diagnostics:
        text = render(diagnostic, sources)
        head, _, rest = text.partition("\n")
        style = "bold red" if diagnostic.severity is Severity.ERROR else "bold yellow"
        label, _, summary = head.partition(": ")
        out.print(Text.assemble((label + ":", style), " ", (summary, "bold"), "\n" + rest + "\n"))


def as_json(diagnostics: Sequence[Diagnostic]) -> str:
    errors = sum(d.severity is Severity.ERROR for d in diagnostics)
    return json.dumps(
        {
            "format_version": "1.0",
            "valid": errors == 0,
            "error_count": errors,
            "warning_count": len(diagnostics) - errors,
            "diagnostics": [d.to_json() for d in diagnostics],
        },
        indent=2,
    )


def github_annotation(diagnostic: Diagnostic, path: str | None = None) -> str:
    """GitHub's workflow command for one diagnostic, shown on the file's line in a pull request:
    `::error file=PATH,line=N,col=M,title=SUMMARY::DETAIL` (`::warning` for a warning). `path`
    is the file as the repository names it; without a location there is no file, line or col,
    and a diagnostic with no detail is its summary alone, without a title."""
    command = "error" if diagnostic.severity is Severity.ERROR else "warning"
    properties: list[tuple[str, str]] = []
    where = diagnostic.where
    if where is not None and path:
        properties += [("file", path), ("line", str(where.line)), ("col", str(where.column))]
    if diagnostic.detail:
        properties.append(("title", diagnostic.summary))
    shown = ",".join(f"{name}={_escape_property(value)}" for name, value in properties)
    message = diagnostic.detail or diagnostic.summary
    return f"::{command}{' ' + shown if shown else ''}::{_escape_data(message)}"


def _escape_data(text: str) -> str:
    # The escaping of GitHub's toolkit (actions/toolkit, core/src/command.ts): a command is one
    # line, so line breaks are encoded, and `%` first so that the codes are not encoded again.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    # A property value also ends at `,` (the next property) and `::` (the message).
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")
