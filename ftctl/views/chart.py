"""A job's loss curves as a terminal chart, drawn by plotext at a fixed size.

plotext keeps one global figure: each chart clears it, builds, and returns the text. It is
imported on first use only (commands that draw nothing do not pay for it).
"""

from collections.abc import Sequence

# Sizes in characters, frame and tick labels included: fixed, so that the text depends on the
# data alone (never on the terminal it is printed to).
WIDTH = 80
HEIGHT = 22
TRAIN_MARKER = "*"
VALIDATION_MARKER = "o"

Points = Sequence[tuple[int, float]]  # (step, loss), by step


def loss_chart(train: Points, validation: Points = (), *, color: bool = False) -> str:
    """Training (`*`) and validation (`o`) loss against step; no colour codes unless `color`.
    Validation is drawn last, so where the two share a cell it shows `o`."""
    import plotext as plt  # type: ignore[import-untyped]  # plotext ships no types

    plt.clf()
    plt.limitsize(False, False)  # else plotext shrinks the chart to the terminal (or to 80x24)
    plt.plotsize(WIDTH, HEIGHT)
    plt.theme("clear")
    steps = sorted({step for step, _ in (*train, *validation)})
    for points, marker, hue in (
        (train, TRAIN_MARKER, "cyan"),
        (validation, VALIDATION_MARKER, "orange"),
    ):
        if points:
            plt.plot(
                [step for step, _ in points],
                [loss for _, loss in points],
                marker=marker,
                color=hue if color else "default",
            )
    plt.xticks(_step_ticks(steps))
    plt.xlabel("step")
    plt.ylabel("loss")
    text = plt.build()
    plt.clf()
    if not color:
        text = plt.uncolorize(text)
    return "\n".join(line.rstrip() for line in text.splitlines())


def _step_ticks(steps: Sequence[int], count: int = 5) -> list[int]:
    """Up to `count` whole steps spread evenly from the first to the last (plotext's own ticks
    would be fractional: 8.2, 15.5, ...)."""
    if not steps:
        return []
    first, last = steps[0], steps[-1]
    return sorted({round(first + (last - first) * i / (count - 1)) for i in range(count)})
