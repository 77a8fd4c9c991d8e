"""`ftctl refresh`: records what the API says of every unfinished tracked job; changes nothing
remotely. Reads first, then locks and writes: a failed read leaves the state file untouched."""

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import typer

from ftctl.cli.common import (
    VAR_FILE_HELP,
    VAR_HELP,
    configuration_or_exit,
    duration,
    fail,
    lock_taken_over,
    open_provider,
    reported_errors,
    show_diagnostics,
    warn_missing,
    writable_or_exit,
)
from ftctl.engine.run import finished_attributes, record_outputs, refresh, state_path
from ftctl.state.model import ResourceState
from ftctl.views.state import sensitive_values, status_table


def refresh_command(
    ctx: typer.Context,
    chdir: Path = typer.Option(Path("."), "--chdir", "-chdir", help="Directory of the .tf files."),
    var: list[str] = typer.Option([], "--var", "-var", help=VAR_HELP),
    var_file: list[str] = typer.Option([], "--var-file", "-var-file", help=VAR_FILE_HELP),
    state: str = typer.Option(None, "--state", "-state", help="State file (or FTCTL_STATE)."),
    json_output: bool = typer.Option(False, "--json", "-json", help="Print JSON."),
    lock_timeout: str = typer.Option(
        "0s", "--lock-timeout", "-lock-timeout", help="How long to wait for the state lock (10s)."
    ),
    no_color: bool = typer.Option(False, "--no-color", "-no-color", help="No colour."),
) -> None:
    """Record the current status of every tracked job, and report what changed."""
    from ftctl.state.store import StateStore

    configuration = configuration_or_exit(ctx, chdir, no_color)
    path = state_path(chdir, state, os.environ)
    if not path.exists():
        fail(f"No state at {path}: nothing to refresh. Run ftctl apply first.")
    writable_or_exit(path)
    drift: list[str] = []
    with reported_errors():
        with StateStore.open(path) as store:
            before = store.snapshot()
        with open_provider(configuration) as provider:
            refreshed = refresh(before, provider)
            # Every read before the lock: a failed one leaves the state file untouched.
            attributes = {
                address: finished_attributes(job, provider)
                for address, job in refreshed.observed.items()
            }
        with (
            StateStore.open(path) as store,
            store.lock("refresh", timeout=duration(lock_timeout)) as acquired,
        ):
            if (took_over := lock_taken_over(acquired)) is not None:
                show_diagnostics([took_over], {}, no_color)
            current = store.snapshot().resources
            for address, job in refreshed.observed.items():
                resource = current.get(address)
                if resource is None or resource.remote_id != job.id:
                    continue  # changed by an apply meanwhile: its record is newer than our read
                old_status = resource.observed.get("status")
                store.put(
                    replace(resource, observed={**resource.observed, **attributes[address]}),
                    operation="refresh",
                    action="refresh",
                )
                if old_status != job.status:
                    drift.append(f"{address}: {old_status} -> {job.status}")
            record_outputs(store, configuration, "refresh")
            after = store.snapshot()
    warn_missing(refreshed.missing)
    if json_output:
        typer.echo(
            json.dumps(
                {
                    "changed": drift,
                    "missing": list(refreshed.missing),
                    "resources": {
                        address: _shown_observed(r) for address, r in after.resources.items()
                    },
                },
                indent=2,
            )
        )
        return
    for line in drift:
        typer.echo(f"Changed outside ftctl: {line}")
    typer.echo(status_table(after))


def _shown_observed(resource: ResourceState) -> dict[str, Any]:
    """What the API said of a resource, its copies of sensitive arguments left out."""
    hidden = sensitive_values(resource)
    return {k: v for k, v in resource.observed.items() if k not in hidden}
