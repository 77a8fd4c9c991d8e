from collections.abc import Iterator

import pytest
from openai import OpenAI

from tests.harness import Emulator, ServedProcess, served_process


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--campaign",
        action="store_true",
        help="run every reliability case, not only the representative slice",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--campaign"):
        return
    # Deselected rather than skipped: hundreds of skip lines would bury the real ones.
    slice_ = [item for item in items if item.get_closest_marker("reliability") is None]
    config.hook.pytest_deselected(items=[item for item in items if item not in slice_])
    items[:] = slice_


@pytest.fixture(scope="session")
def emulator_process() -> Iterator[ServedProcess]:
    """One `ftctl emulator serve --clock manual` for the whole session, on a free port."""
    with served_process("--clock", "manual") as served:
        yield served


@pytest.fixture
def emu(emulator_process: ServedProcess) -> Iterator[Emulator]:
    """The session's emulator, wiped clean for this test."""
    emulator = emulator_process.emulator
    emulator.reset()
    logged_before = len(emulator_process.stderr())
    yield emulator
    emulator.close_clients()
    # Every answer, errors included, is deliberate: the server must never log a traceback.
    assert "Traceback" not in emulator_process.stderr()[logged_before:]


@pytest.fixture
def client(emu: Emulator) -> OpenAI:
    """The real SDK, validating every response against its own types."""
    return emu.client()
