"""Checks a JSONL training or validation file the way fine-tuning does before it queues a job.

Tokens are estimated, not tokenised: every string in an example counts ceil(characters / 4)
tokens (roles excepted), and every message adds 3 for its framing. Close enough to real
counts to rehearse budgets with, and stable, which matters more here.
"""

import json
import math
from dataclasses import dataclass
from enum import Enum
from typing import Any

MINIMUM_EXAMPLES = 10
TOKENS_PER_MESSAGE = 3
_CHAT_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


class ExampleFormat(Enum):
    CHAT = "chat"
    PROMPT_COMPLETION = "prompt_completion"
    PREFERENCE = "preference"
    REINFORCEMENT = "reinforcement"


@dataclass(frozen=True)
class DatasetFacts:
    examples: int
    tokens: int


@dataclass(frozen=True)
class DatasetProblem:
    message: str


class _BadExample(Exception):
    pass


def inspect_dataset(content: bytes, example_format: ExampleFormat) -> DatasetFacts | DatasetProblem:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return DatasetProblem(f"Invalid file format. The file is not UTF-8 (byte {exc.start}).")
    examples = tokens = 0
    # JSONL lines end at "\n" only: str.splitlines() would also break at U+2028 and friends,
    # which JSON allows unescaped inside strings.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            example = json.loads(line, parse_constant=_refuse_constant)
        except json.JSONDecodeError as exc:
            return DatasetProblem(f"Invalid file format. Line {number}: invalid JSON ({exc.msg}).")
        except ValueError as exc:
            # NaN and Infinity (not JSON), or an integer too long for Python to read.
            return DatasetProblem(f"Invalid file format. Line {number}: invalid JSON ({exc}).")
        try:
            _check_example(example, example_format)
        except _BadExample as exc:
            return DatasetProblem(f"Invalid file format. Line {number}: {exc}")
        examples += 1
        tokens += count_tokens(example)
    if examples < MINIMUM_EXAMPLES:
        return DatasetProblem(
            f"The file has {examples} example(s), but must have at least "
            f"{MINIMUM_EXAMPLES} examples."
        )
    return DatasetFacts(examples=examples, tokens=tokens)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def count_tokens(value: Any, key: str | None = None) -> int:
    if isinstance(value, str):
        return 0 if key == "role" else math.ceil(len(value) / 4)
    if isinstance(value, list):
        return sum(count_tokens(item) for item in value)
    if isinstance(value, dict):
        framing = TOKENS_PER_MESSAGE if "role" in value else 0
        return framing + sum(count_tokens(item, name) for name, item in value.items())
    return 0


def _check_example(example: Any, example_format: ExampleFormat) -> None:
    if not isinstance(example, dict):
        raise _BadExample("each line must be a JSON object.")
    match example_format:
        case ExampleFormat.CHAT:
            messages = _messages(example, "messages")
            if not any(message["role"] == "assistant" for message in messages):
                raise _BadExample('"messages" needs at least one assistant message to train on.')
        case ExampleFormat.PROMPT_COMPLETION:
            for key in ("prompt", "completion"):
                if not isinstance(example.get(key), str):
                    raise _BadExample(f'"{key}" must be a string.')
        case ExampleFormat.PREFERENCE:
            prompt = example.get("input")
            if not isinstance(prompt, dict):
                raise _BadExample('"input" must be an object with "messages".')
            _messages(prompt, "messages", where='"input".')
            for key, legacy in (
                ("preferred_output", "preferred_completion"),
                ("non_preferred_output", "non_preferred_completion"),
            ):
                name = key if key in example else legacy
                output = _messages(example, name, where="", reported=key)
                if len(output) != 1 or output[0]["role"] != "assistant":
                    raise _BadExample(f'"{key}" must hold exactly one assistant message.')
        case ExampleFormat.REINFORCEMENT:
            _messages(example, "messages")


def _messages(
    holder: dict[str, Any], key: str, where: str = "", reported: str | None = None
) -> list[dict[str, Any]]:
    shown = f'"{reported or key}"' + (f" in {where}" if where else "")
    messages = holder.get(key)
    if not isinstance(messages, list) or not messages:
        raise _BadExample(f"{shown} must be a non-empty list of messages.")
    for index, message in enumerate(messages, start=1):
        if not isinstance(message, dict):
            raise _BadExample(f"{shown}, message {index}: must be an object.")
        role = message.get("role")
        if role not in _CHAT_ROLES:
            raise _BadExample(f"{shown}, message {index}: unrecognised role {role!r}.")
        content = message.get("content")
        calls_a_tool = "tool_calls" in message or "function_call" in message
        if not (isinstance(content, str | list) or (content is None and calls_a_tool)):
            raise _BadExample(f"{shown}, message {index}: missing text content.")
    return messages
