"""`ftctl logs ADDR`: a job's events, oldest first, as the API records them."""

import os
from datetime import UTC, datetime
from pathlib import Path

import typer

from ftctl.cli.common import configuration_or_exit, fail, open_provider, read_state, reported_errors
from ftctl.engine.run import state_path
from ftctl.resources import fine_tuning_job


def logs(
    ctx: typer.Context,
    address: str = typer.Argument(..., help="A job, e.g. openai_fine_tuning_job.NAME."),
    chdir: Path = typer.Option(Path("."), "--chdir", "-chdir", help="Directory of the .tf files."),
    state: str = typer.Option(None, "--state", "-state", help="State file (or FTCTL_STATE)."),
) -> None:
    """Print a job's events, oldest first, with their times and levels."""
    configuration = configuration_or_exit(ctx, chdir, no_color=True, require_variables=False)
    with reported_errors():
        resource = read_state(state_path(chdir, state, os.environ)).resources.get(address)
    if resource is None or resource.type != fine_tuning_job.TYPE or resource.remote_id is None:
        fail(f"No job {address} in the state; ftctl state list shows what there is.")
    with reported_errors(), open_provider(configuration) as provider:
        events = provider.events(resource.remote_id)
    for event in events:
        when = datetime.fromtimestamp(event.created_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        typer.echo(f"{when} {event.level.upper():<5} {event.message}")
