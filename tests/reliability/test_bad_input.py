"""Bad input: hypothesis mutations of the example configurations, of their JSONL data and of
command lines end in a diagnostic (or still work), never in a traceback or an API call."""

import json
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ftctl.cli import app
from tests.harness import REPO, TEST_KEY, Emulator
from tests.reliability.campaign import Campaign

runner = CliRunner()
SECTION = "bad-input"
EXAMPLES = sorted(p.name for p in (REPO / "examples").iterdir() if (p / "main.tf").is_file())
# Its second job starts from the first one's model: a valid apply waits for a training that
# the manual clock never finishes, so its still-valid mutations are planned, not applied.
WAITS_FOR_TRAINING = {"pipeline"}
# A baseline apply that finishes: the pipeline's first stage alone.
BASELINE_TARGETS = {"pipeline": ["--target", "openai_fine_tuning_job.sft"]}

SLICE_EXAMPLES = 12  # per class in `make test`
CAMPAIGN_EXAMPLES = 300  # per class with --campaign


def examples(count_: int) -> settings:
    return settings(
        max_examples=count_,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )


# --------------------------------------------------------------------------------------------
# running ftctl and judging what it did
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ran:
    args: tuple[str, ...]
    code: int
    output: str
    requests: int

    def describe(self) -> str:
        return (
            f"ftctl {' '.join(self.args)} -> {self.code} ({self.requests} requests)\n"
            + (self.output[-3000:])
        )


def run(emu: Emulator, *args: str) -> Ran:
    """ftctl in-process; asserts the one promise every input keeps: no traceback."""
    emu.control.delete("/_emulator/requests")
    result = runner.invoke(
        app, list(args), env={"OPENAI_BASE_URL": emu.base_url, "OPENAI_API_KEY": TEST_KEY}
    )
    requests = len(emu.requests())
    ran = Ran(tuple(args), result.exit_code, result.output, requests)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{ran.describe()}\n{result.exception!r}"
    )
    assert "Traceback" not in result.output, ran.describe()
    assert result.exit_code in (0, 1, 2), ran.describe()
    return ran


def assert_refused(ran: Ran) -> None:
    """Invalid input: exit 1, an `Error:` diagnostic, and not one API request."""
    assert ran.code == 1, ran.describe()
    assert "Error:" in ran.output, ran.describe()
    assert ran.requests == 0, ran.describe()


def assert_located(validated: Ran) -> list[dict[str, object]]:
    """validate --json's errors; each one of the configuration's own carries file:line:col."""
    document = json.loads(validated.output)
    errors = [d for d in document["diagnostics"] if d["severity"] == "error"]
    assert errors, validated.describe()
    for diagnostic in errors:
        where = diagnostic.get("range")
        assert isinstance(where, dict), f"no location: {diagnostic}\n{validated.describe()}"
        assert where["filename"], diagnostic
        assert where["start"]["line"] >= 1 and where["start"]["column"] >= 1, diagnostic
    return errors


@dataclass
class Workspace:
    """Per test: each example applied once (its baseline), so that every mutated copy starts
    from a state that tracks unfinished jobs: a plan of it would read the API."""

    emu: Emulator
    root: Path

    def __post_init__(self) -> None:
        self._baselines: dict[str, Path] = {}
        self._cases = count()

    def baseline(self, example: str) -> Path:
        if example not in self._baselines:
            folder = self.root / f"baseline-{example}"
            shutil.copytree(REPO / "examples" / example, folder)
            ran = run(
                self.emu,
                "apply",
                "--auto-approve",
                "--chdir",
                str(folder),
                *BASELINE_TARGETS.get(example, []),
            )
            assert ran.code == 0 and ran.requests > 0, ran.describe()
            self._baselines[example] = folder
        return self._baselines[example]

    def case(self, example: str) -> Path:
        """A fresh copy of the applied example, its state included."""
        folder = self.root / f"case-{next(self._cases)}"
        shutil.copytree(self.baseline(example), folder)
        return folder


@pytest.fixture
def workspace(emu: Emulator, tmp_path: Path) -> Workspace:
    return Workspace(emu, tmp_path)


