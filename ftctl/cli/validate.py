"""`ftctl validate`: checks the configuration alone: no state, no API, no `openai` import."""

from pathlib import Path

import typer
from rich.text import Text

from ftctl.diagnostics import Diagnostics, Severity
from ftctl.lang.config import load_configuration
from ftctl.views import diagnostics as view


def validate(
    chdir: Path = typer.Option(
        Path("."), "--chdir", "-chdir", help="Directory holding the .tf files."
    ),
    json_output: bool = typer.Option(False, "--json", "-json", help="Print JSON."),
    no_color: bool = typer.Option(False, "--no-color", "-no-color", help="No colour."),
) -> None:
    """Check the .tf files: syntax, arguments, values, references and data files."""
    configuration, problems = load_configuration(chdir)
    found = Diagnostics(problems).sorted()
    if json_output:
        typer.echo(view.as_json(found))
    else:
        out = view.console(no_color)
        view.show(found, configuration.sources, out)
        if not any(d.severity is Severity.ERROR for d in found):
            out.print(Text.assemble(("Success!", "bold green"), " The configuration is valid."))
    raise typer.Exit(1 if Diagnostics(found).has_errors else 0)
