"""`ftctl import`: adopting jobs made elsewhere, so that the next plan says "No changes" when
the block matches and shows the real difference when it does not."""

from typing import Any

import pytest

from tests.e2e.conftest import Ftctl
from tests.harness import chat_jsonl, upload

BLOCK = """resource "openai_fine_tuning_job" "adopted" {
  model         = "gpt-4o-mini"
  training_file = "%s"
  suffix        = "by-hand"
%s}
"""


def made_by_hand(ftctl: Ftctl, **arguments: Any) -> tuple[str, str]:
    client = ftctl.emu.client()
    training_file = upload(client, chat_jsonl())
    job = client.fine_tuning.jobs.create(
        model="gpt-4o-mini", training_file=training_file, suffix="by-hand", **arguments
    )
    return job.id, training_file


@pytest.mark.parametrize("started", [False, True], ids=["queued", "trained"])
def test_import_address_id_then_plan_says_no_changes(ftctl: Ftctl, started: bool) -> None:
    job_id, training_file = made_by_hand(
        ftctl, method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3}}}
    )
    if started:
        ftctl.emu.advance(10_000)  # "auto" hyperparameters are now numbers on the job
    (ftctl.project / "main.tf").write_text(
        BLOCK
        % (
            training_file,
            '  method {\n    type = "supervised"\n    supervised {\n'
            "      hyperparameters {\n        n_epochs = 3\n      }\n    }\n  }\n",
        )
    )
    imported = ftctl("import", "openai_fine_tuning_job.adopted", job_id)
    assert imported.exit_code == 0, imported.output
    assert "Import successful!" in imported.output
    planned = ftctl("plan", "--detailed-exitcode", "--no-color")
    assert planned.exit_code == 0, planned.output
    assert "No changes." in planned.output


def test_import_shows_a_real_difference_as_a_replacement(ftctl: Ftctl) -> None:
    job_id, training_file = made_by_hand(ftctl)
    (ftctl.project / "main.tf").write_text(BLOCK % (training_file, "  seed = 7\n"))
    assert ftctl("import", "openai_fine_tuning_job.adopted", job_id).exit_code == 0
    planned = ftctl("plan", "--no-color")
    assert "must be replaced" in planned.output
    assert any(
        "seed" in line and "forces replacement" in line for line in planned.output.splitlines()
    )


def test_import_id_alone_writes_the_block_and_then_plan_says_no_changes(ftctl: Ftctl) -> None:
    job_id, _ = made_by_hand(ftctl, metadata={"team": "search"}, seed=11)
    (ftctl.project / "main.tf").unlink()
    imported = ftctl("import", job_id)
    assert imported.exit_code == 0, imported.output
    written = (ftctl.project / "imported.tf").read_text()
    assert 'resource "openai_fine_tuning_job" "by_hand"' in written and job_id in written
    assert ftctl("validate").exit_code == 0
    planned = ftctl("plan", "--detailed-exitcode", "--no-color")
    assert planned.exit_code == 0, planned.output
    # Importing it again is refused, and a block is never written twice.
    again = ftctl("import", "openai_fine_tuning_job.by_hand", job_id)
    assert again.exit_code == 1 and "already in the state" in again.output


def test_import_of_an_unknown_job_or_address_fails_cleanly(ftctl: Ftctl) -> None:
    missing = ftctl("import", "openai_fine_tuning_job.support", "ftjob-doesnotexist")
    assert missing.exit_code == 1 and "No fine-tuning job ftjob-doesnotexist" in missing.output
    job_id, _ = made_by_hand(ftctl)
    unknown = ftctl("import", "openai_fine_tuning_job.nope", job_id)
    assert unknown.exit_code == 1 and "No openai_fine_tuning_job block" in unknown.output


def test_a_file_and_a_job_made_by_hand_both_import_into_the_quickstart(ftctl: Ftctl) -> None:
    client = ftctl.emu.client()
    data = (ftctl.project / "data" / "train.jsonl").read_bytes()
    file_id = upload(client, data)
    job = client.fine_tuning.jobs.create(
        model="gpt-4o-mini",
        training_file=file_id,
        suffix="support-v1",
        metadata={"team": "support"},
    )
    assert ftctl("import", "openai_file.train", file_id).exit_code == 0
    imported = ftctl("import", "openai_fine_tuning_job.support", job.id)
    assert imported.exit_code == 0, imported.output
    planned = ftctl("plan", "--detailed-exitcode", "--no-color")
    assert planned.exit_code == 0, planned.output


def test_an_imported_file_whose_content_differs_plans_a_new_upload(ftctl: Ftctl) -> None:
    file_id = upload(ftctl.emu.client(), chat_jsonl(11))
    assert ftctl("import", "openai_file.train", file_id).exit_code == 0
    planned = ftctl("plan", "--no-color")
    assert "# openai_file.train must be replaced" in planned.output
    assert any(
        "sha256" in line and "forces replacement" in line for line in planned.output.splitlines()
    )
