"""`ftctl validate` as a user runs it: every example validates, every example of the seed
document validates as written, bad configs exit 1 with file:line, and openai is never imported."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ftctl.cli import app
from tests.harness import REPO

EXAMPLES = sorted(p.parent for p in (REPO / "examples").glob("*/main.tf"))

# The seed document's examples, exactly as it prints them (file IDs and all).
SEED_EXAMPLES = {
    "basic": """
resource "openai_fine_tuning_job" "basic" {
  model         = "gpt-4o-mini"
  training_file = "file-abc123"
  suffix        = "my-custom-model-v1"
}
""",
    "supervised": """
resource "openai_fine_tuning_job" "supervised" {
  model         = "gpt-4o-mini"
  training_file = "file-abc123"
  
  method {
    type = "supervised"
    supervised {
      hyperparameters {
        n_epochs = 3
        batch_size = 8
        learning_rate_multiplier = 0.1
      }
    }
  }
}
""",
    "dpo": """
resource "openai_fine_tuning_job" "dpo" {
  model          = "gpt-4o-mini"
  training_file  = "file-abc123"
  validation_file = "file-xyz789"
  
  method {
    type = "dpo"
    dpo {
      hyperparameters {
        beta = 0.1
      }
    }
  }
}
""",
    "wandb": """
resource "openai_fine_tuning_job" "with_wandb" {
  model         = "gpt-4o-mini"
  training_file = "file-abc123"
  
  integrations {
    type = "wandb"
    wandb {
      project = "my-wandb-project"
      name    = "ft-run-display-name"
      tags    = ["first-experiment", "v2"]
    }
  }
}
""",
    "timeout": """
resource "openai_fine_tuning_job" "with_timeout" {
  model               = "gpt-4o-mini"
  training_file       = "file-abc123"
  cancel_after_timeout = 3600  # Cancel after 1 hour
}
""",
}

runner = CliRunner()


def test_there_is_an_example_for_each_seed_example_and_a_quickstart() -> None:
    assert {p.name for p in EXAMPLES} == {*SEED_EXAMPLES, "quickstart", "sweep", "pipeline"}


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_validates(example: Path) -> None:
    result = runner.invoke(app, ["validate", "--chdir", str(example), "--no-color"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "Success! The configuration is valid."


@pytest.mark.parametrize("name", SEED_EXAMPLES)
def test_every_seed_example_validates_as_written(tmp_path: Path, name: str) -> None:
    (tmp_path / "main.tf").write_text(SEED_EXAMPLES[name])
    result = runner.invoke(app, ["validate", "-chdir", str(tmp_path), "-json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "format_version": "1.0",
        "valid": True,
        "error_count": 0,
        "warning_count": 0,
        "diagnostics": [],
    }


def test_invalid_config_exits_1_with_every_error_and_its_location(tmp_path: Path) -> None:
    (tmp_path / "jobs.tf").write_text(
        'resource "openai_fine_tuning_job" "a" {\n'
        '  model = "gpt-4o-mini"\n'
        '  training_file = "file-1"\n'
        "  seed = -1\n"
        '  sufix = "v1"\n'
        "}\n"
    )
    result = runner.invoke(app, ["validate", f"-chdir={tmp_path}", "-no-color"])
    assert result.exit_code == 1
    assert 'Error: Invalid value for "seed"' in result.output
    assert "on jobs.tf line 4:" in result.output and "   4:   seed = -1" in result.output
    assert 'Did you mean "suffix"?' in result.output and "on jobs.tf line 5:" in result.output
    assert "Success" not in result.output
    payload = json.loads(
        runner.invoke(app, ["validate", "--chdir", str(tmp_path), "--json"]).output
    )
    assert payload["error_count"] == 2
    assert [d["range"]["start"]["line"] for d in payload["diagnostics"]] == [4, 5]


def test_a_warning_alone_still_validates(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(
        'resource "openai_fine_tuning_job" "legacy" {\n'
        '  model = "gpt-4o-mini"\n'
        '  training_file = "file-1"\n'
        "  hyperparameters {\n"
        "    n_epochs = 2\n"
        "  }\n"
        "}\n"
    )
    result = runner.invoke(app, ["validate", "--chdir", str(tmp_path), "--no-color"])
    assert result.exit_code == 0
    assert 'Warning: The top-level "hyperparameters" block is deprecated' in result.output
    assert result.output.rstrip().endswith("Success! The configuration is valid.")


def test_validate_never_imports_openai(tmp_path: Path) -> None:
    # A fresh interpreter: this test process has imported openai long ago.
    script = (
        "import sys\n"
        "from ftctl.cli import app\n"
        "try:\n"
        f"    app(['validate', '--chdir', {str(REPO / 'examples' / 'quickstart')!r}])\n"
        "except SystemExit as exit:\n"
        "    print('exit', exit.code)\n"
        "print('openai' in sys.modules, 'ftctl.emulator.app' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO
    )
    assert result.stdout.splitlines()[-2:] == ["exit 0", "False False"], result.stderr


def test_a_literal_api_key_is_a_warning_that_never_shows_the_key(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text('provider "openai" {\n  api_key = "sk-literal-123"\n}\n')
    result = runner.invoke(app, ["validate", "--no-color", "--chdir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "Warning: API key written in the configuration" in result.output
    assert "on main.tf line 2:" in result.output
    assert "OPENAI_API_KEY" in result.output
    assert "sk-literal-123" not in result.output
