"""The secrets campaign: a story run with a known API key and sensitive variables, and every
artefact it leaves (output, state bytes, plans, generated files, debug logs) searched for them.

The emulator here accepts only the canary key, so every API call that succeeds proves the key
reached the SDK; the job's own suffix and metadata prove the sensitive values reached the API;
and the state file, which keeps sensitive values as its diff base, proves the byte search finds
what is there. A search that finds nothing therefore means something.
"""

import json
import os
import re
import secrets
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from ftctl.cli import app
from ftctl.state.store import StateStore
from tests.harness import REPO, Emulator, ServedProcess, served_process, upload
from tests.reliability.campaign import Campaign

runner = CliRunner()

# Unique per run: nothing else in the repository or the environment can contain them.
KEY = "sk-ftctl-canary-" + secrets.token_hex(16)
WRONG_KEY = "sk-ftctl-canary-wrong-" + secrets.token_hex(16)
RUN = "canary-run-" + secrets.token_hex(6)  # a sensitive suffix (the API allows 64 characters)
TEAM = "canary-team-" + secrets.token_hex(6)  # a sensitive metadata value
KEYS = (KEY, WRONG_KEY)
VALUES = (RUN, TEAM)

# The name the API gives the model holds the suffix: README says why ftctl shows that name.
MODEL_NAME = re.compile(r"ft:[\w.-]+:[\w-]+:" + re.escape(RUN) + r":[\w-]+(?::ckpt-step-\d+)?")

VARIABLES = (
    'variable "run" {\n  type      = string\n  sensitive = true\n}\n'
    'variable "team" {\n  type      = string\n  sensitive = true\n}\n'
)
RESOURCES = (
    'resource "openai_file" "train" {\n  file = "data/train.jsonl"\n}\n'
    'resource "openai_fine_tuning_job" "support" {\n'
    '  model         = "gpt-4o-mini"\n'
    "  training_file = openai_file.train.id\n"
    "  suffix        = var.run\n"
    "  metadata      = { team = var.team }\n"
    "}\n"
    'output "run" {\n  value     = "run-${var.run}"\n  sensitive = true\n}\n'
    'output "job" {\n  value = openai_fine_tuning_job.support.id\n}\n'
)
JOB = "openai_fine_tuning_job.support"
VARS = ("--var", f"run={RUN}", "--var", f"team={TEAM}")


@pytest.fixture(scope="module")
def keyed_process() -> Iterator[ServedProcess]:
    """An emulator that answers 401 to any key but KEY."""
    with served_process("--clock", "manual", "--api-key", KEY) as served:
        yield served


@pytest.fixture
def keyed(keyed_process: ServedProcess) -> Iterator[Emulator]:
    emulator = keyed_process.emulator
    emulator.reset()
    yield emulator
    emulator.close_clients()


@dataclass
class Story:
    """A project run against the keyed emulator, keeping every text the run produced."""

    emu: Emulator
    project: Path
    env: dict[str, str | None]
    artefacts: dict[str, str] = field(default_factory=dict)
    tracebacks: int = 0

    def __call__(self, name: str, *args: str, env: Mapping[str, str | None] = {}) -> Result:
        """Runs `ftctl ARGS` in process; its stdout and stderr become artefact `name`."""
        result = runner.invoke(app, [*args, "--chdir", str(self.project)], env={**self.env, **env})
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            self.tracebacks += 1
        self.artefacts[name] = result.stdout + result.stderr
        return result

    def ok(self, name: str, *args: str, env: Mapping[str, str | None] = {}) -> Result:
        result = self(name, *args, env=env)
        assert result.exit_code == 0, result.output
        return result

    def process(self, name: str, *args: str, env: Mapping[str, str] = {}, code: int = 0) -> str:
        """Runs `python -m ftctl ARGS` as a process with the SDK's debug log on; it must exit
        with `code`."""
        environ = {**os.environ, **{k: v for k, v in self.env.items() if v is not None}}
        for unset in (k for k, v in self.env.items() if v is None):
            environ.pop(unset, None)
        found = subprocess.run(
            [sys.executable, "-m", "ftctl", *args, "--chdir", str(self.project)],
            env={**environ, "OPENAI_LOG": "debug", **env},
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,
        )
        text = found.stdout + found.stderr
        self.artefacts[name] = text
        assert found.returncode == code, text
        if "Traceback" in text:
            self.tracebacks += 1
        return text

    def file(self, name: str, path: Path) -> bytes:
        data = path.read_bytes()
        self.artefacts[name] = data.decode("utf-8", errors="replace")
        return data

    def jobs(self) -> list[dict[str, object]]:
        page = self.emu.raw(KEY).get("fine_tuning/jobs", params={"limit": 100}).json()
        return list(page["data"])

    def state_files(self) -> list[Path]:
        """The state and any journal or WAL beside it."""
        folder = self.project / "state"
        return sorted(folder.glob("ftctl.db*")) if folder.exists() else []


