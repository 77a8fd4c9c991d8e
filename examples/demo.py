"""`make demo`: ftctl's loop against its own emulator, offline and free.

Starts `ftctl emulator serve` on a free port with a manual clock, copies examples/quickstart to
a scratch directory, and runs `ftctl plan`, `ftctl apply --auto-approve` and `ftctl plan` there,
exactly as a user would against api.openai.com (only OPENAI_BASE_URL differs). Then it moves the
emulated clock to watch the job train, through the official SDK, and stops the server by pid.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx2
from openai import OpenAI

QUICKSTART = Path(__file__).parent / "quickstart"


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
        with tempfile.TemporaryDirectory() as scratch:
            project = Path(scratch) / "quickstart"
            shutil.copytree(QUICKSTART, project)
            # A key for the emulator only: it accepts any non-empty one.
            env = {**os.environ, "OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "sk-emulator"}
            for command in (["plan"], ["apply", "--auto-approve"], ["plan"]):
                ftctl(command, project, env)
            watch_training(base_url)
    finally:
        os.kill(server.pid, signal.SIGTERM)
        server.wait(timeout=15)
    return 0


def ftctl(command: list[str], project: Path, env: dict[str, str]) -> None:
    print(f"\n$ ftctl {' '.join(command)}")
    subprocess.run(
        [sys.executable, "-m", "ftctl", *command, "--chdir", str(project), "--no-color"],
        env=env,
        check=True,
    )


def watch_training(base_url: str) -> None:
    print("\n# The emulator's clock moves on; the job trains (read through the openai SDK):")
    client = OpenAI(base_url=base_url, api_key="sk-emulator")
    control = httpx2.Client(base_url=base_url.removesuffix("/v1"))
    [job] = client.fine_tuning.jobs.list().data
    for seconds in (10, 20, 60, 60):
        control.post("/_emulator/clock/advance", json={"seconds": seconds})
        job = client.fine_tuning.jobs.retrieve(job.id)
        print(f"  +{seconds:>3}s  {job.status:<16} epochs={job.hyperparameters.n_epochs}")
    for event in reversed(client.fine_tuning.jobs.list_events(job.id, limit=3).data):
        print(f"  [{event.level}] {event.message}")
    print(f"fine-tuned model: {job.fine_tuned_model}")
    control.close()
    client.close()


if __name__ == "__main__":
    sys.exit(main())
