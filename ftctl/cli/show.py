"""`ftctl show`: what the state records, read without the API."""

import os
from pathlib import Path

import typer

from ftctl.cli.common import fail, read_state, reported_errors
from ftctl.engine.run import state_path
from ftctl.views import state as view


def show(
    address: str = typer.Argument(None, help="One resource, e.g. openai_fine_tuning_job.NAME."),
    chdir: Path = typer.Option(Path("."), "--chdir", "-chdir", help="Directory of the .tf files."),
    state: str = typer.Option(None, "--state", "-state", help="State file (or FTCTL_STATE)."),
    json_output: bool = typer.Option(False, "--json", "-json", help="Print JSON."),
    no_color: bool = typer.Option(False, "--no-color", "-no-color", help="No colour (none used)."),
) -> None:
    """Show the resources the state records, with their last known attributes."""
    with reported_errors():
        current = read_state(state_path(chdir, state, os.environ))
    if json_output:
        typer.echo(view.as_json(current))
        return
    if address is not None:
        resource = current.resources.get(address)
        if resource is None:
            fail(f"No resource {address} in the state; ftctl state list shows what there is.")
        typer.echo(view.describe(resource))
        return
    if not current.resources:
        typer.echo("The state is empty.")
        return
    typer.echo(view.status_table(current))
