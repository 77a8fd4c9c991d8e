"""`ftctl logs` and `ftctl show` (one resource in full, a job's checkpoints and loss chart, a
saved plan) against the emulator, through the real SDK over HTTP.

Golden files (tests/views/golden/show_*.txt and logs_*.txt) pin the output a pipe or a CI log
gets: no terminal, so no colour. They are rendered against an emulator of their own, whose
manual clock starts at 1,800,000,000 (2027-01-15T08:00:00Z) and moves only when the test
advances it, training a job with a fixed seed: times and losses are the same on every run. What
still varies is normalised, each by a literal replacement of the value the API reports:
  - job ids become ftjob-<1>, ftjob-<2>... in the order the jobs were created;
  - file ids become file-<NAME>, NAME being the file's name (train.jsonl, step_metrics.csv);
  - the organization id becomes org-<organization>;
  - in model names, the 8 characters derived from the job id become <hash>;
  - last_updated, the local time the state was written, becomes <last_updated>.
Regenerate on purpose only (FTCTL_REGENERATE_GOLDEN=1 pytest tests/e2e/test_show_logs.py) and
review the diff.
"""

import csv
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Ftctl
from tests.harness import REPO, Emulator, served_in_thread

GOLDEN = REPO / "tests" / "views" / "golden"
JOB = "openai_fine_tuning_job.support"
SUFFIX_LINE = '  suffix        = "support-v1"\n'
# A fixed seed fixes the loss curve; a validation file adds the validation loss.
SEEDED = SUFFIX_LINE + "  seed            = 42\n  validation_file = openai_file.train.id\n"
FINISHED = 10_000  # seconds of emulator time after which the quickstart job has succeeded


@pytest.fixture
def fixed(tmp_path: Path) -> Iterator[Ftctl]:
    """The quickstart with a seeded, validated job, against an emulator of its own whose
    clock starts at 1,800,000,000."""
    project = tmp_path / "project"
    shutil.copytree(REPO / "examples" / "quickstart", project)
    with served_in_thread() as emulator:
        ftctl = Ftctl(emulator, project)
        ftctl.edit(SUFFIX_LINE, SEEDED)
        yield ftctl


