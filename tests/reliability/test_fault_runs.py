"""Applies under a seeded storm of API failures: a share of all answers are 429s (half with
Retry-After), 500s, 503s, dropped connections, or 500s sent after the server acted. The apply
must converge in a bounded number of reruns with no duplicate and no lost job."""

import time
from pathlib import Path

import pytest

from tests.harness import Emulator
from tests.reliability.campaign import Campaign
from tests.reliability.stories import FILES, Project, audit, job_block

# A user's documented recourse is to run `apply` again; each run resumes where the last stopped.
MAX_RUNS = 6


def jobs_config(count: int) -> str:
    return FILES + "".join(job_block(f"job_{i}", f"j{i}") for i in range(count))


def converge(project: Project, campaign: Campaign, name: str, jobs: int, seed: int) -> None:
    project.configure(jobs_config(jobs))
    emu = project.emu
    emu.chaos(seed=seed, rate=0.2, retry_after=1)
    started = time.monotonic()
    exits = []
    while len(exits) < MAX_RUNS and (not exits or exits[-1] != 0):
        result = project("apply", "--auto-approve", "--no-color")
        assert "Traceback" not in result.output
        exits.append(result.exit_code)
    wall = time.monotonic() - started
    injected = emu.chaos()["injected"]
    emu.control.delete("/_emulator/chaos")
    logged = emu.requests()
    planned = project("plan", "--detailed-exitcode", "--no-color")
    found = audit(
        project,
        {f"j{i}": 1 for i in range(jobs)},
        {f"openai_fine_tuning_job.job_{i}": f"j{i}" for i in range(jobs)},
        {"openai_file.train": "train.jsonl"},
    )
    converged = exits[-1] == 0 and planned.exit_code == 0 and found.clean
    campaign.record(
        "faults",
        name,
        f"converged in {len(exits)} run{'s' if len(exits) > 1 else ''}" if converged else "FAILED",
        jobs=jobs,
        runs=len(exits),
        requests=len(logged),
        faults_injected=sum(injected.values()),
        retries_by_sdk=sum(1 for r in logged if (r["retry_count"] or 0) > 0),
        # ftctl's own recourse after an ambiguous create: find the job by its token.
        lookups_by_token=sum(1 for r in logged if "ftctl_token" in r["query"]),
        duplicates=found.duplicates,
        lost_jobs=found.lost_jobs,
        tracebacks=0,
        wall_seconds=round(wall, 1),
    )
    assert exits[-1] == 0, f"no convergence in {MAX_RUNS} runs: {exits}"
    assert planned.exit_code == 0, planned.output
    assert found.clean, found
    assert sum(injected.values()) > 0


def test_an_apply_of_ten_jobs_converges_through_a_fault_storm(
    emu: Emulator, tmp_path: Path, campaign: Campaign
) -> None:
    converge(Project(tmp_path, emu), campaign, "10 jobs, seed 1", jobs=10, seed=1)


@pytest.mark.reliability
@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_an_apply_of_fifty_jobs_converges_through_a_fault_storm(
    emu: Emulator, tmp_path: Path, campaign: Campaign, seed: int
) -> None:
    converge(Project(tmp_path, emu), campaign, f"50 jobs, seed {seed}", jobs=50, seed=seed)
