"""Runs the emulator under uvicorn and announces its base URL once it accepts connections."""

import contextlib
import math
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import uvicorn

from ftctl.emulator.app import create_app
from ftctl.emulator.clock import Clock, ClockKind, ManualClock, RealClock
from ftctl.emulator.faults import Chaos
from ftctl.emulator.service import Emulator, Settings
from ftctl.emulator.store import Store


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8765
    data: str | None = None
    clock: ClockKind = ClockKind.REAL
    speed: float = 1.0
    api_key: str | None = None
    settings: Settings = field(default_factory=Settings)
    chaos: Chaos | None = None


def build_emulator(options: ServeOptions) -> Emulator:
    store = Store(options.data)
    remembered = store.get_meta("clock")
    # Never let time run backwards across a restart with --data.
    start = max(time.time(), float(remembered)) if remembered else time.time()
    clock: Clock
    if options.clock is ClockKind.MANUAL:
        clock = ManualClock(float(remembered) if remembered else math.floor(start))
    else:
        clock = RealClock(start, options.speed)
    return Emulator(store, clock, options.settings)


class _AnnouncingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, url: str) -> None:
        super().__init__(config)
        self.url = url

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            print(f"ftctl emulator listening on {self.url}", flush=True)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # SIGINT and SIGTERM are how this server is meant to stop: shut down and exit 0.
        # uvicorn's own version re-raises the signal afterwards, so the process would die by it.
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        stops = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in stops}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def serve(options: ServeOptions) -> int:
    emulator = build_emulator(options)
    # Bind first so that --port 0 can announce the port the system picked.
    family = socket.AF_INET6 if ":" in options.host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that name TCP, and without
    # it every keep-alive answer waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((options.host, options.port))
    except OSError as exc:
        print(
            f"ftctl emulator: cannot listen on {options.host}:{options.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 1
    port = sock.getsockname()[1]
    host = f"[{options.host}]" if family == socket.AF_INET6 else options.host
    config = uvicorn.Config(
        create_app(emulator, options.api_key, options.chaos),
        log_level="warning",
        date_header=False,  # the app sends the emulated clock's Date
        server_header=False,
        lifespan="off",
    )
    server = _AnnouncingServer(config, f"http://{host}:{port}/v1")
    try:
        server.run(sockets=[sock])
    finally:
        emulator.store.set_meta("clock", str(emulator.clock.now()))
        emulator.store.close()
    return 0
