"""`ftctl apply`: plan (or read a saved plan), ask, then carry it out, saving state after
every call."""

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from ftctl.cli.common import (
    VAR_FILE_HELP,
    VAR_HELP,
    configuration_or_exit,
    duration,
    fail,
    open_provider,
    read_state,
    reported_errors,
)
from ftctl.engine.run import (
    Applier,
    Progress,
    changed_since,
    check_before_any_call,
    make,
    record_outputs,
    recover_pending,
    refresh,
    state_path,
    wait,
)
from ftctl.plan import Plan, PlanFormatError
from ftctl.views.plan import render_plan
from ftctl.views.values import render_value

_VERBS = {
    "creating": "Creating...",
    "cancelling": "Cancelling... [id={}]",
    "destroying": "Destroying... [id={}]",
}


def apply(
    ctx: typer.Context,
    planfile: Path = typer.Argument(None, help="A plan saved by `ftctl plan --out FILE`."),
    chdir: Path = typer.Option(Path("."), "--chdir", "-chdir", help="Directory of the .tf files."),
    var: list[str] = typer.Option([], "--var", "-var", help=VAR_HELP),
    var_file: list[str] = typer.Option([], "--var-file", "-var-file", help=VAR_FILE_HELP),
    state: str = typer.Option(None, "--state", "-state", help="State file (or FTCTL_STATE)."),
    auto_approve: bool = typer.Option(
        False, "--auto-approve", "-auto-approve", help="Apply without asking."
    ),
    target: list[str] = typer.Option([], "--target", "-target", help="Apply only ADDR."),
    replace: list[str] = typer.Option([], "--replace", "-replace", help="Replace ADDR."),
    lock_timeout: str = typer.Option(
        "0s", "--lock-timeout", "-lock-timeout", help="How long to wait for the state lock (10s)."
    ),
    parallelism: int = typer.Option(
        10, "--parallelism", "-parallelism", min=1, help="API calls in flight at once."
    ),
    wait_for_jobs: bool = typer.Option(
        False, "--wait", "-wait", help="Then poll until every job it touched has finished."
    ),
    poll_seconds: float = typer.Option(
        30.0,
        "--poll-interval",
        help="Seconds between polls, with --wait or for a job a later resource needs.",
        min=0.01,
    ),
    no_color: bool = typer.Option(False, "--no-color", "-no-color", help="No colour."),
) -> None:
    """Create, replace or cancel jobs and upload files so the API matches the configuration."""
    from ftctl.state.store import StateStore

    configuration = configuration_or_exit(ctx, chdir, no_color)
    saved = _read_plan(planfile) if planfile is not None else None
    path = state_path(chdir, state, os.environ)
    if saved is None:
        with reported_errors():
            check_before_any_call(configuration, read_state(path), replace, target)
    with (
        reported_errors(),
        open_provider(configuration) as provider,
        StateStore.open(path) as store,
        store.lock("apply", timeout=duration(lock_timeout)),
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
            changed = changed_since(saved, configuration, refresh(store.snapshot(), provider))
            if changed:
                fail(
                    "The configuration changed since the plan was made ("
                    + ", ".join(changed)
                    + "): applying it would send what nobody reviewed. Run ftctl plan again."
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
        with _interrupts() as interrupted:
            applier = Applier(
                configuration,
                store,
                provider,
                _progress(),
                stop_requested=interrupted.is_set,
                poll_seconds=poll_seconds,
            )
            finished = applier.apply(chosen, parallelism)
            record_outputs(store, configuration, "apply")
        if not finished:
            typer.secho(
                "\nInterrupted: the calls in flight finished, and the state records "
                "everything done. Run ftctl apply again to carry on.",
                err=True,
                fg="yellow",
            )
            raise typer.Exit(130)
        statuses = (
            wait(store, provider, applier.touched_jobs, _progress(), poll_seconds)
            if wait_for_jobs
            else {}
        )
        if wait_for_jobs:
            record_outputs(store, configuration, "apply")
        outputs = store.snapshot().outputs
    counts = applier.counts
    typer.secho(
        f"\nApply complete! Resources: {counts['added']} added, {counts['changed']} changed, "
        f"{counts['destroyed']} destroyed.",
        fg="green",
        bold=True,
    )
    if outputs:
        typer.echo("\nOutputs:\n")
        for name, recorded in sorted(outputs.items()):
            shown = "<sensitive>" if recorded.sensitive else render_value(recorded.value)
            typer.echo(f"{name} = {shown}")
    failed = sorted(a for a, status in statuses.items() if status != "succeeded")
    if failed:
        fail("Not every job succeeded: " + ", ".join(f"{a} ({statuses[a]})" for a in failed))


@contextmanager
def _interrupts() -> Iterator[threading.Event]:
    """The first Ctrl-C asks apply to stop after the call in flight; a second one stops at once."""
    interrupted = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield interrupted
        return

    def handle(signum: int, frame: object) -> None:
        if interrupted.is_set():
            raise KeyboardInterrupt
        interrupted.set()
        typer.secho("\nInterrupt received: finishing the call in flight, then stopping.", err=True)

    previous = signal.signal(signal.SIGINT, handle)
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)


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
        elif event == "status":
            typer.echo(f"{address}: status {detail}")
        elif event == "moved":
            typer.echo(f"{address}: Moved to {detail}")
        elif event == "waiting":
            typer.echo(f"{address}: Waiting for {detail} to finish: it needs the result...")

    return report
