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
