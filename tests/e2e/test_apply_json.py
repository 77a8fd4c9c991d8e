"""`apply --json`: every line is one event that validates against the schema kept in the
repository (docs/apply-events.schema.json), in the order the apply did things."""

import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
from typer.testing import CliRunner

from ftctl.cli import app
from tests.e2e.conftest import Ftctl
from tests.harness import REPO, TEST_KEY, served_process

SCHEMA = json.loads((REPO / "docs" / "apply-events.schema.json").read_text())
runner = CliRunner()


def events(output: str) -> list[dict[str, Any]]:
    found = []
    for line in output.splitlines():
        event = json.loads(line)
        jsonschema.validate(event, SCHEMA)
        found.append(event)
    return found


def test_apply_json_streams_valid_events_through_the_wait(tmp_path: Path) -> None:
    project = tmp_path / "sweep"
    shutil.copytree(REPO / "examples" / "sweep", project)
    with served_process("--clock", "real", "--speed", "20000") as served:
        env = {"OPENAI_BASE_URL": served.emulator.base_url, "OPENAI_API_KEY": TEST_KEY}
        result = runner.invoke(
            app,
            [
                "apply",
                "--json",
                "--auto-approve",
                "--wait",
                "--poll-interval",
                "0.01",
                "--chdir",
                str(project),
            ],
            env=env,
        )
    assert result.exit_code == 0, result.output
    stream = events(result.stdout)
    kinds = [e["type"] for e in stream]
    assert kinds[0] == "version"
    planned = [e["change"]["resource"]["addr"] for e in stream if e["type"] == "planned_change"]
    assert sorted(planned) == [
        "openai_file.train",
        'openai_fine_tuning_job.sweep["lr-0.5"]',
        'openai_fine_tuning_job.sweep["lr-1"]',
        'openai_fine_tuning_job.sweep["lr-2"]',
    ]
    started = [e["hook"]["resource"]["addr"] for e in stream if e["type"] == "apply_start"]
    assert started[0] == "openai_file.train" and len(started) == 4
    keys = {e["hook"]["resource"]["resource_key"] for e in stream if e["type"] == "apply_start"}
    assert keys == {None, "lr-0.5", "lr-1", "lr-2"}
    summaries = [e["changes"] for e in stream if e["type"] == "change_summary"]
    assert [(s["operation"], s["add"]) for s in summaries] == [("plan", 4), ("apply", 4)]
    progress = [e["hook"] for e in stream if e["type"] == "progress"]
    assert {p["status"] for p in progress} >= {"succeeded"}
    assert any(p["step"] for p in progress)
    (outputs,) = [e["outputs"] for e in stream if e["type"] == "outputs"]
    assert set(outputs["models"]["value"]) == {"lr-0.5", "lr-1", "lr-2"}
    assert kinds.index("change_summary") < kinds.index("apply_start") < kinds.index("outputs")


def test_apply_json_reports_problems_as_diagnostic_events(ftctl: Ftctl) -> None:
    ftctl.edit('"gpt-4o-mini"', "var.nope")
    invalid = ftctl("apply", "--json", "--auto-approve")
    assert invalid.exit_code == 1
    (diagnostic,) = [e for e in events(invalid.stdout) if e["type"] == "diagnostic"]
    assert diagnostic["@level"] == "error"
    assert diagnostic["diagnostic"]["summary"] == "Reference to undeclared input variable"
    assert diagnostic["diagnostic"]["range"]["filename"] == "main.tf"
    unapproved = ftctl("apply", "--json")
    assert unapproved.exit_code == 1
    assert [e["diagnostic"]["summary"] for e in events(unapproved.stdout)[1:]] == [
        "Approval is needed"
    ]
    assert ftctl.posts() == []
