"""What the emulator stores about files and jobs, and their JSON form in its database."""

from dataclasses import asdict, dataclass, replace
from typing import Any

from ftctl.emulator.lifecycle import Anchor, JobError, Status, Training
from ftctl.emulator.requests import JobRequest


@dataclass(frozen=True)
class FileRecord:
    id: str
    created_at: int
    filename: str
    purpose: str
    bytes: int
    expires_at: int | None = None

    def to_api(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "object": "file",
            "bytes": self.bytes,
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
        }
        if self.expires_at is not None:
            body["expires_at"] = self.expires_at
        return body


@dataclass(frozen=True)
class Outcome:
    """What a succeeded job leaves behind; written once, when the job is settled."""

    fine_tuned_model: str
    result_file: str
    trained_tokens: int


@dataclass(frozen=True)
class JobRecord:
    id: str
    created_at: int
    request: JobRequest
    snapshot: str  # the dated base model the job trains, e.g. gpt-4o-mini-2024-07-18
    seed: int
    training_tokens: int
    resolved: dict[str, Any]  # the hyperparameters training uses, "auto" resolved
    training: Training
    anchors: tuple[Anchor, ...]
    outcome: Outcome | None = None

    def with_anchor(self, anchor: Anchor) -> "JobRecord":
        return replace(self, anchors=(*self.anchors, anchor))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "JobRecord":
        training = data["training"]
        problem = training["file_problem"]
        return cls(
            id=data["id"],
            created_at=data["created_at"],
            request=JobRequest(**data["request"]),
            snapshot=data["snapshot"],
            seed=data["seed"],
            training_tokens=data["training_tokens"],
            resolved=data["resolved"],
            training=Training(
                total_steps=training["total_steps"],
                n_epochs=training["n_epochs"],
                file_problem=JobError(**problem) if problem else None,
            ),
            anchors=tuple(
                Anchor(
                    status=Status(a["status"]),
                    at=a["at"],
                    steps_done=a["steps_done"],
                    error=JobError(**a["error"]) if a["error"] else None,
                )
                for a in data["anchors"]
            ),
            outcome=Outcome(**data["outcome"]) if data["outcome"] else None,
        )
