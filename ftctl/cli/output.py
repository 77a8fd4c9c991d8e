"""`ftctl output [NAME]`: the outputs recorded by the last apply, as Terraform prints them."""

import json
import os
from pathlib import Path
from typing import Any

import typer

from ftctl.cli.common import fail, read_state, reported_errors
from ftctl.engine.run import state_path
from ftctl.views.values import render_value


def output(
    name: str = typer.Argument(None, help="One output's name; all of them without it."),
    chdir: Path = typer.Option(Path("."), "--chdir", "-chdir", help="Directory of the .tf files."),
    state: str = typer.Option(None, "--state", "-state", help="State file (or FTCTL_STATE)."),
    json_output: bool = typer.Option(False, "--json", "-json", help="Print JSON."),
    raw: bool = typer.Option(
        False, "--raw", "-raw", help="Print one string, number or bool as it is, for scripts."
    ),
) -> None:
    """Print the outputs the last apply recorded. A sensitive value is shown only on request,
    by `ftctl output NAME --raw`; elsewhere, --json included, it is redacted."""
    with reported_errors():
        recorded = read_state(state_path(chdir, state, os.environ)).outputs
    if name is None:
        if raw:
            fail("--raw needs an output NAME.")
        if json_output:
            document = {
                key: {
                    "sensitive": o.sensitive,
                    "type": _type(o.value),
                    "value": None if o.sensitive else o.value,
                }
                for key, o in sorted(recorded.items())
            }
            typer.echo(json.dumps(document, indent=2))
            return
        if not recorded:
            typer.secho(
                "Warning: No outputs found. The state has none: add output blocks and run "
                "ftctl apply.",
                err=True,
                fg="yellow",
            )
            return
        for key, o in sorted(recorded.items()):
            shown = "<sensitive>" if o.sensitive else render_value(o.value, indent=0)
            typer.echo(f"{key} = {shown}")
        return
    found = recorded.get(name)
    if found is None:
        fail(
            f'Output "{name}" not found. The state has no output of that name: check the name, '
            "and that an apply ran since it was added."
        )
    value = found.value
    if raw:
        # On purpose, so a script can hand the value on: the one way to read a sensitive one.
        if isinstance(value, dict | list):
            typer.echo(json.dumps(value, separators=(",", ":")), nl=False)
        elif isinstance(value, bool):
            typer.echo("true" if value else "false", nl=False)
        elif value is not None:
            typer.echo(str(value), nl=False)
        return
    if json_output:
        typer.echo(json.dumps(None if found.sensitive else value))
        return
    typer.echo("<sensitive>" if found.sensitive else render_value(value, indent=0))


def _type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "tuple"
    if isinstance(value, dict):
        return "object"
    return "null"
