"""The campaign's shared tally. `make test` runs the cases not marked `reliability` (one of
each kind); `make reliability` adds `--campaign` to run them all and write the report."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.campaign import Campaign

_CAMPAIGN = Campaign()


@pytest.fixture(scope="session")
def campaign() -> Iterator[Campaign]:
    yield _CAMPAIGN


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    report = os.environ.get("FTCTL_RELIABILITY_REPORT")
    if report and _CAMPAIGN.cases:
        _CAMPAIGN.write(Path(report), passed=exitstatus == 0)
