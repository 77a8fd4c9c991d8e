"""The language's user stories against the emulator: a for_each sweep (one job per key, a
removed key cancels that job alone, outputs map keys to models), a two-stage pipeline whose
second job waits for the first one's model, and invalid configurations that stop before any
request that changes something."""

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from ftctl.cli import app
from tests.e2e.conftest import Ftctl
from tests.harness import REPO, TEST_KEY, Emulator, served_process

runner = CliRunner()
SWEEP_KEYS = ["lr-0.5", "lr-1", "lr-2"]


def copy(example: str, tmp_path: Path) -> Path:
    project = tmp_path / example
    shutil.copytree(REPO / "examples" / example, project)
    return project


def run(emulator: Emulator, project: Path, *args: str) -> Result:
    env = {"OPENAI_BASE_URL": emulator.base_url, "OPENAI_API_KEY": TEST_KEY}
    return runner.invoke(app, [*args, "--chdir", str(project)], env=env)


def jobs(emulator: Emulator) -> list[dict[str, object]]:
    page = emulator.raw().get("fine_tuning/jobs", params={"limit": 100}).json()
    return list(page["data"])


def test_sweep_creates_one_job_per_key_and_a_removed_key_cancels_that_job_alone(
    emu: Emulator, tmp_path: Path
) -> None:
    ftctl = Ftctl(emu, copy("sweep", tmp_path))
    applied = ftctl("apply", "--auto-approve", "--no-color")
    assert applied.exit_code == 0, applied.output
    created = {str(j["metadata"]["lr"]): j for j in ftctl.jobs()}  # type: ignore[index]
    assert sorted(created) == ["0.5", "1", "2"]
    assert sorted(str(j["user_provided_suffix"]) for j in created.values()) == [
        f"lr-sweep-{key}" for key in SWEEP_KEYS
    ]
    assert ftctl.posts().count("/v1/fine_tuning/jobs") == 3
    assert ftctl("plan", "--detailed-exitcode").exit_code == 0

    ftctl.edit('    "lr-2"   = 2\n', "")
    planned = ftctl("plan", "--no-color")
    assert planned.exit_code == 0, planned.output
    headlines = [line for line in planned.output.splitlines() if line.startswith("  # ")]
    assert headlines == [
        '  # openai_fine_tuning_job.sweep["lr-2"] will be cancelled, then removed from state',
        "  # (because its key is not in for_each)",
    ]
    before = len(emu.requests())
    assert ftctl("apply", "--auto-approve").exit_code == 0
    changed = [r["path"] for r in emu.requests()[before:] if r["method"] in ("POST", "DELETE")]
    assert changed == [f"/v1/fine_tuning/jobs/{created['2']['id']}/cancel"]
    statuses = {str(j["metadata"]["lr"]): j["status"] for j in ftctl.jobs()}  # type: ignore[index]
    assert statuses["2"] == "cancelled" and statuses["0.5"] != "cancelled"
    listed = ftctl("state", "list")
    assert 'openai_fine_tuning_job.sweep["lr-2"]' not in listed.output
    assert 'openai_fine_tuning_job.sweep["lr-1"]' in listed.output


def test_sweep_output_maps_each_key_to_its_model_after_apply_wait(tmp_path: Path) -> None:
    project = copy("sweep", tmp_path)
    with served_process("--clock", "real", "--speed", "20000") as served:
        applied = run(
            served.emulator,
            project,
            "apply",
            "--auto-approve",
            "--wait",
            "--poll-interval",
            "0.01",
        )
        assert applied.exit_code == 0, applied.output
        models = {
            str(j["user_provided_suffix"]): j["fine_tuned_model"] for j in jobs(served.emulator)
        }
        printed = run(served.emulator, project, "output", "--json", "models")
        text = run(served.emulator, project, "output", "models")
    assert printed.exit_code == 0, printed.output
    import json

    assert json.loads(printed.output) == {key: models[f"lr-sweep-{key}"] for key in SWEEP_KEYS}
    assert all(str(model).startswith("ft:gpt-4o-mini-2024-07-18") for model in models.values())
    assert f'"lr-0.5" = "{models["lr-sweep-lr-0.5"]}"' in text.output
    assert "Outputs:" in applied.output


