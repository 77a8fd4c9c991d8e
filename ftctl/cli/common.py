"""What several commands share: loading the configuration, opening the state and the
provider, and turning ftctl's errors into messages and exit codes."""

import os
import signal
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import typer
from typer.core import TyperCommand

from ftctl.diagnostics import Diagnostic, Diagnostics, DiagnosticsError, FtctlError, Severity
from ftctl.lang.config import Configuration
from ftctl.lang.variables import VariableInput
from ftctl.provider.base import Provider, ProviderError
from ftctl.state.model import AcquiredLock, State, StateError
from ftctl.views import diagnostics as diagnostics_view


class VariablesCommand(TyperCommand):
    """Keeps the raw arguments: --var and --var-file apply in command-line order, which click
    loses between two options."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        ctx.meta[_ARGS] = list(args)
        return super().parse_args(ctx, args)


_ARGS = "ftctl.arguments"
_VARIABLE_OPTIONS = {
    "--var": "var",
    "-var": "var",
    "--var-file": "var-file",
    "-var-file": "var-file",
}


def variable_inputs(ctx: typer.Context) -> list[VariableInput]:
    """The command's -var and -var-file options, in the order given."""
    args = ctx.meta.get(_ARGS, [])
    found: list[VariableInput] = []
    index = 0
    while index < len(args):
        word = args[index]
        if word == "--":
            break
        name, equals, value = word.partition("=")
        if name in _VARIABLE_OPTIONS:
            if not equals:
                index += 1
                value = args[index] if index < len(args) else ""
            found.append(VariableInput(_VARIABLE_OPTIONS[name], value))
        index += 1
    return found


def configuration_or_exit(
    ctx: typer.Context | None, directory: Path, no_color: bool, *, require_variables: bool = True
) -> Configuration:
    """The configuration with its variables, after showing its diagnostics; exit 1 (before
    any API call) if any is an error."""
    from ftctl.engine.desired import prepare

    inputs = variable_inputs(ctx) if ctx is not None else []
    configuration, problems = prepare(
        directory, inputs, os.environ, require_variables=require_variables
    )
    show_diagnostics(problems, configuration.sources, no_color)
    return configuration


def show_diagnostics(
    problems: Iterable[Diagnostic], sources: Mapping[str, str], no_color: bool
) -> None:
    """Shows the problems; exits 1 if any is an error."""
    found = Diagnostics(problems).sorted()
    if found:
        out = diagnostics_view.console(no_color, stderr=True)
        diagnostics_view.show(found, sources, out)
        annotate(found)
    if any(d.severity is Severity.ERROR for d in found):
        raise typer.Exit(1)


# Commands declare --var and --var-file so that typer accepts them and --help lists them; the
# values are read from the raw arguments instead (variable_inputs), which keep their order.
VAR_HELP = "Set a variable: NAME=VALUE (repeatable; later wins)."
VAR_FILE_HELP = "Read variables from a .tfvars or .tfvars.json file (repeatable)."


@contextmanager
def open_provider(configuration: Configuration) -> Iterator[Provider]:
    # Imported here: only commands that call the API pay for the openai SDK (~0.8 s).
    from ftctl.provider.openai_api import OpenAIProvider

    with OpenAIProvider.from_settings(configuration.provider, os.environ) as provider:
        yield provider


def read_state(path: Path) -> State:
    """The state as it is, without creating a file: planning never writes."""
    from ftctl.engine.run import empty_state

    if not path.exists() or path.stat().st_size == 0:
        return empty_state()
    from ftctl.state.store import StateStore  # sqlite_utils costs ~0.1 s: only with a state

    with StateStore.open(path) as store:
        return store.snapshot()


def writable_or_exit(path: Path) -> None:
    """Refuses, before any API call, a state that cannot be written. SQLite opens such a file
    read-only without a word and fails at the first write, which for a command that reads the
    API before it locks is after the reads. (access() sees read-only mounts, even for root.)"""
    for target, what in ((path, "the file"), (path.parent, "its folder")):
        if target.exists() and not os.access(target, os.W_OK):
            fail(
                f"Cannot write the state file {path}: {what} is read-only (permissions, or a "
                "read-only mount). Run where the state can be written, or pass --state."
            )


def warn_missing(addresses: Iterable[str]) -> None:
    for address in addresses:
        # Jobs cannot be deleted: a 404 means a wrong key or project, not a vanished job.
        typer.secho(
            f"Warning: {address} is not found by the API (wrong key or project?); "
            "its record is kept.",
            err=True,
            fg="yellow",
        )


