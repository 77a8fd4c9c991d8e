"""A configuration from a directory of .tf files: every validation rule of issue 3 reported as an
error at its exact `file:line:col`, all of a run's errors together, the limits' boundaries
accepted, and the decoded arguments with the API request and ftctl settings they become."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from ftctl.diagnostics import Diagnostic, Severity, render
from ftctl.engine.desired import Walk, prepare
from ftctl.lang.config import Configuration
from ftctl.lang.values import UNKNOWN
from ftctl.planner import Desired
from tests.lang import at, marked, write

FILES_TF = 'resource "openai_file" "train" {\n  file = "data/train.jsonl"\n}\n'
DATA = '{"messages": [{"role": "user", "content": "hi"}]}\n'
REQUIRED = '  model         = "gpt-4o-mini"\n  training_file = openai_file.train.id\n'


def job(body: str, *, head: str = "") -> dict[str, str]:
    """main.tf with one job of this body (`head` goes before its `resource` keyword), next to
    files.tf's openai_file.train and that file's data."""
    return {
        "files.tf": FILES_TF,
        "data/train.jsonl": DATA,
        "main.tf": f'{head}resource "openai_fine_tuning_job" "bot" {{\n{body}}}\n',
    }


def method(kind: str, hyperparameters: str = "", *, type_: str | None = None) -> str:
    """A method block of this kind; `type_` overrides the type written in it."""
    inner = (
        f"      hyperparameters {{\n        {hyperparameters}\n      }}\n"
        if hyperparameters
        else ""
    )
    return f'  method {{\n    type = "{type_ or kind}"\n    {kind} {{\n{inner}    }}\n  }}\n'


def integration(*, mark: str = "", wandb: str = 'project = "p"') -> str:
    """An integrations block of type wandb; `mark` goes before it, `wandb` is its body."""
    return (
        f'  {mark}integrations {{\n    type = "wandb"\n    wandb {{\n      {wandb}\n    }}\n  }}\n'
    )


def metadata(pairs: int, *, mark: str = "") -> str:
    """A metadata argument with this many pairs; `mark` goes before its value."""
    items = ", ".join(f'"k{i}" = "v"' for i in range(pairs))
    return f"  metadata = {mark}{{ {items} }}\n"


def load(
    tmp_path: Path, files: Mapping[str, str | bytes]
) -> tuple[Configuration, list[Diagnostic]]:
    """What validate finds: the configuration, its variables and one evaluation of it."""
    return prepare(write(tmp_path, files), [], {})


def desires(configuration: Configuration) -> dict[str, Desired]:
    """Each resource's desire against an empty state: its request and settings."""
    return {d.address: d for d in Walk(configuration, configuration.values, {}, 0).run()}


def errors(problems: list[Diagnostic]) -> list[Diagnostic]:
    return [p for p in problems if p.severity is Severity.ERROR]


GRADER = (
    "      grader = {\n"
    '        type      = "string_check"\n'
    '        name      = "exact"\n'
    '        input     = "{{sample.output_text}}"\n'
    '        reference = "{{item.answer}}"\n'
    '        operation = "eq"\n'
    "      }\n"
)
LONG_KEY = "k" * 65
FIFTY_TAGS = ", ".join(['"t"'] * 50)