def new_story(emu: Emulator, tmp_path: Path, config: str, env: dict[str, str | None]) -> Story:
    project = tmp_path / "project"
    shutil.copytree(REPO / "examples" / "quickstart" / "data", project / "data")
    (project / "main.tf").write_text(config)
    return Story(emu, project, {"OPENAI_BASE_URL": emu.base_url, **env})


def made_by_hand(keyed: Emulator, suffix: str, metadata: dict[str, str]) -> tuple[str, str]:
    """A file and a job made with the SDK, as someone adopting them made them: their ids."""
    client = keyed.client(api_key=KEY)
    training = upload(client, (REPO / "examples/quickstart/data/train.jsonl").read_bytes())
    made = client.fine_tuning.jobs.create(
        model="gpt-4o-mini", training_file=training, suffix=suffix, metadata=metadata
    )
    return training, made.id


def leaks(text: str, forbidden: Sequence[str]) -> int:
    """How often any forbidden string occurs, model names holding the suffix aside."""
    text = MODEL_NAME.sub("<model>", text)
    return sum(text.count(secret) for secret in forbidden)


def check(
    campaign: Campaign,
    story: Story,
    prefix: str,
    forbidden: Sequence[str] = (*KEYS, *VALUES),
) -> None:
    """Records each artefact as a case, then fails naming every one that leaked."""
    leaked = {}
    for name, text in story.artefacts.items():
        found = leaks(text, forbidden)
        campaign.record(
            "secrets",
            f"{prefix}: {name}",
            "clean" if found == 0 else "leaked",
            artefacts=1,
            leaks=found,
            suffix_in_model_names=len(MODEL_NAME.findall(text)),
        )
        if found:
            leaked[name] = text
    campaign.record("secrets", f"{prefix}: tracebacks", "counted", tracebacks=story.tracebacks)
    assert story.tracebacks == 0
    assert not leaked, (
        "secrets leaked into: "
        + ", ".join(leaked)
        + "\n\n"
        + "\n---\n".join(f"{name}:\n{text[:3000]}" for name, text in leaked.items())
    )


def check_state_bytes(
    campaign: Campaign, story: Story, prefix: str, kept: Sequence[str] = VALUES
) -> None:
    """The state file and any journal beside it: no key in their bytes. Each value in `kept`
    must be there (sensitive values are the diff base), proving the search finds text."""
    files = story.state_files()
    assert files, "no state file"
    found = b"".join(path.read_bytes() for path in files)
    for value in kept:
        assert value.encode() in found
    for path in files:
        data = path.read_bytes()
        assert owner_only(path), path
        leaked = sum(data.count(secret.encode()) for secret in KEYS)
        campaign.record(
            "secrets",
            f"{prefix}: state bytes {path.name}",
            "clean" if leaked == 0 else "leaked",
            artefacts=1,
            leaks=leaked,
        )
        assert leaked == 0, f"a key is in {path}"


def owner_only(path: Path) -> bool:
    return stat.S_IMODE(os.stat(path).st_mode) == 0o600


def finish_jobs(emu: Emulator) -> None:
    """Moves the emulator's clock far enough for the story's small jobs to finish."""
    emu.advance(7 * 24 * 3600)


