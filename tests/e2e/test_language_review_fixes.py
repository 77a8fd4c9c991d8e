"""Regressions found by reviewing the language work, each named after the behaviour it keeps."""

from pathlib import Path

from tests.e2e.conftest import Ftctl
from tests.harness import TEST_KEY, Emulator

JOB = (
    'resource "openai_file" "train" {{\n  file = "data/train.jsonl"\n{file_extra}}}\n'
    'resource "openai_fine_tuning_job" "support" {{\n'
    '  model         = "gpt-4o-mini"\n  training_file = openai_file.train.id\n{job_extra}}}\n'
)


def write(ftctl: Ftctl, head: str = "", *, file_extra: str = "", job_extra: str = "") -> None:
    (ftctl.project / "main.tf").write_text(
        head + JOB.format(file_extra=file_extra, job_extra=job_extra)
    )


def test_a_saved_plan_is_refused_when_an_argument_was_removed_since(
    ftctl: Ftctl, tmp_path: Path
) -> None:
    write(ftctl, job_extra='  suffix = "reviewed"\n')
    saved = tmp_path / "plan.json"
    assert ftctl("plan", "--out", str(saved)).exit_code == 0
    write(ftctl)
    refused = ftctl("apply", str(saved))
    assert refused.exit_code == 1
    assert "The configuration changed since the plan was made" in refused.output
    assert ftctl.jobs() == []


def test_a_saved_plan_with_an_unknown_inside_a_map_applies(ftctl: Ftctl, tmp_path: Path) -> None:
    write(ftctl, job_extra="  metadata = { data = openai_file.train.id }\n")
    saved = tmp_path / "plan.json"
    assert ftctl("plan", "--out", str(saved)).exit_code == 0
    applied = ftctl("apply", str(saved))
    assert applied.exit_code == 0, applied.output
    (job,) = ftctl.jobs()
    assert str(job["metadata"]["data"]).startswith("file-")  # type: ignore[index]


def test_a_sensitive_validation_message_is_not_shown(ftctl: Ftctl) -> None:
    head = (
        'variable "token" {\n  sensitive = true\n  validation {\n'
        "    condition     = length(var.token) > 10\n"
        '    error_message = "The token ${var.token} is too short."\n  }\n}\n'
    )
    write(ftctl, head)
    result = ftctl("validate", "--var", "token=s3cr3t")
    assert result.exit_code == 1
    assert "s3cr3t" not in result.output
    assert "The error message included a sensitive value" in result.output


def test_for_each_over_a_map_with_a_sensitive_value_keeps_it_hidden(ftctl: Ftctl) -> None:
    head = 'variable "suffix" {\n  sensitive = true\n}\nlocals {\n  runs = { a = var.suffix }\n}\n'
    write(ftctl, head)
    (ftctl.project / "runs.tf").write_text(
        'resource "openai_fine_tuning_job" "run" {\n  for_each = local.runs\n'
        '  model = "gpt-4o-mini"\n  training_file = openai_file.train.id\n'
        "  suffix = each.value\n}\n"
    )
    planned = ftctl("plan", "--no-color", "--var", "suffix=hidden-run")
    assert planned.exit_code == 0, planned.output
    assert 'openai_fine_tuning_job.run["a"] will be created' in planned.output
    assert "hidden-run" not in planned.output
    assert "+ suffix           = (sensitive value)" in planned.output


def test_create_before_destroy_on_a_file_uploads_the_new_one_first(ftctl: Ftctl) -> None:
    write(ftctl, file_extra="  lifecycle {\n    create_before_destroy = true\n  }\n")
    assert ftctl("apply", "--auto-approve").exit_code == 0
    assert ftctl("plan", "--detailed-exitcode").exit_code == 0
    data = ftctl.project / "data" / "train.jsonl"
    data.write_text(data.read_text() + data.read_text().splitlines()[0] + "\n")
    planned = ftctl("plan", "--no-color")
    assert '+/- resource "openai_file" "train" {' in planned.output
    applied = ftctl("apply", "--auto-approve", "--no-color")
    assert applied.exit_code == 0, applied.output
    lines = applied.output.splitlines()
    uploaded = lines.index("openai_file.train: Creating...")
    destroyed = next(i for i, line in enumerate(lines) if "openai_file.train: Destroying" in line)
    assert uploaded < destroyed


def test_ignore_changes_takes_one_metadata_key(ftctl: Ftctl) -> None:
    extra = (
        '  metadata = { team = "a", owner = "x" }\n'
        '  lifecycle {\n    ignore_changes = [metadata["owner"]]\n  }\n'
    )
    write(ftctl, job_extra=extra)
    assert ftctl("apply", "--auto-approve").exit_code == 0
    write(ftctl, job_extra=extra.replace('owner = "x"', 'owner = "y"'))
    assert ftctl("plan", "--detailed-exitcode").exit_code == 0
    write(ftctl, job_extra=extra.replace('team = "a"', 'team = "b"'))
    planned = ftctl("plan", "--no-color")
    assert "# openai_fine_tuning_job.support must be replaced" in planned.output


