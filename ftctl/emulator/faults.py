"""Armed faults: the next N requests that match a rule fail in the way the rule says.

A rule can delay, answer an error status (with Retry-After), drop the connection (status 0),
or answer normally after a delay (status null). With after_commit the request is carried out
first and only its answer fails: the trap that makes naive clients create duplicates.
Chaos fails a seeded random share of all requests in those ways, for rehearsing a bad day.
"""

import asyncio
import contextlib
import random
from collections import Counter
from dataclasses import asdict, dataclass, replace
from typing import Any

from ftctl.emulator.errors import bad_request

DROP = 0


@dataclass(frozen=True)
class FaultRule:
    path: str
    method: str | None = None  # None matches every method
    status: int | None = 500  # None: answer normally; 0: drop the connection
    times: int = 1
    retry_after: float | None = None
    delay_ms: int = 0
    after_commit: bool = False

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if self.path.endswith("*"):
            return path.startswith(self.path[:-1])
        return path == self.path

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, body: Any) -> "FaultRule":
        if not isinstance(body, dict):
            raise bad_request("A fault rule is a JSON object.")
        unknown = sorted(set(body) - set(cls.__dataclass_fields__))
        if unknown:
            raise bad_request(f"Unknown fault rule field {unknown[0]!r}.", param=unknown[0])
        path = body.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            raise bad_request("path must be a URL path such as /v1/fine_tuning/jobs.", "path")
        status = body.get("status", 500)
        if status is not None and (
            not _is_int(status) or not (status == DROP or 100 <= status <= 599)
        ):
            raise bad_request("status must be an HTTP status, 0 (drop) or null.", "status")
        times = body.get("times", 1)
        if not _is_int(times) or times < 1:
            raise bad_request("times must be a positive integer.", "times")
        retry_after = body.get("retry_after")
        if retry_after is not None and (
            not (_is_int(retry_after) or isinstance(retry_after, float)) or retry_after < 0
        ):
            raise bad_request("retry_after must be a number of seconds.", "retry_after")
        delay_ms = body.get("delay_ms", 0)
        if not _is_int(delay_ms) or delay_ms < 0:
            raise bad_request("delay_ms must be a non-negative integer.", "delay_ms")
        method = body.get("method")
        if method is not None and (not isinstance(method, str) or not method.strip()):
            raise bad_request("method must be an HTTP method, '*' or null.", "method")
        after_commit = body.get("after_commit", False)
        if not isinstance(after_commit, bool):
            raise bad_request("after_commit must be true or false.", "after_commit")
        return cls(
            path=path,
            method=None if method in (None, "*") else method.upper(),
            status=status,
            times=times,
            retry_after=retry_after,
            delay_ms=delay_ms,
            after_commit=after_commit,
        )


# What chaos injects, each equally likely once a request is picked to fail. A 429 carries
# Retry-After half of the time, as OpenAI's rate limiter does when it knows the wait.
CHAOS_KINDS = ("429", "500", "503", "drop", "after_commit_500")


@dataclass(frozen=True)
class Chaos:
    seed: int
    rate: float  # the share of /v1 requests that fail, 0 to 1
    retry_after: float = 1.0  # seconds, on the 429s that carry the header

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, body: Any) -> "Chaos":
        if not isinstance(body, dict):
            raise bad_request("Chaos settings are a JSON object.")
        unknown = sorted(set(body) - set(cls.__dataclass_fields__))
        if unknown:
            raise bad_request(f"Unknown chaos field {unknown[0]!r}.", param=unknown[0])
        seed: Any = body.get("seed")
        if not _is_int(seed):
            raise bad_request("seed must be an integer.", "seed")
        rate: Any = body.get("rate")
        if not _is_number(rate) or not 0 <= rate <= 1:
            raise bad_request("rate must be a number from 0 to 1.", "rate")
        retry_after: Any = body.get("retry_after", 1.0)
        if not _is_number(retry_after) or retry_after < 0:
            raise bad_request("retry_after must be a number of seconds.", "retry_after")
        return cls(seed=seed, rate=float(rate), retry_after=float(retry_after))


class FaultBook:
    def __init__(self, chaos: Chaos | None = None) -> None:
        self._rules: list[FaultRule] = []
        self._chaos: Chaos | None = None
        self._random = random.Random()
        self.injected: Counter[str] = Counter()
        if chaos is not None:
            self.start_chaos(chaos)
        # Requests carried out whose answer an after_commit rule is holding back: a test kills
        # its client at exactly this point, so it must be able to wait for it.
        self._holdings: list[_Holding] = []
        self._held_changed = asyncio.Event()

    def arm(self, rule: FaultRule) -> None:
        self._rules.append(rule)

    def take(self, method: str, path: str) -> FaultRule | None:
        """The first armed rule matching the request, used up by one; else chaos's draw."""
        for index, rule in enumerate(self._rules):
            if rule.matches(method, path):
                if rule.times > 1:
                    self._rules[index] = replace(rule, times=rule.times - 1)
                else:
                    del self._rules[index]
                return rule
        return self._draw(path)

    def armed(self) -> list[FaultRule]:
        return list(self._rules)

    def clear(self) -> None:
        self._rules.clear()

    def holding(self, method: str, path: str) -> "_Holding":
        return _Holding(self, {"method": method, "path": path})

    async def held(self, wait: float, count: int = 1) -> list[dict[str, str]]:
        """The answers held back now; waits up to `wait` seconds until there are `count`."""
        deadline = asyncio.get_running_loop().time() + wait
        while len(self._holdings) < count:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            self._held_changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._held_changed.wait(), left)
        return [holding.entry for holding in self._holdings]

    def release(self) -> int:
        """Sends every held answer now; returns how many there were."""
        for holding in self._holdings:
            holding.released.set()
        return len(self._holdings)

    def start_chaos(self, chaos: Chaos) -> None:
        self._chaos = chaos
        self._random = random.Random(chaos.seed)
        self.injected.clear()

    def stop_chaos(self) -> None:
        self._chaos = None

    def chaos_report(self) -> dict[str, Any]:
        return {
            "chaos": None if self._chaos is None else self._chaos.to_json(),
            "injected": {kind: self.injected[kind] for kind in CHAOS_KINDS},
        }

    def _draw(self, path: str) -> FaultRule | None:
        if self._chaos is None or self._random.random() >= self._chaos.rate:
            return None
        kind = self._random.choice(CHAOS_KINDS)
        self.injected[kind] += 1
        if kind == "429":
            wait = self._chaos.retry_after if self._random.random() < 0.5 else None
            return FaultRule(path=path, status=429, retry_after=wait)
        if kind == "drop":
            return FaultRule(path=path, status=DROP)
        if kind == "after_commit_500":
            return FaultRule(path=path, status=500, after_commit=True)
        return FaultRule(path=path, status=int(kind))


class _Holding:
    def __init__(self, book: FaultBook, entry: dict[str, str]) -> None:
        self._book = book
        self.entry = entry
        self.released = asyncio.Event()  # set by FaultBook.release: answer now

    def __enter__(self) -> asyncio.Event:
        self._book._holdings.append(self)
        self._book._held_changed.set()
        return self.released

    def __exit__(self, *exc: object) -> None:
        self._book._holdings.remove(self)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and value == value


def _is_int(value: Any) -> bool:
    # JSON true/false arrive as Python bools, which are ints: refuse them.
    return isinstance(value, int) and not isinstance(value, bool)