# --------------------------------------------------------------------------------------------
# the key from OPENAI_API_KEY, and sensitive variables in a job's arguments and an output
# --------------------------------------------------------------------------------------------


def test_the_key_and_sensitive_values_stay_out_of_every_display_and_file(
    keyed: Emulator, tmp_path: Path, campaign: Campaign
) -> None:
    # Commands without --var (apply of a saved plan, logs, wait) read them from TF_VAR_*.
    env: dict[str, str | None] = {"OPENAI_API_KEY": KEY, "TF_VAR_run": RUN, "TF_VAR_team": TEAM}
    story = new_story(keyed, tmp_path, VARIABLES + RESOURCES, env)
    story.ok("validate", "validate", "--no-color")
    planned = story.ok("plan", "plan", "--no-color", *VARS)
    assert "+ suffix           = (sensitive value)" in planned.output
    story.ok("plan --json", "plan", "--json", *VARS)
    saved = tmp_path / "plan.json"
    story.ok("plan --out", "plan", "--out", str(saved), *VARS)
    assert owner_only(saved)
    story.file("saved plan file", saved)
    story.ok("show PLANFILE", "show", str(saved), "--no-color")
    story.ok("show PLANFILE --json", "show", str(saved), "--json")
    story.ok("apply --json PLANFILE", "apply", str(saved), "--json")

    # The values reached the API (with the key, the only one this emulator accepts).
    (job,) = story.jobs()
    assert job["user_provided_suffix"] == RUN
    assert job["metadata"]["team"] == TEAM  # type: ignore[index]
    (state,) = story.state_files()
    assert owner_only(state)

    for name, args in {
        "show": ("show",),
        "show --json": ("show", "--json"),
        "show ADDR (running)": ("show", JOB, "--no-color"),
        "show ADDR --json (running)": ("show", JOB, "--json"),
        "show openai_file.train": ("show", "openai_file.train"),
        "state show ADDR": ("state", "show", JOB),
        "state list": ("state", "list"),
        "state history": ("state", "history"),
        "output": ("output",),
        "output --json": ("output", "--json"),
        "output NAME": ("output", "run"),
        "output NAME --json": ("output", "run", "--json"),
        "logs ADDR (running)": ("logs", JOB),
    }.items():
        story.ok(name, *args)
    # Asked for by name, raw: the one way to read it (as Terraform's -raw).
    assert story.ok("output NAME --raw", "output", "run", "--raw").stdout == f"run-{RUN}"
    del story.artefacts["output NAME --raw"]

    finish_jobs(keyed)
    story.ok("refresh", "refresh", "--no-color")
    story.ok("refresh --json", "refresh", "--json")
    story.ok("wait", "wait", "--no-color")
    story.ok("show ADDR (succeeded)", "show", JOB, "--no-color")
    story.ok("show ADDR --json (succeeded)", "show", JOB, "--json")
    story.ok("state show ADDR (succeeded)", "state", "show", JOB)
    story.ok("logs ADDR (succeeded)", "logs", JOB)
    story.ok("plan (no changes)", "plan", "--no-color", "--detailed-exitcode", *VARS)

    # A new secret: the replacement's plan and apply show neither the old nor the new one.
    new_run = ("--var", f"run={RUN}-2", "--var", f"team={TEAM}")
    replaced = story.ok("plan (replace)", "plan", "--no-color", *new_run)
    assert "suffix           = (sensitive value) # forces replacement" in replaced.output
    story.ok("apply (replace)", "apply", "--auto-approve", "--no-color", *new_run)
    story.ok("state show ADDR (replaced)", "state", "show", JOB)
    assert len(story.jobs()) == 2

    check_state_bytes(campaign, story, "env key")
    check(campaign, story, "env key")


