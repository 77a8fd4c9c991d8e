"""`ftctl validate`: checks the configuration alone: no state, no API, no `openai` import."""

import os
from pathlib import Path

import typer
from rich.text import Text

from ftctl.cli.common import VAR_FILE_HELP, VAR_HELP, variable_inputs
from ftctl.diagnostics import Diagnostics, Severity
from ftctl.engine.desired import prepare
from ftctl.views import diagnostics as view


def validate(
    ctx: typer.Context,
    chdir: Path = typer.Option(
        Path("."), "--chdir", "-chdir", help="Directory holding the .tf files."
    ),
    var: list[str] = typer.Option([], "--var", "-var", help=VAR_HELP),
    var_file: list[str] = typer.Option([], "--var-file", "-var-file", help=VAR_FILE_HELP),
    json_output: bool = typer.Option(False, "--json", "-json", help="Print JSON."),
    no_color: bool = typer.Option(False, "--no-color", "-no-color", help="No colour."),
) -> None:
    """Check the .tf files: syntax, arguments, expressions, references and data files.
    Variables without a value are taken as unknown, as Terraform's validate does."""
    configuration, problems = prepare(
        chdir, variable_inputs(ctx), os.environ, require_variables=False
    )
    found = Diagnostics(problems).sorted()
    if json_output:
        typer.echo(view.as_json(found))
    else:
        out = view.console(no_color)
        view.show(found, configuration.sources, out)
        if not any(d.severity is Severity.ERROR for d in found):
            out.print(Text.assemble(("Success!", "bold green"), " The configuration is valid."))
    raise typer.Exit(1 if Diagnostics(found).has_errors else 0)
