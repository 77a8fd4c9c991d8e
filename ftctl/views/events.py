"""`apply --json`: one JSON object per line for each thing that happens, in the shape of
Terraform's machine-readable UI (@level, @message, @module, @timestamp, type, and the type's
own object). docs/apply-events.schema.json describes every type."""

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import IO, Any

from ftctl import __version__
from ftctl.diagnostics import Diagnostic
from ftctl.engine.watch import JobProgress
from ftctl.plan import Action, Change, Plan, instance_key
from ftctl.state.model import OutputState

UI_VERSION = "1.0"
# Terraform's action words for a change; ftctl's exact action travels beside them.
_ACTION_WORDS = {
    Action.NO_OP: "noop",
    Action.CREATE: "create",
    Action.UPDATE: "update",
}


_STARTS = {"creating": "create", "cancelling": "cancel", "destroying": "delete"}


class EventStream:
    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self._status: dict[str, tuple[Any, ...]] = {}

    def emit(self, kind: str, message: str, level: str = "info", **body: Any) -> None:
        event = {
            "@level": level,
            "@message": message,
            "@module": "ftctl.ui",
            "@timestamp": datetime.now(UTC).isoformat(timespec="microseconds"),
            "type": kind,
            **body,
        }
        self.out.write(json.dumps(event, separators=(",", ":")) + "\n")
        self.out.flush()

    def version(self) -> None:
        self.emit("version", f"ftctl {__version__}", ftctl=__version__, ui=UI_VERSION)

    def diagnostics(self, found: Sequence[Diagnostic]) -> None:
        for diagnostic in found:
            level = "error" if diagnostic.severity.value == "error" else "warn"
            self.emit(
                "diagnostic",
                f"{diagnostic.severity.value.capitalize()}: {diagnostic.summary}",
                level,
                diagnostic=diagnostic.to_json(),
            )

    def plan(self, plan: Plan) -> None:
        for change in plan.changes:
            if change.action is Action.NO_OP:
                continue
            action = action_word(change)
            self.emit(
                "planned_change",
                f"{change.address}: Plan to {action}",
                change={
                    "resource": resource(change.address, change.type, change.name),
                    "action": action,
                    "ftctl_action": change.action.value,
                    **({"reason": change.reason.action_reason} if change.reason else {}),
                },
            )
        summary = plan.summary()
        self.emit(
            "change_summary",
            f"Plan: {summary.add} to add, {summary.change} to change, "
            f"{summary.destroy} to destroy.",
            changes={
                "add": summary.add,
                "change": summary.change,
                "remove": summary.destroy,
                "forget": summary.forget,
                "operation": "plan",
            },
        )

    def hook(self, address: str, event: str, detail: str, kind: str) -> None:
        """An Applier progress report as apply_start / apply_complete / progress events."""
        name = address.split(".", 1)[1].split("[", 1)[0] if "." in address else address
        subject = resource(address, kind, name)
        match event:
            case "creating" | "cancelling" | "destroying":
                self.emit(
                    "apply_start",
                    f"{address}: {event.capitalize()}...",
                    hook={"resource": subject, "action": _STARTS[event]},
                )
            case "created":
                self.emit(
                    "apply_complete",
                    f"{address}: Creation complete [id={detail}]",
                    hook={"resource": subject, "action": "create", "id_value": detail},
                )
            case "done":
                self.emit(
                    "apply_complete",
                    f"{address}: {detail}",
                    hook={"resource": subject, "action": detail.split(" after ")[0]},
                )
            case "moved":
                self.emit(
                    "resource_moved",
                    f"{address}: Moved to {detail}",
                    hook={"resource": subject, "to": detail},
                )
            case "waiting" | "status":
                self.emit(
                    "progress",
                    f"{address}: {'Waiting for ' + detail if event == 'waiting' else detail}",
                    hook={"resource": subject, event: detail},
                )

    def complete(self, counts: Mapping[str, int]) -> None:
        self.emit(
            "change_summary",
            f"Apply complete! Resources: {counts['added']} added, {counts['changed']} changed, "
            f"{counts['destroyed']} destroyed.",
            changes={
                "add": counts["added"],
                "change": counts["changed"],
                "remove": counts["destroyed"],
                "operation": "apply",
            },
        )

    def outputs(self, outputs: Mapping[str, OutputState]) -> None:
        if not outputs:
            return
        self.emit(
            "outputs",
            f"Outputs: {len(outputs)}",
            outputs={
                name: {"sensitive": o.sensitive, **({} if o.sensitive else {"value": o.value})}
                for name, o in sorted(outputs.items())
            },
        )

    # A ProgressView, for apply --json --wait.
    def update(self, jobs: Sequence[JobProgress], now: int) -> None:
        for job in jobs:
            seen = (job.status, job.step, job.train_loss, job.valid_loss)
            if self._status.get(job.address) == seen:
                continue
            self._status[job.address] = seen
            self.emit(
                "progress",
                f"{job.address}: {job.status}"
                + (f", step {job.step}/{job.total_steps}" if job.step is not None else ""),
                hook={
                    "resource": resource(job.address, "openai_fine_tuning_job", job.address),
                    "status": job.status,
                    "step": job.step,
                    "total_steps": job.total_steps,
                    "train_loss": job.train_loss,
                    "valid_loss": job.valid_loss,
                    "elapsed_seconds": now - job.created_at if job.created_at else None,
                },
            )

    def close(self) -> None:
        pass


def action_word(change: Change) -> str:
    if change.action in _ACTION_WORDS:
        return _ACTION_WORDS[change.action]
    return "replace" if change.action.creates else "delete"


def resource(address: str, kind: str, name: str) -> dict[str, Any]:
    key = instance_key(address)
    base = address.split("[", 1)[0]
    return {
        "addr": address,
        "resource": base,
        "resource_type": kind,
        "resource_name": base.split(".", 1)[1] if "." in base else name,
        "resource_key": key,
    }
