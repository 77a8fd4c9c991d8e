from collections.abc import Iterator
from pathlib import Path

import pytest

from ftctl.state.store import StateStore
from tests.state.helpers import TickingClock


@pytest.fixture
def state_path(tmp_path: Path) -> Path:
    """Where the CLI puts state by default, under a config dir; the folder does not exist yet."""
    return tmp_path / "config" / "state" / "ftctl.db"


@pytest.fixture
def clock() -> TickingClock:
    return TickingClock()


@pytest.fixture
def store(state_path: Path, clock: TickingClock) -> Iterator[StateStore]:
    with StateStore.open(state_path, clock=clock) as opened:
        yield opened
