"""The rest of the language against the emulator: lifecycle (ignore_changes,
replace_triggered_by), depends_on, instance addresses for --target and --replace, variables
from the command line in order, count with splats, and sensitive values that never show."""

import json
from pathlib import Path

from tests.e2e.conftest import Ftctl
from tests.harness import Emulator

FILE = 'resource "openai_file" "{name}" {{\n  file = "data/{name}.jsonl"\n}}\n'


def creates(output: str) -> list[str]:
    return [line.split(": ")[0] for line in output.splitlines() if line.endswith("Creating...")]


def headlines(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if line.startswith("  # ")]


def write(ftctl: Ftctl, text: str, *data: str) -> None:
    source = ftctl.project / "data" / "train.jsonl"
    for name in data:
        (ftctl.project / "data" / f"{name}.jsonl").write_text(source.read_text())
    (ftctl.project / "main.tf").write_text(text)


def test_ignore_changes_keeps_the_job_when_an_ignored_argument_changes(ftctl: Ftctl) -> None:
    ftctl.edit(
        '  metadata      = { team = "support" }\n',
        '  metadata      = { team = "support" }\n'
        "  lifecycle {\n    ignore_changes = [metadata]\n  }\n",
    )
    assert ftctl("apply", "--auto-approve").exit_code == 0
    ftctl.edit('{ team = "support" }', '{ team = "research" }')
    assert ftctl("plan", "--detailed-exitcode").exit_code == 0
    ftctl.edit("ignore_changes = [metadata]", "ignore_changes = [suffix]")
    planned = ftctl("plan", "--no-color")
    assert headlines(planned.output) == ["# openai_fine_tuning_job.support must be replaced"]
    assert (
        '~ metadata         = { "team" = "support" } -> { "team" = "research" }' in planned.output
    )


def test_ignore_changes_all_ignores_every_argument(ftctl: Ftctl) -> None:
    assert ftctl("apply", "--auto-approve").exit_code == 0
    ftctl.edit(
        '  suffix        = "support-v1"\n',
        '  suffix        = "support-v2"\n  lifecycle {\n    ignore_changes = all\n  }\n',
    )
    assert ftctl("plan", "--detailed-exitcode").exit_code == 0