def test_state_show_and_show_addr_hide_arguments_applied_from_sensitive_variables(
    keyed: Emulator, tmp_path: Path
) -> None:
    env: dict[str, str | None] = {"OPENAI_API_KEY": KEY, "TF_VAR_run": RUN, "TF_VAR_team": TEAM}
    story = new_story(keyed, tmp_path, VARIABLES + RESOURCES, env)
    story.ok("apply", "apply", "--auto-approve", "--no-color")
    with StateStore.open(story.state_files()[0]) as store:
        recorded = store.get(JOB)
    assert recorded is not None and recorded.sensitive == ("metadata", "suffix")
    assert recorded.applied["suffix"] == RUN  # kept: the diff base
    for args in (("state", "show", JOB), ("show", JOB, "--no-color")):
        shown = story.ok(" ".join(args), *args).stdout
        assert "    metadata      = (sensitive value)\n" in shown, shown
        assert "    suffix        = (sensitive value)\n" in shown, shown
        assert '    model         = "gpt-4o-mini"\n' in shown  # the rest as before
        assert RUN not in shown and TEAM not in shown
    document = json.loads(story.ok("show --json", "show", JOB, "--json").stdout)
    assert document["sensitive_values"] == {"metadata": True, "suffix": True}
    assert "suffix" not in document["values"] and "metadata" not in document["values"]


# --------------------------------------------------------------------------------------------
# the key in the provider block: from a sensitive variable, and written in the file
# --------------------------------------------------------------------------------------------

KEY_VARIABLE = 'variable "key" {\n  type      = string\n  sensitive = true\n}\n'
BLOCK_FROM_VARIABLE = 'provider "openai" {\n  api_key = var.key\n}\n'


def block_story(emu: Emulator, tmp_path: Path, config: str, env: dict[str, str | None]) -> Story:
    """No OPENAI_API_KEY: a call that succeeds used the key the block gave."""
    return new_story(
        emu,
        tmp_path,
        config,
        {"OPENAI_API_KEY": None, "TF_VAR_run": RUN, "TF_VAR_team": TEAM, **env},
    )


def run_block_story(story: Story, tmp_path: Path) -> None:
    story.ok("validate", "validate", "--no-color")
    story.ok("plan", "plan", "--no-color")
    saved = tmp_path / "plan.json"
    story.ok("plan --out", "plan", "--out", str(saved))
    assert owner_only(saved)
    story.file("saved plan file", saved)
    story.ok("plan --json", "plan", "--json")
    story.ok("apply --json PLANFILE", "apply", str(saved), "--json")
    (job,) = story.jobs()  # made with the key: the emulator refuses any other
    assert job["user_provided_suffix"] == RUN
    story.ok("show ADDR", "show", JOB, "--no-color")
    story.ok("show ADDR --json", "show", JOB, "--json")
    story.ok("refresh --json", "refresh", "--json")
    story.ok("logs ADDR", "logs", JOB)
    finish_jobs(story.emu)
    story.ok("wait", "wait", "--no-color")
    story.ok("state show ADDR", "state", "show", JOB)


def test_a_key_from_a_sensitive_variable_in_the_provider_block_never_shows(
    keyed: Emulator, tmp_path: Path, campaign: Campaign
) -> None:
    config = KEY_VARIABLE + BLOCK_FROM_VARIABLE + VARIABLES + RESOURCES
    story = block_story(keyed, tmp_path, config, {"TF_VAR_key": KEY})
    run_block_story(story, tmp_path)
    # Given on the command line too: argv is the user's, but no output may echo it.
    story.ok("plan --var key=KEY", "plan", "--no-color", "--var", f"key={KEY}")
    check_state_bytes(campaign, story, "provider block, sensitive variable")
    check(campaign, story, "provider block, sensitive variable")


def test_a_literal_key_in_the_provider_block_is_a_warning_that_never_shows_it(
    keyed: Emulator, tmp_path: Path, campaign: Campaign
) -> None:
    config = f'provider "openai" {{\n  api_key = "{KEY}"\n}}\n' + VARIABLES + RESOURCES
    story = block_story(keyed, tmp_path, config, {})
    run_block_story(story, tmp_path)
    warned = story.artefacts["validate"]
    assert "Warning: API key written in the configuration" in warned
    assert "OPENAI_API_KEY" in warned
    campaign.record("secrets", "literal key: warning pointing to OPENAI_API_KEY", "warned")
    check_state_bytes(campaign, story, "provider block, literal key")
    check(campaign, story, "provider block, literal key")