def test_pipeline_creates_the_dpo_job_only_from_the_succeeded_sft_model(tmp_path: Path) -> None:
    project = copy("pipeline", tmp_path)
    with served_process("--clock", "real", "--speed", "20000") as served:
        planned = run(served.emulator, project, "plan", "--no-color")
        applied = run(
            served.emulator, project, "apply", "--auto-approve", "--poll-interval", "0.01"
        )
        made = {str(j["user_provided_suffix"]): j for j in jobs(served.emulator)}
        final = run(served.emulator, project, "output", "--raw", "sft_model")
        # The DPO job finished after apply: refresh records it, and its model as an output.
        refreshed = run(served.emulator, project, "refresh")
        again = run(served.emulator, project, "plan", "--detailed-exitcode")
        dpo_model = run(served.emulator, project, "output", "--raw", "final_model")
    assert planned.exit_code == 0, planned.output
    dpo_block = planned.output.split("openai_fine_tuning_job.dpo will be created")[1]
    assert "+ model            = (known after apply)" in dpo_block.split("}\n\n")[0]
    assert applied.exit_code == 0, applied.output
    waited = [line for line in applied.output.splitlines() if "Waiting for" in line]
    assert waited == [
        "openai_fine_tuning_job.dpo: Waiting for openai_fine_tuning_job.sft to finish: "
        "it needs the result..."
    ]
    lines = applied.output.splitlines()
    succeeded = lines.index("openai_fine_tuning_job.sft: status succeeded")
    creating = lines.index("openai_fine_tuning_job.dpo: Creating...")
    assert succeeded < creating
    sft, dpo = made["support-sft"], made["support-dpo"]
    assert sft["status"] == "succeeded"
    assert dpo["model"] == sft["fine_tuned_model"] == final.output
    assert refreshed.exit_code == 0, refreshed.output
    assert again.exit_code == 0, again.output
    assert dpo_model.output == dpo["fine_tuned_model"]


CYCLE = "locals {\n  a = local.b\n  b = local.a\n}\n"
INVALID = [
    pytest.param(CYCLE, "Cycle in the configuration", "extra.tf:2:3", id="cycle"),
    pytest.param(
        'output "x" {\n  value = openai_file.nowhere.id\n}\n',
        "Reference to undeclared resource",
        "extra.tf:2:11",
        id="unknown-reference",
    ),
    pytest.param(
        'variable "epochs" {\n  type    = number\n  default = "many"\n}\n',
        "Invalid value for variable",
        "extra.tf:3:13",
        id="type-mismatch",
    ),
    pytest.param(
        'variable "lr" {\n  default = -1\n  validation {\n'
        '    condition     = var.lr > 0\n    error_message = "lr must be positive."\n  }\n}\n',
        "Invalid value for variable",
        "extra.tf:4:21",
        id="failed-validation",
    ),
]


@pytest.mark.parametrize(("extra", "summary", "where"), INVALID)
def test_an_invalid_configuration_is_one_diagnostic_and_no_request(
    ftctl: Ftctl, emu: Emulator, extra: str, summary: str, where: str
) -> None:
    (ftctl.project / "extra.tf").write_text(extra)
    before = len(emu.requests())
    result = ftctl("plan", "--no-color")
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert errors == [f"Error: {summary}"], result.output
    file, line, column = where.split(":")
    assert f"on {file} line {line}:" in result.output
    excerpt = result.output.splitlines()
    caret = excerpt[excerpt.index(next(x for x in excerpt if x.startswith(f"{line:>4}:"))) + 1]
    assert caret.index("^") == 6 + int(column) - 1
    assert len(emu.requests()) == before


def test_prevent_destroy_refuses_a_plan_that_would_cancel_the_job(ftctl: Ftctl) -> None:
    ftctl.write_jobs(1)
    ftctl.edit("  model = ", "  lifecycle {\n    prevent_destroy = true\n  }\n  model = ")
    assert ftctl("apply", "--auto-approve").exit_code == 0
    ftctl.edit('"gpt-4o-mini"', '"gpt-4.1-mini"')
    posts = len(ftctl.posts())
    before = len(ftctl.emu.requests())
    planned = ftctl("plan", "--no-color")
    assert planned.exit_code == 1
    assert "Error: Instance cannot be destroyed" in planned.output
    result = ftctl("apply", "--auto-approve", "--no-color")
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert errors == ["Error: Instance cannot be destroyed"], result.output
    assert "Resource openai_fine_tuning_job.job_0 has lifecycle.prevent_destroy set" in (
        result.output
    )
    assert len(ftctl.posts()) == posts
    assert len(ftctl.emu.requests()) == before  # not even a refresh: the state showed it


def test_a_saved_plan_made_after_the_sft_job_finished_applies_without_a_refresh(
    tmp_path: Path,
) -> None:
    project = copy("pipeline", tmp_path)
    saved = tmp_path / "plan.json"
    with served_process("--clock", "real", "--speed", "20000") as served:
        first = run(
            served.emulator,
            project,
            "apply",
            "--auto-approve",
            "--target",
            "openai_fine_tuning_job.sft",
        )
        # The state still says the SFT job is validating; the plan sees it succeeded.
        planned = run(served.emulator, project, "plan", "--out", str(saved), "--no-color")
        applied = run(served.emulator, project, "apply", str(saved))
        made = {str(j["user_provided_suffix"]): j for j in jobs(served.emulator)}
    assert first.exit_code == 0, first.output
    assert planned.exit_code == 0, planned.output
    assert f'+ model            = "{made["support-sft"]["fine_tuned_model"]}"' in planned.output
    assert applied.exit_code == 0, applied.output
    assert made["support-dpo"]["model"] == made["support-sft"]["fine_tuned_model"]
