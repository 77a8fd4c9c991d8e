"""ftctl in CI: `plan --refresh-only` (drift only, in Terraform's words), GitHub annotations of
diagnostics, FTCTL_IN_AUTOMATION, plain output without a terminal, and the example GitHub
Actions workflow, checked as actionlint would and run against the emulator.

Golden files: regenerate on purpose only (FTCTL_REGENERATE_GOLDEN=1) and review the diff."""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner, Result

from ftctl.cli import app
from ftctl.diagnostics import SourceRange, error, warning
from ftctl.engine.run import Refreshed, drift
from ftctl.plan import Plan
from ftctl.provider.base import RemoteJob
from ftctl.state.model import ResourceState, State
from ftctl.views.diagnostics import github_annotation
from ftctl.views.plan import REFRESH_ONLY, render_plan
from tests.e2e.conftest import Ftctl
from tests.harness import REPO, TEST_KEY, Emulator

runner = CliRunner()
GOLDEN = REPO / "tests" / "views" / "golden"
WORKFLOW = REPO / "examples" / "ci" / "github-actions.yml"
SCHEMA = Path(__file__).parent / "github_workflow.schema.json"
JOB = "openai_fine_tuning_job.support"
# Each test states the CI variables it needs: the suite itself may run in GitHub Actions.
PLAIN = {"GITHUB_ACTIONS": None, "GITHUB_WORKSPACE": None, "FTCTL_IN_AUTOMATION": None}


@pytest.fixture
def ftctl(emu: Emulator, tmp_path: Path) -> Ftctl:
    shutil.copytree(REPO / "examples" / "quickstart", tmp_path / "project")
    return Ftctl(emu, tmp_path / "project")


def invoke(ftctl: Ftctl, *args: str, **env: str | None) -> Result:
    """ftctl in the project, with `env` on top of the emulator's (None unsets a variable)."""
    merged: dict[str, str | None] = {**ftctl.env, **PLAIN, **env}
    return runner.invoke(app, [*args, "--chdir", str(ftctl.project)], env=merged)


def cancelled_outside(ftctl: Ftctl) -> dict[str, Any]:
    """Applies the quickstart, then cancels its job behind ftctl's back; the job as the API
    now describes it."""
    assert ftctl("apply", "--auto-approve").exit_code == 0
    [job] = ftctl.jobs()
    ftctl.emu.force_status(str(job["id"]), "cancelled")
    [job] = ftctl.jobs()
    return job


# plan --refresh-only


def test_refresh_only_shows_the_drift_in_terraforms_words_and_proposes_nothing(
    ftctl: Ftctl,
) -> None:
    job = cancelled_outside(ftctl)
    # A change that a normal plan would answer with a replacement: refresh-only ignores it.
    ftctl.edit('suffix        = "support-v1"', 'suffix        = "support-v2"')
    result = invoke(ftctl, "plan", "--refresh-only", "--no-color")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "Note: Objects have changed outside of ftctl\n"
        "\n"
        "ftctl detected the following changes made outside of ftctl since the last "
        '"ftctl apply" which may have affected this plan:\n'
        "\n"
        f"  # {JOB} has changed\n"
        '  ~ resource "openai_fine_tuning_job" "support" {\n'
        f"      + finished_at     = {job['finished_at']}\n"
        f'        id              = "{job["id"]}"\n'
        '      ~ status          = "validating_files" -> "cancelled"\n'
        "        # (3 unchanged attributes hidden)\n"
        "    }\n"
        "\n"
        "This is a refresh-only plan, so ftctl will not take any actions to undo these. If you "
        "were expecting these changes, run ftctl refresh to record the updated values in the "
        "ftctl state without changing any remote objects.\n"
    )
    assert result.stderr == ""
    assert ftctl.posts() == ["/v1/files", "/v1/fine_tuning/jobs"]  # the apply's, no more


def test_refresh_only_json_is_a_plan_with_no_changes_but_the_drift(ftctl: Ftctl) -> None:
    cancelled_outside(ftctl)
    ftctl.edit('suffix        = "support-v1"', 'suffix        = "support-v2"')
    document = json.loads(invoke(ftctl, "plan", "--refresh-only", "--json").stdout)
    assert document["resource_changes"] == []
    assert document["output_changes"] == {}
    assert document["applyable"] is False  # applying it would do nothing: refresh records
    assert document["ftctl"]["mode"] == REFRESH_ONLY
    [moved] = document["resource_drift"]
    assert moved["address"] == JOB
    assert moved["change"]["actions"] == ["update"]
    assert (moved["change"]["before"]["status"], moved["change"]["after"]["status"]) == (
        "validating_files",
        "cancelled",
    )
    # The same state, planned normally, does propose the replacement.
    normal = json.loads(invoke(ftctl, "plan", "--json").stdout)
    [replaced] = [c for c in normal["resource_changes"] if c["address"] == JOB]
    assert "create" in replaced["change"]["actions"]


