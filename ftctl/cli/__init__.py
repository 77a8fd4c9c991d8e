"""The typer application: each command parses flags, calls one operation, returns a code."""

import typer

from ftctl import __version__
from ftctl.cli.apply import apply
from ftctl.cli.common import VariablesCommand
from ftctl.cli.emulator import emulator_app
from ftctl.cli.import_ import import_command
from ftctl.cli.logs import logs
from ftctl.cli.output import output
from ftctl.cli.plan import plan
from ftctl.cli.refresh import refresh_command
from ftctl.cli.show import show
from ftctl.cli.state import force_unlock, state_app
from ftctl.cli.validate import validate
from ftctl.cli.wait import wait

app = typer.Typer(
    name="ftctl",
    help="Plan and apply OpenAI fine-tuning jobs from .tf files.",
    no_args_is_help=True,
    add_completion=True,
    # Locals in a traceback could hold the API key.
    pretty_exceptions_show_locals=False,
)
app.add_typer(emulator_app, name="emulator")
app.command(cls=VariablesCommand)(validate)
app.command(cls=VariablesCommand)(plan)
app.command(cls=VariablesCommand)(apply)
app.command("refresh", cls=VariablesCommand)(refresh_command)
app.command()(show)
app.command("import", cls=VariablesCommand)(import_command)
app.command("output")(output)
app.command("logs", cls=VariablesCommand)(logs)
app.command("wait", cls=VariablesCommand)(wait)
app.add_typer(state_app, name="state")
app.command("force-unlock")(force_unlock)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ftctl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Plan and apply OpenAI fine-tuning jobs from .tf files."""


def main() -> None:
    app()
