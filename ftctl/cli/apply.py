"""`ftctl apply`: plan (or read a saved plan), ask, then carry it out, saving state after
every call."""

import json
import os
import sys
import time
from pathlib import Path

import typer

from ftctl.cli.common import configuration_or_exit, fail, open_provider, reported_errors
from ftctl.engine.run import Applier, Progress, make, recover_pending, refresh, state_path
from ftctl.plan import Plan, PlanFormatError
from ftctl.views.plan import render_plan

_VERBS = {
    "creating": "Creating...",
    "cancelling": "Cancelling... [id={}]",
    "destroying": "Destroying... [id={}]",
}


def apply(
    planfile: Path = typer.Argument(None, help="A plan saved by `ftctl plan --out FILE`."),
    chdir: Path = typer.Option(Path("."), "--chdir", "-chdir", help="Directory of the .tf files."),
    state: str = typer.Option(None, "--state", "-state", help="State file (or FTCTL_STATE)."),
    auto_approve: bool = typer.Option(
        False, "--auto-approve", "-auto-approve", help="Apply without asking."
    ),
    target: list[str] = typer.Option([], "--target", "-target", help="Apply only ADDR."),
    replace: list[str] = typer.Option([], "--replace", "-replace", help="Replace ADDR."),
    lock_timeout: float = typer.Option(
        0.0, "--lock-timeout", "-lock-timeout", help="Seconds to wait for the state lock."
    ),
    no_color: bool = typer.Option(False, "--no-color", "-no-color", help="No colour."),
) -> None:
    """Create, replace or cancel jobs and upload files so the API matches the configuration."""
    from ftctl.state.store import StateStore

    configuration = configuration_or_exit(chdir, no_color)
    saved = _read_plan(planfile) if planfile is not None else None
    with (
        reported_errors(),
        open_provider(configuration) as provider,
        StateStore.open(state_path(chdir, state, os.environ)) as store,
        store.lock("apply", timeout=lock_timeout),
    ):
        for note in recover_pending(store, provider, "apply"):
            typer.echo(note)
        if saved is not None:
            if saved.state_lineage or saved.state_serial:
                store.expect(lineage=saved.state_lineage, serial=saved.state_serial)
            elif store.snapshot().resources:
                fail(
                    "The saved plan was made from an empty state; this one is not. "
                    "Run ftctl plan again."
                )
            chosen = saved
        else:
            chosen = make(
                configuration,
                refresh(store.snapshot(), provider),
                replace_addresses=replace,
                targets=target,
            )
            typer.echo(render_plan(chosen.to_json()), nl=False)
            if not chosen.applyable:
                raise typer.Exit(0)
            if not auto_approve:
                _confirm()
        applier = Applier(configuration, store, provider, _progress())
        applier.apply(chosen)
    counts = applier.counts
    typer.secho(
        f"\nApply complete! Resources: {counts['added']} added, {counts['changed']} changed, "
        f"{counts['destroyed']} destroyed.",
        fg="green",
        bold=True,
    )


def _read_plan(path: Path) -> Plan:
    try:
        return Plan.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, PlanFormatError) as exc:
        fail(f"Cannot read the plan {path}: {exc}")


def _confirm() -> None:
    if not sys.stdin.isatty():
        fail("No terminal to ask for approval: review the plan and pass --auto-approve.")
    typer.echo(
        "\nDo you want to perform these actions?\n"
        "  ftctl will perform the actions described above.\n"
        "  Only 'yes' will be accepted to approve.\n"
    )
    if typer.prompt("  Enter a value", default="", show_default=False) != "yes":
        fail("Apply cancelled.")


def _progress() -> Progress:
    started: dict[str, float] = {}

    def report(address: str, event: str, detail: str) -> None:
        if event in _VERBS:
            started.setdefault(address, time.monotonic())
            typer.echo(f"{address}: {_VERBS[event].format(detail)}")
        elif event == "created":
            seconds = int(time.monotonic() - started.get(address, time.monotonic()))
            typer.echo(f"{address}: Creation complete after {seconds}s [id={detail}]")
        elif event == "done" and address not in started:
            typer.echo(f"{address}: Modifications complete")

    return report
