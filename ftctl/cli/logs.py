"""`ftctl logs ADDR [--follow]`: a job's events, oldest first, as the API records them."""

import os
import time
from pathlib import Path

import typer

from ftctl.cli.common import (
    VAR_FILE_HELP,
    VAR_HELP,
    configuration_or_exit,
    fail,
    open_provider,
    read_state,
    reported_errors,
)
from ftctl.engine.run import state_path
from ftctl.planner import FINISHED_STATUSES
from ftctl.provider.base import Provider
from ftctl.resources import fine_tuning_job
from ftctl.views.show import event_line


def logs(
    ctx: typer.Context,
    address: str = typer.Argument(..., help="A job, e.g. openai_fine_tuning_job.NAME."),
    chdir: Path = typer.Option(Path("."), "--chdir", "-chdir", help="Directory of the .tf files."),
    var: list[str] = typer.Option([], "--var", "-var", help=VAR_HELP),
    var_file: list[str] = typer.Option([], "--var-file", "-var-file", help=VAR_FILE_HELP),
    state: str = typer.Option(None, "--state", "-state", help="State file (or FTCTL_STATE)."),
    follow: bool = typer.Option(
        False, "--follow", "-f", help="Keep printing new events until the job ends (Ctrl-C stops)."
    ),
    poll_seconds: float = typer.Option(
        5.0, "--poll-interval", help="Seconds between reads, with --follow.", min=0.01
    ),
) -> None:
    """Print a job's events, oldest first, with their times (UTC) and levels."""
    configuration = configuration_or_exit(ctx, chdir, no_color=True, require_variables=False)
    with reported_errors():
        resource = read_state(state_path(chdir, state, os.environ)).resources.get(address)
    if resource is None or resource.type != fine_tuning_job.TYPE or resource.remote_id is None:
        fail(f"No job {address} in the state; ftctl state list shows what there is.")
    try:
        with reported_errors(), open_provider(configuration) as provider:
            if follow:
                _follow(provider, resource.remote_id, poll_seconds)
            else:
                for event in provider.events(resource.remote_id):
                    typer.echo(event_line(event))
    except KeyboardInterrupt:
        # Only the reading stops: the job trains on.
        typer.echo("Interrupted: stopped following; the job is not cancelled.", err=True)
        raise typer.Exit(130) from None


def _follow(provider: Provider, job_id: str, poll_seconds: float) -> None:
    """Prints each event once, as it comes, until the job has finished."""
    last: str | None = None
    while True:
        # The status is read before the events: once it says finished, the events read next
        # include the last ones.
        finished = provider.get_job(job_id).status in FINISHED_STATUSES
        for event in provider.events(job_id, after=last):
            typer.echo(event_line(event))
            last = event.id
        if finished:
            return
        time.sleep(poll_seconds)
