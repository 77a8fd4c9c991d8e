"""SIGKILL at every API call of an apply that uploads, creates, replaces and cancels, at each of
three points, then one more `apply`: no duplicate job, no lost job, consistent state, no changes
left. `make test` runs one kill of each kind; `make reliability` runs them all.

The three points: before a request is sent (FTCTL_CRASH_AT=before:N, the provider's test-only
hook); after the emulator carried a request out but before its answer arrives (an after_commit
rule holds the answer and the test kills ftctl then); after the answer but before the state
write (FTCTL_CRASH_AT=after:N).
"""

from pathlib import Path

import pytest

from tests.harness import Emulator
from tests.reliability.campaign import Campaign
from tests.reliability.stories import (
    CRASH_AFTER,
    CRASH_BEFORE,
    CRASH_FILES,
    CRASH_JOBS,
    CRASH_LIVE,
    FILES,
    Project,
    audit,
    job_block,
    kill,
)

JOBS = "/v1/fine_tuning/jobs"
# The story's apply, request by request: (method, path pattern, which occurrence). The order of
# the requests varies from run to run (apply works in parallel); the set does not.
REQUESTS = [
    ("GET", JOBS, 1),  # refresh of the unfinished jobs
    ("POST", JOBS + "/*", 1),  # the two cancels (replace b, remove c)
    ("POST", JOBS + "/*", 2),
    ("POST", "/v1/files", 1),  # the upload of valid.jsonl
    ("POST", JOBS, 1),  # the three creates (b's replacement, d, e)
    ("POST", JOBS, 2),
    ("POST", JOBS, 3),
]
CALLS = len(REQUESTS)  # one provider call per request when nothing fails


@pytest.fixture
def story(emu: Emulator, tmp_path: Path) -> Project:
    """Three jobs applied; the configuration then changed to the crash story's."""
    project = Project(tmp_path / "project", emu)
    project.configure(CRASH_BEFORE)
    assert project("apply", "--auto-approve").exit_code == 0
    project.configure(CRASH_AFTER)
    emu.control.delete("/_emulator/requests")
    return project


def killed_at_hook(project: Project, point: str) -> str:
    process = project.start("apply", "--auto-approve", FTCTL_CRASH_AT=point)
    _, err = process.communicate(timeout=60)
    assert process.returncode == -9, f"{point} was never reached: {err}"
    return err


def killed_while_held(project: Project, method: str, path: str, occurrence: int) -> str:
    emu = project.emu
    if occurrence > 1:
        emu.arm(method=method, path=path, status=None, times=occurrence - 1)
    emu.arm(method=method, path=path, status=None, after_commit=True, delay_ms=60_000)
    process = project.start("apply", "--auto-approve")
    held = emu.held(wait=30)
    assert held, f"the apply never sent {method} {path} #{occurrence}"
    kill(process)
    emu.control.delete("/_emulator/faults")
    return f"{method} {held[0]['path']}"


def recover_and_audit(project: Project, campaign: Campaign, name: str, killed: str) -> None:
    again = project("apply", "--auto-approve", "--no-color")
    planned = project("plan", "--detailed-exitcode", "--no-color")
    found = audit(project, CRASH_JOBS, CRASH_LIVE, CRASH_FILES)
    tracebacks = sum("Traceback" in text for text in (killed, again.output, planned.output))
    survived = again.exit_code == 0 and planned.exit_code == 0 and found.clean and not tracebacks
    campaign.record(
        "crash",
        name,
        "survived" if survived else "FAILED",
        kills=1,
        duplicates=found.duplicates,
        lost_jobs=found.lost_jobs,
        tracebacks=tracebacks,
    )
    assert again.exit_code == 0, again.output
    assert planned.exit_code == 0, planned.output
    assert found.clean, found
    assert not tracebacks


def test_the_story_makes_one_api_call_per_listed_request(story: Project) -> None:
    """Keeps the matrix honest: if the apply's calls change, REQUESTS must change with it."""
    process = story.start("apply", "--auto-approve", FTCTL_CRASH_AT=f"before:{CALLS + 1}")
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    logged = sorted((r["method"], r["path"].startswith(JOBS + "/")) for r in story.emu.requests())
    listed = sorted((m, p.endswith("/*")) for m, p, _ in REQUESTS)
    assert logged == listed


def hook_points(kinds: tuple[str, ...], slice_call: int) -> list[object]:
    return [
        pytest.param(
            f"{kind}:{call}",
            marks=[] if call == slice_call else [pytest.mark.reliability],
            id=f"{kind}:{call}",
        )
        for kind in kinds
        for call in range(1, CALLS + 1)
    ]


