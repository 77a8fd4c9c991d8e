"""Validation of a create-job request, as the API does it: the first problem found is
answered 400 with `param` naming the field. Returns the request normalised for storage.
"""

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ftctl.emulator.errors import bad_request

AUTO = "auto"
METHOD_TYPES = ("supervised", "dpo", "reinforcement")
MAX_SEED = 2_147_483_647
MAX_METADATA_PAIRS = 16
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 512
MAX_SUFFIX = 64
MAX_INTEGRATIONS = 5
MAX_WANDB_TAGS = 50
MAX_WANDB_TAG = 64

# Fields each grader type requires (OpenAI's Grader* schemas).
GRADER_FIELDS: Mapping[str, tuple[str, ...]] = {
    "string_check": ("name", "input", "reference", "operation"),
    "text_similarity": ("name", "input", "reference", "evaluation_metric"),
    "python": ("name", "source"),
    "score_model": ("name", "model", "input"),
    "label_model": ("name", "model", "input", "labels", "passing_labels"),
    "multi": ("name", "graders", "calculate_output"),
}

Check = Callable[[Any], str | None]  # returns what was expected when the value is wrong


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _integer(low: int, high: int | None = None) -> Check:
    wanted = f"an integer from {low} to {high}" if high else f"an integer of at least {low}"

    def check(value: Any) -> str | None:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok and low <= value and (high is None or value <= high) else wanted

    return check


def _number(above: float, at_most: float | None = None) -> Check:
    wanted = f"a number above {above}" + (f" and at most {at_most}" if at_most else "")

    def check(value: Any) -> str | None:
        ok = _is_number(value) and value > above and (at_most is None or value <= at_most)
        return None if ok else wanted

    return check


def _choice(*options: str) -> Check:
    def check(value: Any) -> str | None:
        return None if value in options else "one of " + ", ".join(repr(o) for o in options)

    return check


_COMMON: dict[str, Check] = {
    "n_epochs": _integer(1, 50),
    "batch_size": _integer(1, 256),
    "learning_rate_multiplier": _number(0),
}
HYPERPARAMETERS: Mapping[str, Mapping[str, Check]] = {
    "supervised": _COMMON,
    "dpo": {**_COMMON, "beta": _number(0, 2)},
    "reinforcement": {
        **_COMMON,
        "reasoning_effort": _choice("default", "low", "medium", "high"),
        "compute_multiplier": _number(0.00001, 10),
        "eval_interval": _integer(1),
        "eval_samples": _integer(1),
    },
}
# Hyperparameters that take a fixed default instead of "auto".
NOT_AUTO_DEFAULTS: Mapping[str, str] = {"reasoning_effort": "default"}


@dataclass(frozen=True)
class JobRequest:
    model: str
    training_file: str
    validation_file: str | None
    suffix: str | None
    seed: int | None
    method: dict[str, Any]  # {"type": t, t: {"hyperparameters": {...}, ...}}, every key present
    integrations: list[dict[str, Any]] | None
    metadata: dict[str, str] | None

    @property
    def method_type(self) -> str:
        return str(self.method["type"])

    @property
    def hyperparameters(self) -> dict[str, Any]:
        return dict(self.method[self.method_type]["hyperparameters"])


def parse_job_request(body: Any) -> JobRequest:
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    known = {"model", "training_file", "validation_file", "suffix", "seed", "method"}
    known |= {"hyperparameters", "integrations", "metadata"}
    for key in body:
        if key not in known:
            raise bad_request(f"Unrecognized request argument supplied: {key}", param=key)
    model = _required_string(body, "model")
    training_file = _required_string(body, "training_file")
    validation_file = body.get("validation_file")
    if validation_file is not None and not _nonempty_string(validation_file):
        raise bad_request("validation_file must be a file ID.", param="validation_file")
    return JobRequest(
        model=model,
        training_file=training_file,
        validation_file=validation_file,
        suffix=_suffix(body.get("suffix")),
        seed=_seed(body.get("seed")),
        method=_method(body.get("method"), body.get("hyperparameters")),
        integrations=_integrations(body.get("integrations")),
        metadata=parse_metadata(body.get("metadata")),
    )


