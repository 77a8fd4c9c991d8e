"""The OpenAI API as ftctl's Provider, through the official SDK: the only module that imports
`openai` (inside functions, so commands that make no call never pay its ~0.8 s import), and the
one place where the SDK's models and exceptions become `provider.base` values and errors.
"""

import email.utils
import hashlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self, cast

from ftctl.plan import RESERVED_METADATA_KEY
from ftctl.planner import FINISHED_STATUSES
from ftctl.provider.base import (
    Ambiguous,
    AuthenticationFailed,
    NotFound,
    Provider,
    ProviderError,
    Rejected,
    RemoteCheckpoint,
    RemoteEvent,
    RemoteFile,
    RemoteJob,
)
from ftctl.resources import provider as provider_block

if TYPE_CHECKING:
    import httpx2
    import openai
    from openai.types import FileObject, FilePurpose
    from openai.types.fine_tuning import FineTuningJob

log = logging.getLogger(__name__)

# The jobs list's largest page (the API refuses more): refresh costs one request per 100 jobs.
PAGE_SIZE: Final = 100

# API messages are quoted in ours; an HTML error page from a proxy must not flood the terminal.
_MESSAGE_LIMIT: Final = 300
_REDACTED: Final = "[redacted]"


class ConfigurationMissing(ProviderError):
    """No API key in the provider block or the environment: nothing can be called."""


@dataclass(frozen=True)
class Settings:
    """How to reach the API: each value from the `provider "openai"` block, else its variable."""

    # Never shown: kept out of repr, and scrubbed from every message this module writes.
    api_key: str = field(repr=False)
    base_url: str | None = None  # None: the SDK's default, https://api.openai.com/v1
    organization: str | None = None
    project: str | None = None
    max_retries: int | None = None  # None: the SDK's default (2); create_job always sends once
    timeout: float | None = None  # seconds; None: the SDK's default (600 s)

    @classmethod
    def resolve(cls, block: Mapping[str, Any], environ: Mapping[str, str]) -> "Settings":
        def setting(name: str) -> str | None:
            # An empty value is no value: `export OPENAI_API_KEY=` must not count as a key.
            value = block.get(name) or environ.get(provider_block.ENVIRONMENT[name])
            return str(value) if value else None

        api_key = setting("api_key")
        if api_key is not None:
            api_key = api_key.strip()  # a key pasted with its newline still works
        if not api_key:
            raise ConfigurationMissing(
                "No OpenAI API key: set the OPENAI_API_KEY environment variable, or api_key in "
                f'the provider "{provider_block.NAME}" block.'
            )
        if not (api_key.isascii() and api_key.isprintable()):
            # An HTTP header cannot carry it; the error httpx would raise quotes the header.
            raise ConfigurationMissing(
                "The OpenAI API key has characters an HTTP header cannot carry (spaces inside, "
                "control or non-ASCII characters): copy it again."
            )
        timeout = block.get("timeout")
        return cls(
            api_key=api_key,
            base_url=setting("base_url"),
            organization=setting("organization"),
            project=setting("project"),
            max_retries=block.get("max_retries"),
            timeout=float(timeout) if timeout is not None else None,
        )