def test_refresh_only_exits_2_on_drift_until_refresh_records_it(ftctl: Ftctl) -> None:
    assert ftctl("apply", "--auto-approve").exit_code == 0
    quiet = invoke(ftctl, "plan", "--refresh-only", "--detailed-exitcode")
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stdout == (
        "No changes. Your infrastructure still matches the configuration.\n"
        "\n"
        "ftctl has checked that the real remote objects still match the result of your most "
        "recent changes, and found no differences.\n"
    )
    ftctl.emu.advance(3600)  # the emulated job moves on by itself
    moved = invoke(ftctl, "plan", "--refresh-only", "--detailed-exitcode")
    assert moved.exit_code == 2, moved.output
    assert f"  # {JOB} has changed" in moved.stdout
    assert re.search(r'\n      ~ status += "validating_files" -> "\w+"\n', moved.stdout)
    assert invoke(ftctl, "refresh").exit_code == 0
    recorded = invoke(ftctl, "plan", "--refresh-only", "--detailed-exitcode")
    assert recorded.exit_code == 0, recorded.output
    assert recorded.stdout.startswith("No changes. Your infrastructure still matches")


def test_a_saved_refresh_only_plan_applies_as_a_plan_with_no_changes(
    ftctl: Ftctl, tmp_path: Path
) -> None:
    cancelled_outside(ftctl)
    saved = tmp_path / "drift.json"
    planned = invoke(ftctl, "plan", "--refresh-only", "--out", str(saved), "--no-color")
    assert planned.exit_code == 0, planned.output
    # No "run ftctl apply" hint: applying it would change nothing; the body names refresh.
    assert planned.stdout.endswith(
        f"without changing any remote objects.\n\nSaved the plan to: {saved}\n"
    )
    assert json.loads(saved.read_text())["resource_drift"][0]["address"] == JOB
    posted = ftctl.posts()
    applied = invoke(ftctl, "apply", str(saved), "--no-color")
    assert applied.exit_code == 0, applied.output
    assert "0 added, 0 changed, 0 destroyed." in applied.stdout
    assert ftctl.posts() == posted  # nothing sent
    still = invoke(ftctl, "plan", "--refresh-only", "--detailed-exitcode")
    assert still.exit_code == 2  # the drift is recorded by refresh, not by that apply


def test_refresh_only_with_target_shows_only_the_targets_drift(ftctl: Ftctl) -> None:
    ftctl.write_jobs(2)
    assert ftctl("apply", "--auto-approve").exit_code == 0
    for job in ftctl.jobs():
        ftctl.emu.force_status(str(job["id"]), "cancelled")
    result = invoke(
        ftctl, "plan", "--refresh-only", "--target", "openai_fine_tuning_job.job_1", "--json"
    )
    drifted = [d["address"] for d in json.loads(result.stdout)["resource_drift"]]
    assert drifted == ["openai_fine_tuning_job.job_1"]
    both = json.loads(invoke(ftctl, "plan", "--refresh-only", "--json").stdout)
    assert [d["address"] for d in both["resource_drift"]] == [
        "openai_fine_tuning_job.job_0",
        "openai_fine_tuning_job.job_1",
    ]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ("--no-refresh",),
            "Incompatible refresh options: --refresh-only reads the API to show what changed "
            "outside ftctl, and --no-refresh forbids reading it, leaving nothing to do.",
        ),
        (
            ("-refresh=false",),
            "Incompatible refresh options: --refresh-only reads the API to show what changed "
            "outside ftctl, and --no-refresh forbids reading it, leaving nothing to do.",
        ),
        (
            ("--replace", JOB),
            "Unsupported plan mode: forcing a replacement (--replace) is allowed only in a "
            "normal plan, not with --refresh-only.",
        ),
    ],
)
def test_refresh_only_refuses_flags_that_contradict_it_before_any_call(
    ftctl: Ftctl, flags: tuple[str, ...], message: str
) -> None:
    result = invoke(ftctl, "plan", "--refresh-only", *flags, GITHUB_ACTIONS="true")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == f"Error: {message}\n::error::{message}\n"
    assert ftctl.emu.requests() == []


