"""The emulated API's operations: files, jobs and the control surface, over the store and clock.

Each method takes parsed arguments and returns the response body as a dict, or raises
ApiError; the HTTP layer only translates. Before answering anything, `settle` writes down what
the clock has made final (a finished job's model and result file), so that every read after it
sees the same world.
"""

import csv
import io
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ftctl.emulator.catalogue import COMPLETION_MODELS, Catalogue, FineTunedName
from ftctl.emulator.clock import Clock
from ftctl.emulator.curves import Curve
from ftctl.emulator.datasets import DatasetFacts, ExampleFormat, inspect_dataset
from ftctl.emulator.errors import ApiError, bad_request, not_found
from ftctl.emulator.ids import derived_id, random_id
from ftctl.emulator.lifecycle import (
    Anchor,
    Durations,
    JobError,
    Status,
    Timeline,
    Training,
    reported_steps,
    settles_at,
    timeline,
)
from ftctl.emulator.records import FileRecord, JobRecord, Outcome
from ftctl.emulator.requests import MAX_SEED, parse_job_request
from ftctl.emulator.store import Store, UnknownCursor
from ftctl.emulator.training import resolve, total_steps

UPLOAD_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
JSONL_PURPOSES = ("fine-tune", "batch")
MAX_UPLOAD_BYTES = 512 * 1024 * 1024
EXPIRY_SECONDS = (3600, 2_592_000)
CHECKPOINTS_KEPT = 3
FORCEABLE = (Status.FAILED, Status.CANCELLED, Status.SUCCEEDED, Status.RUNNING)
RESULT_COLUMNS = ("step", "train_loss", "train_accuracy", "valid_loss", "valid_mean_token_accuracy")


# note(at, rank within the same second, message, level): records one event.
Note = Callable[..., None]


@dataclass(frozen=True)
class Settings:
    catalogue: Catalogue = field(default_factory=Catalogue)
    durations: Durations = field(default_factory=Durations)
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    org_slug: str = "emulator"


@dataclass(frozen=True)
class Page:
    """A cursor-paginated request: `after` an object id, at most `limit` objects."""

    after: str | None
    limit: int


