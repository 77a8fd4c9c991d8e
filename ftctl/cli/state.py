"""`ftctl state ...`: read and repair the state by hand, as Terraform's state commands do."""

import os
from pathlib import Path

import typer

from ftctl.cli.common import read_state, reported_errors
from ftctl.engine.run import state_path

state_app = typer.Typer(help="Inspect and repair the state.", pretty_exceptions_show_locals=False)


@state_app.command("list")
def state_list(
    chdir: Path = typer.Option(Path("."), "--chdir", "-chdir", help="Directory of the .tf files."),
    state: str = typer.Option(None, "--state", "-state", help="State file (or FTCTL_STATE)."),
    no_color: bool = typer.Option(False, "--no-color", "-no-color", help="No colour (none used)."),
) -> None:
    """List the addresses the state records, one a line."""
    with reported_errors():
        current = read_state(state_path(chdir, state, os.environ))
    for address in sorted(current.resources):
        typer.echo(address)