def drift_document(*, with_warning: bool = True) -> dict[str, Any]:
    """A refresh-only plan document with the engine's own drift: one job cancelled and one
    failed (with its error) outside ftctl, one still as recorded."""

    def record(address: str, job_id: str, status: str) -> ResourceState:
        observed = {
            "id": job_id,
            "status": status,
            "model": "gpt-4o-mini-2024-07-18",
            "created_at": 1_800_000_000,
            "finished_at": None,
            "fine_tuned_model": None,
            "organization_id": "org-golden",
            "trained_tokens": None,
            "result_files": [],
            "error": None,
            "estimated_finish": None,
        }
        return ResourceState(address, "openai_fine_tuning_job", job_id, observed=observed)

    def remote(job_id: str, status: str, error: dict[str, Any] | None = None) -> RemoteJob:
        return RemoteJob(
            id=job_id,
            status=status,
            model="gpt-4o-mini-2024-07-18",
            created_at=1_800_000_000,
            finished_at=1_800_000_600 if status in ("cancelled", "failed") else None,
            fine_tuned_model=None,
            organization_id="org-golden",
            trained_tokens=None,
            result_files=(),
            error=error,
            estimated_finish=None,
            metadata={},
        )

    records = [
        record("openai_fine_tuning_job.support", "ftjob-abc123", "running"),
        record("openai_fine_tuning_job.sweep[1]", "ftjob-def456", "running"),
        record("openai_fine_tuning_job.steady", "ftjob-ghi789", "running"),
    ]
    state = State("golden", 7, {r.address: r for r in records})
    failure = {"code": "invalid_training_file", "message": "Line 3 is not JSON.", "param": None}
    observed = {
        "openai_fine_tuning_job.support": remote("ftjob-abc123", "cancelled"),
        "openai_fine_tuning_job.sweep[1]": remote("ftjob-def456", "failed", failure),
        "openai_fine_tuning_job.steady": remote("ftjob-ghi789", "running"),
    }
    interrupted = (
        "openai_fine_tuning_job.new has a create interrupted in an earlier run; apply will "
        "look its job up before anything else."
    )
    plan = Plan(
        changes=(),
        warnings=(interrupted,) if with_warning else (),
        created_at=1_800_000_700,
        state_lineage="golden",
        state_serial=7,
    )
    document = {**plan.to_json(), "resource_drift": drift(Refreshed(state, observed))}
    document["ftctl"]["mode"] = REFRESH_ONLY
    return document


GOLDEN_CASES = {
    "refresh_only_drift": lambda: render_plan(drift_document()),
    "refresh_only_drift_in_automation": lambda: render_plan(
        drift_document(with_warning=False), hints=False
    ),
    "refresh_only_no_changes": lambda: render_plan(
        {**drift_document(with_warning=False), "resource_drift": []}
    ),
}


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
def test_refresh_only_plan_renders_as_its_golden_file(case: str) -> None:
    rendered = GOLDEN_CASES[case]()
    golden = GOLDEN / f"{case}.txt"
    if os.environ.get("FTCTL_REGENERATE_GOLDEN") == "1":
        golden.write_text(rendered)
    assert rendered == golden.read_text()


# GitHub annotations


def test_annotation_of_an_error_at_a_position_has_file_line_col_and_title() -> None:
    problem = error("Unsupported argument", "An argument named x is not expected here.")
    located = error(problem.summary, problem.detail, SourceRange("main.tf", 7, 3))
    assert github_annotation(located, "infra/main.tf") == (
        "::error file=infra/main.tf,line=7,col=3,title=Unsupported argument"
        "::An argument named x is not expected here."
    )
    assert github_annotation(problem) == (
        "::error title=Unsupported argument::An argument named x is not expected here."
    )


def test_annotation_escapes_as_githubs_toolkit_does() -> None:
    tricky = warning(
        "Value 100% odd: a, b",
        "First line\r\nsecond: 50%, done",
        SourceRange("a,b:c.tf", 1, 1),
    )
    assert github_annotation(tricky, "dir:x/a,b:c.tf") == (
        "::warning file=dir%3Ax/a%2Cb%3Ac.tf,line=1,col=1,title=Value 100%25 odd%3A a%2C b"
        "::First line%0D%0Asecond: 50%25, done"
    )


def test_annotation_without_detail_is_the_summary_alone() -> None:
    assert github_annotation(warning("Resource targeting is in effect")) == (
        "::warning::Resource targeting is in effect"
    )


BROKEN = """resource "openai_file" "train" {
  file = "data/train.jsonl"
}

resource "openai_fine_tuning_job" "support" {
  model         = var.base_model_of_the_support_assistant
  training_file = openai_file.train.id
}
"""
BROKEN_DETAIL = (
    'An input variable with the name "base_model_of_the_support_assistant" has not been '
    'declared. Declare it with a variable "base_model_of_the_support_assistant" {} block.'
)