class Emulator:
    """The emulated API over one store and one clock."""

    def __init__(self, store: Store, clock: Clock, settings: Settings | None = None) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings or Settings()
        self._remembered_second: int | None = None
        organization = store.get_meta("organization_id")
        if organization is None:
            organization = random_id("org-")
            store.set_meta("organization_id", organization)
        self.organization_id = organization

    def now(self) -> int:
        return int(self.clock.now())

    # Files

    def upload_file(
        self, filename: str, content: bytes, purpose: str, expires_after: dict[str, str]
    ) -> dict[str, Any]:
        if purpose not in UPLOAD_PURPOSES:
            raise bad_request(
                f"Invalid purpose {purpose!r}: expected one of {', '.join(UPLOAD_PURPOSES)}.",
                param="purpose",
            )
        if purpose in JSONL_PURPOSES and not filename.lower().endswith(".jsonl"):
            raise bad_request(
                f"Invalid file format for purpose {purpose!r}: {filename!r} is not a .jsonl file.",
                param="file",
            )
        if len(content) > self.settings.max_upload_bytes:
            raise bad_request(
                f"File is {len(content)} bytes; the limit is {self.settings.max_upload_bytes}.",
                param="file",
            )
        now = self.now()
        record = FileRecord(
            id=random_id("file-"),
            created_at=now,
            filename=filename,
            purpose=purpose,
            bytes=len(content),
            expires_at=self._expiry(now, expires_after),
        )
        with self.store.transaction():
            self.store.add_file(record, content)
            self._remember_clock()
        return record.to_api()

    def _expiry(self, now: int, expires_after: dict[str, str]) -> int | None:
        if not expires_after:
            return None
        low, high = EXPIRY_SECONDS
        seconds = expires_after.get("seconds", "")
        if expires_after.get("anchor") != "created_at" or not seconds.isdigit():
            raise bad_request(
                "expires_after needs anchor 'created_at' and a number of seconds.",
                param="expires_after",
            )
        if not low <= int(seconds) <= high:
            raise bad_request(
                f"expires_after.seconds must be from {low} to {high}.",
                param="expires_after.seconds",
            )
        return now + int(seconds)

    def list_files(self, purpose: str | None, order: str, page: Page) -> dict[str, Any]:
        if order not in ("asc", "desc"):
            raise bad_request("order must be 'asc' or 'desc'.", param="order")
        _check_limit(page.limit, 10_000)
        try:
            files, has_more = self.store.list_files(purpose, order == "asc", page.after, page.limit)
        except UnknownCursor as exc:
            raise _unknown_cursor(exc) from exc
        data = [f.to_api() for f in files]
        return {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": has_more,
        }

    def retrieve_file(self, file_id: str) -> dict[str, Any]:
        return self._file(file_id).to_api()

    def delete_file(self, file_id: str) -> dict[str, Any]:
        if not self.store.delete_file(file_id):
            raise _no_such_file(file_id)
        return {"id": file_id, "object": "file", "deleted": True}

    def file_content(self, file_id: str) -> bytes:
        content = self.store.file_content(file_id)
        if content is None:
            raise _no_such_file(file_id)
        return content

    def _file(self, file_id: str) -> FileRecord:
        record = self.store.get_file(file_id)
        if record is None:
            raise _no_such_file(file_id)
        return record

    # Jobs

    def create_job(self, body: Any) -> dict[str, Any]:
        request = parse_job_request(body)
        snapshot = self._snapshot(request.model)
        example_format = _example_format(request.method_type, snapshot)
        facts, problem = self._inspect(request.training_file, "training_file", example_format)
        if request.validation_file is not None:
            _, valid_problem = self._inspect(
                request.validation_file, "validation_file", example_format
            )
            problem = problem or valid_problem
        examples = facts.examples if facts else 0
        resolved = resolve(request.hyperparameters, max(1, examples))
        now = self.now()
        record = JobRecord(
            id=random_id("ftjob-"),
            created_at=now,
            request=request,
            snapshot=snapshot,
            seed=request.seed if request.seed is not None else secrets.randbelow(MAX_SEED + 1),
            training_tokens=facts.tokens if facts else 0,
            resolved=resolved,
            training=Training(
                total_steps=total_steps(
                    max(1, examples), resolved["n_epochs"], resolved["batch_size"]
                ),
                n_epochs=resolved["n_epochs"],
                file_problem=problem,
            ),
            anchors=(Anchor(Status.VALIDATING_FILES, now),),
        )
        with self.store.transaction():
            self.store.add_job(record, settles_at(record.anchors[-1], record.training, self._d))
            self._remember_clock()
        return self._job_body(record, now)

    def _snapshot(self, model: str) -> str:
        snapshot = self.settings.catalogue.snapshot_of(model)
        if snapshot is None or self.store.model_state(model) == "deleted":
            raise bad_request(
                f"Model {model!r} is not available for fine-tuning or does not exist.",
                param="model",
                code="model_not_available",
            )
        return snapshot

    def _inspect(
        self, file_id: str, param: str, example_format: ExampleFormat
    ) -> tuple[DatasetFacts | None, JobError | None]:
        record = self.store.get_file(file_id)
        content = self.store.file_content(file_id)
        if record is None or content is None:
            raise bad_request(f"Invalid file ID {file_id!r}: no such file.", param=param)
        if record.purpose != "fine-tune":
            raise bad_request(
                f"File {file_id} has purpose {record.purpose!r}; "
                "fine-tuning needs purpose 'fine-tune'.",
                param=param,
            )
        checked = inspect_dataset(content, example_format)
        if isinstance(checked, DatasetFacts):
            return checked, None
        return None, JobError(code=f"invalid_{param}", message=checked.message, param=param)

    def list_jobs(
        self, page: Page, metadata: Sequence[tuple[str, str]], without_metadata: bool
    ) -> dict[str, Any]:
        _check_limit(page.limit, 100)
        if without_metadata and metadata:
            raise bad_request(
                "Use either metadata=null or metadata[key]=value filters, not both.",
                param="metadata",
            )
        try:
            jobs, has_more = self.store.list_jobs(
                page.after, page.limit, metadata, without_metadata
            )
        except UnknownCursor as exc:
            raise _unknown_cursor(exc) from exc
        now = self.now()
        return {
            "object": "list",
            "data": [self._job_body(job, now) for job in jobs],
            "has_more": has_more,
        }

    def retrieve_job(self, job_id: str) -> dict[str, Any]:
        return self._job_body(self._job(job_id), self.now())

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        return self._transition(job_id, "cancel", Status.CANCELLED, lambda s: not s.finished)

    def pause_job(self, job_id: str) -> dict[str, Any]:
        return self._transition(job_id, "pause", Status.PAUSING, lambda s: s is Status.RUNNING)

    def resume_job(self, job_id: str) -> dict[str, Any]:
        return self._transition(job_id, "resume", Status.QUEUED, lambda s: s is Status.PAUSED)

    def _transition(
        self, job_id: str, verb: str, target: Status, allowed: Callable[[Status], bool]
    ) -> dict[str, Any]:
        job = self._job(job_id)
        now = self.now()
        current = self._timeline(job, now)
        if not allowed(current.status):
            raise bad_request(
                f"Cannot {verb} job {job_id}: its status is {current.status.value}.",
            )
        anchor = Anchor(target, now, steps_done=current.steps_done)
        return self._job_body(self._save(job.with_anchor(anchor), now), now)

    def list_events(self, job_id: str, page: Page) -> dict[str, Any]:
        _check_limit(page.limit, 100)
        job = self._job(job_id)
        events = list(reversed(self._events(job, self._timeline(job, self.now()))))
        return _cursor_page(events, page, with_ends=False)

    def list_checkpoints(self, job_id: str, page: Page) -> dict[str, Any]:
        _check_limit(page.limit, 100)
        job, line = self._observe(self._job(job_id), self.now())
        checkpoints = []
        if line.status is Status.SUCCEEDED and job.outcome is not None:
            kept = sorted(set(job.training.checkpoint_steps))[-CHECKPOINTS_KEPT:]
            for step in reversed(kept):
                checkpoints.append(self._checkpoint(job, line, step))
        return _cursor_page(checkpoints, page, with_ends=True)

    def delete_model(self, model: str) -> dict[str, Any]:
        if self.store.model_state(model) != "live":
            raise not_found(
                f"The model '{model}' does not exist", param="model", code="model_not_found"
            )
        self.store.delete_model(model)
        return {"id": model, "object": "model", "deleted": True}

    # The control API

    def advance_clock(self, seconds: float) -> int:
        if seconds < 0:
            raise bad_request("The clock only moves forward.", param="seconds")
        self.clock.advance(seconds)
        self._remember_clock()
        self.settle()
        return self.now()

    def force_status(self, job_id: str, status: Any, error: Any) -> dict[str, Any]:
        """An out-of-band change, as if made in OpenAI's dashboard: allowed from any status."""
        if status not in FORCEABLE:
            raise bad_request(f"status must be one of {', '.join(FORCEABLE)}.", param="status")
        job = self._job(job_id)
        now = self.now()
        line = self._timeline(job, now)
        steps = line.steps_done
        job_error = None
        match Status(status):
            case Status.SUCCEEDED:
                steps = job.training.total_steps
            case Status.RUNNING:
                steps = min(steps, job.training.total_steps - 1)
            case Status.FAILED:
                job_error = _forced_error(error)
        anchor = Anchor(Status(status), now, steps_done=steps, error=job_error)
        return self._job_body(self._save(job.with_anchor(anchor), now), now)

    def reset(self) -> None:
        self.store.reset()

    def settle(self) -> None:
        """Writes down what the clock has made final. Runs before every request."""
        now = self.now()
        for job in self.store.jobs_due(now):
            self._save(job, now)

    def stamp(self) -> float:
        """The time an answer shows its client (its Date). Remembered, so that a restart
        with --data, even after a crash, never starts before a time a client has seen."""
        now = self.clock.now()
        if int(now) != self._remembered_second:
            self._remember_clock()
        return now

    # Internals

    @property
    def _d(self) -> Durations:
        return self.settings.durations

    def _remember_clock(self) -> None:
        now = self.clock.now()
        self.store.set_meta("clock", str(now))
        self._remembered_second = int(now)

    def _job(self, job_id: str) -> JobRecord:
        job = self.store.get_job(job_id)
        if job is None:
            raise not_found(f"Fine-tuning job {job_id} not found.", code="fine_tune_not_found")
        return job

    def _timeline(self, job: JobRecord, now: int) -> Timeline:
        return timeline(job.anchors, job.training, self._d, now)

    def _observe(self, job: JobRecord, now: int) -> tuple[JobRecord, Timeline]:
        """The job as of `now`. One seen succeeded before settle() wrote its outcome (the real
        clock moved on since) is settled here: no reader ever sees a success without its model."""
        line = self._timeline(job, now)
        if line.status is Status.SUCCEEDED and job.outcome is None:
            job = self._save(job, now)
        return job, line

    def _save(self, job: JobRecord, now: int) -> JobRecord:
        """Stores `job`, first writing down what success left behind if it has succeeded."""
        line = self._timeline(job, now)
        with self.store.transaction():
            if line.status is Status.SUCCEEDED and job.outcome is None:
                job = replace(job, outcome=self._outcome(job, line))
            last = job.anchors[-1]
            settle_at = None if line.status.finished else settles_at(last, job.training, self._d)
            self.store.save_job(job, settle_at)
            self._remember_clock()
        return job

    def _outcome(self, job: JobRecord, line: Timeline) -> Outcome:
        finished_at = line.finished_at or self.now()
        content = self._result_csv(job).encode()
        result = FileRecord(
            id=random_id("file-"),
            created_at=finished_at,
            filename="step_metrics.csv",
            purpose="fine-tune-results",
            bytes=len(content),
        )
        self.store.add_file(result, content)
        model = self._model_name(job)
        self.store.add_model(model)
        return Outcome(
            fine_tuned_model=model,
            result_file=result.id,
            trained_tokens=job.training_tokens * job.training.n_epochs,
        )

    def _model_name(self, job: JobRecord, checkpoint_step: int | None = None) -> str:
        suffix = job.request.suffix or ""
        if checkpoint_step is None:
            short = derived_id("", job.id, "model", length=8)
            return f"ft:{job.snapshot}:{self.settings.org_slug}:{suffix}:{short}"
        short = derived_id("", job.id, "checkpoint", str(checkpoint_step), length=8)
        return (
            f"ft:{job.snapshot}:{self.settings.org_slug}:{suffix}:{short}"
            f":ckpt-step-{checkpoint_step}"
        )

    def _result_csv(self, job: JobRecord) -> str:
        curve = Curve(job.seed, job.training.total_steps)
        validated = job.request.validation_file is not None
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(RESULT_COLUMNS)
        for step in range(1, job.training.total_steps + 1):
            valid = (
                [f"{curve.valid_loss(step):.6f}", f"{curve.valid_accuracy(step):.6f}"]
                if validated
                else ["", ""]
            )
            writer.writerow(
                [step, f"{curve.train_loss(step):.6f}", f"{curve.train_accuracy(step):.6f}", *valid]
            )
        return out.getvalue()

    def _metrics(self, job: JobRecord, step: int, epoch_end: bool) -> dict[str, float]:
        curve = Curve(job.seed, job.training.total_steps)
        metrics: dict[str, float] = {
            "step": step,
            "train_loss": curve.train_loss(step),
            "train_mean_token_accuracy": curve.train_accuracy(step),
        }
        if job.request.validation_file is not None:
            metrics["valid_loss"] = curve.valid_loss(step)
            metrics["valid_mean_token_accuracy"] = curve.valid_accuracy(step)
            if epoch_end:
                metrics["full_valid_loss"] = curve.valid_loss(step)
                metrics["full_valid_mean_token_accuracy"] = curve.valid_accuracy(step)
        return metrics

    def _checkpoint(self, job: JobRecord, line: Timeline, step: int) -> dict[str, Any]:
        final = step == job.training.total_steps
        return {
            "object": "fine_tuning.job.checkpoint",
            "id": derived_id("ftckpt_", job.id, "checkpoint", str(step)),
            "created_at": line.step_time(step) or line.finished_at or job.created_at,
            "fine_tuned_model_checkpoint": (
                self._model_name(job) if final else self._model_name(job, step)
            ),
            "fine_tuning_job_id": job.id,
            "step_number": step,
            "metrics": self._metrics(job, step, epoch_end=True),
        }

    def _job_body(self, job: JobRecord, now: int) -> dict[str, Any]:
        job, line = self._observe(job, now)
        request = job.request
        kind = request.method_type
        hyperparameters = job.resolved if line.started else request.hyperparameters
        outcome = job.outcome if line.status is Status.SUCCEEDED else None
        error = line.error
        return {
            "object": "fine_tuning.job",
            "id": job.id,
            "created_at": job.created_at,
            # Training on from a fine-tuned model shows that model; a base model its snapshot.
            "model": job.request.model if FineTunedName.parse(job.request.model) else job.snapshot,
            "organization_id": self.organization_id,
            "status": line.status.value,
            "training_file": request.training_file,
            "validation_file": request.validation_file,
            "fine_tuned_model": outcome.fine_tuned_model if outcome else None,
            "finished_at": line.finished_at,
            "trained_tokens": outcome.trained_tokens if outcome else None,
            "result_files": [outcome.result_file] if outcome else [],
            "error": (
                {"code": error.code, "message": error.message, "param": error.param}
                if error
                else None
            ),
            "hyperparameters": {
                name: hyperparameters[name]
                for name in ("batch_size", "learning_rate_multiplier", "n_epochs")
            },
            "method": {
                "type": kind,
                kind: {**request.method[kind], "hyperparameters": hyperparameters},
            },
            "seed": job.seed,
            "estimated_finish": line.estimated_finish,
            "integrations": request.integrations or [],
            "metadata": request.metadata,
            "user_provided_suffix": request.suffix,
        }

    def _events(self, job: JobRecord, line: Timeline) -> list[dict[str, Any]]:
        """Every event so far, oldest first."""
        total = job.training.total_steps
        epoch_ends = set(job.training.checkpoint_steps)
        # (time, rank within the same second, level, message, type, data)
        happened: list[tuple[int, int, str, str, str, dict[str, Any]]] = []

        def note(at: int, rank: int, message: str, level: str = "info") -> None:
            happened.append((at, rank, level, message, "message", {}))

        for segment in line.segments:
            start = len(happened)
            for change in segment.changes:
                self._status_events(
                    job, change.status, change.at, change.explicit, change.error, note
                )
            if segment.run is not None:
                curve = Curve(job.seed, total)
                for step in reported_steps(segment.run, total, job.training.checkpoint_steps):
                    at = segment.run.time_of(step)
                    data: dict[str, Any] = {
                        **self._metrics(job, step, epoch_end=step in epoch_ends),
                        "total_steps": total,
                    }
                    text = f"Step {step}/{total}: training loss={curve.train_loss(step):.4f}"
                    if "valid_loss" in data:
                        text += f", validation loss={data['valid_loss']:.4f}"
                    happened.append((at, 1, "info", text, "metrics", data))
                    if step in epoch_ends:
                        name = (
                            self._model_name(job) if step == total else self._model_name(job, step)
                        )
                        note(at, 2, f"Checkpoint created at step {step} with Snapshot ID: {name}")
            # Within one segment, order by time; the anchor's own events stay first.
            happened[start:] = sorted(happened[start:], key=lambda e: (e[0], e[1]))
        return [
            {
                "object": "fine_tuning.job.event",
                "id": derived_id("ftevent-", job.id, str(index)),
                "created_at": at,
                "level": level,
                "message": message,
                "type": kind,
                "data": data,
            }
            for index, (at, _, level, message, kind, data) in enumerate(happened)
        ]

    def _status_events(
        self,
        job: JobRecord,
        status: Status,
        at: int,
        explicit: bool,
        error: JobError | None,
        note: Note,
    ) -> None:
        request = job.request
        match status:
            case Status.VALIDATING_FILES:
                note(at, -1, f"Created fine-tuning job: {job.id}")
                files = f"Validating training file: {request.training_file}"
                if request.validation_file:
                    files += f" and validation file: {request.validation_file}"
                note(at, -1, files)
            case Status.QUEUED if explicit:
                note(at, -1, "Fine-tuning job resumed")
            case Status.QUEUED:
                note(at, 0, "Files validated, moving job to queued state")
            case Status.RUNNING:
                note(at, -1 if explicit else 0, "Fine-tuning job started")
            case Status.PAUSING:
                note(at, -1, "Pausing fine-tuning job")
            case Status.PAUSED:
                note(at, 0, "Fine-tuning job paused")
            case Status.SUCCEEDED:
                rank = -1 if explicit else 3
                note(at, rank, f"New fine-tuned model created: {self._model_name(job)}")
                note(at, rank, "The job has successfully completed")
            case Status.FAILED:
                message = error.message if error else "The job failed."
                note(at, -1 if explicit else 3, message, level="error")
            case Status.CANCELLED:
                note(at, -1, "Fine-tuning job cancelled")


