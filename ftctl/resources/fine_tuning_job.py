"""`resource "openai_fine_tuning_job"`: the seed document's arguments (plus reinforcement),
the API's limits checked before any call, and the create request the arguments become."""

from typing import Any

from ftctl.diagnostics import Diagnostic, SourceRange, error, warning
from ftctl.lang.syntax import Block
from ftctl.resources.schema import (
    Argument,
    BlockType,
    Kind,
    integer_range,
    length_range,
    number_range,
    one_of,
)

TYPE = "openai_fine_tuning_job"
METHODS = ("supervised", "dpo", "reinforcement")
# ftctl stamps every create with this metadata key to find a job after an ambiguous failure
# (DESIGN 2.7), so users get one pair fewer than the API's 16.
RESERVED_METADATA_KEY = "ftctl_token"
MAX_USER_METADATA = 15
MAX_INTEGRATIONS = 5


def _metadata(value: dict[str, str]) -> str | None:
    if RESERVED_METADATA_KEY in value:
        return f'uses the key "{RESERVED_METADATA_KEY}", which ftctl reserves for itself'
    if len(value) > MAX_USER_METADATA:
        return f"has {len(value)} pairs; at most {MAX_USER_METADATA} are allowed"
    for key, item in value.items():
        if len(key) > 64:
            return f'has a key of {len(key)} characters ("{key[:20]}..."); at most 64 are allowed'
        if len(item) > 512:
            return f'has a value of {len(item)} characters for "{key}"; at most 512 are allowed'
    return None


def _tags(value: list[str]) -> str | None:
    if len(value) > 50:
        return f"has {len(value)} tags; at most 50 are allowed"
    long = [t for t in value if not 1 <= len(t) <= 64]
    return f"has a tag of {len(long[0])} characters; tags are 1 to 64" if long else None


N_EPOCHS = Argument("n_epochs", Kind.INTEGER, auto=True, check=integer_range(1, 50))
BATCH_SIZE = Argument("batch_size", Kind.INTEGER, auto=True, check=integer_range(1, 256))
LEARNING_RATE = Argument("learning_rate_multiplier", Kind.NUMBER, auto=True, check=number_range(0))
COMMON_HYPERPARAMETERS = (N_EPOCHS, BATCH_SIZE, LEARNING_RATE)

SCHEMA = BlockType(
    name=TYPE,
    arguments=(
        Argument("model", Kind.STRING, required=True, hint='for example model = "gpt-4o-mini".'),
        Argument(
            "training_file",
            Kind.STRING,
            required=True,
            hint="a file ID, or openai_file.NAME.id for a file this configuration uploads.",
        ),
        Argument("validation_file", Kind.STRING),
        Argument("suffix", Kind.STRING, check=length_range(1, 64)),
        Argument("seed", Kind.INTEGER, check=integer_range(0, 2_147_483_647)),
        Argument("metadata", Kind.STRING_MAP, check=_metadata),
        Argument("cancel_after_timeout", Kind.INTEGER, check=integer_range(1)),
    ),
    blocks=(
        BlockType(
            "method",
            arguments=(Argument("type", Kind.STRING, required=True, check=one_of(*METHODS)),),
            blocks=(
                BlockType(
                    "supervised",
                    blocks=(BlockType("hyperparameters", COMMON_HYPERPARAMETERS),),
                ),
                BlockType(
                    "dpo",
                    blocks=(
                        BlockType(
                            "hyperparameters",
                            (
                                Argument("beta", Kind.NUMBER, auto=True, check=number_range(0, 2)),
                                *COMMON_HYPERPARAMETERS,
                            ),
                        ),
                    ),
                ),
                BlockType(
                    "reinforcement",
                    arguments=(Argument("grader", Kind.OBJECT, required=True),),
                    blocks=(
                        BlockType(
                            "hyperparameters",
                            (
                                *COMMON_HYPERPARAMETERS,
                                Argument(
                                    "reasoning_effort",
                                    Kind.STRING,
                                    check=one_of("default", "low", "medium", "high"),
                                ),
                                Argument(
                                    "compute_multiplier",
                                    Kind.NUMBER,
                                    auto=True,
                                    check=number_range(0.00001, 10),
                                ),
                                Argument(
                                    "eval_interval", Kind.INTEGER, auto=True, check=integer_range(1)
                                ),
                                Argument(
                                    "eval_samples", Kind.INTEGER, auto=True, check=integer_range(1)
                                ),
                            ),
                        ),
                    ),
                ),
            ),
        ),
        BlockType("hyperparameters", COMMON_HYPERPARAMETERS),
        BlockType(
            "integrations",
            arguments=(Argument("type", Kind.STRING, required=True, check=one_of("wandb")),),
            blocks=(
                BlockType(
                    "wandb",
                    arguments=(
                        Argument("project", Kind.STRING, required=True),
                        Argument("name", Kind.STRING),
                        Argument("entity", Kind.STRING),
                        Argument("tags", Kind.STRING_LIST, check=_tags),
                    ),
                ),
            ),
            repeatable=True,
        ),
    ),
)


