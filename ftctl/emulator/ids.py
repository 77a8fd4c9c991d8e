"""Identifiers shaped like OpenAI's: a prefix and 24 base62 characters.

Objects the emulator derives on every read (events, checkpoints, model names) get ids hashed
from their job, so that the same object keeps the same id from one request to the next.
"""

import hashlib
import secrets
import string

_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


def random_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_BASE62) for _ in range(length))


def derived_id(prefix: str, *parts: str, length: int = 24) -> str:
    number = int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest(), "big")
    chars: list[str] = []
    while len(chars) < length:
        number, digit = divmod(number, 62)
        chars.append(_BASE62[digit])
    return prefix + "".join(chars)


def unit_interval(*parts: str) -> float:
    """A number in [0, 1) fixed by `parts`: the emulator's only source of variety."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