@pytest.fixture
def broken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout at tmp_path/repo (the current directory) whose infra/ft holds a config with an
    error on line 6, column 19."""
    project = tmp_path / "repo" / "infra" / "ft"
    (project / "data").mkdir(parents=True)
    shutil.copy(REPO / "examples" / "quickstart" / "data" / "train.jsonl", project / "data")
    (project / "main.tf").write_text(BROKEN)
    monkeypatch.chdir(tmp_path / "repo")
    return project


def plan_broken(chdir: str, **env: str | None) -> Result:
    return runner.invoke(app, ["plan", "--chdir", chdir], env={**PLAIN, **env})


def test_in_github_actions_a_config_error_is_also_an_annotation_on_its_file(
    broken: Path,
) -> None:
    result = plan_broken("infra/ft", GITHUB_ACTIONS="true")
    assert result.exit_code == 1
    assert result.stderr.endswith(
        f"\n{BROKEN_DETAIL}\n\n"
        "::error file=infra/ft/main.tf,line=6,col=19,title=Reference to undeclared input "
        f"variable::{BROKEN_DETAIL}\n"
    )
    # The human diagnostic is unchanged.
    assert result.stderr.startswith(
        "Error: Reference to undeclared input variable\n\n  on main.tf line 6:\n"
    )


def test_without_github_actions_there_is_no_annotation(broken: Path) -> None:
    for value in (None, "false", "1"):
        result = plan_broken("infra/ft", GITHUB_ACTIONS=value)
        assert result.exit_code == 1
        assert "::" not in result.stderr


def test_an_absolute_chdir_is_annotated_relative_to_the_workspace(broken: Path) -> None:
    workspace = str(broken.parent.parent)
    result = plan_broken(str(broken), GITHUB_ACTIONS="true", GITHUB_WORKSPACE=workspace)
    assert "::error file=infra/ft/main.tf,line=6,col=19," in result.stderr
    # Outside the workspace (or without one) the path stays as the user gave it.
    outside = plan_broken(str(broken), GITHUB_ACTIONS="true", GITHUB_WORKSPACE="/nowhere")
    assert f"::error file={broken.as_posix()}/main.tf,line=6,col=19," in outside.stderr
    dotted = plan_broken("./infra/../infra/ft/", GITHUB_ACTIONS="true")
    assert "::error file=infra/ft/main.tf,line=6,col=19," in dotted.stderr


def test_a_var_file_error_is_annotated_where_the_loader_read_it(broken: Path) -> None:
    (broken / "main.tf").write_text(
        'variable "epochs" {\n  type = number\n}\n'
        + BROKEN.replace("var.base_model_of_the_support_assistant", '"x"')
    )
    Path("ci.tfvars").write_text('epochs = "many"\n')  # in the current directory
    (broken / "dir.tfvars").write_text('epochs = "lots"\n')  # in the configuration's
    from_cwd = runner.invoke(
        app,
        ["plan", "--chdir", "infra/ft", "--var-file", "ci.tfvars"],
        env={**PLAIN, "GITHUB_ACTIONS": "true"},
    )
    assert from_cwd.exit_code == 1
    assert "::error file=ci.tfvars,line=1,col=" in from_cwd.stderr
    from_dir = runner.invoke(
        app,
        ["plan", "--chdir", "infra/ft", "--var-file", "dir.tfvars"],
        env={**PLAIN, "GITHUB_ACTIONS": "true"},
    )
    assert from_dir.exit_code == 1
    assert "::error file=infra/ft/dir.tfvars,line=1,col=" in from_dir.stderr


def test_plan_warnings_are_annotations_too(ftctl: Ftctl) -> None:
    cancelled_outside(ftctl)
    result = invoke(ftctl, "plan", "--no-color", GITHUB_ACTIONS="true")
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        f"::warning::{JOB} has status 'cancelled'; ftctl never re-creates it on its own. "
        f"To train it again, run: ftctl apply --replace {JOB}\n"
    )
    assert f"Warning: {JOB} has status 'cancelled'" in result.stdout


# FTCTL_IN_AUTOMATION


def test_a_saved_plan_names_the_apply_command_unless_in_automation(
    ftctl: Ftctl, tmp_path: Path
) -> None:
    saved = tmp_path / "plan.json"
    by_hand = invoke(ftctl, "plan", "--out", str(saved), "--no-color")
    assert by_hand.exit_code == 0, by_hand.output
    assert by_hand.stdout.endswith(
        "Plan: 2 to add, 0 to change, 0 to destroy.\n"
        f"\nSaved the plan to: {saved}\n"
        "To perform exactly these actions, run:\n"
        f"    ftctl apply {saved}\n\n"
    )
    for value in ("1", "true", "yes"):
        automated = invoke(ftctl, "plan", "--out", str(saved), FTCTL_IN_AUTOMATION=value)
        assert automated.exit_code == 0, automated.output
        assert automated.stdout.endswith(
            f"Plan: 2 to add, 0 to change, 0 to destroy.\n\nSaved the plan to: {saved}\n"
        )
    empty = invoke(ftctl, "plan", "--out", str(saved), FTCTL_IN_AUTOMATION="")
    assert "To perform exactly these actions" in empty.stdout  # empty means unset


def test_in_automation_refresh_only_leaves_out_the_refresh_hint(ftctl: Ftctl) -> None:
    cancelled_outside(ftctl)
    result = invoke(ftctl, "plan", "--refresh-only", FTCTL_IN_AUTOMATION="1")
    assert result.exit_code == 0
    assert result.stdout.endswith(
        "\n\nThis is a refresh-only plan, so ftctl will not take any actions to undo these.\n"
    )
    assert "ftctl refresh" not in result.stdout


# Without a terminal: no colour, no narrow wrapping


def run_ftctl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """ftctl as a process with pipes, as in CI: a colour terminal declared, 40 columns."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE")
    }
    env.update(TERM="xterm-256color", COLUMNS="40", OPENAI_API_KEY=TEST_KEY)
    for name in PLAIN:
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "ftctl", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_without_a_terminal_output_has_no_colour_and_long_lines_stay_whole(
    broken: Path, tmp_path: Path
) -> None:
    failed = run_ftctl("plan", "--chdir", "infra/ft", cwd=Path.cwd())
    assert failed.returncode == 1
    assert "\x1b[" not in failed.stderr
    assert f"\n{BROKEN_DETAIL}\n" in failed.stderr and len(BROKEN_DETAIL) > 120
    shutil.copytree(REPO / "examples" / "quickstart", tmp_path / "valid")
    planned = run_ftctl("plan", "--no-refresh", "--chdir", str(tmp_path / "valid"), cwd=tmp_path)
    assert planned.returncode == 0, planned.stderr
    assert "\x1b[" not in planned.stdout + planned.stderr
    legend = (
        "ftctl used the selected providers to generate the following execution plan. Resource "
        "actions are indicated with the following symbols:"
    )
    assert f"\n{legend}\n" in f"\n{planned.stdout}" and len(legend) > 120


