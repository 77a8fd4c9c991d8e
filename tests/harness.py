"""Serving the emulator for tests: as the real `ftctl emulator serve` process, or in a thread
when a test needs a setting the command line does not expose. Both listen on 127.0.0.1."""

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
from openai import OpenAI

REPO = Path(__file__).resolve().parent.parent
TEST_KEY = "sk-test-not-a-secret"


@dataclass
class Emulator:
    """A served emulator: its base URL and a client for its control API."""

    base_url: str  # ends in /v1
    control: httpx2.Client = field(init=False)
    _opened: list[OpenAI | httpx2.Client] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        # Generous: an advance settles every job it finishes, thousands in a load test.
        self.control = httpx2.Client(base_url=self.base_url.removesuffix("/v1"), timeout=120)

    def client(self, strict: bool = True, **options: Any) -> OpenAI:
        """The real SDK pointed here; closed by close_clients()."""
        options.setdefault("api_key", TEST_KEY)
        client = OpenAI(base_url=self.base_url, _strict_response_validation=strict, **options)
        self._opened.append(client)
        return client

    def raw(self, api_key: str | None = TEST_KEY) -> httpx2.Client:
        """Plain HTTP to /v1, for what the SDK hides (headers, exact bodies)."""
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        client = httpx2.Client(base_url=self.base_url + "/", headers=headers, timeout=10)
        self._opened.append(client)
        return client

    def close_clients(self) -> None:
        while self._opened:
            self._opened.pop().close()

    def close(self) -> None:
        self.close_clients()
        self.control.close()

    def advance(self, seconds: float) -> int:
        return int(
            self._ok(self.control.post("/_emulator/clock/advance", json={"seconds": seconds}))[
                "now"
            ]
        )

    def now(self) -> int:
        return int(self._ok(self.control.get("/_emulator/clock"))["now"])

    def reset(self) -> None:
        self._ok(self.control.post("/_emulator/reset"))

    def arm(self, **rule: Any) -> dict[str, Any]:
        return self._ok(self.control.post("/_emulator/faults", json=rule))

    def chaos(self, **settings: Any) -> dict[str, Any]:
        """Starts seeded random faults (seed, rate, retry_after); with no settings, reports
        what was injected so far."""
        if settings:
            return self._ok(self.control.post("/_emulator/chaos", json=settings))
        return self._ok(self.control.get("/_emulator/chaos"))

    def held(self, wait: float, count: int = 1) -> list[dict[str, Any]]:
        """Requests carried out whose answer an after_commit rule holds back now, waiting up to
        `wait` seconds until there are `count`."""
        answer = self.control.get("/_emulator/held", params={"wait": wait, "count": count})
        return list(self._ok(answer)["data"])

    def release(self) -> int:
        """Sends every held answer now."""
        return int(self._ok(self.control.delete("/_emulator/held"))["released"])

    def armed(self) -> list[dict[str, Any]]:
        return list(self._ok(self.control.get("/_emulator/faults"))["data"])

    def requests(self) -> list[dict[str, Any]]:
        return list(self._ok(self.control.get("/_emulator/requests"))["data"])

    def force_status(
        self, job_id: str, status: str, error: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"status": status}
        if error is not None:
            body["error"] = error
        return self._ok(self.control.post(f"/_emulator/jobs/{job_id}/status", json=body))

    @staticmethod
    def _ok(response: httpx2.Response) -> Any:
        assert response.status_code == 200, response.text
        return response.json()


class ServedProcess:
    """`python -m ftctl emulator serve …` with --port 0, stopped by its pid."""

    def __init__(self, *args: str) -> None:
        # stderr goes to a file: an unread pipe would fill and block the server.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115  (closed in close())
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ftctl", "emulator", "serve", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            cwd=REPO,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.announcement = self._read_line(timeout=30)
        url = self.announcement.rsplit(" ", 1)[-1]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1"), self.announcement
        self.emulator = Emulator(url)

    def _read_line(self, timeout: float) -> str:
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                self.process.kill()
                raise AssertionError("the emulator did not announce itself in time")
        line = self.process.stdout.readline().decode().strip()
        if not line:
            self.process.wait(timeout=15)
            raise AssertionError(f"the emulator exited: {self.stderr()}")
        return line

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        """Sends `sig` to the server by its pid and returns its exit code."""
        if self.process.poll() is None:
            os.kill(self.process.pid, sig)
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def stderr(self) -> str:
        """Everything the server has written to stderr so far."""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def close(self) -> None:
        self.emulator.close()
        if self.process.poll() is None:
            self.stop()
        if self.process.stdout:
            self.process.stdout.close()
        self._stderr.close()


@contextmanager
def served_process(*args: str) -> Iterator[ServedProcess]:
    served = ServedProcess(*args)
    try:
        yield served
    finally:
        served.close()


@contextmanager
def served_in_thread(settings: Any = None, api_key: str | None = None) -> Iterator[Emulator]:
    """The same app, built with custom Settings, under uvicorn in a thread on a free port."""
    import uvicorn

    from ftctl.emulator.app import create_app
    from ftctl.emulator.clock import ManualClock
    from ftctl.emulator.service import Emulator as Service
    from ftctl.emulator.store import Store

    service = Service(Store(), ManualClock(1_800_000_000), settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # see server.py
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        create_app(service, api_key), log_level="warning", lifespan="off", date_header=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise AssertionError("the threaded emulator did not start")
            threading.Event().wait(0.01)
        emulator = Emulator(f"http://127.0.0.1:{sock.getsockname()[1]}/v1")
        yield emulator
        emulator.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


# Training data


def chat_example(index: int) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": "You answer briefly."},
            {"role": "user", "content": f"What is {index} plus one?"},
            {"role": "assistant", "content": f"It is {index + 1}."},
        ]
    }


def preference_example(index: int) -> dict[str, Any]:
    return {
        "input": {"messages": [{"role": "user", "content": f"Greet person {index}."}]},
        "preferred_output": [{"role": "assistant", "content": f"Hello, person {index}!"}],
        "non_preferred_output": [{"role": "assistant", "content": "Yo."}],
    }


def reinforcement_example(index: int) -> dict[str, Any]:
    return {
        "messages": [{"role": "user", "content": f"What is {index} squared?"}],
        "reference_answer": str(index * index),
    }


def jsonl(examples: Sequence[Any]) -> bytes:
    return "".join(json.dumps(e) + "\n" for e in examples).encode()


def chat_jsonl(count: int = 12) -> bytes:
    return jsonl([chat_example(i) for i in range(count)])


def upload(
    client: OpenAI, content: bytes, name: str = "train.jsonl", purpose: str = "fine-tune"
) -> str:
    return client.files.create(file=(name, content), purpose=purpose).id  # type: ignore[arg-type]


STRING_CHECK_GRADER = {
    "type": "string_check",
    "name": "exact",
    "input": "{{sample.output_text}}",
    "reference": "{{item.reference_answer}}",
    "operation": "eq",
}
