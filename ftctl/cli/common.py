"""What several commands share: loading the configuration, opening the state and the
provider, and turning ftctl's errors into messages and exit codes."""

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import typer

from ftctl.diagnostics import Diagnostics, FtctlError, Severity
from ftctl.lang.config import Configuration, load_configuration
from ftctl.provider.base import Provider, ProviderError
from ftctl.state.model import State, StateError
from ftctl.views import diagnostics as diagnostics_view


def configuration_or_exit(directory: Path, no_color: bool) -> Configuration:
    """The configuration, after showing its diagnostics; exit 1 (before any API call) if any
    is an error."""
    configuration, problems = load_configuration(directory)
    found = Diagnostics(problems).sorted()
    if found:
        out = diagnostics_view.console(no_color, stderr=True)
        diagnostics_view.show(found, configuration.sources, out)
    if any(d.severity is Severity.ERROR for d in found):
        raise typer.Exit(1)
    return configuration


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
    raise typer.Exit(1)


@contextmanager
def reported_errors() -> Iterator[None]:
    """ftctl's own errors become one message and exit 1; never a traceback."""
    try:
        yield
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