class OpenAIProvider:
    """ftctl's Provider over the official SDK, on a non-strict client: the API sends statuses
    (`pausing`, `paused`) that the SDK's strict mode would refuse."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: openai.OpenAI | None = None  # made on the first call, importing openai
        # apply calls from several threads: two first calls must not both build a client (the
        # loser's connections would never be closed).
        self._client_lock = threading.Lock()
        self._dates = _DateWatch()
        self._crash_point = CrashPoint.from_environ(os.environ)

    @classmethod
    def from_settings(cls, provider_block: Mapping[str, Any], environ: Mapping[str, str]) -> Self:
        """Settings from the provider block, each falling back to its OPENAI_* variable;
        ConfigurationMissing when there is no API key anywhere. Imports nothing."""
        return cls(Settings.resolve(provider_block, environ))

    def __repr__(self) -> str:
        return f"OpenAIProvider({self.settings!r})"

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __del__(self) -> None:
        # The SDK closes an HTTP client it made itself when collected, but not one it was
        # given: this does it for callers that never call close(), so no socket is left open.
        # Late in interpreter shutdown anything may be gone already.
        with suppress(Exception):
            self.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # The Provider protocol

    def server_time(self) -> int | None:
        return self._dates.seconds

    def upload_file(self, path: Path, purpose: str) -> RemoteFile:
        what = f"Uploading {path}"
        try:
            # Read before the call: a missing file fails here, with no request sent, and the
            # SDK can retry the upload from these bytes (a half-read stream would not resend).
            content = path.read_bytes()
        except OSError as exc:
            raise ProviderError(f"{what} failed: cannot read the file ({exc.strerror}).") from exc
        with self._translated(what, acts=True):
            # Sent once: a retry after a lost answer would leave a second, untracked upload.
            # The engine looks the file up with find_files instead.
            uploaded = self._api.with_options(max_retries=0).files.create(
                file=(path.name, content), purpose=cast("FilePurpose", purpose)
            )
            return _remote_file(uploaded, len(content))

    def find_files(self, filename: str, since: int) -> Sequence[RemoteFile]:
        found = []
        with self._translated(f"Looking for uploads of {filename}"):
            # Iterating the page fetches the next ones as needed.
            for file in self._api.files.list(purpose="fine-tune", order="desc", limit=100):
                if file.created_at < since:
                    break  # newest first: nothing older can be the upload in question
                if file.filename == filename:
                    found.append(_remote_file(file, file.bytes))
        return found

    def delete_file(self, file_id: str) -> None:
        with self._translated(f"Deleting file {file_id}", acts=True):
            self._api.files.delete(file_id)

    def get_file(self, file_id: str) -> tuple[RemoteFile, str]:
        with self._translated(f"Reading file {file_id}"):
            described = self._api.files.retrieve(file_id)
            digest = hashlib.sha256()
            with self._api.files.with_streaming_response.content(file_id) as content:
                for chunk in content.iter_bytes():
                    digest.update(chunk)
            return _remote_file(described, 0), digest.hexdigest()

    def create_job(self, request: Mapping[str, Any], token: str) -> RemoteJob:
        body = dict(request)
        body["metadata"] = {**(request.get("metadata") or {}), RESERVED_METADATA_KEY: token}
        with self._translated(f"Creating a fine-tuning job of {request.get('model')}", acts=True):
            # Sent once, never retried: the SDK sends no idempotency key, so retrying a POST
            # whose answer was lost would start a second, paid job. The engine recovers with
            # find_job_by_token instead (DESIGN §2.7).
            once = self._api.with_options(max_retries=0)
            return _remote_job(once.fine_tuning.jobs.create(**body))

    def find_job_by_token(self, token: str) -> RemoteJob | None:
        """The job created with this token, or None. One create carried out twice (a POST
        replayed by a proxy, or retried by a client other than ftctl) leaves two jobs with one
        token: the oldest is returned, as the one ftctl's create made and the furthest along;
        the others are logged so that someone can cancel them."""
        with self._translated(f"Looking up the job created with token {token}"):
            found = list(
                self._api.fine_tuning.jobs.list(
                    metadata={RESERVED_METADATA_KEY: token}, limit=PAGE_SIZE
                )
            )
            if not found:
                return None
            # The list is newest first: reversed, min() breaks created_at ties in server order.
            oldest = min(reversed(found), key=lambda job: job.created_at)
            others = [job.id for job in found if job.id != oldest.id]
            if others:
                log.warning(
                    "Jobs %s were created with the same token as %s: duplicates of one create.",
                    ", ".join(others),
                    oldest.id,
                )
            return _remote_job(oldest)

    def get_job(self, job_id: str) -> RemoteJob:
        with self._translated(f"Reading job {job_id}"):
            return _remote_job(self._api.fine_tuning.jobs.retrieve(job_id))

    def list_jobs(self, wanted: Iterable[str]) -> Sequence[RemoteJob]:
        """The wanted jobs, in the order asked, from pages of the jobs list (newest first, so
        the unfinished jobs a refresh wants are usually on the first page), then single reads
        for any the list did not hold. An id that reads as 404 is left out: the engine warns."""
        order = list(dict.fromkeys(wanted))
        missing = set(order)
        found: dict[str, RemoteJob] = {}
        if missing:
            with self._translated("Listing fine-tuning jobs"):
                page = self._api.fine_tuning.jobs.list(limit=PAGE_SIZE)
                while True:
                    for job in page.data:
                        if job.id in missing:
                            missing.discard(job.id)
                            found[job.id] = _remote_job(job)
                    if not missing or not page.has_next_page():
                        break
                    page = page.get_next_page()
        for job_id in [job_id for job_id in order if job_id in missing]:
            try:
                found[job_id] = self.get_job(job_id)
            except NotFound:
                continue
        return [found[job_id] for job_id in order if job_id in found]

    def cancel_job(self, job_id: str) -> RemoteJob:
        try:
            with self._translated(f"Cancelling job {job_id}", acts=True):
                return _remote_job(self._api.fine_tuning.jobs.cancel(job_id))
        except Rejected:
            # The API refuses (400) to cancel a job that has already finished. What a cancel is
            # for, a job that no longer trains, holds either way: so "already finished" is a
            # success, and the job is returned as it is now. Any other refusal stands.
            job = self.get_job(job_id)
            if job.status in FINISHED_STATUSES:
                return job
            raise

    def events(self, job_id: str, after: str | None = None) -> Sequence[RemoteEvent]:
        found: list[RemoteEvent] = []
        with self._translated(f"Reading the events of job {job_id}"):
            page = self._api.fine_tuning.jobs.list_events(job_id, limit=PAGE_SIZE)
            while True:
                for event in page.data:
                    if event.id == after:
                        return found[::-1]
                    found.append(_remote_event(event))
                if not page.has_next_page():
                    break
                page = page.get_next_page()
        return found[::-1]

    def checkpoints(self, job_id: str) -> Sequence[RemoteCheckpoint]:
        found: list[RemoteCheckpoint] = []
        with self._translated(f"Reading the checkpoints of job {job_id}"):
            for checkpoint in self._api.fine_tuning.jobs.checkpoints.list(job_id, limit=PAGE_SIZE):
                raw = _dump(checkpoint, "checkpoint")
                found.append(
                    RemoteCheckpoint(
                        id=raw["id"],
                        created_at=raw["created_at"],
                        model=raw.get("fine_tuned_model_checkpoint") or "",
                        step=int(raw.get("step_number") or 0),
                        metrics=dict(raw.get("metrics") or {}),
                    )
                )
        return sorted(found, key=lambda c: c.step)

    def last_validation_loss(self, job_id: str) -> float | None:
        with self._translated(f"Reading the events of job {job_id}"):
            # Newest first: the first metrics event with a validation loss is the last one.
            for event in self._api.fine_tuning.jobs.list_events(job_id, limit=100).data:
                data = event.data if isinstance(event.data, dict) else {}
                for key in ("full_valid_loss", "valid_loss"):
                    value = data.get(key)
                    if isinstance(value, int | float):
                        return float(value)
        return None

    # The SDK client, and the boundary

    @property
    def _api(self) -> "openai.OpenAI":
        with self._client_lock:
            return self._client or self._build_client()

    def _build_client(self) -> "openai.OpenAI":
        if self._client is None:
            import openai

            settings = self.settings
            options: dict[str, Any] = {}
            if settings.max_retries is not None:
                options["max_retries"] = settings.max_retries
            if settings.timeout is not None:
                options["timeout"] = settings.timeout
            self._client = openai.OpenAI(
                api_key=settings.api_key,
                base_url=settings.base_url,
                # Given None, the SDK reads OPENAI_BASE_URL, OPENAI_ORG_ID and OPENAI_PROJECT_ID
                # from the process's environment: where `environ` comes from outside tests.
                organization=settings.organization,
                project=settings.project,
                # The SDK's own defaults (timeouts, connection limits), plus a hook that sees
                # every response, errors and retries included, for server_time().
                http_client=openai.DefaultHttpxClient(event_hooks={"response": [self._dates]}),
                _strict_response_validation=False,
                **options,
            )
        return self._client

    @contextmanager
    def _translated(self, what: str, *, acts: bool = False) -> Iterator[None]:
        """Turns the SDK's exceptions into ProviderErrors saying `what` failed; `acts` marks
        calls that change something, whose ambiguous failures may have taken effect."""
        import openai

        call = self._crash_point.reached("before", what)
        try:
            yield
        except openai.OpenAIError as exc:
            raise _translate(exc, what, acts=acts, secret=self.settings.api_key) from exc
        self._crash_point.reached("after", what, call)


class CrashPoint:
    """A test-only hook for the reliability campaign: FTCTL_CRASH_AT=before:N (or after:N)
    kills this process with SIGKILL just before its Nth API call is sent (or just after its
    answer came, before the engine records it). Nothing else can stop a process there, and
    every duplicate or lost job ftctl could make lives at one of these two points."""

    def __init__(self, when: str | None = None, call: int = 0) -> None:
        self._when = when
        self._call = call
        self._calls = 0
        self._lock = threading.Lock()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> "CrashPoint":
        when, _, call = environ.get("FTCTL_CRASH_AT", "").partition(":")
        if when not in ("before", "after") or not call.isdigit():
            return cls()
        return cls(when, int(call))

    def reached(self, when: str, what: str, call: int | None = None) -> int:
        """Counts a call at "before" and returns its number; dies if this is the point."""
        if self._when is None:
            return 0
        if call is None:
            with self._lock:
                self._calls += 1
                call = self._calls
        if (when, call) == (self._when, self._call):
            sys.stderr.write(f"ftctl: crash point {when}:{call}: {what}\n")
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        return call


if TYPE_CHECKING:
    # Checked by mypy, as OpenTofu asserts its interfaces at compile time.
    _implements: type[Provider] = OpenAIProvider


def _translate(exc: "openai.OpenAIError", what: str, *, acts: bool, secret: str) -> ProviderError:
    """One table from the SDK's exceptions to what the engine may do about them. Order
    matters: timeouts are connection errors, and every status class is an APIStatusError."""
    import openai

    said = _api_message(exc)
    status = getattr(exc, "status_code", None)
    unsure = " It may or may not have been carried out." if acts else ""
    kind: type[ProviderError]
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        kind = AuthenticationFailed
        reason = (
            f"the API refused the credentials ({status}): {said} "
            "Check api_key (or OPENAI_API_KEY), organization and project."
        )
    elif isinstance(exc, openai.NotFoundError):
        kind, reason = NotFound, f"not found (404): {said}"
    elif isinstance(exc, openai.BadRequestError | openai.UnprocessableEntityError):
        kind, reason = Rejected, f"the API rejected the request ({status}): {said}"
    elif isinstance(exc, openai.APITimeoutError):
        kind, reason = Ambiguous, f"no answer came before the timeout.{unsure}"
    elif isinstance(exc, openai.APIConnectionError):
        cause = f" ({exc.__cause__})" if exc.__cause__ is not None else ""
        kind, reason = Ambiguous, f"the connection broke before an answer{cause}.{unsure}"
    elif isinstance(exc, openai.RateLimitError):
        kind, reason = Ambiguous, f"rate limited (429), even after retries: {said}{unsure}"
    elif isinstance(exc, openai.InternalServerError):
        kind, reason = Ambiguous, f"the API answered {status}: {said}{unsure}"
    elif isinstance(exc, openai.APIStatusError):
        kind, reason = ProviderError, f"unexpected answer from the API ({status}): {said}"
    else:
        kind, reason = ProviderError, said
    message = f"{what} failed: {reason}"
    # The API key must never reach a message, even if an answer quoted it back.
    if secret:
        for form in {secret, repr(secret)[1:-1], secret.strip()}:
            message = message.replace(form, _REDACTED)
    return kind(message)


def _api_message(exc: "openai.OpenAIError") -> str:
    """The API's own words: the error body's message when there is one (the SDK's message
    prefixes "Error code: N - "), else the exception's, shortened."""
    body = getattr(exc, "body", None)
    message = body.get("message") if isinstance(body, Mapping) else None
    if not isinstance(message, str) or not message.strip():
        message = str(exc)
    message = " ".join(message.split())
    if len(message) > _MESSAGE_LIMIT:
        message = message[: _MESSAGE_LIMIT - 1] + "…"
    return message