# (files with » where the one error must point, words of its summary, words of its detail)
INVALID = [
    # required arguments and blocks: the error points at the block that lacks them
    pytest.param(
        job("  training_file = openai_file.train.id\n", head="»"),
        'Missing required argument "model"',
        "gpt-4o-mini",
        id="missing-model",
    ),
    pytest.param(
        job('  model = "gpt-4o-mini"\n', head="»"),
        'Missing required argument "training_file"',
        "openai_file.NAME.id",
        id="missing-training-file",
    ),
    pytest.param(
        {"main.tf": '»resource "openai_file" "train" {\n  purpose = "fine-tune"\n}\n'},
        'Missing required argument "file"',
        ".jsonl",
        id="missing-file",
    ),
    pytest.param(
        job(REQUIRED + "  »method {\n  }\n"),
        'Missing required argument "type"',
        "",
        id="method-without-type",
    ),
    # types
    pytest.param(
        job(REQUIRED + method("supervised", 'n_epochs = »"three"')),
        'Invalid value for "n_epochs"',
        'must be a whole number or "auto"; got "three"',
        id="string-for-integer",
    ),
    pytest.param(
        job(REQUIRED + method("supervised", "batch_size = »2.5")),
        'Invalid value for "batch_size"',
        "must be a whole number",
        id="fraction-for-integer",
    ),
    pytest.param(
        job(REQUIRED + method("supervised", "learning_rate_multiplier = »true")),
        'Invalid value for "learning_rate_multiplier"',
        "must be a number",
        id="bool-for-number",
    ),
    pytest.param(
        job(REQUIRED + '  seed = »"auto"\n'),
        'Invalid value for "seed"',
        "must be a whole number",
        id="auto-where-not-allowed",
    ),
    pytest.param(
        job(REQUIRED + '  metadata = »["a"]\n'),
        'Invalid value for "metadata"',
        "must be a map of strings",
        id="list-for-map",
    ),
    pytest.param(
        job(REQUIRED + integration(wandb='tags = »"a"\n      project = "p"')),
        'Invalid value for "tags"',
        "must be a list of strings",
        id="string-for-list",
    ),
    pytest.param(
        job(REQUIRED + '  lifecycle {\n    create_before_destroy = »"yes"\n  }\n'),
        'Invalid "create_before_destroy"',
        "A static value is required: write true or false.",
        id="string-for-bool",
    ),
    pytest.param(
        job(
            REQUIRED
            + '  method {\n    type = "reinforcement"\n    reinforcement {\n'
            + '      grader = »"x"\n    }\n  }\n'
        ),
        'Invalid value for "grader"',
        "must be an object",
        id="string-for-object",
    ),
    # the API's limits
    *(
        pytest.param(
            job(REQUIRED + method(kind, f"{name} = »{value}")),
            f'Invalid value for "{name}"',
            detail,
            id=f"{kind}-{name}-{value}",
        )
        for kind, name, value, detail in [
            ("supervised", "n_epochs", "0", "must be from 1 to 50"),
            ("supervised", "n_epochs", "51", "must be from 1 to 50"),
            ("supervised", "batch_size", "0", "must be from 1 to 256"),
            ("supervised", "batch_size", "257", "must be from 1 to 256"),
            ("supervised", "learning_rate_multiplier", "0", "must be greater than 0"),
            ("supervised", "learning_rate_multiplier", "-0.5", "must be greater than 0"),
            ("dpo", "beta", "0", "must be greater than 0 and at most 2"),
            ("dpo", "beta", "2.5", "must be greater than 0 and at most 2"),
            ("dpo", "n_epochs", "51", "must be from 1 to 50"),
        ]
    ),
    pytest.param(
        job(REQUIRED + '  suffix = »""\n'),
        'Invalid value for "suffix"',
        "must be 1 to 64 characters long (it has 0)",
        id="suffix-empty",
    ),
    pytest.param(
        job(REQUIRED + f'  suffix = »"{"s" * 65}"\n'),
        'Invalid value for "suffix"',
        "(it has 65)",
        id="suffix-65",
    ),
    pytest.param(
        job(REQUIRED + "  seed = »-1\n"),
        'Invalid value for "seed"',
        "from 0 to 2147483647",
        id="seed--1",
    ),
    pytest.param(
        job(REQUIRED + "  seed = »2147483648\n"),
        'Invalid value for "seed"',
        "from 0 to 2147483647",
        id="seed-2147483648",
    ),
    pytest.param(
        job(REQUIRED + "  cancel_after_timeout = »0\n"),
        'Invalid value for "cancel_after_timeout"',
        "at least 1",
        id="cancel-after-timeout-0",
    ),
    pytest.param(
        job(REQUIRED + metadata(16, mark="»")),
        'Invalid value for "metadata"',
        "16 pairs; at most 15",
        id="metadata-16-pairs",
    ),
    pytest.param(
        job(REQUIRED + '  metadata = »{ team = "a", ftctl_token = "mine" }\n'),
        'Invalid value for "metadata"',
        '"ftctl_token", which ftctl reserves',
        id="metadata-reserved-key",
    ),
    pytest.param(
        job(REQUIRED + f'  metadata = »{{ {LONG_KEY} = "v" }}\n'),
        'Invalid value for "metadata"',
        "key of 65 characters",
        id="metadata-key-65",
    ),
    pytest.param(
        job(REQUIRED + f'  metadata = »{{ team = "{"v" * 513}" }}\n'),
        'Invalid value for "metadata"',
        'value of 513 characters for "team"',
        id="metadata-value-513",
    ),
    pytest.param(
        job(REQUIRED + integration(wandb=f'project = "p"\n      tags = »["{"t" * 65}"]')),
        'Invalid value for "tags"',
        "tag of 65 characters",
        id="wandb-tag-65",
    ),
    # integrations
    pytest.param(
        job(REQUIRED + integration() * 5 + integration(mark="»")),
        "6 integrations",
        "at most 5",
        id="six-integrations",
    ),
    pytest.param(
        job(
            REQUIRED
            + '  integrations {\n    type = "wandb"\n    »wandb {\n      name = "run"\n    }\n  }\n'
        ),
        'Missing required argument "project"',
        "",
        id="wandb-without-project",
    ),
    pytest.param(
        job(REQUIRED + '  »integrations {\n    type = "wandb"\n  }\n'),
        'A "wandb" integration needs a wandb block',
        'project = "..."',
        id="wandb-without-wandb-block",
    ),
    pytest.param(
        job(REQUIRED + integration().replace('"wandb"', '»"comet"', 1)),
        'Invalid value for "type"',
        'must be one of "wandb"',
        id="integration-type-not-wandb",
    ),
    # method
    pytest.param(
        job(REQUIRED + method("supervised", type_="rlhf").replace('"rlhf"', '»"rlhf"')),
        'Invalid value for "type"',
        '"supervised", "dpo", "reinforcement"',
        id="method-type-rlhf",
    ),
    pytest.param(
        job(
            REQUIRED
            + method("supervised", "n_epochs = 3", type_="dpo").replace(
                "    supervised", "    »supervised"
            )
        ),
        '"method" has a "supervised" block but type "dpo"',
        'set type = "supervised"',
        id="dpo-with-supervised-block",
    ),
    pytest.param(
        job(REQUIRED + '  »method {\n    type = "reinforcement"\n  }\n'),
        "Reinforcement fine-tuning needs a grader",
        "grader = {",
        id="reinforcement-without-block",
    ),
    pytest.param(
        job(
            REQUIRED + '  method {\n    type = "reinforcement"\n    »reinforcement {\n    }\n  }\n'
        ),
        'Missing required argument "grader"',
        "",
        id="reinforcement-without-grader",
    ),
    pytest.param(
        job(REQUIRED + method("supervised") + "  »hyperparameters {\n    n_epochs = 3\n  }\n"),
        'Both "hyperparameters" and "method" are set',
        "deprecated",
        id="hyperparameters-with-method",
    ),
    pytest.param(
        job(REQUIRED + method("supervised") + method("dpo").replace("  method", "  »method", 1)),
        'Duplicate "method" block',
        "",
        id="two-method-blocks",
    ),
    pytest.param(
        job(REQUIRED + '  »method "supervised" {\n    type = "supervised"\n  }\n'),
        'Unexpected label on "method" block',
        "",
        id="label-on-nested-block",
    ),
    # names
    pytest.param(
        job(REQUIRED + method("supervised", "»n_epoch = 3")),
        'Unsupported argument "n_epoch"',
        'Did you mean "n_epochs"?',
        id="typo-n_epoch",
    ),
    pytest.param(
        job(REQUIRED + '  »metadta = { team = "a" }\n'),
        'Unsupported argument "metadta"',
        'Did you mean "metadata"?',
        id="typo-metadta",
    ),
    pytest.param(
        job(REQUIRED + '  »integration {\n    type = "wandb"\n  }\n'),
        'Unsupported block type "integration"',
        'Did you mean "integrations"?',
        id="typo-block-type",
    ),
    pytest.param(
        job(REQUIRED + "  »timeouts {\n  }\n"),
        'Unsupported block type "timeouts"',
        'has no block type named "timeouts".',
        id="unknown-block-type",
    ),
    # top level
    pytest.param(
        {"main.tf": '»resource "openai_model" "m" {\n  model = "x"\n}\n'},
        'Unsupported resource type "openai_model"',
        '"openai_fine_tuning_job" and "openai_file"',
        id="unsupported-resource-type",
    ),
    pytest.param(
        {"main.tf": '»resource "openai_file" {\n  file = "x"\n}\n'},
        "A resource block needs a type and a name",
        "",
        id="resource-with-one-label",
    ),
    *(
        pytest.param(
            {"main.tf": f"»{text}"},
            f'"{kind}" blocks are not supported',
            "a configuration is one root module",
            id=f"{kind}-block",
        )
        for kind, text in [
            ("data", 'data "openai_model" "m" {\n}\n'),
            ("module", 'module "m" {\n  source = "./m"\n}\n'),
        ]
    ),
    pytest.param(
        {"main.tf": "terraform {\n}\n»resouce {\n}\n"},
        'Unknown block type "resouce"',
        "resource, variable, locals, output, provider and terraform",
        id="unknown-top-level-block",
    ),
    pytest.param(
        {"main.tf": '»region = "eu"\n'},
        'Unexpected argument "region" outside any block',
        "",
        id="top-level-attribute",
    ),
    pytest.param(
        {"main.tf": '»provider "anthropic" {\n}\n'},
        "Unsupported provider",
        'provider "openai"',
        id="provider-not-openai",
    ),
    pytest.param(
        {"main.tf": 'provider "openai" {\n}\n\n»provider "openai" {\n}\n'},
        'Duplicate provider "openai" block',
        "main.tf:1:1",
        id="duplicate-provider",
    ),
    pytest.param(
        {"main.tf": 'provider "openai" {\n  »api_keys = "sk"\n}\n'},
        'Unsupported argument "api_keys"',
        'Did you mean "api_key"?',
        id="provider-typo",
    ),
    pytest.param(
        {"main.tf": 'provider "openai" {\n  max_retries = »11\n}\n'},
        'Invalid value for "max_retries"',
        "from 0 to 10",
        id="provider-max-retries-11",
    ),
    pytest.param(
        {"main.tf": 'provider "openai" {\n  timeout = »0\n}\n'},
        'Invalid value for "timeout"',
        "greater than 0",
        id="provider-timeout-0",
    ),
    pytest.param(
        {**job(REQUIRED), "files.tf": FILES_TF.replace("}", '  purpose = »"assistants"\n}')},
        'Invalid value for "purpose"',
        '"fine-tune"',
        id="file-purpose",
    ),
    # references
    pytest.param(
        job(REQUIRED.replace("openai_file.train.id", "»openai_file.missing.id")),
        "Reference to undeclared resource",
        'A managed resource "openai_file" "missing" has not been declared',
        id="undeclared-resource",
    ),
    pytest.param(
        job(REQUIRED.replace("openai_file.train.id", "»openai_file.train.path")),
        "Unsupported attribute",
        'named "path". It has: bytes, created_at, file, filename, id, purpose, sha256',
        id="attribute-not-exported",
    ),
    pytest.param(
        job(REQUIRED.replace("openai_file.train.id", "»var.training_file")),
        "Reference to undeclared input variable",
        'An input variable with the name "training_file" has not been declared',
        id="variable-reference",
    ),
    # data files
    pytest.param(
        {"files.tf": "»" + FILES_TF, "main.tf": job(REQUIRED)["main.tf"]},
        "Data file not found",
        "openai_file.train uploads data/train.jsonl",
        id="missing-data-file",
    ),
]


