"""Loss and accuracy curves: deterministic from the job's seed, strictly decreasing loss.

loss(s) = floor + (start - floor) * exp(-k * x(s) / T), with x(s) = s + 0.3 * sin(phase + s).
x grows by at least 0.4 per step, so the wobble never makes the loss go up.
"""

import math
from dataclasses import dataclass
from functools import lru_cache

from ftctl.emulator.ids import unit_interval


@dataclass(frozen=True)
class Curve:
    seed: int
    total_steps: int

    def _shape(self) -> tuple[float, float, float, float]:
        return _shape(self.seed)

    def train_loss(self, step: int) -> float:
        start, floor, rate, phase = self._shape()
        x = step + 0.3 * math.sin(phase + step)
        return floor + (start - floor) * math.exp(-rate * x / max(1, self.total_steps))

    def train_accuracy(self, step: int) -> float:
        start = self._shape()[0]
        return 1.0 - self.train_loss(step) / (start + 0.5)

    def valid_loss(self, step: int) -> float:
        return self.train_loss(step) * 1.1 + 0.02

    def valid_accuracy(self, step: int) -> float:
        start = self._shape()[0]
        return 1.0 - self.valid_loss(step) / (start * 1.1 + 0.6)


@lru_cache(maxsize=4096)
def _shape(seed: int) -> tuple[float, float, float, float]:
    """start, floor, rate and phase of the curve: hashed once per seed, not once per step."""
    start = 1.5 + 1.5 * unit_interval(str(seed), "start")
    floor = 0.05 + 0.25 * unit_interval(str(seed), "floor")
    rate = 3.0 + 2.0 * unit_interval(str(seed), "rate")
    phase = 2 * math.pi * unit_interval(str(seed), "phase")
    return start, floor, rate, phase
