"""Which models can be fine-tuned, and the dated snapshot each alias resolves to.

The real API answers a request for `gpt-4o-mini` with a job whose model is
`gpt-4o-mini-2024-07-18`; the emulator does the same so that clients learn not to diff them.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

# Models OpenAI documents as fine-tunable (fine-tuning guide, DPO guide, spec examples).
DOCUMENTED_MODELS: Mapping[str, str] = MappingProxyType(
    {
        "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
        "gpt-4o-mini-2024-07-18": "gpt-4o-mini-2024-07-18",
        "gpt-4o": "gpt-4o-2024-08-06",
        "gpt-4o-2024-08-06": "gpt-4o-2024-08-06",
        "gpt-4.1": "gpt-4.1-2025-04-14",
        "gpt-4.1-2025-04-14": "gpt-4.1-2025-04-14",
        "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
        "gpt-4.1-mini-2025-04-14": "gpt-4.1-mini-2025-04-14",
        "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14",
        "gpt-4.1-nano-2025-04-14": "gpt-4.1-nano-2025-04-14",
        "gpt-3.5-turbo": "gpt-3.5-turbo-0125",
        "gpt-3.5-turbo-0125": "gpt-3.5-turbo-0125",
        "gpt-3.5-turbo-1106": "gpt-3.5-turbo-1106",
        "gpt-3.5-turbo-0613": "gpt-3.5-turbo-0613",
        "o4-mini": "o4-mini-2025-04-16",
        "o4-mini-2025-04-16": "o4-mini-2025-04-16",
        "babbage-002": "babbage-002",
        "davinci-002": "davinci-002",
    }
)

# Base models whose training data is prompt/completion pairs rather than chat messages.
COMPLETION_MODELS = frozenset({"babbage-002", "davinci-002"})


@dataclass(frozen=True)
class FineTunedName:
    """`ft:{base}:{org}:{suffix}:{id}`, optionally followed by `:ckpt-step-N`."""

    base: str
    org: str
    suffix: str
    short_id: str

    @classmethod
    def parse(cls, name: str) -> "FineTunedName | None":
        parts = name.split(":")
        if len(parts) not in (5, 6) or parts[0] != "ft" or not parts[1] or not parts[4]:
            return None
        return cls(base=parts[1], org=parts[2], suffix=parts[3], short_id=parts[4])


@dataclass(frozen=True)
class Catalogue:
    snapshots: Mapping[str, str] = field(default_factory=lambda: DOCUMENTED_MODELS)

    def extended(self, specs: Iterable[str]) -> "Catalogue":
        """Adds models given as `name` or `alias=snapshot` (the `--models` option)."""
        added = dict(self.snapshots)
        for spec in specs:
            alias, _, snapshot = spec.partition("=")
            alias, snapshot = alias.strip(), snapshot.strip() or alias.strip()
            if not alias:
                raise ValueError(f"empty model name in {spec!r}")
            added[alias] = snapshot
            added.setdefault(snapshot, snapshot)
        return Catalogue(MappingProxyType(added))

    def snapshot_of(self, model: str) -> str | None:
        """The snapshot a job on `model` trains from, or None if it cannot be fine-tuned."""
        if model in self.snapshots:
            return self.snapshots[model]
        tuned = FineTunedName.parse(model)
        if tuned is not None and tuned.base in self.snapshots:
            return self.snapshots[tuned.base]
        return None