# The example workflow, checked as actionlint would check it


class _WorkflowLoader(yaml.SafeLoader):
    """YAML as GitHub reads it: `on` is a key, not the boolean YAML 1.1 makes of it."""


_WorkflowLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_WorkflowLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_workflow(text: str) -> dict[str, Any]:
    loaded = yaml.load(text, Loader=_WorkflowLoader)  # a SafeLoader
    assert isinstance(loaded, dict)
    return loaded


CONTEXTS = {
    "github",
    "env",
    "secrets",
    "steps",
    "needs",
    "runner",
    "vars",
    "job",
    "matrix",
    "inputs",
}
# GitHub's expression functions; names of functions and contexts ignore case.
FUNCTIONS = {
    "contains", "startswith", "endswith", "format", "join", "tojson", "fromjson", "hashfiles",
    "success", "always", "cancelled", "failure",
}  # fmt: skip
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(?:/[\w./-]+)?@(?:v\d+(?:\.\d+){0,2}|[0-9a-f]{40})$")
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
# ftctl options that take a value (the rest are flags): to find apply's plan file argument.
VALUE_OPTIONS = {
    f"{dashes}{name}"
    for dashes in ("-", "--")
    for name in (
        "chdir", "var", "var-file", "state", "out", "target", "replace", "lock-timeout",
        "parallelism", "poll-interval",
    )
}  # fmt: skip


def lint(workflow: Mapping[str, Any]) -> list[str]:
    """What actionlint would report that matters here: unpinned actions, needs naming no job,
    duplicate step ids, expressions reading contexts that do not exist (or steps and jobs that
    are not there), and a plan file that the upload, download and apply do not agree on."""
    problems: list[str] = []
    jobs: Mapping[str, Any] = workflow.get("jobs", {})
    for job_id, job in jobs.items():
        needs = job.get("needs", [])
        needs = [needs] if isinstance(needs, str) else list(needs)
        problems += [f"{job_id}: needs unknown job {n!r}" for n in needs if n not in jobs]
        seen: list[str] = []
        for index, step in enumerate(job.get("steps", [])):
            where = f"{job_id}.steps[{index}]"
            uses = step.get("uses")
            if uses and not uses.startswith("./") and not PINNED.match(uses):
                problems.append(f"{where}: {uses!r} is not pinned to a tag or commit SHA")
            for text in _strings(step):
                problems += _expression_problems(text, where, seen, needs)
            problems += _condition_problems(step, where, seen, needs)
            if "id" in step:
                if step["id"] in seen:
                    problems.append(f"{where}: step id {step['id']!r} is already used")
                seen.append(step["id"])
        outside_steps = {k: v for k, v in job.items() if k != "steps"}
        for text in _strings(outside_steps):
            problems += _expression_problems(text, job_id, [], needs)
        problems += _condition_problems(job, job_id, [], needs)
    top = {k: v for k, v in workflow.items() if k != "jobs"}
    for text in _strings(top):
        problems += _expression_problems(text, "workflow", [], [])
    return problems + _plan_file_problems(jobs)


def _condition_problems(
    owner: Mapping[str, Any], where: str, steps: list[str], needs: list[str]
) -> list[str]:
    """An `if:` is an expression even without `${{ }}` (with them, _strings saw it already)."""
    condition = owner.get("if")
    if not isinstance(condition, str) or "${{" in condition:
        return []
    return _expression_problems(f"${{{{ {condition} }}}}", where, steps, needs)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _expression_problems(text: str, where: str, steps: list[str], needs: list[str]) -> list[str]:
    problems = []
    for body in EXPRESSION.findall(text):
        code = re.sub(r"'(?:[^']|'')*'", "''", body)  # string literals are no references
        for match in re.finditer(r"(?<![\w.-])([A-Za-z_][\w-]*)(\s*\()?", code):
            name, called = match.group(1), match.group(2)
            if called:
                if name.lower() not in FUNCTIONS:
                    problems.append(f"{where}: unknown function {name}()")
            elif name.lower() not in CONTEXTS and name not in ("true", "false", "null"):
                problems.append(f"{where}: unknown context {name!r} in ${{{{{body}}}}}")
        problems += [
            f"{where}: steps.{s} is not an earlier step of this job"
            for s in re.findall(r"(?<![\w.-])steps\.([\w-]+)", code)
            if s not in steps
        ]
        problems += [
            f"{where}: needs.{n} is not in this job's needs"
            for n in re.findall(r"(?<![\w.-])needs\.([\w-]+)", code)
            if n not in needs
        ]
    return problems