def check(arguments: dict[str, Any], block: Block) -> list[Diagnostic]:
    """Rules that span several arguments, beyond what the schema says of each."""
    problems: list[Diagnostic] = []
    where = block.where
    method_blocks = block.body.blocks_of("method")
    method_at = method_blocks[0].where if method_blocks else where

    def sub_block(name: str) -> SourceRange:
        found = method_blocks[0].body.blocks_of(name) if method_blocks else []
        return found[0].where if found else method_at

    method = arguments.get("method")
    if isinstance(method, dict) and method.get("type") in METHODS:
        kind = method["type"]
        for other in METHODS:
            if other != kind and other in method:
                problems.append(
                    error(
                        f'"method" has a "{other}" block but type "{kind}"',
                        f'Use a "{kind}" block inside method, or set type = "{other}".',
                        sub_block(other),
                    )
                )
        if kind == "reinforcement" and "reinforcement" not in method:
            problems.append(
                error(
                    "Reinforcement fine-tuning needs a grader",
                    "Add method { reinforcement { grader = { ... } } }.",
                    method_at,
                )
            )
    legacy = block.body.blocks_of("hyperparameters")
    if legacy:
        where = legacy[0].where
        if method is not None:
            problems.append(
                error(
                    'Both "hyperparameters" and "method" are set',
                    "The top-level hyperparameters block is deprecated; move its values into "
                    "method { supervised { hyperparameters { ... } } } and remove it.",
                    where,
                )
            )
        else:
            problems.append(
                warning(
                    'The top-level "hyperparameters" block is deprecated',
                    'Use method { type = "supervised" supervised { hyperparameters { ... } } }.',
                    where,
                )
            )
    integrations = arguments.get("integrations", [])
    integration_blocks = block.body.blocks_of("integrations")
    if len(integrations) > MAX_INTEGRATIONS:
        problems.append(
            error(
                f"{len(integrations)} integrations",
                f"A job takes at most {MAX_INTEGRATIONS} integrations.",
                integration_blocks[MAX_INTEGRATIONS].where,
            )
        )
    for integration, integration_block in zip(integrations, integration_blocks, strict=False):
        if integration.get("type") == "wandb" and "wandb" not in integration:
            problems.append(
                error(
                    'A "wandb" integration needs a wandb block',
                    'Add wandb { project = "..." } inside integrations.',
                    integration_block.where,
                )
            )
    return problems


def create_request(arguments: dict[str, Any]) -> dict[str, Any]:
    """The body ftctl sends to POST /fine_tuning/jobs: the diff base of the resource."""
    request: dict[str, Any] = {
        "model": arguments["model"],
        "training_file": arguments["training_file"],
    }
    for name in ("validation_file", "suffix", "seed", "metadata"):
        if arguments.get(name) is not None:
            request[name] = arguments[name]
    method = arguments.get("method")
    if method is not None:
        kind = method["type"]
        block = dict(method.get(kind) or {})
        request["method"] = {"type": kind, kind: block} if block else {"type": kind}
    elif "hyperparameters" in arguments:
        request["hyperparameters"] = arguments["hyperparameters"]
    if arguments.get("integrations"):
        request["integrations"] = arguments["integrations"]
    return request


def settings(arguments: dict[str, Any], create_before_destroy: bool) -> dict[str, Any]:
    """ftctl's own settings: they change in place, with no API call (DESIGN 2.2)."""
    return {
        "cancel_after_timeout": arguments.get("cancel_after_timeout"),
        "create_before_destroy": create_before_destroy,
    }
