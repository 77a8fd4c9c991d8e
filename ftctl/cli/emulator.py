"""`ftctl emulator serve`: the local OpenAI fine-tuning API (needs the `emulator` extra)."""

import typer

from ftctl.emulator.clock import ClockKind  # stdlib only: cheap, unlike the server

emulator_app = typer.Typer(
    help="A local stand-in for the OpenAI fine-tuning API.", pretty_exceptions_show_locals=False
)


@emulator_app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8765, min=0, max=65535, help="Port to listen on; 0 picks a free one."),
    data: str = typer.Option(
        None, help="SQLite file that keeps files and jobs across restarts (default: memory)."
    ),
    clock: ClockKind = typer.Option(
        ClockKind.REAL,
        help="real follows wall time; manual moves only via /_emulator/clock/advance.",
    ),
    speed: float = typer.Option(1.0, help="Emulated seconds per real second (real clock)."),
    api_key: str = typer.Option(
        None, "--api-key", help="Accept only this bearer key (default: any non-empty key)."
    ),
    models: list[str] = typer.Option(
        [], "--models", help="Also accept these models for fine-tuning: NAME or ALIAS=SNAPSHOT."
    ),
    fault_rate: float = typer.Option(
        0.0,
        min=0.0,
        max=1.0,
        help="Fail this share of API requests at random: 429, 500, 503, dropped connections, "
        "or a 500 after the request was carried out.",
    ),
    fault_seed: int = typer.Option(0, help="Seed of --fault-rate's draws, for a repeatable run."),
) -> None:
    """Serve the emulated Files and Fine-tuning API on HOST:PORT under /v1."""
    if speed <= 0:
        raise typer.BadParameter("must be positive", param_hint="--speed")
    try:
        from ftctl.emulator.catalogue import Catalogue
        from ftctl.emulator.faults import Chaos
        from ftctl.emulator.server import ServeOptions
        from ftctl.emulator.server import serve as run
        from ftctl.emulator.service import Settings
    except ModuleNotFoundError as exc:
        typer.echo(
            f"ftctl emulator needs the emulator extra ({exc.name} is missing): "
            "pip install 'ftctl[emulator]'",
            err=True,
        )
        raise typer.Exit(1) from None
    try:
        catalogue = Catalogue().extended(
            name for spec in models for name in spec.split(",") if name.strip()
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--models") from None
    if host not in ("127.0.0.1", "localhost", "::1"):
        typer.echo(
            f"warning: listening on {host}: the control API under /_emulator has no auth.",
            err=True,
        )
    settings = Settings(catalogue=catalogue)
    chaos = Chaos(seed=fault_seed, rate=fault_rate) if fault_rate > 0 else None
    options = ServeOptions(host, port, data, clock, speed, api_key, settings, chaos)
    raise typer.Exit(run(options))