def _commands(run: str, verb: str) -> list[list[str]]:
    """The words of each `ftctl VERB ...` in a shell script, up to a redirect or operator."""
    found = []
    for line in run.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if words[:2] == ["ftctl", verb]:
            words = words[2:]
            stops = [i for i, w in enumerate(words) if w in (">", ">>", "|", "||", "&&", ";")]
            found.append(words[: stops[0]] if stops else words)
    return found


def _positionals(words: list[str]) -> list[str]:
    found, skip = [], False
    for word in words:
        if skip:
            skip = False
        elif word in VALUE_OPTIONS:
            skip = True
        elif not word.startswith("-"):
            found.append(word)
    return found


def _option(words: list[str], names: tuple[str, ...]) -> str | None:
    for index, word in enumerate(words):
        name, equals, value = word.partition("=")
        if name in names:
            return value if equals else words[index + 1]
    return None


def _plan_file_problems(jobs: Mapping[str, Any]) -> list[str]:
    """The file `ftctl plan --out` writes is the one uploaded; the artifact of that name is
    downloaded; `ftctl apply` is given the file where the download puts it."""
    problems = []
    saved: dict[str, str] = {}  # artifact name -> the plan file's path inside the artifact
    planned = applied = False
    for job_id, job in jobs.items():
        plan_files: list[str] = []
        for step in job.get("steps", []):
            folder = step.get("working-directory", ".")
            for words in _commands(str(step.get("run", "")), "plan"):
                out = _option(words, ("--out", "-out"))
                if out is not None:
                    plan_files.append(os.path.normpath(os.path.join(folder, out)))
                    planned = True
            uses = step.get("uses", "")
            inputs = step.get("with", {})
            if uses.startswith("actions/upload-artifact@"):
                paths = [os.path.normpath(p.strip()) for p in inputs.get("path", "").splitlines()]
                paths = [p for p in paths if p and p != "."]
                for plan_file in plan_files:
                    if plan_file not in paths:
                        problems.append(f"{job_id}: the upload does not hold the plan {plan_file}")
                        continue
                    root = (
                        os.path.commonpath(paths) if len(paths) > 1 else os.path.dirname(plan_file)
                    )
                    saved[inputs.get("name", "artifact")] = os.path.relpath(plan_file, root or ".")
            if uses.startswith("actions/download-artifact@"):
                name = inputs.get("name")
                if name not in saved:
                    problems.append(f"{job_id}: downloads {name!r}, which no plan job uploads")
                    continue
                where = os.path.normpath(os.path.join(inputs.get("path", "."), saved[name]))
                plan_files.append(where)
            for words in _commands(str(step.get("run", "")), "apply"):
                given = _positionals(words)
                if not given:
                    continue
                applied = True
                target = os.path.normpath(os.path.join(folder, given[0]))
                if target not in plan_files:
                    problems.append(f"{job_id}: applies {target}, which is not the reviewed plan")
    if not planned:
        problems.append("no step runs ftctl plan --out FILE")
    if not applied:
        problems.append("no step runs ftctl apply FILE")
    return problems


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    return load_workflow(WORKFLOW.read_text())


def test_the_workflow_is_valid_against_the_schema(workflow: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    errors = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(workflow)]
    assert errors == []


def test_the_workflow_passes_the_actionlint_checks(workflow: dict[str, Any]) -> None:
    assert lint(workflow) == []


SMALL = """
on: [push]
jobs:
  plan:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@v6
      - id: plan
        run: ftctl plan --out plan.json
      - uses: actions/upload-artifact@v6
        with: {name: ftctl-plan, path: plan.json}
  apply:
    needs: plan
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/download-artifact@v7
        with: {name: ftctl-plan}
      - run: ftctl apply plan.json
"""


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("actions/checkout@v6", "actions/checkout@main", "is not pinned"),
        ("actions/checkout@v6", "actions/checkout", "is not pinned"),
        ("needs: plan", "needs: [plan, test]", "needs unknown job 'test'"),
        ("- uses: actions/checkout@v6", "- id: plan\n        run: echo", "'plan' is already used"),
        ("run: ftctl apply plan.json", "run: echo ${{ secret.KEY }}", "unknown context 'secret'"),
        ("run: ftctl apply plan.json", "run: echo ${{ steps.plan.outputs.x }}", "steps.plan is"),
        ("run: ftctl apply plan.json", "run: echo ${{ needs.other.result }}", "needs.other"),
        ("run: ftctl apply plan.json", "run: echo ${{ fromJson2('x') }}", "unknown function"),
        ("run: ftctl apply plan.json", "run: ftctl apply --chdir x plan.txt", "applies plan.txt"),
        ("path: plan.json}", "path: out/plan.json}", "does not hold the plan plan.json"),
        ("with: {name: ftctl-plan}", "with: {name: plans}", "downloads 'plans'"),
        ("with: {name: ftctl-plan}", "with: {name: ftctl-plan, path: x}", "applies plan.json"),
        ("--out plan.json", "> plan.json", "no step runs ftctl plan --out FILE"),
    ],
)
def test_the_checks_catch_what_they_are_for(old: str, new: str, problem: str) -> None:
    assert lint(load_workflow(SMALL)) == []
    assert SMALL.count(old) == 1
    found = lint(load_workflow(SMALL.replace(old, new)))
    assert any(problem in p for p in found), found