def test_replace_triggered_by_replaces_the_job_when_the_other_file_is_replaced(
    ftctl: Ftctl,
) -> None:
    write(
        ftctl,
        FILE.format(name="train")
        + FILE.format(name="notes")
        + 'resource "openai_fine_tuning_job" "support" {\n'
        '  model         = "gpt-4o-mini"\n  training_file = openai_file.train.id\n'
        "  lifecycle {\n    replace_triggered_by = [openai_file.notes]\n  }\n}\n",
        "notes",
    )
    assert ftctl("apply", "--auto-approve").exit_code == 0
    assert ftctl("plan", "--detailed-exitcode").exit_code == 0
    notes = ftctl.project / "data" / "notes.jsonl"
    notes.write_text(notes.read_text() + notes.read_text().splitlines()[0] + "\n")
    planned = ftctl("plan", "--no-color")
    assert headlines(planned.output) == [
        "# openai_file.notes must be replaced",
        "# openai_fine_tuning_job.support will be replaced due to changes in replace_triggered_by",
    ]
    applied = ftctl("apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert len(ftctl.jobs()) == 2
    assert ftctl("plan", "--detailed-exitcode").exit_code == 0


def test_depends_on_orders_creates_with_no_reference_between_them(ftctl: Ftctl) -> None:
    write(
        ftctl,
        FILE.format(name="train")
        + FILE.format(name="audit")
        + 'resource "openai_fine_tuning_job" "support" {\n'
        '  model         = "gpt-4o-mini"\n  training_file = openai_file.train.id\n'
        "  depends_on    = [openai_file.audit]\n}\n",
        "audit",
    )
    applied = ftctl("apply", "--auto-approve", "--parallelism", "4")
    assert applied.exit_code == 0, applied.output
    order = creates(applied.output)
    assert order.index("openai_fine_tuning_job.support") > order.index("openai_file.audit")


SHARDS = (
    'variable "shards" {\n  type = number\n}\n'
    'resource "openai_file" "shard" {\n  count = var.shards\n'
    '  file  = "data/shard-${count.index}.jsonl"\n}\n'
    'resource "openai_fine_tuning_job" "tune" {\n  for_each = toset(["a", "b"])\n'
    '  model = "gpt-4o-mini"\n  training_file = openai_file.shard[0].id\n'
    '  suffix = "tune-${each.key}"\n}\n'
    'output "shard_ids" {\n  value = openai_file.shard[*].id\n}\n'
)


def test_count_var_target_and_replace_with_instance_addresses(ftctl: Ftctl) -> None:
    write(ftctl, SHARDS, "shard-0", "shard-1", "shard-2")
    (ftctl.project / "three.tfvars").write_text("shards = 3\n")
    # Command-line order decides: the later of --var-file and --var wins.
    planned = ftctl("plan", "--no-color", "--var", "shards=1", "--var-file", "three.tfvars")
    assert planned.exit_code == 0, planned.output
    assert "openai_file.shard[2] will be created" in planned.output
    planned = ftctl("plan", "--no-color", "-var-file=three.tfvars", "-var", "shards=2")
    assert "openai_file.shard[1] will be created" in planned.output
    assert "openai_file.shard[2]" not in planned.output

    targeted = ftctl(
        "apply", "--auto-approve", "--var", "shards=2", "--target", "openai_file.shard"
    )
    assert targeted.exit_code == 0, targeted.output
    assert sorted(creates(targeted.output)) == ["openai_file.shard[0]", "openai_file.shard[1]"]
    assert ftctl.jobs() == []

    applied = ftctl("apply", "--auto-approve", "--var", "shards=2")
    assert applied.exit_code == 0, applied.output
    assert sorted(creates(applied.output)) == [
        'openai_fine_tuning_job.tune["a"]',
        'openai_fine_tuning_job.tune["b"]',
    ]
    ids = json.loads(ftctl("output", "--json", "shard_ids").output)
    assert len(ids) == 2 and all(str(i).startswith("file-") for i in ids)

    replaced = ftctl(
        "apply",
        "--auto-approve",
        "--var",
        "shards=2",
        "--replace",
        'openai_fine_tuning_job.tune["b"]',
    )
    assert replaced.exit_code == 0, replaced.output
    assert creates(replaced.output) == ['openai_fine_tuning_job.tune["b"]']
    assert len(ftctl.jobs()) == 3
    missing = ftctl("plan", "--no-color")
    assert missing.exit_code == 1
    assert "No value for required variable" in missing.output


SECRET = "hunter2-suffix"
SENSITIVE = (
    FILE.format(name="train") + 'variable "run" {\n  type      = string\n  sensitive = true\n}\n'
    'resource "openai_fine_tuning_job" "support" {\n'
    '  model         = "gpt-4o-mini"\n  training_file = openai_file.train.id\n'
    "  suffix        = var.run\n}\n"
    'output "run" {\n  value     = "run-${var.run}"\n  sensitive = true\n}\n'
)


def test_a_sensitive_variable_never_shows_but_reaches_the_api(
    ftctl: Ftctl, emu: Emulator, tmp_path: Path
) -> None:
    write(ftctl, SENSITIVE)
    env_var = ("--var", f"run={SECRET}")
    planned = ftctl("plan", "--no-color", *env_var)
    assert planned.exit_code == 0, planned.output
    assert "+ suffix           = (sensitive value)" in planned.output
    assert "+ run = (sensitive value)" in planned.output
    as_json = ftctl("plan", "--json", *env_var)
    saved = tmp_path / "plan.json"
    assert ftctl("plan", "--out", str(saved), *env_var).exit_code == 0
    for text in (planned.output, as_json.output, saved.read_text()):
        assert SECRET not in text

    stale = ftctl("apply", str(saved), "--var", "run=other-suffix")
    assert stale.exit_code == 1
    assert "The configuration changed since the plan was made" in stale.output
    applied = ftctl("apply", str(saved), *env_var)
    assert applied.exit_code == 0, applied.output
    assert SECRET not in applied.output
    (job,) = ftctl.jobs()
    assert job["user_provided_suffix"] == SECRET
    listed = ftctl("output")
    assert listed.output == "run = <sensitive>\n"
    assert SECRET not in ftctl("output", "--json").output
    assert ftctl("output", "run", "--raw").output == f"run-{SECRET}"


def test_an_output_of_a_sensitive_value_must_say_so(ftctl: Ftctl) -> None:
    write(ftctl, SENSITIVE.replace('"run-${var.run}"\n  sensitive = true\n', '"run-${var.run}"\n'))
    result = ftctl("plan", "--no-color", "--var", f"run={SECRET}")
    assert result.exit_code == 1
    assert "Error: Output refers to sensitive values" in result.output
    assert SECRET not in result.output


def test_adding_count_keeps_the_job_as_instance_zero_and_removing_it_moves_it_back(
    ftctl: Ftctl,
) -> None:
    assert ftctl("apply", "--auto-approve").exit_code == 0
    (job,) = ftctl.jobs()
    ftctl.edit(
        '  model         = "gpt-4o-mini"\n',
        '  count         = 1\n  model         = "gpt-4o-mini"\n',
    )
    planned = ftctl("plan", "--no-color", "--detailed-exitcode")
    assert planned.exit_code == 2, planned.output
    assert "  # openai_fine_tuning_job.support has moved to openai_fine_tuning_job.support[0]" in (
        planned.output
    )
    assert "Plan: 0 to add, 0 to change, 0 to destroy." in planned.output
    posts = len(ftctl.posts())
    applied = ftctl("apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert len(ftctl.posts()) == posts
    listed = ftctl("state", "list").output
    assert "openai_fine_tuning_job.support[0]" in listed
    assert ftctl("plan", "--detailed-exitcode").exit_code == 0
    ftctl.edit("  count         = 1\n", "")
    assert ftctl("apply", "--auto-approve").exit_code == 0
    assert "openai_fine_tuning_job.support[0]" not in ftctl("state", "list").output
    assert [j["id"] for j in ftctl.jobs()] == [job["id"]]
    assert ftctl("plan", "--detailed-exitcode").exit_code == 0