@pytest.mark.parametrize(("files", "summary", "detail"), INVALID)
def test_each_invalid_config_is_one_error_at_its_exact_position(
    tmp_path: Path, files: dict[str, str], summary: str, detail: str
) -> None:
    clean, where = marked(files)
    _, problems = load(tmp_path, clean)
    found = errors(problems)
    assert [(summary in p.summary, str(p.where)) for p in found] == [(True, where)], [
        (p.summary, p.detail, str(p.where)) for p in found
    ]
    assert detail in found[0].detail


def test_a_duplicate_argument_points_at_the_second_and_names_the_first_line(
    tmp_path: Path,
) -> None:
    files = job(REQUIRED + '  suffix = "a"\n  suffix = "b"\n')
    _, problems = load(tmp_path, files)
    text = files["main.tf"]
    first, second = at("main.tf", text, "suffix", 1), at("main.tf", text, "suffix", 2)
    assert [(p.summary, str(p.where)) for p in problems] == [
        ('Duplicate argument "suffix"', second)
    ]
    assert f"already set at line {first.split(':')[1]}" in problems[0].detail


@pytest.mark.parametrize(
    "files",
    [
        pytest.param(
            {"main.tf": FILES_TF + "\n" + FILES_TF, "data/train.jsonl": DATA}, id="same-file"
        ),
        pytest.param(
            {"a.tf": FILES_TF, "b.tf": FILES_TF, "data/train.jsonl": DATA}, id="across-files"
        ),
    ],
)
def test_a_duplicate_resource_address_points_at_the_second_and_names_the_first(
    tmp_path: Path, files: dict[str, str]
) -> None:
    configuration, problems = load(tmp_path, files)
    tf = [name for name in files if name.endswith(".tf")]
    first = at(tf[0], files[tf[0]], "resource")
    second = at(tf[-1], files[tf[-1]], "resource", 2 if len(tf) == 1 else 1)
    assert [(p.summary, str(p.where)) for p in problems] == [
        ("Duplicate resource openai_file.train", second)
    ]
    assert f"already declared at {first}" in problems[0].detail
    assert str(configuration.resources["openai_file.train"].where) == first


