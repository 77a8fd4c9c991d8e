"""`make demo`: ftctl's loop against its own emulator, offline and free.

Starts `ftctl emulator serve` on a free port, its clock at 100x (the job trains in about two
seconds), copies examples/quickstart to a scratch directory, and runs `ftctl plan`,
`ftctl apply --auto-approve --wait`, `ftctl show` and `ftctl plan` there, exactly as a user would
against api.openai.com (only OPENAI_BASE_URL differs). Then it stops the server by its pid.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

QUICKSTART = Path(__file__).parent / "quickstart"


def main() -> int:
    server = subprocess.Popen(
        [sys.executable, "-m", "ftctl", "emulator", "serve", "--port", "0", "--speed", "100"],
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
            for command in (
                ["plan"],
                ["apply", "--auto-approve", "--wait", "--poll-interval", "0.2"],
                ["show"],
                ["plan"],
            ):
                ftctl(command, project, env)
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


if __name__ == "__main__":
    sys.exit(main())