def test_the_schema_rejects_what_github_rejects() -> None:
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    good = load_workflow(SMALL)
    assert list(validator.iter_errors(good)) == []
    bad = [
        {**good, "on": ["pull-request"]},
        {**good, "jobs": {"plan": {**good["jobs"]["plan"], "runs_on": "x"}}},
        {**good, "jobs": {"1plan": good["jobs"]["plan"]}},
        {**good, "permissions": {"contents": "admin"}},
        {**good, "concurrency": {"cancel-in-progress": True}},
        {**good, "jobs": {"plan": {"runs-on": "x", "steps": [{"uses": "a/b@v1", "run": "x"}]}}},
        {**good, "jobs": {"plan": {"runs-on": "x", "steps": [{"name": "nothing to do"}]}}},
        {**good, "jobs": {"plan": {"steps": [{"run": "x"}]}}},
    ]
    for workflow in bad:
        assert list(validator.iter_errors(workflow)), workflow


def step_named(workflow: Mapping[str, Any], job: str, name: str) -> dict[str, Any]:
    [step] = [s for s in workflow["jobs"][job]["steps"] if s.get("name") == name]
    return dict(step)


def _mentions(value: Any, word: str, path: tuple[Any, ...]) -> Iterator[tuple[Any, Any]]:
    """(path, value) of every key or string of the workflow that contains `word`."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if word in str(key):
                yield (*path, key), item
            else:
                yield from _mentions(item, word, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _mentions(item, word, (*path, index))
    elif isinstance(value, str) and word in value:
        yield path, value


def test_the_workflow_keeps_the_key_in_secrets_and_applies_one_at_a_time(
    workflow: dict[str, Any],
) -> None:
    # The key only ever comes from the secret, into the two steps that call the API.
    mentions = list(_mentions(workflow, "OPENAI_API_KEY", ()))
    assert mentions == [
        (("jobs", "plan", "steps", 4, "env", "OPENAI_API_KEY"), "${{ secrets.OPENAI_API_KEY }}"),
        (("jobs", "apply", "steps", 6, "env", "OPENAI_API_KEY"), "${{ secrets.OPENAI_API_KEY }}"),
    ]
    for job, name in (("plan", "Plan"), ("apply", "Apply")):
        step = step_named(workflow, job, name)
        assert step["env"] == {"OPENAI_API_KEY": "${{ secrets.OPENAI_API_KEY }}"}
        assert "OPENAI_API_KEY" not in step["run"]
    assert workflow["env"]["FTCTL_IN_AUTOMATION"] not in ("", None)
    apply = workflow["jobs"]["apply"]
    assert apply["concurrency"] == {"group": "ftctl-apply", "cancel-in-progress": False}
    assert "${{" not in apply["concurrency"]["group"]  # one group for every apply
    assert set(workflow["on"]) == {"pull_request", "push"}
    assert "pull_request" in workflow["jobs"]["plan"]["if"]
    assert "push" in apply["if"]
    for job in ("plan", "apply"):
        runs = [s.get("run", "") for s in workflow["jobs"][job]["steps"]]
        assert "python -m pip install ." in runs
    save = step_named(workflow, "apply", "Save the state")
    assert save["if"].startswith("always()")  # a failed apply's state is kept too
    restore = step_named(workflow, "plan", "Restore the state")
    assert save["with"]["path"] == restore["with"]["path"] == "${{ env.FTCTL_DIR }}/state/ftctl.db"


def fake_ftctl(bin_dir: Path, code: int, saves: bool) -> None:
    """An `ftctl` that prints a plan, writes the --out file if it `saves`, and exits `code`."""
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "ftctl"
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        "args = sys.argv[1:]\n"
        f"if {saves}:\n"
        "    open(args[args.index('--out') + 1], 'w').write('{}')\n"
        "print('PLAN TEXT for ' + ' '.join(args))\n"
        f"sys.exit({code})\n"
    )
    script.chmod(0o755)


@pytest.mark.parametrize(
    ("code", "saves", "step_fails", "reported"),
    [
        (0, True, False, 0),
        (2, True, False, 2),
        (1, False, True, 1),
        (2, False, True, 1),  # click's usage error: exit 2 and no plan
        (130, False, True, 130),  # interrupted
    ],
)
def test_the_plan_step_takes_exit_2_as_success_and_writes_the_summary(
    workflow: dict[str, Any],
    tmp_path: Path,
    code: int,
    saves: bool,
    step_fails: bool,
    reported: int,
) -> None:
    fake_ftctl(tmp_path / "bin", code, saves)
    output, summary = tmp_path / "output", tmp_path / "summary"
    step = step_named(workflow, "plan", "Plan")
    assert workflow["defaults"]["run"]["shell"] == "bash"
    result = subprocess.run(
        # GitHub's `shell: bash`: bash --noprofile --norc -eo pipefail {0}
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        cwd=tmp_path,
        env={
            "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}",
            "FTCTL_DIR": "infra/ft",
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(summary),
        },
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (result.returncode != 0) is step_fails, result.stderr
    assert output.read_text() == f"exitcode={reported}\n"
    shown = "PLAN TEXT for plan --chdir infra/ft --detailed-exitcode --no-color --out plan.json"
    assert shown in result.stdout  # in the log
    headline = {
        0: "No changes: merging applies nothing.",
        2: "Changes: merging applies exactly this plan.",
    }.get(reported, f"The plan failed (exit {reported}): see the job log and its annotations.")
    assert summary.read_text() == f"## ftctl plan\n\n{headline}\n\n```text\n{shown}\n```\n"


def test_the_workflows_own_commands_plan_and_apply_against_the_emulator(
    ftctl: Ftctl, workflow: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan and apply lines of the workflow, word for word, run by ftctl in a checkout."""
    monkeypatch.chdir(tmp_path)
    project = os.path.relpath(ftctl.project, tmp_path)
    env = {**ftctl.env, **PLAIN, **workflow["env"], "GITHUB_ACTIONS": "true"}
    env["FTCTL_DIR"] = project

    def run(job: str, name: str, verb: str) -> Result:
        [words] = _commands(step_named(workflow, job, name)["run"], verb)
        words = [project if w == "$FTCTL_DIR" else w for w in words]
        return runner.invoke(app, [verb, *words], env=env)

    planned = run("plan", "Plan", "plan")
    assert planned.exit_code == 2, planned.output
    assert "Plan: 2 to add, 0 to change, 0 to destroy." in planned.stdout
    assert "ftctl apply" not in planned.stdout  # FTCTL_IN_AUTOMATION: no hint
    assert json.loads((tmp_path / "plan.json").read_text())["applyable"] is True
    applied = run("apply", "Apply", "apply")
    assert applied.exit_code == 0, applied.output
    assert "Apply complete! Resources: 2 added, 0 changed, 0 destroyed." in applied.stdout
    assert ftctl.posts() == ["/v1/files", "/v1/fine_tuning/jobs"]
    again = run("apply", "Apply", "apply")  # the same plan twice: refused as stale
    assert again.exit_code == 1
    assert ftctl.posts() == ["/v1/files", "/v1/fine_tuning/jobs"]