def parse_metadata(metadata: Any, param: str = "metadata") -> dict[str, str] | None:
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise bad_request("metadata must be an object of string keys and values.", param=param)
    if len(metadata) > MAX_METADATA_PAIRS:
        raise bad_request(
            f"metadata has {len(metadata)} pairs; at most {MAX_METADATA_PAIRS} are allowed.",
            param=param,
        )
    for key, value in metadata.items():
        if len(key) > MAX_METADATA_KEY:
            raise bad_request(
                f"metadata key {key[:20]!r}… is {len(key)} characters; "
                f"at most {MAX_METADATA_KEY} are allowed.",
                param=param,
            )
        if not isinstance(value, str):
            raise bad_request(f"metadata value for {key!r} must be a string.", param=param)
        if len(value) > MAX_METADATA_VALUE:
            raise bad_request(
                f"metadata value for {key!r} is {len(value)} characters; "
                f"at most {MAX_METADATA_VALUE} are allowed.",
                param=param,
            )
    return dict(metadata)


def _nonempty_string(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def _required_string(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if value is None:
        raise bad_request(f"Missing required parameter: '{key}'.", param=key)
    if not _nonempty_string(value):
        raise bad_request(f"Invalid type for '{key}': expected a non-empty string.", param=key)
    return str(value)


def _suffix(suffix: Any) -> str | None:
    if suffix is None:
        return None
    if not isinstance(suffix, str) or not 1 <= len(suffix) <= MAX_SUFFIX:
        raise bad_request(
            f"suffix must be a string of 1 to {MAX_SUFFIX} characters.", param="suffix"
        )
    return suffix


def _seed(seed: Any) -> int | None:
    if seed is None:
        return None
    if _integer(0, MAX_SEED)(seed) is not None:
        raise bad_request(f"seed must be an integer from 0 to {MAX_SEED}.", param="seed")
    return int(seed)


def _method(method: Any, legacy: Any) -> dict[str, Any]:
    if method is None:
        method = {"type": "supervised"}
    if not isinstance(method, dict):
        raise bad_request("method must be an object with a 'type'.", param="method")
    kind = method.get("type")
    if kind not in METHOD_TYPES:
        raise bad_request(
            f"Invalid method.type {kind!r}: expected one of {', '.join(METHOD_TYPES)}.",
            param="method.type",
        )
    for key in method:
        if key == "type":
            continue
        if key not in METHOD_TYPES:
            raise bad_request(f"Unrecognized argument method.{key}.", param=f"method.{key}")
        if key != kind and method[key] is not None:
            raise bad_request(
                f"method.{key} does not match method.type {kind!r}.", param=f"method.{key}"
            )
    block = method.get(kind) or {}
    if not isinstance(block, dict):
        raise bad_request(f"method.{kind} must be an object.", param=f"method.{kind}")
    allowed = (
        {"hyperparameters", "grader", "response_format"}
        if kind == "reinforcement"
        else {"hyperparameters"}
    )
    for key in block:
        if key not in allowed:
            raise bad_request(
                f"Unrecognized argument method.{kind}.{key}.", param=f"method.{kind}.{key}"
            )
    given = block.get("hyperparameters")
    if given is not None and legacy is not None:
        raise bad_request(
            "Give hyperparameters either in method or at the top level (deprecated), not both.",
            param="hyperparameters",
        )
    if legacy is not None:
        hyperparameters = _hyperparameters(legacy, _COMMON, "hyperparameters")
    else:
        hyperparameters = _hyperparameters(
            given, HYPERPARAMETERS[kind], f"method.{kind}.hyperparameters"
        )
    full = {name: NOT_AUTO_DEFAULTS.get(name, AUTO) for name in HYPERPARAMETERS[kind]}
    full.update(hyperparameters)
    normalised: dict[str, Any] = {"hyperparameters": full}
    if kind == "reinforcement":
        normalised["grader"] = _grader(block.get("grader"))
        normalised["response_format"] = block.get("response_format")
    return {"type": kind, kind: normalised}


def _hyperparameters(given: Any, checks: Mapping[str, Check], param: str) -> dict[str, Any]:
    if given is None:
        return {}
    if not isinstance(given, dict):
        raise bad_request(f"{param} must be an object.", param=param)
    for name, value in given.items():
        if name not in checks:
            raise bad_request(f"Unrecognized hyperparameter {name!r}.", param=f"{param}.{name}")
        if value == AUTO and name not in NOT_AUTO_DEFAULTS:
            continue
        expected = checks[name](value)
        if expected is not None:
            auto = "" if name in NOT_AUTO_DEFAULTS else " or 'auto'"
            raise bad_request(
                f"Invalid value for {name}: {value!r}. Expected {expected}{auto}.",
                param=f"{param}.{name}",
                code="invalid_hyperparameters",
            )
    return dict(given)


def _grader(grader: Any) -> dict[str, Any]:
    param = "method.reinforcement.grader"
    if grader is None:
        raise bad_request("Reinforcement fine-tuning requires a grader.", param=param)
    if not isinstance(grader, dict) or grader.get("type") not in GRADER_FIELDS:
        raise bad_request(
            "grader.type must be one of " + ", ".join(GRADER_FIELDS) + ".", param=f"{param}.type"
        )
    for field in GRADER_FIELDS[grader["type"]]:
        if field not in grader:
            raise bad_request(
                f"A {grader['type']} grader requires '{field}'.", param=f"{param}.{field}"
            )
    return dict(grader)


def _integrations(integrations: Any) -> list[dict[str, Any]] | None:
    if integrations is None:
        return None
    if not isinstance(integrations, list):
        raise bad_request("integrations must be a list.", param="integrations")
    if len(integrations) > MAX_INTEGRATIONS:
        raise bad_request(
            f"{len(integrations)} integrations given; at most {MAX_INTEGRATIONS} are allowed.",
            param="integrations",
        )
    return [_integration(item, f"integrations[{i}]") for i, item in enumerate(integrations)]


def _integration(item: Any, param: str) -> dict[str, Any]:
    if not isinstance(item, dict) or item.get("type") != "wandb":
        raise bad_request("Only 'wandb' integrations are supported.", param=f"{param}.type")
    wandb = item.get("wandb")
    if not isinstance(wandb, dict) or not _nonempty_string(wandb.get("project")):
        raise bad_request("A wandb integration requires a project.", param=f"{param}.wandb")
    for key in ("name", "entity"):
        if wandb.get(key) is not None and not isinstance(wandb[key], str):
            raise bad_request(f"wandb.{key} must be a string.", param=f"{param}.wandb.{key}")
    tags = wandb.get("tags") or []
    if not isinstance(tags, list) or len(tags) > MAX_WANDB_TAGS:
        raise bad_request(
            f"wandb.tags must be a list of at most {MAX_WANDB_TAGS} tags.",
            param=f"{param}.wandb.tags",
        )
    for tag in tags:
        if not isinstance(tag, str) or not 1 <= len(tag) <= MAX_WANDB_TAG:
            raise bad_request(
                f"Each wandb tag must be 1 to {MAX_WANDB_TAG} characters.",
                param=f"{param}.wandb.tags",
            )
    known = {"project", "name", "entity", "tags"}
    unknown = sorted(set(wandb) - known)
    if unknown:
        raise bad_request(f"Unrecognized argument wandb.{unknown[0]}.", param=f"{param}.wandb")
    return {"type": "wandb", "wandb": {key: wandb.get(key) for key in known if key in wandb}}
