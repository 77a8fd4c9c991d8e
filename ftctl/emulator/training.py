"""What "auto" hyperparameters become when training starts, and how long training is.

The rule (documented in the README): n_epochs is 3, raised so that the job sees at least
100 examples (up to 25 epochs) and lowered so that it sees at most 25,000; batch_size is
0.2 % of the examples, between 1 and 256; learning_rate_multiplier is 1.8; beta is 0.1;
compute_multiplier is 1.0; eval_interval is a tenth of the steps; eval_samples is 10.
"""

import math
from typing import Any

from ftctl.emulator.requests import AUTO


def auto_epochs(examples: int) -> int:
    epochs = 3
    if examples * epochs < 100:
        epochs = min(25, math.ceil(100 / examples))
    if examples * epochs > 25_000:
        epochs = max(1, 25_000 // examples)
    return epochs


def total_steps(examples: int, n_epochs: int, batch_size: int) -> int:
    return max(1, math.ceil(examples * n_epochs / batch_size))


def resolve(requested: dict[str, Any], examples: int) -> dict[str, Any]:
    """`requested` with every "auto" replaced by the number training uses."""
    resolved = dict(requested)

    def pick(name: str, auto: Any) -> None:
        if resolved.get(name) == AUTO:
            resolved[name] = auto

    pick("n_epochs", auto_epochs(examples))
    pick("batch_size", max(1, min(256, round(examples * 0.002))))
    pick("learning_rate_multiplier", 1.8)
    pick("beta", 0.1)
    pick("compute_multiplier", 1.0)
    steps = total_steps(examples, resolved["n_epochs"], resolved["batch_size"])
    pick("eval_interval", max(1, steps // 10))
    pick("eval_samples", 10)
    return resolved