def trained(ftctl: Ftctl) -> dict[str, Any]:
    """Applies the quickstart and lets its job train to the end; returns the job."""
    applied = ftctl("apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    ftctl.emu.advance(FINISHED)
    [job] = ftctl.jobs()
    assert job["status"] == "succeeded"
    return job


# Golden files


def test_logs_of_a_finished_job_print_every_event_oldest_first(fixed: Ftctl) -> None:
    job = trained(fixed)
    result = fixed("logs", JOB)
    assert result.exit_code == 0, result.output
    events = _events(fixed.emu, str(job["id"]))
    lines = result.output.splitlines()
    assert [line.split(maxsplit=2)[2] for line in lines] == [e["message"] for e in events]
    assert lines[0] == f"2027-01-15T08:00:00Z INFO  Created fine-tuning job: {job['id']}"
    assert_golden("logs_succeeded.txt", normalised(result.output, fixed.emu))


def test_show_of_a_finished_job_has_attributes_checkpoints_and_loss_chart(fixed: Ftctl) -> None:
    trained(fixed)
    result = fixed("show", JOB)
    assert result.exit_code == 0, result.output
    assert "\x1b[" not in result.output
    assert_golden("show_job_succeeded.txt", normalised(result.output, fixed.emu))


def test_show_reads_a_running_job_from_the_api_and_writes_no_state(fixed: Ftctl) -> None:
    assert fixed("apply", "--auto-approve").exit_code == 0
    fixed.emu.advance(60)
    result = fixed("show", JOB)
    assert result.exit_code == 0, result.output
    assert re.search(r'^ +status += "running"$', result.output, re.MULTILINE)
    assert_golden("show_job_running.txt", normalised(result.output, fixed.emu))
    # The state still says what the last apply recorded: show reads, refresh records.
    table = fixed("show").output
    assert "validating_files" in table and "running" not in table


def test_show_without_the_api_shows_what_the_state_records_and_says_so(fixed: Ftctl) -> None:
    trained(fixed)
    fixed.env["OPENAI_BASE_URL"] = f"http://127.0.0.1:{_closed_port()}/v1"
    (fixed.project / "provider.tf").write_text('provider "openai" {\n  max_retries = 0\n}\n')
    result = fixed("show", JOB)
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith(f"Warning: could not refresh {JOB} from the API (")
    assert "showing what the state records" in result.stderr
    assert "Traceback" not in result.output
    # The status apply recorded, nothing the API would have said since.
    assert re.search(r'^ +status += "validating_files"$', result.stdout, re.MULTILINE)
    assert "Checkpoints" not in result.stdout and "Loss" not in result.stdout
    assert_golden("show_job_unrefreshed.txt", normalised(result.stdout, fixed.emu))
    document = json.loads(fixed("show", JOB, "--json").stdout)
    assert document["refreshed"] is False and document["refresh_error"]
    assert "checkpoints" not in document and "loss" not in document


def test_show_of_a_saved_plan_renders_it_as_plan_did(fixed: Ftctl) -> None:
    assert fixed("apply", "--auto-approve").exit_code == 0
    fixed.emu.advance(60)
    fixed.edit('"support-v1"', '"support-v2"')
    saved = fixed.project / "replace.tfplan"
    planned = fixed("plan", "--out", str(saved))
    assert planned.exit_code == 0, planned.output
    shown = fixed("show", str(saved))
    assert shown.exit_code == 0, shown.output
    # plan's own text, without its "Saved the plan to" trailer.
    assert planned.output.startswith(shown.output)
    assert planned.output[len(shown.output) :].startswith("\nSaved the plan to: ")
    assert "must be replaced" in shown.output
    assert_golden("show_saved_plan.txt", normalised(shown.output, fixed.emu))
    as_json = fixed("show", str(saved), "--json")
    assert as_json.exit_code == 0
    again = fixed("plan", "--json")
    assert _without_timestamp(json.loads(as_json.output)) == _without_timestamp(
        json.loads(again.output)
    )
    assert "sensitive_salt" not in as_json.output


# The chart, read back from its text


def test_show_charts_the_losses_the_emulator_reports_against_step(fixed: Ftctl) -> None:
    job = trained(fixed)
    output = fixed("show", JOB).output
    train, valid = _result_curves(fixed.emu, str(job["result_files"][0]))
    header = next(line for line in output.splitlines() if line.startswith("Loss by step"))
    assert header == (
        f"Loss by step (steps 1-{len(train)} of {len(train)}): * training loss, o validation loss"
    )
    chart = Chart.parse(output)
    assert chart.axis_labels == ("loss", "step")
    assert chart.x_ticks[0] == 1 and chart.x_ticks[-1] == len(train)
    # plotext labels the y axis from the lowest value drawn to the highest.
    assert abs(chart.y_ticks[0] - max(valid)) <= chart.row_height
    assert abs(chart.y_ticks[-1] - min(train)) <= chart.row_height
    assert chart.mismatches({"*": train, "o": valid}) == []
    assert chart.blank_columns() == []
    # The check can fail: the same chart does not pass for the wrong series.
    assert chart.mismatches({"*": valid, "o": train})
    assert chart.mismatches({"*": [loss * 0.5 for loss in train], "o": valid})


def test_show_json_has_the_attributes_checkpoints_and_loss_series(fixed: Ftctl) -> None:
    job = trained(fixed)
    result = fixed("show", JOB, "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["address"] == JOB and document["refreshed"] is True
    values = document["values"]
    assert values["id"] == job["id"] and values["status"] == "succeeded"
    assert values["fine_tuned_model"] == job["fine_tuned_model"]
    checkpoints = fixed.emu.raw().get(f"fine_tuning/jobs/{job['id']}/checkpoints").json()["data"]
    assert [(c["step"], c["model"], c["metrics"]) for c in document["checkpoints"]] == sorted(
        (c["step_number"], c["fine_tuned_model_checkpoint"], c["metrics"]) for c in checkpoints
    )
    metrics = [e["data"] for e in _events(fixed.emu, str(job["id"])) if e["type"] == "metrics"]
    assert document["total_steps"] == metrics[-1]["total_steps"]
    for name in ("train_loss", "valid_loss", "full_valid_loss"):
        expected = [[m["step"], m[name]] for m in metrics if name in m]
        assert document["loss"][name] == expected and expected


def test_show_of_a_job_not_yet_training_says_there_are_no_metrics(ftctl: Ftctl) -> None:
    assert ftctl("apply", "--auto-approve").exit_code == 0
    result = ftctl("show", JOB)
    assert result.exit_code == 0, result.output
    assert result.output.endswith("}\n\nNo training metrics yet.\n")


# Following


def test_logs_follow_prints_each_event_once_until_the_job_ends(ftctl: Ftctl) -> None:
    assert ftctl("apply", "--auto-approve").exit_code == 0
    process = _follow(ftctl)
    try:
        reads = _wait_for_event_reads(ftctl, 1, process)
        for _ in range(4):  # each advance is seen by a poll of its own
            ftctl.emu.advance(25)
            reads = _wait_for_event_reads(ftctl, reads + 2, process)
        ftctl.emu.advance(FINISHED)
        out, err = process.communicate(timeout=30)
    finally:
        process.kill() if process.poll() is None else None
    assert process.returncode == 0, err
    assert out == ftctl("logs", JOB).output
    assert "The job has successfully completed" in out.splitlines()[-1]


def test_ctrl_c_stops_logs_follow_with_130_and_cancels_nothing(ftctl: Ftctl) -> None:
    assert ftctl("apply", "--auto-approve").exit_code == 0
    process = _follow(ftctl)
    try:
        _wait_for_event_reads(ftctl, 2, process)  # the first poll's events are printed
        os.kill(process.pid, signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        process.kill() if process.poll() is None else None
    assert process.returncode == 130, out + err
    assert "Traceback" not in err and "stopped following" in err
    assert "Created fine-tuning job" in out
    [job] = ftctl.jobs()
    assert job["status"] == "validating_files"
    assert not any(path.endswith("/cancel") for path in ftctl.posts())


# Errors


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("show", "openai_fine_tuning_job.nope"), "Error: No resource openai_fine_tuning_job.nope"),
        (("logs", "openai_file.train"), "Error: No job openai_file.train in the state"),
        (("logs", "openai_fine_tuning_job.nope"), "Error: No job openai_fine_tuning_job.nope"),
    ],
)
def test_an_unknown_address_is_an_error(
    ftctl: Ftctl, arguments: tuple[str, ...], message: str
) -> None:
    assert ftctl("apply", "--auto-approve").exit_code == 0
    result = ftctl(*arguments)
    assert result.exit_code == 1
    assert result.stderr.startswith(message)
    assert "Traceback" not in result.output