# docs/ci.md says what the code does


DOCS = REPO / "docs" / "ci.md"


def test_the_docs_show_the_workflows_commands(workflow: dict[str, Any]) -> None:
    docs = DOCS.read_text()
    runs = {
        job: " ".join(
            " ".join(words)
            for step in workflow["jobs"][job]["steps"]
            for verb in ("plan", "apply")
            for words in _commands(str(step.get("run", "")), verb)
        )
        for job in ("plan", "apply")
    }
    shown_plan = 'ftctl plan --chdir "$FTCTL_DIR" --detailed-exitcode --no-color --out plan.json'
    shown_apply = 'ftctl apply --chdir "$FTCTL_DIR" --no-color plan.json'
    assert f"{shown_plan} > plan.txt\n" in docs and f"{shown_apply}\n" in docs
    assert runs["plan"] == " ".join(shlex.split(shown_plan)[2:])
    assert runs["apply"] == " ".join(shlex.split(shown_apply)[2:])


def test_the_docs_show_refresh_only_as_it_renders() -> None:
    docs = DOCS.read_text()
    shown = docs.split("## Drift checks", 1)[1].split("```\n", 2)[1]
    document = drift_document(with_warning=False)
    document["resource_drift"] = document["resource_drift"][:1]  # the support job alone
    assert render_plan(document) == shown


def test_shell_completion_completes_commands_and_subcommands() -> None:
    def complete(words: str, index: int) -> list[str]:
        env = {
            **os.environ,
            "_FTCTL_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(index),
        }
        program = str(Path(sys.executable).parent / "ftctl")  # the installed command
        done = subprocess.run([program], env=env, capture_output=True, text=True, check=True)
        return done.stdout.split()

    assert complete("ftctl sta", 1) == ["state"]
    assert complete("ftctl state r", 2) == ["rm", "restore"]
    assert "force-unlock" in complete("ftctl f", 1)
