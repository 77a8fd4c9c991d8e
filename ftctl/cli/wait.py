"""`ftctl wait [ADDR...]`: block until jobs finish, showing their progress; and the same
watching for `ftctl apply --wait`."""

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from ftctl.cli.common import (
    VAR_FILE_HELP,
    VAR_HELP,
    configuration_or_exit,
    duration,
    fail,
    interrupts,
    open_provider,
    reported_errors,
)
from ftctl.engine.desired import resource_of
from ftctl.engine.run import record_outputs, state_path
from ftctl.engine.watch import JobProgress, LockedRecorder, Watch
from ftctl.lang.config import Configuration
from ftctl.planner import FINISHED_STATUSES
from ftctl.provider.base import Provider
from ftctl.resources import fine_tuning_job
from ftctl.views.progress import LiveProgress, PlainProgress, ProgressView, ending


def wait(
    ctx: typer.Context,
    addresses: list[str] = typer.Argument(
        None, help="Jobs to wait for; all unfinished ones if none."
    ),
    chdir: Path = typer.Option(Path("."), "--chdir", "-chdir", help="Directory of the .tf files."),
    var: list[str] = typer.Option([], "--var", "-var", help=VAR_HELP),
    var_file: list[str] = typer.Option([], "--var-file", "-var-file", help=VAR_FILE_HELP),
    state: str = typer.Option(None, "--state", "-state", help="State file (or FTCTL_STATE)."),
    timeout: str = typer.Option(
        None, "--timeout", "-timeout", help="Stop waiting after this long (30m, 2h); jobs go on."
    ),
    poll_seconds: float = typer.Option(
        30.0, "--poll-interval", help="Seconds between polls while jobs change.", min=0.01
    ),
    no_color: bool = typer.Option(False, "--no-color", "-no-color", help="No colour."),
) -> None:
    """Wait until the jobs finish: a live table on a terminal, progress lines in logs. Exits 0
    when all succeeded, 1 when any failed or was cancelled; Ctrl-C stops waiting, cancelling
    nothing."""
    from ftctl.state.store import StateStore

    configuration = configuration_or_exit(ctx, chdir, no_color, require_variables=False)
    path = state_path(chdir, state, os.environ)
    if not path.exists():
        fail(f"No state at {path}: nothing to wait for. Run ftctl apply first.")
    with reported_errors(), StateStore.open(path) as store:
        watched = _watched(store.snapshot().resources, addresses or [])
        if not watched:
            typer.echo("No unfinished jobs to wait for.")
            return
        with open_provider(configuration) as provider:
            code = watch_jobs(
                configuration,
                store,
                provider,
                watched,
                poll_seconds=poll_seconds,
                timeout=duration(timeout) if timeout else None,
                lock_held=False,
                no_color=no_color,
            )
    raise typer.Exit(code)


def watch_jobs(
    configuration: Configuration,
    store: Any,
    provider: Provider,
    watched: Mapping[str, str],
    *,
    poll_seconds: float,
    timeout: float | None,
    lock_held: bool,
    no_color: bool,
    view: ProgressView | None = None,
    say: Callable[[str, bool], None] | None = None,
) -> int:
    """Watches `watched` (address → job id) to the end, showing progress on `view` (by
    default a live table on a terminal, plain lines otherwise); the exit code."""
    recorder = LockedRecorder(store, operation="wait", held=lock_held)
    view = view or _view(no_color)
    with interrupts() as interrupted:
        try:
            watch = Watch(
                provider,
                recorder,
                watched,
                view.update,
                poll_seconds=poll_seconds,
                stop_requested=interrupted.is_set,
                timeout=timeout,
                # Ctrl-C ends the pause between rounds at once, not after it.
                sleep=interrupted.wait,
            )
            progress = watch.run()
        finally:
            view.close()
    if lock_held:
        # apply --wait: the outputs of the configuration and variables just applied, now
        # that the jobs' models are known. A plain `wait` records none: the files may hold
        # changes not yet applied, and it was given no variables.
        record_outputs(store, configuration, "apply")
    return _verdict(progress, sorted(watch.missing), interrupted.is_set(), say or _say)


def _watched(resources: Mapping[str, Any], addresses: list[str]) -> dict[str, str]:
    jobs = {
        a: r
        for a, r in resources.items()
        if r.type == fine_tuning_job.TYPE and r.remote_id is not None and "~" not in a
    }
    if addresses:
        chosen = {a: r for a, r in jobs.items() if a in addresses or resource_of(a) in addresses}
        unknown = [
            a for a in addresses if a not in chosen and not any(resource_of(c) == a for c in chosen)
        ]
        if unknown:
            fail(f"No job {', '.join(unknown)} in the state; ftctl state list shows what there is.")
        return {a: r.remote_id for a, r in sorted(chosen.items())}
    return {
        a: r.remote_id
        for a, r in sorted(jobs.items())
        if r.observed.get("status") not in FINISHED_STATUSES
    }


def _view(no_color: bool) -> ProgressView:
    if sys.stdout.isatty() and not os.environ.get("CI"):
        return LiveProgress(Console(no_color=no_color, highlight=False))
    return PlainProgress(sys.stdout)


def _say(message: str, failing: bool) -> None:
    typer.secho(message, err=failing, fg="red" if failing else "green")


def _verdict(
    progress: Mapping[str, JobProgress],
    missing: Sequence[str],
    interrupted: bool,
    say: Callable[[str, bool], None],
) -> int:
    """The watch's exit code, said in words: 0 all succeeded, 1 any did not, was not found
    (or the timeout came first), 130 stopped by Ctrl-C."""
    if missing:
        say(
            f"Error: {', '.join(missing)}: not found by the API (wrong key or project?); "
            "nothing is known of how it ended.",
            True,
        )
        return 1
    if interrupted:
        say("Stopped waiting; nothing was cancelled.", True)
        return 130
    running = sorted(a for a, p in progress.items() if not p.finished)
    if running:
        say(
            f"Error: Timed out waiting for {', '.join(running)}; the jobs go on. Run ftctl "
            "wait again to follow them.",
            True,
        )
        return 1
    failed = sorted(a for a, p in progress.items() if p.status != "succeeded")
    if failed:
        say(
            "Error: Not every job succeeded: "
            + ", ".join(f"{a} ({ending(progress[a])})" for a in failed),
            True,
        )
        return 1
    say(f"All {len(progress)} jobs succeeded.", False)
    return 0