def check_mutated_project(
    emu: Emulator, folder: Path, example: str, *, data_problem: bool | None = None
) -> tuple[str, int]:
    """validate, plan and apply of a mutated copy; its outcome and the API requests made.
    `data_problem`: what an independent reading of the data file says, when one was mutated."""
    validated = run(emu, "validate", "--json", "--chdir", str(folder))
    assert validated.requests == 0, validated.describe()
    if validated.code == 1:
        errors = assert_located(validated)
        if data_problem is not None:
            assert data_problem, f"ftctl refused valid data: {errors}"
        for command in (("plan",), ("apply", "--auto-approve")):
            assert_refused(run(emu, *command, "--chdir", str(folder)))
        return "diagnostic", 0
    assert validated.code == 0, validated.describe()
    assert data_problem is not True, f"ftctl missed a data problem:\n{validated.describe()}"
    planned = run(emu, "plan", "--chdir", str(folder))
    if planned.code == 1:
        # Valid without values; a variable with no value left is an error of plan's.
        assert_refused(planned)
        assert_refused(run(emu, "apply", "--auto-approve", "--chdir", str(folder)))
        return "plan-diagnostic", 0
    assert planned.code == 0, planned.describe()
    if example in WAITS_FOR_TRAINING:
        return "still-valid", planned.requests
    applied = run(emu, "apply", "--auto-approve", "--chdir", str(folder))
    if applied.code == 1:
        # The API refused what ftctl cannot know (a model it does not serve): said, not thrown.
        assert "Error:" in applied.output, applied.describe()
        return "api-rejected", planned.requests + applied.requests
    assert applied.code == 0, applied.describe()
    return "still-valid", planned.requests + applied.requests


# --------------------------------------------------------------------------------------------
# (a) configurations
# --------------------------------------------------------------------------------------------

HCL_ALPHABET = "{}[]()\"=.,#$%\n\t :;<>!?*+-/\\`~|&^@'0123456789aeszx_" + "é中🙂\u200b\u2028\ufeff"


@dataclass(frozen=True)
class Edit:
    """One change to a text: positions are taken modulo its length, so that any edit fits."""

    kind: str
    at: int
    span: int
    text: str

    def apply(self, source: str) -> str:
        start = self.at % (len(source) + 1)
        end = min(len(source), start + self.span)
        match self.kind:
            case "delete":
                return source[:start] + source[end:]
            case "duplicate":
                return source[:end] + source[start:end] + source[end:]
            case "insert":
                return source[:start] + self.text + source[start:]
            case "replace":
                return source[:start] + self.text + source[end:]
            case "truncate":
                return source[:start]
            case "swap-lines":
                lines = source.splitlines(keepends=True)
                if len(lines) < 2:
                    return source
                first, second = self.at % len(lines), self.span % len(lines)
                lines[first], lines[second] = lines[second], lines[first]
                return "".join(lines)
        raise AssertionError(self.kind)


def edits(alphabet: str) -> st.SearchStrategy[list[Edit]]:
    edit = st.builds(
        Edit,
        kind=st.sampled_from(
            ["delete", "duplicate", "insert", "replace", "truncate", "swap-lines"]
        ),
        at=st.integers(0, 5000),
        span=st.integers(0, 60),
        text=st.text(alphabet=alphabet, min_size=1, max_size=8),
    )
    return st.lists(edit, min_size=1, max_size=3)


def config_case(
    emu: Emulator, workspace: Workspace, campaign: Campaign, example: str, changes: list[Edit]
) -> None:
    folder = workspace.case(example)
    source = (folder / "main.tf").read_text()
    mutated = source
    for change in changes:
        mutated = change.apply(mutated)
    (folder / "main.tf").write_text(mutated)
    outcome, requests = check_mutated_project(emu, folder, example)
    campaign.record(
        SECTION, f"config:{example}:{changes}", outcome, tracebacks=0, api_requests=requests
    )
    shutil.rmtree(folder)


@examples(SLICE_EXAMPLES)
@given(example=st.sampled_from(EXAMPLES), changes=edits(HCL_ALPHABET))
def test_mutated_configurations_end_in_a_located_diagnostic_before_any_api_call(
    emu: Emulator, workspace: Workspace, campaign: Campaign, example: str, changes: list[Edit]
) -> None:
    config_case(emu, workspace, campaign, example, changes)