def test_top_level_hyperparameters_alone_is_only_a_deprecation_warning(tmp_path: Path) -> None:
    files = job(REQUIRED + "  hyperparameters {\n    n_epochs = 3\n  }\n")
    configuration, problems = load(tmp_path, files)
    assert [(p.severity, p.summary, str(p.where)) for p in problems] == [
        (
            Severity.WARNING,
            'The top-level "hyperparameters" block is deprecated',
            at("main.tf", files["main.tf"], "hyperparameters"),
        )
    ]
    bot = desires(configuration)["openai_fine_tuning_job.bot"]
    assert bot.arguments["hyperparameters"] == {"n_epochs": 3}


def test_data_file_lines_that_are_not_json_objects_are_named_with_their_line(
    tmp_path: Path,
) -> None:
    lines = ['{"a": 1}', '{"a": 2}', "{not json", "", '["an", "array"]', '{"a": 3}']
    files = {**job(REQUIRED), "data/train.jsonl": "\n".join(lines) + "\n"}
    _, problems = load(tmp_path, files)
    assert [(p.summary, str(p.where)) for p in problems] == [
        ("Line 3 of data/train.jsonl is not valid JSON", "data/train.jsonl:3:1"),
        ("Line 5 of data/train.jsonl is JSON but not an object", "data/train.jsonl:5:1"),
    ]
    assert "line 3 is not valid JSON (" in problems[0].detail


