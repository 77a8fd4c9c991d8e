"""The reliability campaign's tally: every case adds what it tried and how it ended, and
`make reliability` turns the sums into docs/reliability.md.

A case is one attempt to break ftctl (a kill point, a fault run, a mutated input). Its outcome
is a short word (`survived`, `diagnostic`, `refused`, ...) and its figures are counts that add
up across cases (duplicates, lost jobs, tracebacks, API requests, retries, seconds).
"""

import os
import platform
import subprocess
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

# Figures that must sum to zero over the whole campaign; the report leads with them.
PROMISES = ("duplicates", "lost_jobs", "tracebacks")

# Sections in the order the report shows them, with the sentence that says what was tried.
SECTIONS = {
    "crash": "SIGKILL at every API call of an apply with creates, a replace and a cancel, at "
    "three points: before the request takes effect, after the emulator carried it out but "
    "before the answer, and after the answer but before the state write. Each kill is "
    "followed by `apply --auto-approve` and `plan --detailed-exitcode`.",
    "faults": "Seeded runs in which 20% of all API answers are 429 (half with Retry-After), "
    "500, 503, dropped connections, or 500s sent after the server carried the request out. "
    "A user's recourse is to run `apply` again, and each run resumes where the last stopped: "
    "the campaign reruns it until it exits 0, at most 6 times, then checks the server. The "
    "seed fixes the draws, but apply sends requests in parallel, so which request meets which "
    "draw, and the figures, vary a little from run to run.",
    "concurrency": "Several `apply` processes started together on one state, and locks left "
    "by dead processes or other hosts.",
    "bad-input": "Hypothesis mutations of the example configurations, of JSONL data files and "
    "of command-line arguments, with the emulator's request log checked after each.",
    "state-files": "Truncated, corrupted, newer, foreign, read-only and out-of-space state files.",
    "secrets": "A story run with a known API key and sensitive variables, with every artefact "
    "searched for them.",
    "api-errors": "401, 403 and 5xx answers during refresh and plan.",
}


# Sections with at most this many cases list each one; larger ones give totals only.
CASES_LISTED = 40


@dataclass(frozen=True)
class Case:
    section: str
    name: str
    outcome: str
    figures: dict[str, float] = field(default_factory=dict)


class Campaign:
    """Collects cases during a pytest session; cases are kept in memory only."""

    def __init__(self) -> None:
        self.cases: list[Case] = []
        self.started = datetime.now(UTC)

    def record(self, section: str, name: str, outcome: str, **figures: float) -> None:
        if section not in SECTIONS:
            raise ValueError(f"unknown campaign section {section!r}")
        self.cases.append(Case(section, name, outcome, dict(figures)))

    def totals(self) -> dict[str, float]:
        summed: dict[str, float] = defaultdict(float)
        for case in self.cases:
            for name, value in case.figures.items():
                summed[name] += value
        return dict(summed)

    def render(self, finished: datetime, passed: bool) -> str:
        totals = self.totals()
        minutes, seconds = divmod(round((finished - self.started).total_seconds()), 60)
        lines = [
            "# Reliability campaign",
            "",
            "Written by `make reliability` (`tests/reliability/`); do not edit by hand.",
            "",
            f"- Run: {finished:%Y-%m-%d %H:%M} UTC, commit `{_commit()}`, "
            f"{os.cpu_count()} cores, Python {platform.python_version()}, "
            f"{minutes} min {seconds} s.",
            f"- Result: {'every case passed' if passed else 'SOME CASES FAILED'}; "
            f"{len(self.cases)} cases.",
            "",
            "| promise | found |",
            "|---|---|",
            *(
                f"| {name.replace('_', ' ')} | {_number(totals.get(name, 0))} |"
                for name in PROMISES
            ),
            "",
        ]
        for section, sentence in SECTIONS.items():
            cases = [c for c in self.cases if c.section == section]
            if not cases:
                continue
            lines += [f"## {section}", "", sentence, ""]
            outcomes = Counter(c.outcome for c in cases)
            lines.append(
                f"{len(cases)} cases: "
                + ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items()))
                + "."
            )
            figures: dict[str, float] = defaultdict(float)
            for case in cases:
                for name, value in case.figures.items():
                    figures[name] += value
            if figures:
                lines += ["", "| figure | total |", "|---|---|"]
                lines += [
                    f"| {name.replace('_', ' ')} | {_number(value)} |"
                    for name, value in sorted(figures.items())
                ]
            if len(cases) > CASES_LISTED:
                lines += ["", *_by_kind(cases)]
            else:
                lines += ["", "| case | outcome | figures |", "|---|---|---|"]
                lines += [
                    f"| {c.name} | {c.outcome} | "
                    + ", ".join(f"{k.replace('_', ' ')} {_number(v)}" for k, v in c.figures.items())
                    + " |"
                    for c in cases
                ]
            lines.append("")
        return "\n".join(lines)

    def write(self, path: Path, passed: bool) -> None:
        path.write_text(self.render(datetime.now(UTC), passed))


def _by_kind(cases: list[Case]) -> list[str]:
    """A large section's cases by kind (a name's part before the first `:`) and outcome."""
    groups: dict[tuple[str, str], list[Case]] = defaultdict(list)
    for case in cases:
        groups[(case.name.split(":", 1)[0], case.outcome)].append(case)
    names = sorted({name for group in groups.values() for c in group for name in c.figures})
    lines = [
        "| kind | outcome | cases | " + " | ".join(n.replace("_", " ") for n in names) + " |",
        "|---|---|---|" + "---|" * len(names),
    ]
    for (kind, outcome), group in sorted(groups.items()):
        sums = [_number(sum(c.figures.get(name, 0) for c in group)) for name in names]
        lines.append(f"| {kind} | {outcome} | {len(group)} | " + " | ".join(sums) + " |")
    return lines


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _commit() -> str:
    try:
        found = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return found.stdout.strip()
