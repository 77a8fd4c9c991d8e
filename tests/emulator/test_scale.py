"""Scale: ten thousand jobs created and listed keep the emulator under 200 MiB, and the SDK's
auto-pagination walks the jobs list page by page, each job once, newest first."""

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs

import pytest
from openai import OpenAI

from tests.harness import Emulator, chat_jsonl, served_process, upload

MODEL = "gpt-4o-mini-2024-07-18"
MIB = 1024 * 1024
JOBS_PATH = "/v1/fine_tuning/jobs"

# chat_jsonl() has 12 examples: 9 epochs of batch size 1 make 108 one-second steps, after 10 s
# of validating files and 20 s queued. So a job runs from 30 s after creation and succeeds at
# 138 s.
RUNNING_AFTER = 40
SUCCEEDED_AFTER = 200


@dataclass(frozen=True)
class Memory:
    rss: int  # VmRSS, bytes
    peak: int  # VmHWM, bytes


def memory_of(pid: int) -> Memory:
    fields: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                number, unit = value.split()
                assert unit == "kB", line
                fields[name] = int(number) * 1024
    return Memory(rss=fields["VmRSS"], peak=fields["VmHWM"])


@dataclass
class Timer:
    total: float = 0.0
    slowest: float = 0.0
    count: int = 0

    def timed(self, started: float) -> None:
        elapsed = time.perf_counter() - started
        self.total += elapsed
        self.slowest = max(self.slowest, elapsed)
        self.count += 1


def create_jobs(client: OpenAI, training_file: str, count: int, timer: Timer) -> Iterator[str]:
    for _ in range(count):
        started = time.perf_counter()
        job = client.fine_tuning.jobs.create(model=MODEL, training_file=training_file)
        timer.timed(started)
        yield job.id


def advance(emu: Emulator, seconds: float) -> float:
    """Moves the emulated clock and returns how long that one request took: the emulator
    settles every job the move finishes before it answers."""
    started = time.perf_counter()
    emu.advance(seconds)
    return time.perf_counter() - started


@pytest.mark.slow
def test_ten_thousand_jobs_created_and_listed_keep_the_server_under_200_mib() -> None:
    succeeded, running = 1_000, 9_000
    with served_process("--clock", "manual") as served:
        emu = served.emulator
        client = emu.client()
        training_file = upload(client, chat_jsonl())
        before = memory_of(served.process.pid)

        creating = Timer()
        created = list(create_jobs(client, training_file, succeeded, creating))
        settle_seconds = advance(emu, SUCCEEDED_AFTER)
        created += create_jobs(client, training_file, running, creating)
        quiet_advance_seconds = advance(emu, RUNNING_AFTER)

        listing = Timer()
        ids: list[str] = []
        statuses: Counter[str] = Counter()
        pages = client.fine_tuning.jobs.list(limit=100).iter_pages()
        while True:
            started = time.perf_counter()
            page = next(pages, None)
            if page is None:
                break
            listing.timed(started)
            ids += [job.id for job in page.data]
            statuses.update(job.status for job in page.data)

        after = memory_of(served.process.pid)
        print(
            f"\n10,000 jobs: RSS {before.rss / MIB:.1f} MiB after the upload, "
            f"{after.rss / MIB:.1f} MiB after listing, peak {after.peak / MIB:.1f} MiB\n"
            f"create: {creating.count} requests in {creating.total:.1f} s "
            f"({creating.total / creating.count * 1000:.2f} ms each, "
            f"slowest {creating.slowest * 1000:.0f} ms)\n"
            f"advance settling {succeeded} successes: {settle_seconds:.2f} s "
            f"({settle_seconds / succeeded * 1000:.2f} ms a job); "
            f"advance settling none: {quiet_advance_seconds * 1000:.0f} ms\n"
            f"list: {listing.count} pages of 100 in {listing.total:.2f} s "
            f"(slowest page {listing.slowest * 1000:.0f} ms)"
        )

        assert len(created) == len(set(created)) == succeeded + running
        assert len(ids) == len(set(ids)) == 10_000
        assert set(ids) == set(created)
        assert listing.count == 100
        assert statuses == {"succeeded": succeeded, "running": running}
        assert after.peak < 200 * MIB


def test_auto_pagination_yields_each_of_250_jobs_once_newest_first_in_13_requests(
    emu: Emulator,
) -> None:
    client = emu.client()
    training_file = upload(client, chat_jsonl())
    created = list(create_jobs(client, training_file, 250, Timer()))

    listed = [job.id for job in client.fine_tuning.jobs.list()]

    assert listed == created[::-1]
    gets = [r for r in emu.requests() if r["method"] == "GET" and r["path"] == JOBS_PATH]
    assert len(gets) == 13
    assert all(r["status"] == 200 for r in gets)
    # The first page has no cursor; each later one starts after the last job of the one before.
    cursors = [parse_qs(r["query"]).get("after", [None])[0] for r in gets]
    assert cursors == [None, *listed[19:240:20]]