def test_blank_lines_in_a_data_file_are_fine(tmp_path: Path) -> None:
    files = {**job(REQUIRED), "data/train.jsonl": '\n{"a": 1}\n\n   \n{"a": 2}\n\n'}
    assert load(tmp_path, files)[1] == []


def test_all_errors_of_a_config_are_reported_together(tmp_path: Path) -> None:
    files = {
        "files.tf": FILES_TF
        + 'resource "openai_file" "valid" {\n  file = "data/nowhere.jsonl"\n}\n',
        "data/train.jsonl": '{"a": 1}\n[]\n',
        "main.tf": (
            'resource "openai_fine_tuning_job" "bot" {\n'
            "  training_file = openai_file.train.path\n"
            "  seed          = -1\n"
            "  n_epoch       = 3\n" + method("dpo", "beta = 2.5") + "}\n"
            'variable "x" {\n  type = strin\n  default = 1\n}\n'
        ),
    }
    _, problems = load(tmp_path, files)
    text = files["main.tf"]
    assert sorted((p.summary, str(p.where)) for p in problems) == sorted(
        [
            ('Unsupported argument "n_epoch"', at("main.tf", text, "n_epoch")),
            ('Invalid value for "seed"', at("main.tf", text, "-1")),
            ('Invalid value for "beta"', at("main.tf", text, "2.5")),
            ('Missing required argument "model"', "main.tf:1:1"),
            ("Invalid type specification", at("main.tf", text, "strin")),
            ("Unsupported attribute", at("main.tf", text, "openai_file")),
            ("Data file not found", at("files.tf", files["files.tf"], "resource", 2)),
            ("Line 2 of data/train.jsonl is JSON but not an object", "data/train.jsonl:2:1"),
        ]
    )
    assert all(p.severity is Severity.ERROR for p in problems)


