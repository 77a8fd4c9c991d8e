"""`ftctl plan`: what apply would do, as people read it or as Terraform's plan JSON."""

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import typer

from ftctl.cli.common import (
    VAR_FILE_HELP,
    VAR_HELP,
    configuration_or_exit,
    open_provider,
    read_state,
    reported_errors,
    warn_missing,
)
from ftctl.engine.run import (
    Refreshed,
    check_before_any_call,
    drift,
    make,
    refresh,
    state_path,
)
from ftctl.views.plan import render_plan


def without_digests(document: dict[str, Any]) -> dict[str, Any]:
    """The plan as printed: the digests of sensitive values and their key stay in the saved
    file, where apply needs them; on a terminal or in a CI log they would only be a target."""
    shown = json.loads(json.dumps(document))
    shown["ftctl"].pop("sensitive_salt", None)
    for change in shown["resource_changes"]:
        change["ftctl"].pop("sensitive_digests", None)
    return shown


def plan(
    ctx: typer.Context,
    chdir: Path = typer.Option(Path("."), "--chdir", "-chdir", help="Directory of the .tf files."),
    var: list[str] = typer.Option([], "--var", "-var", help=VAR_HELP),
    var_file: list[str] = typer.Option([], "--var-file", "-var-file", help=VAR_FILE_HELP),
    state: str = typer.Option(None, "--state", "-state", help="State file (or FTCTL_STATE)."),
    out: Path = typer.Option(None, "--out", "-out", help="Save the plan for `ftctl apply FILE`."),
    json_output: bool = typer.Option(False, "--json", "-json", help="Print the plan as JSON."),
    detailed_exitcode: bool = typer.Option(
        False, "--detailed-exitcode", "-detailed-exitcode", help="Exit 2 when there are changes."
    ),
    no_refresh: bool = typer.Option(
        False, "--no-refresh", "-no-refresh", help="Plan from the state alone, without the API."
    ),
    refresh_option: str = typer.Option(
        None, "-refresh", "--refresh", hidden=True, help="Terraform's -refresh=false."
    ),
    target: list[str] = typer.Option([], "--target", "-target", help="Plan only ADDR."),
    replace: list[str] = typer.Option([], "--replace", "-replace", help="Replace ADDR."),
    no_color: bool = typer.Option(False, "--no-color", "-no-color", help="No colour."),
    lock_timeout: str = typer.Option(
        "0s", "--lock-timeout", "-lock-timeout", help="Accepted as Terraform's; plan takes no lock."
    ),
    parallelism: int = typer.Option(
        10,
        "--parallelism",
        "-parallelism",
        help="Accepted as Terraform's; refresh is one paged list.",
    ),
) -> None:
    """Show what apply would change."""
    configuration = configuration_or_exit(ctx, chdir, no_color)
    no_refresh = no_refresh or (refresh_option or "").lower() == "false"
    with reported_errors():
        current = read_state(state_path(chdir, state, os.environ))
        pending = sorted(a for a, r in current.resources.items() if r.pending_token)
        check_before_any_call(configuration, current, replace, target)
        if no_refresh:
            refreshed = Refreshed(current)
        else:
            with open_provider(configuration) as provider:
                refreshed = refresh(current, provider)
        warn_missing(refreshed.missing)
        made = make(configuration, refreshed, replace_addresses=replace, targets=target)
        if pending:
            # An interrupted create: its job may exist. Only apply (holding the lock) looks it
            # up, so the plan must not call itself empty.
            made = dataclasses.replace(
                made,
                warnings=(
                    *made.warnings,
                    *(
                        f"{address} has a create interrupted in an earlier run; apply will look "
                        "its job up before anything else."
                        for address in pending
                    ),
                ),
            )
    document = {**made.to_json(), "resource_drift": drift(refreshed)}
    if out is not None:
        with reported_errors():
            out.write_text(json.dumps(document, indent=2) + "\n")
    shown = json.dumps(without_digests(document), indent=2) if json_output else None
    typer.echo(shown if shown is not None else render_plan(document), nl=False)
    if json_output:
        typer.echo()
    elif out is not None:
        typer.echo(
            f"\nSaved the plan to: {out}\nTo perform exactly these actions, run:\n"
            f"    ftctl apply {out}\n"
        )
    raise typer.Exit(2 if detailed_exitcode and (made.applyable or pending) else 0)
