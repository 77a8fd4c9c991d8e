"""`ftctl apply`: plan (or read a saved plan), ask, then carry it out, saving state after
every call."""

import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import typer

from ftctl.cli.common import (
    VAR_FILE_HELP,
    VAR_HELP,
    duration,
    fail,
    interrupts,
    lock_taken_over,
    open_provider,
    read_state,
    reported_errors,
    show_diagnostics,
    variable_inputs,
)
from ftctl.cli.wait import watch_jobs
from ftctl.diagnostics import Diagnostic, DiagnosticsError, FtctlError, error
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
)
from ftctl.plan import Plan, PlanFormatError
from ftctl.provider.base import ProviderError
from ftctl.state.model import OutputState, StateError
from ftctl.views.events import EventStream
from ftctl.views.plan import render_plan
from ftctl.views.progress import ProgressView
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
    json_output: bool = typer.Option(
        False, "--json", "-json", help="One JSON event per line (needs --auto-approve or FILE)."
    ),
    no_color: bool = typer.Option(False, "--no-color", "-no-color", help="No colour."),
) -> None:
    """Create, replace or cancel jobs and upload files so the API matches the configuration."""
    if not json_output:
        with reported_errors():
            code = _apply(ctx, planfile, _HumanReport(no_color), locals())
        raise typer.Exit(code)
    events = EventStream(sys.stdout)
    events.version()
    if not (auto_approve or planfile is not None):
        events.diagnostics(
            [error("Approval is needed", "--json cannot ask: pass --auto-approve, or a FILE.")]
        )
        raise typer.Exit(1)
    try:
        code = _apply(ctx, planfile, _JsonReport(events), locals())
    except DiagnosticsError as exc:
        events.diagnostics(exc.diagnostics)
        code = 1
    except (ProviderError, StateError, FtctlError, OSError) as exc:
        events.diagnostics([error(str(exc))])
        code = 1
    raise typer.Exit(code)