ACCEPTED = [
    pytest.param(method("supervised", "n_epochs = 1"), id="n_epochs-1"),
    pytest.param(method("supervised", "n_epochs = 50"), id="n_epochs-50"),
    pytest.param(method("supervised", "batch_size = 1"), id="batch_size-1"),
    pytest.param(method("supervised", "batch_size = 256"), id="batch_size-256"),
    pytest.param(method("supervised", "learning_rate_multiplier = 0.0001"), id="lr-small"),
    pytest.param(method("dpo", "beta = 2"), id="beta-2"),
    pytest.param(method("dpo", "beta = 0.001"), id="beta-small"),
    pytest.param(f'  suffix = "{"s" * 64}"\n', id="suffix-64"),
    pytest.param('  suffix = "a"\n', id="suffix-1"),
    pytest.param("  seed = 0\n", id="seed-0"),
    pytest.param("  seed = 2147483647\n", id="seed-max"),
    pytest.param("  cancel_after_timeout = 1\n", id="cancel-after-timeout-1"),
    pytest.param(metadata(15), id="metadata-15-pairs"),
    pytest.param(
        f'  metadata = {{ {"k" * 64} = "{"v" * 512}" }}\n', id="metadata-key-64-value-512"
    ),
    pytest.param("  metadata = {}\n", id="metadata-empty"),
    pytest.param(integration() * 5, id="five-integrations"),
    pytest.param(
        integration(wandb=f'project = "p"\n      tags = [{FIFTY_TAGS}]'),
        id="fifty-wandb-tags",
    ),
    pytest.param(
        method(
            "supervised",
            'n_epochs = "auto"\n batch_size = "auto"\n learning_rate_multiplier = "auto"',
        ),
        id="supervised-auto",
    ),
    pytest.param(
        method(
            "dpo",
            'beta = "auto"\n n_epochs = "auto"\n batch_size = "auto"\n'
            ' learning_rate_multiplier = "auto"',
        ),
        id="dpo-auto",
    ),
    pytest.param(
        '  method {\n    type = "reinforcement"\n    reinforcement {\n'
        + GRADER
        + "      hyperparameters {\n"
        '        n_epochs = "auto"\n        batch_size = "auto"\n'
        '        learning_rate_multiplier = "auto"\n        compute_multiplier = "auto"\n'
        '        eval_interval = "auto"\n        eval_samples = "auto"\n'
        '        reasoning_effort = "medium"\n'
        "      }\n    }\n  }\n",
        id="reinforcement-auto",
    ),
    pytest.param('  method {\n    type = "dpo"\n  }\n', id="method-type-without-sub-block"),
    pytest.param('  validation_file = "file-abc123"\n', id="file-id-literal"),
    pytest.param("  lifecycle {\n    create_before_destroy = false\n  }\n", id="lifecycle"),
]


@pytest.mark.parametrize("body", ACCEPTED)
def test_values_at_the_limits_are_accepted(tmp_path: Path, body: str) -> None:
    assert load(tmp_path, job(REQUIRED + body))[1] == []


def test_terraform_and_provider_blocks_are_accepted(tmp_path: Path) -> None:
    files = {
        "main.tf": (
            'terraform {\n  required_version = ">= 1.5"\n  backend "local" {}\n}\n'
            'provider "openai" {\n  api_key = "sk-test"\n  base_url = "http://127.0.0.1:1/v1"\n'
            '  organization = "org-1"\n  project = "proj-1"\n  max_retries = 0\n'
            "  timeout = 2.5\n}\n"
        )
    }
    configuration, problems = load(tmp_path, files)
    # Accepted, with a warning: a key written in the file is a key anyone reading it has.
    assert [(p.severity, p.summary) for p in problems] == [
        (Severity.WARNING, "API key written in the configuration")
    ]
    assert configuration.provider == {
        "api_key": "sk-test",
        "base_url": "http://127.0.0.1:1/v1",
        "organization": "org-1",
        "project": "proj-1",
        "max_retries": 0,
        "timeout": 2.5,
    }
    assert configuration.resources == {}


# Rules the code does not implement correctly yet: each test states the expected behaviour.