# --------------------------------------------------------------------------------------------
# error messages: a wrong key, and credentials refused mid-run
# --------------------------------------------------------------------------------------------


def test_refused_credentials_are_reported_without_either_key(
    keyed: Emulator, tmp_path: Path, campaign: Campaign
) -> None:
    env: dict[str, str | None] = {"OPENAI_API_KEY": KEY, "TF_VAR_run": RUN, "TF_VAR_team": TEAM}
    story = new_story(keyed, tmp_path, VARIABLES + RESOURCES, env)
    story.ok("apply", "apply", "--auto-approve", "--no-color")
    wrong = {"OPENAI_API_KEY": WRONG_KEY}
    for name, args in {
        "plan, wrong key": ("plan", "--no-color"),
        "refresh, wrong key": ("refresh", "--no-color"),
        "refresh --json, wrong key": ("refresh", "--json"),
        "logs ADDR, wrong key": ("logs", JOB),
        "apply --json, wrong key": ("apply", "--auto-approve", "--json"),
    }.items():
        refused = story(name, *args, env=wrong)
        assert refused.exit_code == 1, refused.output
        assert "the API refused the credentials (401)" in refused.output, refused.output
    shown = story("show ADDR, wrong key", "show", JOB, env=wrong)
    assert shown.exit_code == 0 and "could not refresh" in shown.stderr, shown.output

    # The right key, refused mid-run (a revoked key, a project without access).
    keyed.arm(method="GET", path="/v1/fine_tuning/jobs*", status=403, times=5)
    refused = story("refresh (refused 403)", "refresh", "--no-color")
    assert refused.exit_code == 1 and "(403)" in refused.output, refused.output
    keyed.control.delete("/_emulator/faults")
    keyed.arm(method="POST", path="/v1/fine_tuning/jobs", status=401)
    (story.project / "main.tf").write_text(
        VARIABLES + RESOURCES.replace("var.run\n", "var.run\n  seed          = 7\n", 1)
    )
    refused = story("apply (create refused 401)", "apply", "--auto-approve", "--no-color")
    assert refused.exit_code == 1 and "(401)" in refused.output, refused.output
    keyed.arm(method="POST", path="/v1/fine_tuning/jobs", status=500, times=5)
    failed = story("apply (create failed 500)", "apply", "--auto-approve", "--json")
    assert failed.exit_code == 1, failed.output
    check_state_bytes(campaign, story, "api errors")
    check(campaign, story, "api errors")


# --------------------------------------------------------------------------------------------
# files ftctl writes: imported.tf
# --------------------------------------------------------------------------------------------


def test_import_of_a_job_writes_no_key_into_the_generated_block(
    keyed: Emulator, tmp_path: Path, campaign: Campaign
) -> None:
    _, made = made_by_hand(keyed, suffix="adopted", metadata={"team": "ml"})
    story = new_story(keyed, tmp_path, "", {"OPENAI_API_KEY": KEY})
    (story.project / "main.tf").unlink()
    story.ok("import ID", "import", made)
    generated = story.project / "imported.tf"
    assert made in story.file("imported.tf", generated).decode()
    story.ok("state show (imported)", "state", "show", "openai_fine_tuning_job.adopted")
    story.ok("plan (imported)", "plan", "--no-color", "--detailed-exitcode")
    check_state_bytes(campaign, story, "import", kept=(made,))
    check(campaign, story, "import", forbidden=KEYS)


# --------------------------------------------------------------------------------------------
# the SDK's debug log, in real processes
# --------------------------------------------------------------------------------------------


