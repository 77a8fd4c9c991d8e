"""`ftctl plan`: what apply would do, as people read it or as Terraform's plan JSON."""

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

import typer

from ftctl.cli.common import (
    VAR_FILE_HELP,
    VAR_HELP,
    annotate,
    configuration_or_exit,
    fail,
    in_automation,
    open_provider,
    read_state,
    reported_errors,
    warn_missing,
)
from ftctl.diagnostics import warning
from ftctl.engine.desired import resource_of
from ftctl.engine.run import (
    Refreshed,
    check_before_any_call,
    drift,
    make,
    refresh,
    state_path,
)
from ftctl.plan import Plan
from ftctl.views.plan import REFRESH_ONLY, render_plan


def without_digests(document: dict[str, Any]) -> dict[str, Any]:
    """The plan as printed: the digests of sensitive values and their key stay in the saved
    file, where apply needs them; on a terminal or in a CI log they would only be a target."""
    shown = json.loads(json.dumps(document))
    shown["ftctl"].pop("sensitive_salt", None)
    for change in shown["resource_changes"]:
        change["ftctl"].pop("sensitive_digests", None)
    return shown


def write_private(path: Path, text: str) -> None:
    """Writes a file only its owner can read (0600), as the state is: a saved plan holds
    every argument ftctl will send."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # an existing file keeps its mode on open: set it anyway
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)


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
    refresh_only: bool = typer.Option(
        False,
        "--refresh-only",
        "-refresh-only",
        help="Show only what changed outside ftctl; propose no changes (ftctl refresh records it).",
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
    no_refresh = no_refresh or (refresh_option or "").lower() == "false"
    if refresh_only and no_refresh:
        fail(
            "Incompatible refresh options: --refresh-only reads the API to show what changed "
            "outside ftctl, and --no-refresh forbids reading it, leaving nothing to do."
        )
    if refresh_only and replace:
        fail(
            "Unsupported plan mode: forcing a replacement (--replace) is allowed only in a "
            "normal plan, not with --refresh-only."
        )
    configuration = configuration_or_exit(ctx, chdir, no_color)
    with reported_errors():
        current = read_state(state_path(chdir, state, os.environ))
        pending = sorted(a for a, r in current.resources.items() if r.pending_token)
        if not refresh_only:
            check_before_any_call(configuration, current, replace, target)
        if no_refresh:
            refreshed = Refreshed(current)
        else:
            with open_provider(configuration) as provider:
                refreshed = refresh(current, provider)
        warn_missing(refreshed.missing)
        annotate(
            warning(
                f"{address} is not found by the API",
                "Wrong key or project? Its record is kept.",
            )
            for address in refreshed.missing
        )
        # An interrupted create: its job may exist. Only apply (holding the lock) looks it up,
        # so the plan must not call itself empty.
        interrupted = tuple(
            f"{address} has a create interrupted in an earlier run; apply will look "
            "its job up before anything else."
            for address in pending
        )
        if refresh_only:
            drifted = [d for d in drift(refreshed) if _targeted(d["address"], target)]
            document = _refresh_only_document(refreshed, drifted, interrupted)
            changed = bool(drifted)
        else:
            made = make(configuration, refreshed, replace_addresses=replace, targets=target)
            made = dataclasses.replace(made, warnings=(*made.warnings, *interrupted))
            document = {**made.to_json(), "resource_drift": drift(refreshed)}
            changed = made.applyable or bool(pending)
    annotate(warning(text) for text in _warnings(document))
    if out is not None:
        with reported_errors():
            write_private(out, json.dumps(document, indent=2) + "\n")
    hints = not in_automation()
    if json_output:
        typer.echo(json.dumps(without_digests(document), indent=2))
    else:
        typer.echo(render_plan(document, hints=hints), nl=False)
        if out is not None:
            typer.echo(f"\nSaved the plan to: {out}")
            if hints and not refresh_only:
                typer.echo(f"To perform exactly these actions, run:\n    ftctl apply {out}\n")
    raise typer.Exit(2 if detailed_exitcode and changed else 0)


def _refresh_only_document(
    refreshed: Refreshed, drifted: list[dict[str, Any]], warnings: tuple[str, ...]
) -> dict[str, Any]:
    """Terraform's refresh-only plan: no resource or output changes, only the drift. Saved, it
    applies as a plan with nothing to do (ftctl refresh is what records the drift), so
    `applyable` stays false; --detailed-exitcode still reports drift as 2, as Terraform does."""
    state = refreshed.state
    empty = Plan(
        changes=(),
        warnings=warnings,
        created_at=refreshed.server_time or int(time.time()),
        state_lineage=state.lineage,
        state_serial=state.serial,
    )
    document = {**empty.to_json(), "resource_drift": drifted}
    document["ftctl"]["mode"] = REFRESH_ONLY
    return document


def _targeted(address: str, targets: list[str]) -> bool:
    """With --target, only the drift of those instances (a resource names all of its own)."""
    return not targets or address in targets or resource_of(address) in targets


def _warnings(document: dict[str, Any]) -> list[str]:
    changes = document["resource_changes"]
    return [w for c in changes for w in c["ftctl"]["warnings"]] + document["ftctl"]["warnings"]