class _DateWatch:
    """The server's clock as the Date header of the latest response said it. A hook apart from
    the provider, so that the HTTP client holds no reference back to it (no cycle: a provider
    nobody holds is collected, and its connections closed, at once)."""

    def __init__(self) -> None:
        self.seconds: int | None = None

    def __call__(self, response: "httpx2.Response") -> None:
        seconds = _date_header_seconds(response.headers.get("date"))
        if seconds is not None:
            self.seconds = seconds


def _date_header_seconds(value: str | None) -> int | None:
    if not value:
        return None
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None  # a malformed Date says nothing: keep the last good reading
    if moment.tzinfo is None:  # "-0000" (RFC 5322: UTC, source unknown) parses naive
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


# SDK models → provider values


def _dump(model: object, kind: str) -> dict[str, Any]:
    # A non-strict client hands back the text of a 200 answer that is not JSON (a proxy's HTML
    # page, say) instead of a model.
    if not hasattr(model, "model_dump"):
        raise ProviderError(f"The API answered with something that is not a {kind}.")
    # warnings=False: values the SDK's types do not list (a new status) are kept, not warned on.
    return cast(dict[str, Any], model.model_dump(mode="json", warnings=False))


def _remote_event(event: object) -> RemoteEvent:
    raw = _dump(event, "event")
    data = raw.get("data")
    return RemoteEvent(
        id=str(raw.get("id")),
        created_at=int(raw.get("created_at") or 0),
        level=str(raw.get("level") or "info"),
        message=str(raw.get("message") or ""),
        type=str(raw.get("type") or "message"),
        data=dict(data) if isinstance(data, Mapping) else {},
    )