def test_show_of_a_file_that_is_not_a_plan_says_why(ftctl: Ftctl, tmp_path: Path) -> None:
    not_a_plan = tmp_path / "notes.json"
    not_a_plan.write_text('{"format_version": "9.9"}')
    result = ftctl("show", str(not_a_plan))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: Cannot read the plan {not_a_plan}: ")
    assert "Traceback" not in result.output


def test_logs_of_an_unreachable_api_is_an_error(ftctl: Ftctl) -> None:
    assert ftctl("apply", "--auto-approve").exit_code == 0
    ftctl.env["OPENAI_BASE_URL"] = f"http://127.0.0.1:{_closed_port()}/v1"
    (ftctl.project / "provider.tf").write_text('provider "openai" {\n  max_retries = 0\n}\n')
    result = ftctl("logs", JOB)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")
    assert "Traceback" not in result.output


# Helpers


def assert_golden(name: str, text: str) -> None:
    golden = GOLDEN / name
    if os.environ.get("FTCTL_REGENERATE_GOLDEN") == "1":
        golden.write_text(text)
    assert text == golden.read_text()


def normalised(text: str, emu: Emulator) -> str:
    """`text` with what the emulator draws at random replaced as the module docstring says."""
    api = emu.raw()
    names: dict[str, str] = {}
    for file in api.get("files").json()["data"]:
        names[file["id"]] = f"file-<{file['filename']}>"
    jobs = api.get("fine_tuning/jobs", params={"limit": 100}).json()["data"]
    for number, job in enumerate(reversed(jobs), 1):  # the list is newest first
        names[job["id"]] = f"ftjob-<{number}>"
        names[job["organization_id"]] = "org-<organization>"
    for actual in sorted(names, key=len, reverse=True):
        text = text.replace(actual, names[actual])
    # ft:BASE:ORG:SUFFIX:HASH, then :ckpt-step-N for a checkpoint's model
    text = re.sub(r"\b(ft:[^:\s]+:[^:\s]+:[^:\s]*:)[0-9A-Za-z]{8}\b", r"\1<hash>", text)
    return re.sub(r'(last_updated +=) "[^"]+"', r'\1 "<last_updated>"', text)


def _events(emu: Emulator, job_id: str) -> list[dict[str, Any]]:
    """The job's events oldest first, as the API lists them (newest first, in pages)."""
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 100}
    while True:
        page = emu.raw().get(f"fine_tuning/jobs/{job_id}/events", params=params).json()
        found += page["data"]
        if not page["has_more"]:
            return found[::-1]
        params["after"] = page["data"][-1]["id"]


def _result_curves(emu: Emulator, file_id: str) -> tuple[list[float], list[float]]:
    """Training and validation loss at every step, from the job's result file: the emulator's
    own record, read apart from the events show draws from."""
    content = emu.raw().get(f"files/{file_id}/content").text
    rows = list(csv.DictReader(io.StringIO(content)))
    assert [int(row["step"]) for row in rows] == list(range(1, len(rows) + 1))
    return [float(row["train_loss"]) for row in rows], [float(row["valid_loss"]) for row in rows]


def _without_timestamp(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key != "timestamp"}


