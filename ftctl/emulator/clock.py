"""The emulated clock: every timestamp and every job's progress is read from it.

A manual clock moves only when told (tests, rehearsals); a real clock follows wall time,
optionally faster. Both can be pushed forward, never back.
"""

import time
from collections.abc import Callable
from enum import StrEnum
from typing import Protocol


class ClockKind(StrEnum):
    REAL = "real"
    MANUAL = "manual"


class Clock(Protocol):
    def now(self) -> float: ...

    def advance(self, seconds: float) -> float: ...


class ManualClock:
    def __init__(self, start: float) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        self._now += seconds
        return self._now


class RealClock:
    """Wall time from `start` on, `speed` emulated seconds per real second."""

    def __init__(
        self, start: float, speed: float = 1.0, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._start = start
        self._speed = speed
        self._monotonic = monotonic
        self._origin = monotonic()
        self._offset = 0.0

    def now(self) -> float:
        return self._start + (self._monotonic() - self._origin) * self._speed + self._offset

    def advance(self, seconds: float) -> float:
        self._offset += seconds
        return self.now()
