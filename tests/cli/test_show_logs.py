"""The views behind `ftctl show` and `ftctl logs`, on values: what the emulator tests
(tests/e2e/test_show_logs.py) cannot easily reach, a terminal's colours and odd event data."""

import math

import plotext  # type: ignore[import-untyped]
import pytest

from ftctl.provider.base import RemoteEvent
from ftctl.state.model import ResourceState
from ftctl.views.chart import HEIGHT, WIDTH, loss_chart
from ftctl.views.show import Shown, as_json, event_line, loss_series, render, total_steps

TRAIN = [(step, 0.2 + 2.0 * math.exp(-step / 10)) for step in range(1, 41)]
VALID = [(step, loss * 1.1 + 0.02) for step, loss in TRAIN]


def metrics(event_id: str, **data: object) -> RemoteEvent:
    return RemoteEvent(event_id, 1_800_000_000, "info", "Step", "metrics", data)


def test_the_chart_has_a_fixed_size_and_colour_only_when_asked() -> None:
    plain = loss_chart(TRAIN, VALID)
    lines = plain.splitlines()
    assert len(lines) == HEIGHT
    assert max(len(line) for line in lines) == WIDTH
    assert "\x1b[" not in plain
    coloured = loss_chart(TRAIN, VALID, color=True)
    assert "\x1b[" in coloured
    uncoloured = [line.rstrip() for line in plotext.uncolorize(coloured).splitlines()]
    assert uncoloured == lines


def test_the_chart_is_the_same_on_any_terminal_size(monkeypatch: pytest.MonkeyPatch) -> None:
    wide = loss_chart(TRAIN, VALID)
    monkeypatch.setenv("COLUMNS", "40")
    monkeypatch.setenv("LINES", "10")
    assert loss_chart(TRAIN, VALID) == wide


def test_loss_series_take_metrics_events_by_step_the_newer_value_winning() -> None:
    events = [
        RemoteEvent("e1", 1_800_000_000, "info", "Fine-tuning job started", "message", {}),
        metrics("e2", step=2, total_steps=4, train_loss=1.5, valid_loss=1.7),
        metrics("e3", step=1, total_steps=4, train_loss=2.0),
        # A job resumed after a pause reports step 2 again.
        metrics("e4", step=2.0, total_steps=4, train_loss=1.4, full_valid_loss=1.6),
        metrics("e5", step=3, total_steps=4, train_loss=None, valid_loss=True),
    ]
    assert loss_series(events) == {
        "train_loss": [(1, 2.0), (2, 1.4)],
        "valid_loss": [(2, 1.7)],
        "full_valid_loss": [(2, 1.6)],
    }
    assert total_steps(events) == 4
    assert total_steps(events[:1]) is None


def test_a_job_not_read_from_the_api_shows_its_state_alone() -> None:
    resource = ResourceState(
        "openai_fine_tuning_job.support",
        "openai_fine_tuning_job",
        remote_id="ftjob-abc",
        observed={"status": "running"},
    )
    shown = Shown(resource, problem="Connection error.")
    text = render(shown)
    assert text.startswith("# openai_fine_tuning_job.support:\n") and text.endswith("}\n")
    assert "Loss" not in text and "Checkpoints" not in text and "metrics" not in text
    assert '"refresh_error": "Connection error."' in as_json(shown)


def test_event_lines_are_in_utc_with_the_level_padded() -> None:
    event = RemoteEvent("e", 1_800_000_000, "warn", "Slow down", "message", {})
    assert event_line(event) == "2027-01-15T08:00:00Z WARN  Slow down"