@pytest.mark.parametrize("point", hook_points(("before",), slice_call=5))
def test_a_kill_before_a_request_is_sent_costs_nothing(
    story: Project, campaign: Campaign, point: str
) -> None:
    killed = killed_at_hook(story, point)
    recover_and_audit(story, campaign, point, killed)


@pytest.mark.parametrize("point", hook_points(("after",), slice_call=6))
def test_a_kill_after_the_answer_before_the_state_write_loses_no_job(
    story: Project, campaign: Campaign, point: str
) -> None:
    killed = killed_at_hook(story, point)
    recover_and_audit(story, campaign, point, killed)


@pytest.mark.parametrize(
    ("method", "path", "occurrence"),
    [
        pytest.param(*request, marks=[] if index == 4 else [pytest.mark.reliability])
        for index, request in enumerate(REQUESTS)
    ],
)
def test_a_kill_after_the_server_acted_before_the_answer_makes_no_duplicate(
    story: Project, campaign: Campaign, method: str, path: str, occurrence: int
) -> None:
    killed = killed_while_held(story, method, path, occurrence)
    recover_and_audit(story, campaign, f"held:{method} {path} #{occurrence}", killed)


def test_an_upload_cut_off_by_a_crash_is_adopted_by_the_next_apply_not_sent_again(
    story: Project, campaign: Campaign
) -> None:
    killed = killed_while_held(story, "POST", "/v1/files", 1)
    story.emu.control.delete("/_emulator/requests")
    recover_and_audit(story, campaign, "regression: upload cut off", killed)
    assert [
        r for r in story.emu.requests() if r["path"] == "/v1/files" and r["method"] == "POST"
    ] == []


def test_a_failed_lookup_after_an_ambiguous_create_keeps_the_pending_record(
    emu: Emulator, tmp_path: Path, campaign: Campaign
) -> None:
    """The create was carried out but its answer failed, and the lookup that should find it
    is refused (a key that may create but not list): the next apply must find the job."""
    project = Project(tmp_path, emu)
    project.configure(FILES + job_block("a", "a"))
    emu.arm(method="POST", path=JOBS, status=500, after_commit=True)
    emu.arm(method="GET", path=JOBS, status=403)
    failed = project("apply", "--auto-approve", "--no-color")
    assert failed.exit_code == 1
    assert "failed too" in failed.output and "403" in failed.output, failed.output
    again = project("apply", "--auto-approve", "--no-color")
    assert again.exit_code == 0, again.output
    assert "found ftjob-" in again.output and "created by an interrupted run" in again.output
    found = audit(
        project, {"a": 1}, {"openai_fine_tuning_job.a": "a"}, {"openai_file.train": "train.jsonl"}
    )
    campaign.record(
        "crash",
        "regression: lookup refused",
        "survived" if found.clean else "FAILED",
        duplicates=found.duplicates,
        lost_jobs=found.lost_jobs,
        tracebacks=0,
    )
    assert found.clean, found


def test_uploads_of_same_named_files_are_told_apart_when_recovered(
    emu: Emulator, tmp_path: Path, campaign: Campaign
) -> None:
    project = Project(tmp_path / "project", emu)
    for folder, lines in (("a", 10), ("b", 12)):
        (tmp_path / folder).mkdir()
        data = (project.root / "data" / "train.jsonl").read_text().splitlines()
        (tmp_path / folder / "train.jsonl").write_text("\n".join((data * 2)[:lines]) + "\n")
    project.configure(
        "".join(
            f'resource "openai_file" "{folder}" {{\n  file = "../{folder}/train.jsonl"\n}}\n'
            for folder in ("a", "b")
        )
    )
    emu.arm(
        method="POST", path="/v1/files", status=None, after_commit=True, delay_ms=60_000, times=2
    )
    process = project.start("apply", "--auto-approve")
    assert len(emu.held(wait=30, count=2)) == 2
    kill(process)
    emu.control.delete("/_emulator/faults")
    again = project("apply", "--auto-approve", "--no-color")
    assert again.exit_code == 0, again.output
    assert again.output.count("created by an interrupted run") == 2, again.output
    assert project("plan", "--detailed-exitcode").exit_code == 0
    found = audit(project, {}, {}, {"openai_file.a": "train.jsonl", "openai_file.b": "train.jsonl"})
    campaign.record(
        "crash",
        "regression: same-named uploads",
        "survived" if found.clean else "FAILED",
        kills=1,
        duplicates=found.duplicates,
        lost_jobs=found.lost_jobs,
        tracebacks=0,
    )
    assert found.clean, found