def test_replace_triggered_by_an_attribute_fires_on_its_change_only(ftctl: Ftctl) -> None:
    two = (
        'resource "openai_fine_tuning_job" "base" {{\n  model = "gpt-4o-mini"\n'
        "  training_file = openai_file.train.id\n{timeout}}}\n"
    )
    extra = (
        "  lifecycle {\n    replace_triggered_by = "
        "[openai_fine_tuning_job.base.cancel_after_timeout]\n  }\n"
    )
    write(ftctl, two.format(timeout="  cancel_after_timeout = 3600\n"), job_extra=extra)
    assert ftctl("apply", "--auto-approve").exit_code == 0
    write(ftctl, two.format(timeout="  cancel_after_timeout = 7200\n"), job_extra=extra)
    planned = ftctl("plan", "--no-color")
    assert [line for line in planned.output.splitlines() if line.startswith("  # ")] == [
        "  # openai_fine_tuning_job.base will be updated in-place",
        "  # openai_fine_tuning_job.support will be replaced due to changes in "
        "replace_triggered_by",
    ]


def test_import_to_an_instance_the_configuration_does_not_make_says_which_it_makes(
    ftctl: Ftctl, emu: Emulator
) -> None:
    write(ftctl)
    (ftctl.project / "main.tf").write_text(
        (ftctl.project / "main.tf")
        .read_text()
        .replace(
            '  model         = "gpt-4o-mini"\n',
            '  for_each = toset(["a"])\n  model = "gpt-4o-mini"\n',
        )
    )
    client = emu.client()
    uploaded = client.files.create(
        file=("t.jsonl", (ftctl.project / "data" / "train.jsonl").read_bytes()),
        purpose="fine-tune",
    )
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=uploaded.id)
    result = ftctl("import", 'openai_fine_tuning_job.support["b"]', job.id)
    assert result.exit_code == 1
    assert 'No instance openai_fine_tuning_job.support["b"] in the configuration' in result.output
    assert 'openai_fine_tuning_job.support["a"]' in result.output
    assert TEST_KEY not in result.output


def test_a_deposed_record_of_the_live_object_no_longer_blocks_every_apply(ftctl: Ftctl) -> None:
    from dataclasses import replace

    from ftctl.state.store import StateStore

    write(ftctl, job_extra="  lifecycle {\n    create_before_destroy = true\n  }\n")
    assert ftctl("apply", "--auto-approve").exit_code == 0
    # What a kill between deposing and asking for the new job leaves behind.
    with StateStore.open(ftctl.project / "state" / "ftctl.db") as store, store.lock("test"):
        live = store.snapshot().resources["openai_fine_tuning_job.support"]
        store.put(
            replace(live, address="openai_fine_tuning_job.support~deposed"),
            operation="test",
            action="depose",
        )
    applied = ftctl("apply", "--auto-approve", "--replace", "openai_fine_tuning_job.support")
    assert applied.exit_code == 0, applied.output
    assert "an interrupted replacement will be planned again" in applied.output
    assert len(ftctl.jobs()) == 2
    assert "~deposed" not in ftctl("state", "list").output


def test_a_replacement_sends_the_ignored_arguments_the_plan_showed(ftctl: Ftctl) -> None:
    write(
        ftctl,
        'resource "openai_fine_tuning_job" "other" {\n  model = "gpt-4o-mini"\n'
        "  training_file = openai_file.train.id\n}\n",
        job_extra='  metadata = { team = "a" }\n'
        "  lifecycle {\n    ignore_changes = [metadata]\n  }\n",
    )
    assert ftctl("apply", "--auto-approve").exit_code == 0
    text = (ftctl.project / "main.tf").read_text()
    (ftctl.project / "main.tf").write_text(text.replace('team = "a"', 'team = "b"'))
    replaced = ftctl(
        "apply",
        "--auto-approve",
        "--parallelism",
        "1",
        "--replace",
        "openai_fine_tuning_job.other",
        "--replace",
        "openai_fine_tuning_job.support",
    )
    assert replaced.exit_code == 0, replaced.output
    metadata = [dict(j["metadata"] or {}) for j in ftctl.jobs()]  # type: ignore[call-overload]
    teams = sorted(str(m["team"]) for m in metadata if "team" in m)
    assert teams == ["a", "a"]


