"""Apply follows the graph: a failed change stops its dependents but not the rest; a stop asked
for mid-apply starts nothing new and says the apply did not finish; a wait for another job's
result ends on a stop with nothing sent; and a job waits only for the instance whose result it
uses, not for its siblings."""

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ftctl.cli import app
from ftctl.engine.desired import prepare
from ftctl.engine.run import Applier, make, refresh
from ftctl.provider.openai_api import OpenAIProvider
from ftctl.state.store import StateStore
from tests.harness import REPO, TEST_KEY, Emulator, served_process

runner = CliRunner()


def project_with(tmp_path: Path, main: str, data: dict[str, int]) -> Path:
    """A directory with `main` and data files of the given numbers of examples."""
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    lines = (REPO / "examples" / "quickstart" / "data" / "train.jsonl").read_text().splitlines()
    for name, count in data.items():
        (project / "data" / f"{name}.jsonl").write_text("\n".join(lines[:count]) + "\n")
    (project / "main.tf").write_text(main)
    return project


def apply_in_process(
    emu: Emulator,
    project: Path,
    stop_after: Callable[[str, str], bool],
    parallelism: int = 1,
) -> tuple[bool, list[tuple[str, str, str]]]:
    """The engine's apply with a stop that turns on once `stop_after(address, event)` is true;
    (finished, progress events)."""
    configuration, problems = prepare(project, [], {})
    assert not [p for p in problems if p.severity.value == "error"], problems
    events: list[tuple[str, str, str]] = []
    stopped = [False]

    def progress(address: str, event: str, detail: str) -> None:
        events.append((address, event, detail))
        stopped[0] = stopped[0] or stop_after(address, event)

    sleeps = [0]

    def sleep(seconds: float) -> None:
        sleeps[0] += 1
        assert sleeps[0] < 50, "the wait did not end on the stop"

    settings = {"base_url": emu.base_url, "api_key": TEST_KEY}
    with (
        OpenAIProvider.from_settings(settings, {}) as provider,
        StateStore.open(project / "state" / "ftctl.db") as store,
        store.lock("apply"),
    ):
        plan = make(configuration, refresh(store.snapshot(), provider))
        applier = Applier(
            configuration,
            store,
            provider,
            progress,
            stop_requested=lambda: stopped[0],
            poll_seconds=0,
            sleep=sleep,
        )
        finished = applier.apply(plan, parallelism)
    return finished, events


JOBS = 'resource "openai_file" "train" {\n  file = "data/train.jsonl"\n}\n' + "".join(
    f'resource "openai_fine_tuning_job" "job_{i}" {{\n'
    '  model = "gpt-4o-mini"\n  training_file = openai_file.train.id\n}\n'
    for i in range(3)
)


def test_a_stop_mid_apply_starts_nothing_new_and_reports_unfinished(
    emu: Emulator, tmp_path: Path
) -> None:
    project = project_with(tmp_path, JOBS, {"train": 20})
    finished, events = apply_in_process(
        emu, project, lambda address, event: event == "created" and "job" in address
    )
    assert finished is False
    created = [a for a, event, _ in events if event == "created" and "job" in a]
    assert len(created) == 1
    page = emu.raw().get("fine_tuning/jobs").json()["data"]
    assert len(page) == 1
    # The next apply carries on with exactly the two jobs left.
    shown = runner.invoke(
        app,
        ["apply", "--auto-approve", "--chdir", str(project)],
        env={"OPENAI_BASE_URL": emu.base_url, "OPENAI_API_KEY": TEST_KEY},
    )
    assert shown.exit_code == 0, shown.output
    assert "Resources: 2 added" in shown.output
    assert len(emu.raw().get("fine_tuning/jobs").json()["data"]) == 3


PIPELINE = """\
resource "openai_file" "sft" {
  file = "data/sft.jsonl"
}
resource "openai_fine_tuning_job" "sft" {
  model         = "gpt-4o-mini-2024-07-18"
  training_file = openai_file.sft.id
}
resource "openai_fine_tuning_job" "dpo" {
  model         = openai_fine_tuning_job.sft.fine_tuned_model
  training_file = openai_file.sft.id
}
"""