def _closed_port() -> int:
    """A port nothing listens on: bound, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _follow(ftctl: Ftctl) -> subprocess.Popen[str]:
    arguments = ["logs", JOB, "--follow", "--poll-interval", "0.05"]
    return subprocess.Popen(
        [sys.executable, "-m", "ftctl", *arguments, "--chdir", str(ftctl.project)],
        env={**os.environ, **ftctl.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_event_reads(ftctl: Ftctl, at_least: int, process: subprocess.Popen[str]) -> int:
    """Waits until the emulator has served `at_least` reads of the job's events."""
    deadline = time.monotonic() + 30
    while True:
        reads = sum(1 for r in ftctl.emu.requests() if r["path"].endswith("/events"))
        if reads >= at_least:
            return reads
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "logs --follow stopped reading the events"


@dataclass(frozen=True)
class Chart:
    """A plotext chart read back from its text as a person reads it: each marker's position
    turned into (step, loss) through the tick labels on the two axes."""

    markers: dict[tuple[int, int], str]  # (row, column) -> marker, inside the frame
    tick_columns: list[int]  # where the x axis has its ticks, left to right
    y_ticks: list[float]  # top to bottom
    x_ticks: list[int]  # left to right
    loss_at: Callable[[float], float]  # row -> loss
    step_at: Callable[[float], float]  # column -> step
    row_height: float  # loss per row
    column_width: float  # steps per column
    axis_labels: tuple[str, str]  # (y, x)

    @classmethod
    def parse(cls, output: str) -> "Chart":
        lines = output.splitlines()
        top = next(i for i, line in enumerate(lines) if "┌" in line)
        bottom = next(i for i, line in enumerate(lines) if "└" in line)
        left, right = lines[top].index("┌"), lines[top].index("┐")
        y_rows = [r for r in range(top + 1, bottom) if lines[r][left] == "┤"]
        y_ticks = [float(lines[r][:left]) for r in y_rows]
        x_columns = [c for c, char in enumerate(lines[bottom]) if char == "┬"]
        labels = list(re.finditer(r"\d+", lines[bottom + 1]))
        x_ticks = [
            int(next(m.group() for m in labels if m.start() <= c < m.end())) for c in x_columns
        ]
        y_label, x_label = lines[bottom + 2].split()
        row_height = (y_ticks[0] - y_ticks[-1]) / (y_rows[-1] - y_rows[0])
        column_width = (x_ticks[-1] - x_ticks[0]) / (x_columns[-1] - x_columns[0])
        markers = {
            (r, c): lines[r][c]
            for r in range(top + 1, bottom)
            for c in range(left + 1, right)
            if c < len(lines[r]) and lines[r][c] not in " │"
        }
        return cls(
            markers=markers,
            tick_columns=x_columns,
            y_ticks=y_ticks,
            x_ticks=x_ticks,
            loss_at=lambda r: y_ticks[0] - (r - y_rows[0]) * row_height,
            step_at=lambda c: x_ticks[0] + (c - x_columns[0]) * column_width,
            row_height=row_height,
            column_width=column_width,
            axis_labels=(y_label, x_label),
        )

    def mismatches(self, curves: dict[str, Sequence[float]]) -> list[tuple[str, float, float]]:
        """Markers not on their curve (loss at steps 1, 2, ...): a marker stands for the cell
        it is in, and a line between two points crosses cells on its way, so each may be off
        by a cell and a half across and one row up or down."""
        wrong = []
        for (row, column), marker in sorted(self.markers.items()):
            curve = curves[marker]
            step, loss = self.step_at(column), self.loss_at(row)
            reach = 1.5 * self.column_width
            near = [_at(curve, s) for s in _samples(step - reach, step + reach, len(curve))]
            if not min(near) - self.row_height <= loss <= max(near) + self.row_height:
                wrong.append((marker, round(step, 1), round(loss, 3)))
        return wrong

    def blank_columns(self) -> list[int]:
        """Columns from the first step's tick to the last's that show no marker."""
        drawn = {column for _, column in self.markers}
        span = range(self.tick_columns[0], self.tick_columns[-1] + 1)
        return [column for column in span if column not in drawn]


def _samples(start: float, end: float, steps: int) -> list[float]:
    inside = [float(s) for s in range(max(1, int(start) + 1), min(steps, int(end)) + 1)]
    return [max(1.0, min(float(steps), start)), *inside, max(1.0, min(float(steps), end))]


def _at(curve: Sequence[float], step: float) -> float:
    """The curve (its value at steps 1, 2, ...) at `step`, linearly between whole steps."""
    below = min(max(int(step), 1), len(curve))
    above = min(below + 1, len(curve))
    fraction = step - below if above > below else 0.0
    return curve[below - 1] + (curve[above - 1] - curve[below - 1]) * fraction