def _example_format(method_type: str, snapshot: str) -> ExampleFormat:
    if method_type == "dpo":
        return ExampleFormat.PREFERENCE
    if method_type == "reinforcement":
        return ExampleFormat.REINFORCEMENT
    if snapshot in COMPLETION_MODELS:
        return ExampleFormat.PROMPT_COMPLETION
    return ExampleFormat.CHAT


def _forced_error(error: Any) -> JobError:
    if error is None:
        return JobError(
            code="server_error", message="The job failed (set through the emulator's control API)."
        )
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        raise bad_request("error needs at least a 'message' string.", param="error")
    return JobError(
        code=str(error.get("code") or "server_error"),
        message=error["message"],
        param=error.get("param"),
    )


def _check_limit(limit: int, maximum: int) -> None:
    if not 1 <= limit <= maximum:
        raise bad_request(f"limit must be from 1 to {maximum}.", param="limit")


def _cursor_page(items: list[dict[str, Any]], page: Page, with_ends: bool) -> dict[str, Any]:
    start = 0
    if page.after is not None:
        ids = [item["id"] for item in items]
        if page.after not in ids:
            raise _unknown_cursor(UnknownCursor(page.after))
        start = ids.index(page.after) + 1
    data = items[start : start + page.limit]
    body: dict[str, Any] = {
        "object": "list",
        "data": data,
        "has_more": start + page.limit < len(items),
    }
    if with_ends:
        body["first_id"] = data[0]["id"] if data else None
        body["last_id"] = data[-1]["id"] if data else None
    return body


def _no_such_file(file_id: str) -> ApiError:
    return not_found(f"No such File object: {file_id}")


def _unknown_cursor(exc: UnknownCursor) -> ApiError:
    return bad_request(f"No object with ID {exc.args[0]!r} to list after.", param="after")