def fail(message: str) -> NoReturn:
    typer.secho(f"Error: {message}", err=True, fg="red")
    annotate([Diagnostic(Severity.ERROR, message)])
    raise typer.Exit(1)


@contextmanager
def reported_errors() -> Iterator[None]:
    """ftctl's own errors become one message and exit 1; never a traceback."""
    try:
        yield
    except DiagnosticsError as exc:
        show_diagnostics(exc.diagnostics, exc.sources, no_color=False)
        raise typer.Exit(1) from None
    except (ProviderError, StateError, FtctlError) as exc:
        fail(str(exc))
    except OSError as exc:  # a file ftctl was asked to read or write
        fail(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))


def duration(text: str) -> float:
    """Terraform's durations (`10s`, `2m`, `500ms`) or plain seconds."""
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    for unit in sorted(units, key=len, reverse=True):
        if text.endswith(unit) and text[: -len(unit)].replace(".", "", 1).isdigit():
            return float(text[: -len(unit)]) * units[unit]
    try:
        return float(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a duration such as 10s, 2m or 500ms") from None


def in_automation() -> bool:
    """FTCTL_IN_AUTOMATION (any non-empty value), as Terraform's TF_IN_AUTOMATION: nobody at the
    keyboard to run a suggested command, so next-step hints are left out."""
    return bool(os.environ.get("FTCTL_IN_AUTOMATION"))


def annotate(diagnostics: Iterable[Diagnostic]) -> None:
    """In GitHub Actions (GITHUB_ACTIONS=true), each diagnostic again as a workflow command on
    stderr (the runner reads commands there as on stdout, and stdout may be a plan's JSON), so
    that it is shown on its file and line in the pull request."""
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return
    for diagnostic in diagnostics:
        where = diagnostic.where
        path = annotation_path(where.file) if where is not None and where.file else None
        typer.echo(diagnostics_view.github_annotation(diagnostic, path), err=True)


def annotation_path(file: str) -> str:
    """A diagnostic's file as the repository names it. The loader names .tf and .tfvars files
    relative to the configuration directory: the --chdir the user gave is joined to it. A
    --var-file keeps the name it was given when the loader found it from the current directory.
    Inside GITHUB_WORKSPACE (the checkout), the path is made relative to it."""
    directory, var_files = _invoked_options()
    if file in var_files and (os.path.isabs(file) or os.path.exists(file)):
        joined = file  # as the loader reads it: from the current directory first
    else:
        joined = os.path.join(directory, file)
    workspace = os.environ.get("GITHUB_WORKSPACE")
    if workspace:
        absolute, root = os.path.abspath(joined), os.path.abspath(workspace)
        try:
            inside = os.path.commonpath([absolute, root]) == root
        except ValueError:  # on Windows, another drive
            inside = False
        if inside:
            joined = os.path.relpath(absolute, root)
    return os.path.normpath(joined).replace(os.sep, "/")


def _invoked_options() -> tuple[str, list[str]]:
    """The running command's --chdir ("." when it has none) and --var-file values, as the
    user wrote them: every command that reads the configuration takes both."""
    ctx = _current_context()
    while ctx is not None:
        if ctx.params.get("chdir") is not None:
            return str(ctx.params["chdir"]), [str(f) for f in ctx.params.get("var_file") or []]
        ctx = ctx.parent
    return ".", []


def _current_context() -> Any:
    """The click context of the running command. typer vendors its own click (the `click`
    package knows nothing of it); earlier versions used click itself."""
    try:
        from typer._click.globals import get_current_context
    except ImportError:
        import click

        return click.get_current_context(silent=True)
    return get_current_context(silent=True)


@contextmanager
def interrupts(announce: str | None = None) -> Iterator[threading.Event]:
    """The first Ctrl-C sets the event (the command stops after the step in flight, saying
    `announce`); a second one stops at once."""
    interrupted = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield interrupted
        return

    def handle(signum: int, frame: object) -> None:
        if interrupted.is_set():
            raise KeyboardInterrupt
        interrupted.set()
        if announce:
            typer.secho(announce, err=True)

    previous = signal.signal(signal.SIGINT, handle)
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)


def lock_taken_over(acquired: AcquiredLock) -> Diagnostic | None:
    """The warning owed when this run's lock replaced one whose process died on this host."""
    dead = acquired.took_over
    if dead is None:
        return None
    since = dead.created.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    return Diagnostic(
        Severity.WARNING,
        f"Took over the state lock of {dead.operation} (pid {dead.pid} on {dead.host}, user "
        f"{dead.who}) since {since}: that process is gone.",
        "It may have stopped between an API call and its state write. ftctl looks up any "
        "create it left unconfirmed before planning; check the plan, then apply as usual.",
    )
