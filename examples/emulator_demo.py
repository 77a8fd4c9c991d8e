"""A fine-tuning run rehearsed against `ftctl emulator serve`, for free and offline.

Starts the emulator on a free port with a manual clock, drives it with the official `openai`
SDK exactly as one would drive api.openai.com (only base_url differs), moves the emulated
clock instead of waiting, and stops the server by its process id at the end.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx2
from openai import OpenAI

DATA = Path(__file__).parent / "data" / "support-train.jsonl"


def main() -> int:
    server = subprocess.Popen(
        [sys.executable, "-m", "ftctl", "emulator", "serve", "--port", "0", "--clock", "manual"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        announcement = server.stdout.readline().strip()
        print(announcement)
        base_url = announcement.rsplit(" ", 1)[-1]
        rehearse(base_url)
    finally:
        os.kill(server.pid, signal.SIGTERM)
        server.wait(timeout=15)
    return 0


def rehearse(base_url: str) -> None:
    # Any non-empty key is accepted: the emulator never sees a real one.
    client = OpenAI(base_url=base_url, api_key="sk-emulator")
    control = httpx2.Client(base_url=base_url.removesuffix("/v1"))

    training = client.files.create(file=DATA, purpose="fine-tune")
    print(f"uploaded {training.filename}: {training.id} ({training.bytes} bytes)")
    job = client.fine_tuning.jobs.create(
        model="gpt-4o-mini",
        training_file=training.id,
        suffix="support-v1",
        metadata={"team": "support"},
    )
    print(f"created {job.id} on {job.model}: {job.status}")

    for seconds in (10, 20, 60, 60):
        control.post("/_emulator/clock/advance", json={"seconds": seconds})
        job = client.fine_tuning.jobs.retrieve(job.id)
        hyper = job.hyperparameters
        print(
            f"  +{seconds:>3}s  {job.status:<16} epochs={hyper.n_epochs} "
            f"batch={hyper.batch_size} lr={hyper.learning_rate_multiplier}"
        )

    print("last events:")
    for event in reversed(client.fine_tuning.jobs.list_events(job.id, limit=4).data):
        print(f"  [{event.level}] {event.message}")
    print(f"fine-tuned model: {job.fine_tuned_model}")
    print(f"trained tokens:   {job.trained_tokens}")
    for checkpoint in client.fine_tuning.jobs.checkpoints.list(job.id):
        loss = checkpoint.metrics.train_loss or 0.0
        print(f"  checkpoint at step {checkpoint.step_number}: train loss {loss:.3f}")
    control.close()
    client.close()


if __name__ == "__main__":
    sys.exit(main())