def debug_story(emu: Emulator, tmp_path: Path) -> Story:
    env: dict[str, str | None] = {"OPENAI_API_KEY": KEY, "TF_VAR_run": RUN, "TF_VAR_team": TEAM}
    story = new_story(emu, tmp_path, VARIABLES + RESOURCES, env)
    applied = story.process("apply (debug log)", "apply", "--auto-approve", "--no-color")
    # The SDK's debug log was on, or this search would prove nothing.
    assert "openai._base_client" in applied and "HTTP Response: POST 200" in applied, applied
    return story


def test_an_apply_run_with_the_sdk_debug_log_never_prints_the_key(
    keyed: Emulator, tmp_path: Path, campaign: Campaign
) -> None:
    story = debug_story(keyed, tmp_path)
    check_state_bytes(campaign, story, "sdk debug log, apply")
    check(campaign, story, "sdk debug log, apply")


@pytest.mark.reliability
def test_reads_refusals_and_a_key_from_the_block_with_the_sdk_debug_log_never_print_it(
    keyed: Emulator, tmp_path: Path, campaign: Campaign
) -> None:
    story = debug_story(keyed, tmp_path)
    story.process("show ADDR (debug log)", "show", JOB, "--no-color")
    story.process("plan (debug log)", "plan", "--no-color")
    refused = story.process(
        "refresh, wrong key (debug log)", "refresh", env={"OPENAI_API_KEY": WRONG_KEY}, code=1
    )
    assert "HTTP Response: GET 401" in refused and "(401)" in refused, refused
    # The key from the provider block instead of the environment.
    (story.project / "key.tf").write_text(KEY_VARIABLE + BLOCK_FROM_VARIABLE)
    del story.env["OPENAI_API_KEY"]
    story.process("refresh, key only in block (debug log)", "refresh", env={"TF_VAR_key": KEY})
    check_state_bytes(campaign, story, "sdk debug log, reads")
    check(campaign, story, "sdk debug log, reads")


# --------------------------------------------------------------------------------------------
# the state names the sensitive arguments: plans and import read them too
# --------------------------------------------------------------------------------------------


def applied_story(emu: Emulator, tmp_path: Path) -> Story:
    env: dict[str, str | None] = {"OPENAI_API_KEY": KEY, "TF_VAR_run": RUN, "TF_VAR_team": TEAM}
    story = new_story(emu, tmp_path, VARIABLES + RESOURCES, env)
    story.ok("apply", "apply", "--auto-approve", "--no-color")
    (job,) = story.jobs()
    assert job["user_provided_suffix"] == RUN
    return story


def test_a_value_no_longer_sensitive_in_the_configuration_keeps_its_old_value_hidden(
    keyed: Emulator, tmp_path: Path, campaign: Campaign
) -> None:
    story = applied_story(keyed, tmp_path)
    main = story.project / "main.tf"
    main.write_text(main.read_text().replace("suffix        = var.run", 'suffix = "public"'))
    story.ok("plan (suffix no longer sensitive)", "plan", "--no-color")
    story.ok("plan --json (suffix no longer sensitive)", "plan", "--json")
    check(campaign, story, "no longer sensitive")


def test_a_value_that_becomes_sensitive_is_recorded_so_by_an_in_place_update(
    keyed: Emulator, tmp_path: Path, campaign: Campaign
) -> None:
    env: dict[str, str | None] = {"OPENAI_API_KEY": KEY, "TF_VAR_run": RUN, "TF_VAR_team": TEAM}
    public = RESOURCES.replace("suffix        = var.run", f'suffix        = "{RUN}"')
    story = new_story(keyed, tmp_path, VARIABLES + public, env)
    story.ok("apply (suffix not yet sensitive)", "apply", "--auto-approve")
    (story.project / "main.tf").write_text(VARIABLES + RESOURCES)
    planned = story("plan (suffix now sensitive)", "plan", "--detailed-exitcode", "--no-color")
    assert planned.exit_code == 2, planned.output
    assert f"# {JOB} will be updated in-place" in planned.output
    assert "now sensitive: only the state's record changes" in planned.output
    story.ok("apply (suffix now sensitive)", "apply", "--auto-approve", "--no-color")
    assert len(story.jobs()) == 1  # no API call: the job is the same
    story.ok("state show (suffix now sensitive)", "state", "show", JOB)
    assert story("plan (recorded)", "plan", "--detailed-exitcode").exit_code == 0
    # The artefacts before the change showed the suffix: it was not sensitive then.
    story.artefacts.pop("apply (suffix not yet sensitive)")
    check(campaign, story, "value became sensitive")