def test_a_required_argument_set_to_null_is_an_error(tmp_path: Path) -> None:
    files = job(REQUIRED.replace('"gpt-4o-mini"', "null"))
    _, problems = load(tmp_path, files)
    assert any('"model"' in p.summary for p in errors(problems))


def test_a_number_where_a_string_is_needed_becomes_a_string_as_in_terraform(
    tmp_path: Path,
) -> None:
    files = job(REQUIRED.replace('"gpt-4o-mini"', "42"))
    configuration, problems = load(tmp_path, files)
    assert errors(problems) == []
    assert desires(configuration)["openai_fine_tuning_job.bot"].arguments["model"] == "42"


def test_a_syntax_error_does_not_cascade_into_undeclared_references(tmp_path: Path) -> None:
    files = job(REQUIRED) | {"files.tf": FILES_TF.replace("}\n", "")}
    _, problems = load(tmp_path, files)
    assert [p.summary for p in problems] == ["Unexpected end of file"]


def test_a_syntax_error_is_rendered_with_its_source_line(tmp_path: Path) -> None:
    configuration, problems = load(tmp_path, {"main.tf": 'x = 1\ny = "open\n'})
    assert '   2: y = "open' in render(problems[0], configuration.sources)


@pytest.mark.parametrize(
    ("argument", "addresses"),
    [
        ("  count = 2\n", ["openai_fine_tuning_job.bot[0]", "openai_fine_tuning_job.bot[1]"]),
        (
            '  for_each = toset(["b", "a"])\n',
            ['openai_fine_tuning_job.bot["a"]', 'openai_fine_tuning_job.bot["b"]'],
        ),
        ("  for_each = {}\n", []),
    ],
)
def test_count_and_for_each_make_one_instance_per_index_or_key(
    tmp_path: Path, argument: str, addresses: list[str]
) -> None:
    configuration, problems = load(tmp_path, job(REQUIRED + argument))
    assert problems == []
    jobs = [a for a in desires(configuration) if a.startswith("openai_fine_tuning_job")]
    assert jobs == addresses


# Decoded values, and what they become.

FULL_MAIN = """\
provider "openai" {
  base_url = "http://127.0.0.1:8080/v1"
}

resource "openai_fine_tuning_job" "bot" {
  model                = "gpt-4o-mini-2024-07-18"
  training_file        = openai_file.train.id
  validation_file      = openai_file.valid.id
  suffix               = "support-bot"
  seed                 = 42
  cancel_after_timeout = 3600
  metadata = {
    team          = "support"
    "cost-center" = "42"
  }

  method {
    type = "dpo"
    dpo {
      hyperparameters {
        beta                     = 0.1
        n_epochs                 = "auto"
        batch_size               = 8
        learning_rate_multiplier = 1.5
      }
    }
  }

  integrations {
    type = "wandb"
    wandb {
      project = "ft"
      name    = "run-1"
      entity  = "acme"
      tags    = ["a", "b"]
    }
  }

  lifecycle {
    create_before_destroy = true
  }
}
"""
FULL_FILES = {
    "files.tf": FILES_TF + 'resource "openai_file" "valid" {\n  file = "data/valid.jsonl"\n}\n',
    "main.tf": FULL_MAIN,
    "data/train.jsonl": DATA,
    "data/valid.jsonl": DATA,
}


DPO = {
    "hyperparameters": {
        "beta": 0.1,
        "n_epochs": "auto",
        "batch_size": 8,
        "learning_rate_multiplier": 1.5,
    }
}
WANDB = {
    "type": "wandb",
    "wandb": {"project": "ft", "name": "run-1", "entity": "acme", "tags": ["a", "b"]},
}


def test_a_full_config_decodes_its_blocks_and_the_graph(tmp_path: Path) -> None:
    configuration, problems = load(tmp_path, FULL_FILES)
    assert problems == []
    assert list(configuration.resources) == [
        "openai_file.train",
        "openai_file.valid",
        "openai_fine_tuning_job.bot",
    ]
    assert configuration.provider == {"base_url": "http://127.0.0.1:8080/v1"}
    assert set(configuration.sources) == {"files.tf", "main.tf"}
    bot = configuration.resources["openai_fine_tuning_job.bot"]
    assert (bot.type, bot.name, bot.address, str(bot.where)) == (
        "openai_fine_tuning_job",
        "bot",
        "openai_fine_tuning_job.bot",
        at("main.tf", FULL_MAIN, 'resource "openai_fine_tuning_job"'),
    )
    assert bot.lifecycle.create_before_destroy is True
    assert configuration.graph["openai_fine_tuning_job.bot"] == {
        "openai_file.train",
        "openai_file.valid",
    }
    assert configuration.resource_order()[-1] == "openai_fine_tuning_job.bot"
    train = desires(configuration)["openai_file.train"]
    assert (train.arguments["file"], train.arguments["purpose"]) == (
        "data/train.jsonl",
        "fine-tune",
    )