@pytest.mark.reliability
@examples(CAMPAIGN_EXAMPLES)
@given(example=st.sampled_from(EXAMPLES), changes=edits(HCL_ALPHABET))
def test_campaign_mutated_configurations(
    emu: Emulator, workspace: Workspace, campaign: Campaign, example: str, changes: list[Edit]
) -> None:
    config_case(emu, workspace, campaign, example, changes)


def test_an_unmutated_copy_reads_the_api_so_the_zero_request_check_can_fail(
    emu: Emulator, workspace: Workspace
) -> None:
    folder = workspace.case("quickstart")
    planned = run(emu, "plan", "--chdir", str(folder))
    assert planned.code == 0 and planned.requests > 0, planned.describe()


# --------------------------------------------------------------------------------------------
# (b) JSONL data files
# --------------------------------------------------------------------------------------------

JSON_ALPHABET = '{}[]":,.\\ \n\r\t0123456789-+eEtrufalsn' + "é\x00\x7f\ufeff\u2028"
HUGE_DIGITS = "9" * 5000


def _lines(content: bytes) -> list[bytes]:
    return content.split(b"\n")


def _replace_line(content: bytes, line: bytes) -> bytes:
    lines = _lines(content)
    lines[len(lines) // 2] = line
    return b"\n".join(lines)


# Whole-file mutations, by name: each takes the file's bytes and gives new ones.
WHOLE_FILE: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda content: b"",
    "blank-lines": lambda content: b"\n \n\t\n",
    "bom": lambda content: b"\xef\xbb\xbf" + content,
    "bom-mid-file": lambda content: _replace_line(content, b"\xef\xbb\xbf" + _lines(content)[0]),
    "utf-16": lambda content: content.decode().encode("utf-16"),
    "latin-1-byte": lambda content: _replace_line(content, b'{"messages": "caf\xe9"}'),
    "invalid-json": lambda content: _replace_line(content, b'{"messages": [}'),
    "array-line": lambda content: _replace_line(content, b"[1, 2, 3]"),
    "string-line": lambda content: _replace_line(content, b'"hello"'),
    "number-line": lambda content: _replace_line(content, b"42"),
    "null-line": lambda content: _replace_line(content, b"null"),
    "wrong-shape-object": lambda content: _replace_line(content, b'{"prompt": 1}'),
    "whole-file-one-object": lambda content: json.dumps(
        [json.loads(line) for line in content.splitlines() if line.strip()], indent=2
    ).encode(),
    "nan": lambda content: _replace_line(content, b'{"messages": [], "weight": NaN}'),
    "infinity": lambda content: _replace_line(content, b'{"weight": -Infinity}'),
    "huge-float": lambda content: _replace_line(content, b'{"weight": 1e999}'),
    "huge-integer": lambda content: _replace_line(content, b'{"weight": 1' + b"0" * 400 + b"}"),
    "integer-past-python-limit": lambda content: _replace_line(
        content, b'{"weight": ' + HUGE_DIGITS.encode() + b"}"
    ),
    "nul-bytes": lambda content: content.replace(b"\n", b"\x00\n", 1),
    "crlf": lambda content: content.replace(b"\n", b"\r\n"),
    "no-final-newline": lambda content: content.rstrip(b"\n"),
    "truncated-mid-line": lambda content: content[: len(content) // 2],
    "concatenated-objects": lambda content: _replace_line(content, b'{"a": 1}{"b": 2}'),
}


def json_level_problem(content: bytes) -> bool:
    """An independent reading of the rule ftctl promises to check before any upload: every
    non-blank line (split at \\n) of UTF-8 text, a BOM allowed at the start, is a JSON object,
    with no NaN or Infinity (not JSON), and there is at least one."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return True

    def refuse(constant: str) -> object:
        raise ValueError(constant)

    lines = [line for line in text.split("\n") if line.strip()]
    if not lines:
        return True  # nothing to train on
    for line in lines:
        try:
            parsed = json.loads(line, parse_constant=refuse)
        except ValueError:  # JSONDecodeError, the constants, and Python's 4300-digit limit
            return True
        if not isinstance(parsed, dict):
            return True
    return False


def data_files(example: str) -> list[str]:
    """The example's JSONL files that its configuration uploads."""
    source = (REPO / "examples" / example / "main.tf").read_text()
    return [
        name
        for name in sorted(p.name for p in (REPO / "examples" / example / "data").glob("*.jsonl"))
        if re.search(rf"data/{re.escape(name)}\"", source)
    ]


DATA_TARGETS = [(example, name) for example in EXAMPLES for name in data_files(example)]


@st.composite
def data_mutations(draw: st.DrawFn) -> tuple[str, object]:
    """A whole-file mutation by name, or edits of the text."""
    if draw(st.booleans()):
        return "whole", draw(st.sampled_from(sorted(WHOLE_FILE)))
    return "edits", draw(edits(JSON_ALPHABET))


def data_case(
    emu: Emulator,
    workspace: Workspace,
    campaign: Campaign,
    target: tuple[str, str],
    mutation: tuple[str, object],
) -> None:
    example, name = target
    folder = workspace.case(example)
    path = folder / "data" / name
    content = path.read_bytes()
    kind, how = mutation
    if kind == "whole":
        assert isinstance(how, str)
        mutated = WHOLE_FILE[how](content)
        label = how
    else:
        assert isinstance(how, list)
        text = content.decode()
        for change in how:
            text = change.apply(text)
        mutated = text.encode()
        label = str(how)
    path.write_bytes(mutated)
    problem = json_level_problem(mutated)
    outcome, requests = check_mutated_project(emu, folder, example, data_problem=problem)
    campaign.record(
        SECTION, f"jsonl:{example}/{name}:{label}", outcome, tracebacks=0, api_requests=requests
    )
    shutil.rmtree(folder)


@examples(SLICE_EXAMPLES)
@given(target=st.sampled_from(DATA_TARGETS), mutation=data_mutations())
def test_mutated_data_files_are_refused_before_any_upload(
    emu: Emulator,
    workspace: Workspace,
    campaign: Campaign,
    target: tuple[str, str],
    mutation: tuple[str, object],
) -> None:
    data_case(emu, workspace, campaign, target, mutation)


@pytest.mark.reliability
@examples(CAMPAIGN_EXAMPLES)
@given(target=st.sampled_from(DATA_TARGETS), mutation=data_mutations())
def test_campaign_mutated_data_files(
    emu: Emulator,
    workspace: Workspace,
    campaign: Campaign,
    target: tuple[str, str],
    mutation: tuple[str, object],
) -> None:
    data_case(emu, workspace, campaign, target, mutation)


@pytest.mark.parametrize("mutation", sorted(WHOLE_FILE))
def test_every_kind_of_broken_data_file_is_judged_as_the_api_would(
    emu: Emulator, workspace: Workspace, campaign: Campaign, mutation: str
) -> None:
    data_case(emu, workspace, campaign, ("quickstart", "train.jsonl"), ("whole", mutation))


@pytest.mark.parametrize(
    ("content", "summary"),
    [
        (b"", "Data file is empty"),
        (b"\n  \n", "Data file is empty"),
        (b'{"weight": NaN}\n', "Line 1 of data/train.jsonl is not valid JSON"),
        (b'{"a": 1}\n{"weight": Infinity}\n', "Line 2 of data/train.jsonl is not valid JSON"),
        ('{"a": "é"}\n'.encode("utf-16"), "Line 1 of data/train.jsonl is not UTF-8 text"),
        (b'{"a": 1}\n\xef\xbb\xbf{"a": 2}\n', "Line 2 of data/train.jsonl is not valid JSON"),
    ],
)
def test_data_the_api_cannot_read_is_refused_before_any_upload(
    emu: Emulator, workspace: Workspace, content: bytes, summary: str
) -> None:
    folder = workspace.case("quickstart")
    (folder / "data" / "train.jsonl").write_bytes(content)
    validated = run(emu, "validate", "--chdir", str(folder))
    assert validated.code == 1 and f"Error: {summary}" in validated.output, validated.describe()
    assert_refused(run(emu, "apply", "--auto-approve", "--chdir", str(folder)))


def test_a_bom_at_the_start_of_a_data_file_is_allowed_as_the_api_allows_it(
    emu: Emulator, workspace: Workspace
) -> None:
    folder = workspace.case("quickstart")
    path = folder / "data" / "train.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert run(emu, "validate", "--chdir", str(folder)).code == 0


# --------------------------------------------------------------------------------------------
# (c) command lines
# --------------------------------------------------------------------------------------------

# Everything but what waits for a training to finish (wait, apply --wait, logs --follow) or
# serves (emulator): the manual clock would keep them waiting for ever.
COMMANDS = [
    ["validate"],
    ["plan"],
    ["apply"],
    ["refresh"],
    ["import"],
    ["show"],
    ["output"],
    ["logs"],
    ["state", "list"],
    ["state", "show"],
    ["state", "rm"],
    ["state", "mv"],
    ["state", "history"],
    ["state", "restore"],
    ["state"],
    ["force-unlock"],
    [],
]
FLAGS = [
    "--chdir",
    "-chdir",
    "--var",
    "-var",
    "--var-file",
    "--state",
    "--out",
    "--json",
    "-json",
    "--detailed-exitcode",
    "--no-refresh",
    "--refresh-only",
    "-refresh=false",
    "-refresh",
    "--target",
    "--replace",
    "--no-color",
    "--lock-timeout",
    "--parallelism",
    "--auto-approve",
    "--generate-config-out",
    "--dry-run",
    "--force",
    "--id",
    "--help",
    "--version",
    "--poll-interval",
    "--",
    "-",
]
VALUES = [
    "openai_fine_tuning_job.support",
    "openai_file.train",
    "openai_fine_tuning_job.support[0]",
    'openai_fine_tuning_job.support["x"]',
    "ftjob-abc123",
    "file-abc",
    "team=x",
    "base_model=gpt-4o-mini",
    "=",
    "10s",
    "-5s",
    "0",
    "-1",
    "3",
    "99999999999999999999",
    "nan",
    "1e999",
    ".",
    "data",
    "main.tf",
    "data/train.jsonl",
    "state/ftctl.db",
    "plan.json",
    "new.db",
    "imported.tf",
    "",
    "true",
    "false",
]
# No "/": a garbage path is then always inside the test's folder. No NUL: argv cannot hold one.
ARG_ALPHABET = st.characters(
    blacklist_characters="/\x00", blacklist_categories=["Cs"], max_codepoint=0x1F64F
)


def never_waits(word: str) -> bool:
    """Not `logs -f` (short flags group, as in -xf), nor apply's -wait."""
    return not (word.startswith("-") and ("f" in word or "wait" in word))


ARGUMENTS = st.lists(
    st.one_of(
        st.sampled_from(FLAGS),
        st.sampled_from(VALUES),
        st.text(alphabet=ARG_ALPHABET, max_size=12).filter(never_waits),
    ),
    max_size=6,
)


@pytest.fixture
def project(emu: Emulator, workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The applied quickstart, as the current directory: relative paths land in it."""
    folder = workspace.case("quickstart")
    monkeypatch.chdir(folder)
    yield folder


def arguments_case(
    emu: Emulator, project: Path, campaign: Campaign, command: list[str], rest: list[str]
) -> None:
    state = project / "state" / "ftctl.db"
    kept = state.read_bytes()
    ran = run(emu, *command, *rest)
    if ran.code == 2 and "Usage:" in ran.output:
        outcome = "usage-error"
        assert ran.requests == 0, ran.describe()
    elif ran.code == 1:
        outcome = "diagnostic"
        assert "Error" in ran.output, ran.describe()
    else:
        outcome = "accepted"
    campaign.record(
        SECTION,
        f"arguments:{[*command, *rest]}",
        outcome,
        tracebacks=0,
        api_requests=ran.requests,
    )
    # The next case starts from the same files.
    for path in project.iterdir():
        if path.name not in ("main.tf", "data", "state"):
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    (project / "main.tf").write_text((REPO / "examples/quickstart/main.tf").read_text())
    state.parent.mkdir(exist_ok=True)
    for leftover in state.parent.iterdir():
        leftover.unlink()
    state.write_bytes(kept)


@examples(SLICE_EXAMPLES * 2)
@given(command=st.sampled_from(COMMANDS), rest=ARGUMENTS)
def test_random_command_lines_end_in_usage_or_a_diagnostic_never_a_traceback(
    emu: Emulator, project: Path, campaign: Campaign, command: list[str], rest: list[str]
) -> None:
    arguments_case(emu, project, campaign, command, rest)


@pytest.mark.reliability
@examples(CAMPAIGN_EXAMPLES)
@given(command=st.sampled_from(COMMANDS), rest=ARGUMENTS)
def test_campaign_random_command_lines(
    emu: Emulator, project: Path, campaign: Campaign, command: list[str], rest: list[str]
) -> None:
    arguments_case(emu, project, campaign, command, rest)
