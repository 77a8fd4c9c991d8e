"""`ftctl import`: adopt a fine-tuning job made elsewhere, into an existing block
(`import ADDRESS ID`) or into a block ftctl writes for it (`import ID`)."""

import os
from pathlib import Path
from typing import TYPE_CHECKING

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
)
from ftctl.engine.desired import desired_resource, resource_of
from ftctl.engine.importing import block_name, generated_block, reconcile
from ftctl.engine.run import file_attributes, job_attributes, state_path, tracked_by_address
from ftctl.lang.config import Configuration
from ftctl.provider.base import NotFound, Provider
from ftctl.resources import file as openai_file
from ftctl.resources import fine_tuning_job
from ftctl.state.model import ResourceState

if TYPE_CHECKING:
    from ftctl.state.store import StateStore


def import_command(
    ctx: typer.Context,
    first: str = typer.Argument(..., help="ADDRESS, or the job ID alone."),
    second: str = typer.Argument(None, help="The job ID, when ADDRESS is given."),
    chdir: Path = typer.Option(Path("."), "--chdir", "-chdir", help="Directory of the .tf files."),
    var: list[str] = typer.Option([], "--var", "-var", help=VAR_HELP),
    var_file: list[str] = typer.Option([], "--var-file", "-var-file", help=VAR_FILE_HELP),
    state: str = typer.Option(None, "--state", "-state", help="State file (or FTCTL_STATE)."),
    generate_config_out: str = typer.Option(
        "imported.tf",
        "--generate-config-out",
        "-generate-config-out",
        help="With the ID alone: the file that receives the job's block.",
    ),
    lock_timeout: str = typer.Option(
        "0s", "--lock-timeout", "-lock-timeout", help="How long to wait for the state lock (10s)."
    ),
    no_color: bool = typer.Option(False, "--no-color", "-no-color", help="No colour."),
) -> None:
    """Record an existing fine-tuning job in the state."""
    from ftctl.state.store import StateStore

    address, job_id = (first, second) if second is not None else (None, first)
    if address is None and not any(chdir.glob("*.tf")):
        # Adopting into a new project: the block ftctl writes will be its first file.
        configuration = Configuration(directory=chdir, sources={}, resources={})
    else:
        configuration = configuration_or_exit(ctx, chdir, no_color)
    with (
        reported_errors(),
        open_provider(configuration) as provider,
        StateStore.open(state_path(chdir, state, os.environ)) as store,
        store.lock("import", timeout=duration(lock_timeout)) as acquired,
    ):
        if (took_over := lock_taken_over(acquired)) is not None:
            show_diagnostics([took_over], {}, no_color)
        if address is not None and address.startswith(f"{openai_file.TYPE}."):
            _import_file(configuration, store, provider, address, job_id)
            return
        try:
            job = provider.get_job(job_id)
        except NotFound:
            fail(f"No fine-tuning job {job_id}: check the ID, and the key's project.")
        # Every check before anything is written: a stray block would plan a second training.
        current = store.snapshot()
        tracked = [a for a, r in current.resources.items() if r.remote_id == job.id]
        if tracked:
            fail(f"{job.id} is already in the state, as {tracked[0]}.")
        if address is not None and address in current.resources:
            known = current.resources[address].remote_id
            fail(f"{address} is already in the state (as {known}).")
        if address is None:
            name = block_name(job)
            taken = set(configuration.resources)
            while f"{fine_tuning_job.TYPE}.{name}" in taken:
                name += "_imported"
            target = chdir / generate_config_out
            existing = target.read_text() if target.exists() else ""
            target.write_text(existing + ("\n" if existing else "") + generated_block(name, job))
            typer.echo(f"Wrote the block for {job_id} to {target}.")
            address = f"{fine_tuning_job.TYPE}.{name}"
            configuration = configuration_or_exit(ctx, chdir, no_color)
        resource = configuration.resources.get(resource_of(address))
        if resource is None or resource.type != fine_tuning_job.TYPE:
            fail(
                f"No {fine_tuning_job.TYPE} block {address} in the configuration: add one, "
                f"or run ftctl import {job_id} to have ftctl write it."
            )
        desired = desired_resource(configuration, address, tracked_by_address(current))
        store.put(
            ResourceState(
                address=address,
                type=resource.type,
                remote_id=job.id,
                applied=reconcile(desired.arguments, job),
                settings=dict(desired.settings),
                observed=job_attributes(job),
                sensitive=tuple(desired.sensitive),
            ),
            operation="import",
            action="import",
        )
    typer.secho(f"{address}: Import successful! [id={job.id}]", fg="green")


def _import_file(
    configuration: Configuration,
    store: "StateStore",
    provider: Provider,
    address: str,
    file_id: str,
) -> None:
    resource = configuration.resources.get(resource_of(address))
    if resource is None:
        fail(f"No {openai_file.TYPE} block {address} in the configuration: add one first.")
    current = store.snapshot()
    tracked = [a for a, r in current.resources.items() if r.remote_id == file_id]
    if tracked or address in current.resources:
        fail(f"{tracked[0] if tracked else address} is already in the state.")
    try:
        remote, digest = provider.get_file(file_id)
    except NotFound:
        fail(f"No file {file_id}: check the ID, and the key's project.")
    desired = desired_resource(configuration, address, tracked_by_address(current))
    # The content decides: the remote file's own digest is recorded, so a local file that
    # differs plans a new upload instead of being taken as the same.
    # The file's own purpose too: another purpose is a real difference, planned as such.
    applied = {**desired.arguments, "sha256": digest, "purpose": remote.purpose}
    store.put(
        ResourceState(
            address=address,
            type=openai_file.TYPE,
            remote_id=remote.id,
            applied=applied,
            observed=file_attributes(remote),
            sensitive=tuple(desired.sensitive),
        ),
        operation="import",
        action="import",
    )
    typer.secho(f"{address}: Import successful! [id={remote.id}]", fg="green")
