"""What the engine needs from the API, and the errors it can act on.

The engine sees only these types: the openai SDK's models and exceptions are translated at the
boundary, once, in `openai_api`.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class RemoteFile:
    id: str
    bytes: int
    filename: str
    purpose: str
    created_at: int


@dataclass(frozen=True)
class RemoteJob:
    id: str
    status: str  # as the API says it, pausing/paused included
    model: str
    created_at: int
    finished_at: int | None
    fine_tuned_model: str | None
    organization_id: str
    trained_tokens: int | None
    result_files: tuple[str, ...]
    error: Mapping[str, Any] | None  # {code, message, param} when the job failed
    estimated_finish: int | None
    metadata: Mapping[str, str]
    # Everything the API said of the job, for import (which rebuilds the arguments from it).
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RemoteEvent:
    """One event of a job: a message, and for metrics events the step's numbers in `data`
    (step, total_steps, train_loss, valid_loss, full_valid_loss...)."""

    id: str
    created_at: int
    level: str  # info, warn or error
    message: str
    type: str  # message or metrics
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RemoteCheckpoint:
    id: str
    created_at: int
    model: str  # the checkpoint's own fine-tuned model name
    step: int
    metrics: Mapping[str, Any] = field(default_factory=dict)


class ProviderError(Exception):
    """A call failed; the subclass says what the engine may do about it."""


class AuthenticationFailed(ProviderError):
    """401/403: wrong key or project. Nothing is written to state."""


class NotFound(ProviderError):
    """404 for this object."""


class Rejected(ProviderError):
    """400/422: the API refused the request as written; retrying will not help."""


class Ambiguous(ProviderError):
    """Timeout, dropped connection, 5xx or 429 after retries: the request may or may not have
    been carried out. After a create, look the job up by its token before creating again."""


class Provider(Protocol):
    def server_time(self) -> int | None:
        """The API server's clock, from the Date header of its latest response."""
        ...

    def upload_file(self, path: Path, purpose: str) -> RemoteFile: ...

    def delete_file(self, file_id: str) -> None: ...

    def find_files(self, filename: str, since: int) -> Sequence[RemoteFile]:
        """The fine-tune files of that name uploaded at or after `since`, newest first: after
        an ambiguous upload, the ones that may be it."""
        ...

    def get_file(self, file_id: str) -> tuple[RemoteFile, str]:
        """The file and the sha256 of its content (downloaded: import records no guess)."""
        ...

    def create_job(self, request: Mapping[str, Any], token: str) -> RemoteJob:
        """POST /fine_tuning/jobs once, never retried, with metadata ftctl_token=token."""
        ...

    def find_job_by_token(self, token: str) -> RemoteJob | None: ...

    def get_job(self, job_id: str) -> RemoteJob: ...

    def list_jobs(self, wanted: Iterable[str]) -> Sequence[RemoteJob]:
        """The jobs among `wanted` ids, paging the list endpoint newest first (100 a page)
        until all are found or the list ends."""
        ...

    def cancel_job(self, job_id: str) -> RemoteJob: ...

    def events(self, job_id: str, after: str | None = None) -> Sequence[RemoteEvent]:
        """The job's events oldest first; with `after` (an event id), only those newer than
        it. Reads newest-first pages only as far back as needed."""
        ...

    def checkpoints(self, job_id: str) -> Sequence[RemoteCheckpoint]:
        """The job's checkpoints, by step."""
        ...

    def last_validation_loss(self, job_id: str) -> float | None:
        """The newest validation loss among the job's metrics events, or None."""
        ...