def test_a_secret_stays_hidden_through_another_resources_attribute(ftctl: Ftctl) -> None:
    write(
        ftctl,
        'variable "secret" {\n  sensitive = true\n}\n'
        'resource "openai_fine_tuning_job" "copy" {\n  model = "gpt-4o-mini"\n'
        "  training_file = openai_file.train.id\n"
        "  metadata = { copied = openai_fine_tuning_job.support.metadata.team }\n}\n",
        job_extra="  metadata = { team = var.secret }\n",
    )
    planned = ftctl("plan", "--no-color", "--var", "secret=hunter2")
    assert planned.exit_code == 0, planned.output
    assert "hunter2" not in planned.output
    assert planned.output.count("+ metadata         = (sensitive value)") == 2
    (ftctl.project / "leak.tf").write_text(
        'output "leak" {\n  value = openai_fine_tuning_job.support.metadata\n}\n'
    )
    refused = ftctl("plan", "--no-color", "--var", "secret=hunter2")
    assert refused.exit_code == 1
    assert "Error: Output refers to sensitive values" in refused.output
    assert "hunter2" not in refused.output


def test_plan_json_on_a_terminal_holds_no_digest_of_a_secret(ftctl: Ftctl, tmp_path: Path) -> None:
    write(ftctl, 'variable "s" {\n  sensitive = true\n}\n', job_extra="  suffix = var.s\n")
    printed = ftctl("plan", "--json", "--var", "s=short")
    saved = tmp_path / "plan.json"
    assert ftctl("plan", "--out", str(saved), "--var", "s=short").exit_code == 0
    assert "sensitive_salt" not in printed.output and "sensitive_digests" not in printed.output
    assert '"after_sensitive"' in printed.output
    assert "sensitive_digests" in saved.read_text()


def test_saved_plans_with_a_replacement_or_a_move_apply(ftctl: Ftctl, tmp_path: Path) -> None:
    write(ftctl)
    assert ftctl("apply", "--auto-approve").exit_code == 0
    saved = tmp_path / "replace.json"
    assert ftctl("plan", "--replace", "openai_file.train", "--out", str(saved)).exit_code == 0
    applied = ftctl("apply", str(saved))
    assert applied.exit_code == 0, applied.output
    assert len(ftctl.jobs()) == 2
    text = (ftctl.project / "main.tf").read_text()
    (ftctl.project / "main.tf").write_text(
        text.replace(
            '  file = "data/train.jsonl"\n', '  count = 1\n  file = "data/train.jsonl"\n'
        ).replace("openai_file.train.id", "openai_file.train[0].id")
        + 'resource "openai_fine_tuning_job" "extra" {\n  model = "gpt-4o-mini"\n'
        "  training_file = openai_file.train[0].id\n}\n"
    )
    moved = tmp_path / "move.json"
    assert ftctl("plan", "--out", str(moved)).exit_code == 0
    applied = ftctl("apply", str(moved))
    assert applied.exit_code == 0, applied.output
    assert len(ftctl.jobs()) == 3
    assert ftctl("plan", "--detailed-exitcode").exit_code == 0


def test_a_saved_plan_applies_after_the_job_it_waits_for_finished(
    ftctl: Ftctl, emu: Emulator, tmp_path: Path
) -> None:
    write(
        ftctl,
        'resource "openai_fine_tuning_job" "next" {\n'
        "  model = openai_fine_tuning_job.support.fine_tuned_model\n"
        "  training_file = openai_file.train.id\n}\n",
    )
    target = ("--target", "openai_fine_tuning_job.support")
    assert ftctl("apply", "--auto-approve", *target).exit_code == 0
    saved = tmp_path / "plan.json"
    assert ftctl("plan", "--out", str(saved)).exit_code == 0  # the model is still unknown
    emu.advance(100_000)  # the base job succeeds
    applied = ftctl("apply", str(saved))
    assert applied.exit_code == 0, applied.output
    models = {str(j["model"]) for j in ftctl.jobs()}
    assert any(m.startswith("ft:gpt-4o-mini") for m in models)


def test_prevent_destroy_with_a_passed_deadline_waits_for_the_refresh(
    ftctl: Ftctl, emu: Emulator
) -> None:
    write(
        ftctl,
        job_extra="  cancel_after_timeout = 60\n  lifecycle {\n    prevent_destroy = true\n  }\n",
    )
    assert ftctl("apply", "--auto-approve").exit_code == 0
    emu.advance(100_000)  # finished on the server; the state still says it runs
    planned = ftctl("plan", "--detailed-exitcode")
    assert planned.exit_code == 0, planned.output


def test_target_a_resource_that_gained_count_takes_every_instance(ftctl: Ftctl) -> None:
    write(ftctl)
    assert ftctl("apply", "--auto-approve").exit_code == 0
    text = (ftctl.project / "main.tf").read_text()
    (ftctl.project / "main.tf").write_text(
        text.replace(
            '  file = "data/train.jsonl"\n', '  count = 2\n  file = "data/train.jsonl"\n'
        ).replace("openai_file.train.id", "openai_file.train[0].id")
    )
    planned = ftctl("plan", "--no-color", "--target", "openai_file.train")
    assert planned.exit_code == 0, planned.output
    assert "matches no resource" not in planned.output
    assert "openai_file.train[1] will be created" in planned.output
    assert "openai_file.train has moved to openai_file.train[0]" in planned.output
