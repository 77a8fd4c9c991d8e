"""`ftctl show`: the state's resources; one resource in full (a job read again from the API,
with its checkpoints and loss chart); or a plan saved by `ftctl plan --out FILE`."""

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

import typer

from ftctl.cli.common import fail, open_provider, read_state, reported_errors
from ftctl.cli.plan import without_digests
from ftctl.diagnostics import Severity
from ftctl.engine.run import finished_attributes, state_path
from ftctl.plan import Plan, PlanFormatError
from ftctl.provider.base import NotFound, ProviderError
from ftctl.resources import fine_tuning_job
from ftctl.state.model import ResourceState
from ftctl.views import show as show_view
from ftctl.views import state as view
from ftctl.views.plan import render_plan


def show(
    address: str = typer.Argument(
        None, help="A resource (e.g. openai_fine_tuning_job.NAME) or a saved plan file."
    ),
    chdir: Path = typer.Option(Path("."), "--chdir", "-chdir", help="Directory of the .tf files."),
    state: str = typer.Option(None, "--state", "-state", help="State file (or FTCTL_STATE)."),
    json_output: bool = typer.Option(False, "--json", "-json", help="Print JSON."),
    no_color: bool = typer.Option(False, "--no-color", "-no-color", help="No colour in charts."),
) -> None:
    """Show the resources the state records; one in full, a job with its checkpoints and loss
    chart read from the API; or a saved plan."""
    document, why_not_a_plan = _saved_plan(Path(address)) if address else (None, None)
    if document is not None:
        # As `plan` printed it (the JSON without the digests of sensitive values).
        if json_output:
            typer.echo(json.dumps(without_digests(document), indent=2))
        else:
            typer.echo(render_plan(document), nl=False)
        return
    with reported_errors():
        current = read_state(state_path(chdir, state, os.environ))
    if address is None:
        if json_output:
            typer.echo(view.as_json(current))
        else:
            typer.echo(view.status_table(current) if current.resources else "The state is empty.")
        return
    resource = current.resources.get(address)
    if resource is None:
        if why_not_a_plan is not None:
            fail(f"Cannot read the plan {address}: {why_not_a_plan}")
        fail(f"No resource {address} in the state; ftctl state list shows what there is.")
    found = _read(resource, chdir)
    if found.problem is not None:
        typer.secho(
            f"Warning: could not refresh {address} from the API ({found.problem}); "
            "showing what the state records.",
            err=True,
            fg="yellow",
        )
    if json_output:
        typer.echo(show_view.as_json(found))
    else:
        color = sys.stdout.isatty() and not no_color
        typer.echo(show_view.render(found, color=color), nl=False)


def _saved_plan(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The plan document in `path`, or None and why not (None when there is no such file)."""
    if not path.is_file():
        return None, None
    try:
        document = json.loads(path.read_text())
        Plan.from_json(document)
    except (OSError, ValueError, PlanFormatError) as exc:  # a JSON or UTF-8 error is a ValueError
        return None, str(exc)
    return document, None


def _read(resource: ResourceState, chdir: Path) -> show_view.Shown:
    """The resource with a job's attributes, checkpoints and metrics as the API has them now;
    as the state has it (with the reason) when the API cannot be reached. Writes nothing:
    `ftctl refresh` is what records."""
    if resource.type != fine_tuning_job.TYPE or resource.remote_id is None:
        return show_view.Shown(resource)
    from ftctl.engine.desired import prepare

    configuration, problems = prepare(chdir, [], os.environ, require_variables=False)
    if any(p.severity is Severity.ERROR for p in problems):
        why = "the configuration has errors; ftctl validate shows them"
        return show_view.Shown(resource, problem=why)
    try:
        with open_provider(configuration) as provider:
            job = provider.get_job(resource.remote_id)
            observed = {**resource.observed, **finished_attributes(job, provider)}
            checkpoints = provider.checkpoints(job.id)
            events = provider.events(job.id)
    except NotFound:
        why = f"it does not know {resource.remote_id}: wrong key or project?"
        return show_view.Shown(resource, problem=why)
    except ProviderError as exc:
        return show_view.Shown(resource, problem=str(exc))
    return show_view.Shown(
        dataclasses.replace(resource, observed=observed),
        refreshed=True,
        checkpoints=tuple(checkpoints),
        loss=show_view.loss_series(events),
        total_steps=show_view.total_steps(events),
    )