def test_drift_and_refresh_json_hide_the_api_copy_of_a_sensitive_model(
    keyed: Emulator, tmp_path: Path, campaign: Campaign
) -> None:
    base = 'variable "base" {\n  type      = string\n  sensitive = true\n}\n'
    config = VARIABLES + base + RESOURCES.replace('"gpt-4o-mini"', "var.base")
    env: dict[str, str | None] = {
        "OPENAI_API_KEY": KEY,
        "TF_VAR_run": RUN,
        "TF_VAR_team": TEAM,
        "TF_VAR_base": "gpt-4o-mini",
    }
    story = new_story(keyed, tmp_path, config, env)
    story.ok("apply (sensitive model)", "apply", "--auto-approve", "--no-color")
    (job,) = story.jobs()
    keyed.force_status(str(job["id"]), "running")
    planned = story.ok("plan --json (drift of a sensitive model)", "plan", "--json")
    drift = json.loads(planned.stdout)["resource_drift"]
    assert [d["address"] for d in drift] == [JOB]  # the status moved: there is drift to show
    assert drift[0]["change"]["after_sensitive"] == {"model": True}
    refreshed = story.ok("refresh --json (sensitive model)", "refresh", "--json")
    assert json.loads(refreshed.stdout)["resources"][JOB]["status"] == "running"
    check(campaign, story, "drift", forbidden=(*KEYS, *VALUES, "gpt-4o-mini"))


def test_a_saved_plan_that_hides_a_value_once_sensitive_still_applies(
    keyed: Emulator, tmp_path: Path, campaign: Campaign
) -> None:
    story = applied_story(keyed, tmp_path)
    main = story.project / "main.tf"
    main.write_text(main.read_text().replace("suffix        = var.run", 'suffix = "public"'))
    saved = story.project / "plan.json"
    story.ok("plan --out (suffix no longer sensitive)", "plan", "--out", str(saved))
    assert RUN not in saved.read_text()
    story.ok("apply PLANFILE (suffix no longer sensitive)", "apply", str(saved), "--no-color")
    assert sorted(str(j["user_provided_suffix"]) for j in story.jobs()) == sorted([RUN, "public"])
    check(campaign, story, "saved plan, no longer sensitive")


def test_a_resource_removed_from_the_configuration_is_planned_without_its_sensitive_values(
    keyed: Emulator, tmp_path: Path, campaign: Campaign
) -> None:
    story = applied_story(keyed, tmp_path)
    (story.project / "main.tf").write_text(
        VARIABLES + 'resource "openai_file" "train" {\n  file = "data/train.jsonl"\n}\n'
    )
    story.ok("plan (removed)", "plan", "--no-color")
    story.ok("plan --json (removed)", "plan", "--json")
    story.ok("apply (removed)", "apply", "--auto-approve", "--no-color")
    check(campaign, story, "removed from configuration")


def test_a_job_imported_into_a_block_with_sensitive_arguments_shows_them_hidden(
    keyed: Emulator, tmp_path: Path, campaign: Campaign
) -> None:
    training, made = made_by_hand(keyed, suffix=RUN, metadata={"team": TEAM})
    block = RESOURCES.replace("openai_file.train.id", f'"{training}"')
    env: dict[str, str | None] = {"OPENAI_API_KEY": KEY, "TF_VAR_run": RUN, "TF_VAR_team": TEAM}
    story = new_story(keyed, tmp_path, VARIABLES + block, env)
    story.ok("import ADDR ID", "import", JOB, made)
    story.ok("plan (imported)", "plan", "--no-color")
    story.ok("state show ADDR (imported)", "state", "show", JOB)
    story.ok("show ADDR --json (imported)", "show", JOB, "--json")
    check(campaign, story, "import into a block")