def test_a_full_config_becomes_the_api_create_request_and_ftctl_settings(
    tmp_path: Path,
) -> None:
    configuration, _ = load(tmp_path, FULL_FILES)
    bot = desires(configuration)["openai_fine_tuning_job.bot"]
    assert bot.arguments == {
        "model": "gpt-4o-mini-2024-07-18",
        "training_file": UNKNOWN,
        "validation_file": UNKNOWN,
        "suffix": "support-bot",
        "seed": 42,
        "metadata": {"team": "support", "cost-center": "42"},
        "method": {"type": "dpo", "dpo": DPO},
        "integrations": [WANDB],
    }
    assert bot.settings == {"cancel_after_timeout": 3600, "create_before_destroy": True}
    assert bot.depends_on == ("openai_file.train", "openai_file.valid")


# (job body after model and training_file, the request's keys besides those two)
REQUESTS = [
    pytest.param("", {}, id="minimal"),
    pytest.param(
        method("supervised", "n_epochs = 3"),
        {"method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3}}}},
        id="supervised",
    ),
    pytest.param(
        '  method {\n    type = "dpo"\n  }\n', {"method": {"type": "dpo"}}, id="type-only"
    ),
    pytest.param(
        '  method {\n    type = "reinforcement"\n    reinforcement {\n' + GRADER + "    }\n  }\n",
        {
            "method": {
                "type": "reinforcement",
                "reinforcement": {
                    "grader": {
                        "type": "string_check",
                        "name": "exact",
                        "input": "{{sample.output_text}}",
                        "reference": "{{item.answer}}",
                        "operation": "eq",
                    }
                },
            }
        },
        id="reinforcement",
    ),
    pytest.param(
        '  hyperparameters {\n    n_epochs = 2\n    batch_size = "auto"\n  }\n',
        {"hyperparameters": {"n_epochs": 2, "batch_size": "auto"}},
        id="legacy-hyperparameters-at-top-level",
    ),
    pytest.param(
        "  cancel_after_timeout = 60\n  lifecycle {\n    create_before_destroy = true\n  }\n",
        {},
        id="ftctl-settings-are-not-sent",
    ),
    pytest.param(
        "  suffix = null\n  seed = 0\n  metadata = {}\n",
        {"seed": 0, "metadata": {}},
        id="null-omitted-zero-and-empty-kept",
    ),
]


@pytest.mark.parametrize(("body", "expected"), REQUESTS)
def test_create_request_nests_the_method_and_keeps_legacy_hyperparameters(
    tmp_path: Path, body: str, expected: dict[str, Any]
) -> None:
    files = job(REQUIRED + body)
    configuration, problems = load(tmp_path, files)
    assert errors(problems) == []
    request = desires(configuration)["openai_fine_tuning_job.bot"].arguments
    assert request == {"model": "gpt-4o-mini", "training_file": UNKNOWN, **expected}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            "", {"cancel_after_timeout": None, "create_before_destroy": False}, id="defaults"
        ),
        pytest.param(
            "  cancel_after_timeout = 7200\n  lifecycle {\n  }\n",
            {"cancel_after_timeout": 7200, "create_before_destroy": False},
            id="empty-lifecycle",
        ),
        pytest.param(
            "  lifecycle {\n    create_before_destroy = true\n  }\n",
            {"cancel_after_timeout": None, "create_before_destroy": True},
            id="create-before-destroy",
        ),
    ],
)
def test_settings_hold_the_timeout_and_create_before_destroy(
    tmp_path: Path, body: str, expected: dict[str, Any]
) -> None:
    configuration, problems = load(tmp_path, job(REQUIRED + body))
    assert problems == []
    assert desires(configuration)["openai_fine_tuning_job.bot"].settings == expected