def test_a_stop_during_a_wait_for_a_needed_job_sends_nothing_for_the_waiting_one(
    emu: Emulator, tmp_path: Path
) -> None:
    project = project_with(tmp_path, PIPELINE, {"sft": 20})
    finished, events = apply_in_process(emu, project, lambda address, event: event == "waiting")
    assert finished is False
    assert ("openai_fine_tuning_job.dpo", "waiting", "openai_fine_tuning_job.sft") in events
    jobs = emu.raw().get("fine_tuning/jobs").json()["data"]
    assert [j["model"] for j in jobs] == ["gpt-4o-mini-2024-07-18"]


PAIRS = """\
locals {
  stages = toset(["good", "bad"])
}
resource "openai_file" "data" {
  for_each = local.stages
  file     = "data/${each.key}.jsonl"
}
resource "openai_fine_tuning_job" "sft" {
  for_each      = local.stages
  model         = "gpt-4o-mini-2024-07-18"
  training_file = openai_file.data[each.key].id
  suffix        = "sft-${each.key}"
}
resource "openai_fine_tuning_job" "next" {
  for_each      = local.stages
  model         = openai_fine_tuning_job.sft[each.key].fine_tuned_model
  training_file = openai_file.data["good"].id
  suffix        = "next-${each.key}"
}
"""


@pytest.mark.parametrize("parallelism", ["1", "4"])
def test_a_job_waits_only_for_the_instance_whose_model_it_uses(
    tmp_path: Path, parallelism: str
) -> None:
    # "bad" has too few examples: the emulator fails its job, as the API does.
    project = project_with(tmp_path, PAIRS, {"good": 20, "bad": 5})
    with served_process("--clock", "real", "--speed", "20000") as served:
        env = {"OPENAI_BASE_URL": served.emulator.base_url, "OPENAI_API_KEY": TEST_KEY}
        arguments = ["apply", "--auto-approve", "--poll-interval", "0.01"]
        result = runner.invoke(
            app,
            [*arguments, "--parallelism", parallelism, "--chdir", str(project)],
            env=env,
        )
        jobs = served.emulator.raw().get("fine_tuning/jobs").json()["data"]
    made = {j["user_provided_suffix"]: j for j in jobs}
    assert result.exit_code == 1
    assert (
        'openai_fine_tuning_job.next["bad"] was not created: it needs '
        'openai_fine_tuning_job.sft["bad"], which ended failed.'
    ) in result.output
    assert sorted(made) == ["next-good", "sft-bad", "sft-good"]
    assert made["next-good"]["model"] == made["sft-good"]["fine_tuned_model"]


def test_a_failed_change_stops_its_dependents_and_not_the_rest(
    emu: Emulator, tmp_path: Path
) -> None:
    refused = (
        'resource "openai_fine_tuning_job" "bad" {\n  model = "no-such-model"\n'
        "  training_file = openai_file.sft.id\n}\n"
        'resource "openai_fine_tuning_job" "after_bad" {\n  model = "gpt-4o-mini"\n'
        "  training_file = openai_file.sft.id\n  depends_on = [openai_fine_tuning_job.bad]\n}\n"
        'resource "openai_fine_tuning_job" "other" {\n  model = "gpt-4.1-mini"\n'
        "  training_file = openai_file.sft.id\n  depends_on = [openai_fine_tuning_job.sft]\n}\n"
    )
    project = project_with(
        tmp_path,
        PIPELINE.split('resource "openai_fine_tuning_job" "dpo"')[0] + refused,
        {"sft": 20},
    )
    with pytest.raises(Exception) as raised:
        apply_in_process(emu, project, lambda address, event: False, parallelism=4)
    assert "no-such-model" in str(raised.value) and "changes failed" not in str(raised.value)
    models = sorted(j["model"] for j in emu.raw().get("fine_tuning/jobs").json()["data"])
    assert models == ["gpt-4.1-mini-2025-04-14", "gpt-4o-mini-2024-07-18"]  # resolved alias