def _remote_job(job: "FineTuningJob") -> RemoteJob:
    raw = _dump(job, "fine-tuning job")
    try:
        return RemoteJob(
            id=raw["id"],
            status=raw["status"],
            model=raw.get("model") or "",
            created_at=raw["created_at"],
            finished_at=raw.get("finished_at"),
            fine_tuned_model=raw.get("fine_tuned_model"),
            organization_id=raw.get("organization_id") or "",
            trained_tokens=raw.get("trained_tokens"),
            result_files=tuple(raw.get("result_files") or ()),
            error=_job_error(raw.get("error")),
            estimated_finish=raw.get("estimated_finish"),
            metadata=dict(raw.get("metadata") or {}),
            raw=raw,
        )
    except KeyError as exc:
        raise ProviderError(f"The API described a fine-tuning job without its {exc}.") from exc


def _job_error(error: object) -> Mapping[str, Any] | None:
    # A job that has not failed may carry error {} or {code: null, ...} rather than null.
    if not isinstance(error, Mapping) or error.get("code") is None:
        return None
    return {"code": error["code"], "message": error.get("message"), "param": error.get("param")}


def _remote_file(uploaded: "FileObject", size: int) -> RemoteFile:
    raw = _dump(uploaded, "file")
    try:
        return RemoteFile(
            id=raw["id"],
            # The API may leave bytes null until it has measured the upload: we know the size.
            bytes=raw.get("bytes") or size,
            filename=raw.get("filename") or "",
            purpose=raw.get("purpose") or "",
            created_at=raw["created_at"],
        )
    except KeyError as exc:
        raise ProviderError(f"The API described an uploaded file without its {exc}.") from exc