def _apply(
    ctx: typer.Context, planfile: Path | None, report: "_Report", options: dict[str, Any]
) -> int:
    """The apply itself, reporting through `report`; the exit code. Raises ftctl's errors."""
    from ftctl.engine.desired import prepare
    from ftctl.state.store import StateStore

    chdir: Path = options["chdir"]
    configuration, problems = prepare(chdir, variable_inputs(ctx), os.environ)
    report.diagnostics(problems, configuration.sources)
    if any(p.severity.value == "error" for p in problems):
        return 1
    saved = _read_plan(planfile) if planfile is not None else None
    path = state_path(chdir, options["state"], os.environ)
    replace, target = options["replace"], options["target"]
    if saved is None:
        check_before_any_call(configuration, read_state(path), replace, target)
    with (
        open_provider(configuration) as provider,
        StateStore.open(path) as store,
        store.lock("apply", timeout=duration(options["lock_timeout"])) as acquired,
    ):
        if (took_over := lock_taken_over(acquired)) is not None:
            report.diagnostics([took_over], {})
        for note in recover_pending(store, provider, "apply"):
            report.note(note)
        if saved is not None:
            if saved.state_lineage or saved.state_serial:
                store.expect(lineage=saved.state_lineage, serial=saved.state_serial)
            elif store.snapshot().resources:
                raise FtctlError(
                    "Saved plan is stale: the given plan file can no longer be applied because "
                    "it was made from an empty state, and this one is not. Run ftctl plan again."
                )
            changed = changed_since(saved, configuration, refresh(store.snapshot(), provider))
            if changed:
                raise FtctlError(
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
            report.plan(chosen)
            if not chosen.applyable:
                return 0
            if not options["auto_approve"]:
                _confirm()
        with interrupts(
            "\nInterrupt received: finishing the call in flight, then stopping."
        ) as interrupted:
            applier = Applier(
                configuration,
                store,
                provider,
                report.progress(chosen),
                stop_requested=interrupted.is_set,
                poll_seconds=options["poll_seconds"],
            )
            finished = applier.apply(chosen, options["parallelism"])
            record_outputs(store, configuration, "apply")
        if not finished:
            report.interrupted()
            return 130
        report.complete(applier.counts)
        code = 0
        if options["wait_for_jobs"] and applier.touched_jobs:
            resources = store.snapshot().resources
            watched = {
                a: remote_id
                for a in applier.touched_jobs
                if (remote_id := resources[a].remote_id) is not None
            }
            code = watch_jobs(
                configuration,
                store,
                provider,
                watched,
                poll_seconds=options["poll_seconds"],
                timeout=None,
                lock_held=True,
                no_color=options["no_color"],
                view=report.watch_view(),
                say=report.say,
            )
        report.outputs(store.snapshot().outputs)
    return code


class _Report(Protocol):
    """How apply tells what it does: words for people, or JSON events for machines."""

    def diagnostics(self, found: Sequence[Diagnostic], sources: Mapping[str, str]) -> None: ...

    def note(self, text: str) -> None: ...

    def plan(self, plan: Plan) -> None: ...

    def progress(self, plan: Plan) -> Progress: ...

    def interrupted(self) -> None: ...

    def complete(self, counts: Mapping[str, int]) -> None: ...

    def watch_view(self) -> ProgressView | None: ...

    def say(self, message: str, failing: bool) -> None: ...

    def outputs(self, outputs: Mapping[str, OutputState]) -> None: ...


@dataclass
class _HumanReport:
    no_color: bool

    def diagnostics(self, found: Sequence[Diagnostic], sources: Mapping[str, str]) -> None:
        show_diagnostics(found, sources, self.no_color)

    def note(self, text: str) -> None:
        typer.echo(text)

    def plan(self, plan: Plan) -> None:
        typer.echo(render_plan(plan.to_json()), nl=False)

    def progress(self, plan: Plan) -> Progress:
        return _progress()

    def interrupted(self) -> None:
        typer.secho(
            "\nInterrupted: the calls in flight finished, and the state records "
            "everything done. Run ftctl apply again to carry on.",
            err=True,
            fg="yellow",
        )

    def complete(self, counts: Mapping[str, int]) -> None:
        typer.secho(
            f"\nApply complete! Resources: {counts['added']} added, {counts['changed']} changed, "
            f"{counts['destroyed']} destroyed.",
            fg="green",
            bold=True,
        )

    def watch_view(self) -> ProgressView | None:
        typer.echo("")
        return None  # the watch picks a live table or plain lines

    def say(self, message: str, failing: bool) -> None:
        typer.secho(message, err=failing, fg="red" if failing else "green")

    def outputs(self, outputs: Mapping[str, OutputState]) -> None:
        if not outputs:
            return
        typer.echo("\nOutputs:\n")
        for name, recorded in sorted(outputs.items()):
            shown = "<sensitive>" if recorded.sensitive else render_value(recorded.value)
            typer.echo(f"{name} = {shown}")


@dataclass
class _JsonReport:
    events: EventStream

    def diagnostics(self, found: Sequence[Diagnostic], sources: Mapping[str, str]) -> None:
        self.events.diagnostics(found)

    def note(self, text: str) -> None:
        self.events.emit("log", text)

    def plan(self, plan: Plan) -> None:
        self.events.plan(plan)

    def progress(self, plan: Plan) -> Progress:
        types = {change.address: change.type for change in plan.changes}

        def report(address: str, event: str, detail: str) -> None:
            self.events.hook(address, event, detail, types.get(address, ""))

        return report

    def interrupted(self) -> None:
        self.events.emit("log", "Interrupted: the calls in flight finished.", "warn")

    def complete(self, counts: Mapping[str, int]) -> None:
        self.events.complete(counts)

    def watch_view(self) -> ProgressView | None:
        return self.events

    def say(self, message: str, failing: bool) -> None:
        if failing:
            self.events.diagnostics([error(message.removeprefix("Error: "))])
        else:
            self.events.emit("log", message)

    def outputs(self, outputs: Mapping[str, OutputState]) -> None:
        self.events.outputs(outputs)


def _read_plan(path: Path) -> Plan:
    try:
        return Plan.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, PlanFormatError) as exc:
        raise FtctlError(f"Cannot read the plan {path}: {exc}") from None


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
