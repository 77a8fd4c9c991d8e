"""Opening a state file: refusals that never write, and format migrations."""

from pathlib import Path

import pytest
import sqlite_utils

from ftctl.state.model import NewerStateVersion, NotFtctlState, StateStorageError
from ftctl.state.store import FORMAT_VERSION, MIGRATIONS, StateStore
from tests.state.helpers import PRINT_LINEAGE, job, start_child


def files_in(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def make_sqlite_file(path: Path) -> None:
    with sqlite_utils.Database(path) as db:
        db["runs"].insert({"id": 1, "name": "not ours"}, pk="id")


def make_state(path: Path) -> None:
    with StateStore.open(path) as store, store.lock("apply"):
        store.put(job(), operation="apply", action="create")


def set_user_version(path: Path, version: int) -> None:
    with sqlite_utils.Database(path) as db:
        db.execute(f"PRAGMA user_version = {version}")


# --------------------------------------------------------------------------------------------
# refusals: each leaves every file in the folder byte-identical
# --------------------------------------------------------------------------------------------


def test_refuses_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "ftctl.db"
    path.write_text('{"version": 4, "serial": 3, "lineage": "terraform state"}\n')
    before = files_in(tmp_path)
    with pytest.raises(NotFtctlState, match="not a SQLite database") as refused:
        StateStore.open(path)
    assert files_in(tmp_path) == before
    assert str(path) in str(refused.value)
    assert "left untouched" in str(refused.value)


def test_refuses_a_sqlite_file_without_ftctl_tables(tmp_path: Path) -> None:
    path = tmp_path / "ftctl.db"
    make_sqlite_file(path)
    before = files_in(tmp_path)
    with pytest.raises(NotFtctlState, match="SQLite database without ftctl's mark"):
        StateStore.open(path)
    assert files_in(tmp_path) == before


def test_refuses_a_damaged_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "ftctl.db"
    make_state(path)
    data = bytearray(path.read_bytes())
    data[16:100] = b"\xff" * 84  # the rest of the header: page size, counts, schema format
    path.write_bytes(bytes(data))
    before = files_in(tmp_path)
    with pytest.raises(NotFtctlState, match="SQLite cannot read it"):
        StateStore.open(path)
    assert files_in(tmp_path) == before


def test_refuses_a_directory(tmp_path: Path) -> None:
    with pytest.raises(NotFtctlState, match="is a directory"):
        StateStore.open(tmp_path)


def test_refuses_a_newer_format_naming_both_versions(tmp_path: Path) -> None:
    path = tmp_path / "ftctl.db"
    make_state(path)
    set_user_version(path, FORMAT_VERSION + 1)
    before = files_in(tmp_path)
    with pytest.raises(NewerStateVersion) as refused:
        StateStore.open(path)
    assert files_in(tmp_path) == before
    assert (refused.value.found, refused.value.known) == (FORMAT_VERSION + 1, FORMAT_VERSION)
    message = str(refused.value)
    assert f"version {FORMAT_VERSION + 1}" in message
    assert f"up to {FORMAT_VERSION}" in message
    assert "upgrade ftctl" in message


def test_refuses_our_mark_without_a_version(tmp_path: Path) -> None:
    path = tmp_path / "ftctl.db"
    make_state(path)
    set_user_version(path, 0)
    before = files_in(tmp_path)
    with pytest.raises(NotFtctlState, match="no format version"):
        StateStore.open(path)
    assert files_in(tmp_path) == before


def test_unwritable_folder_is_a_state_error(tmp_path: Path) -> None:
    blocker = tmp_path / "config"
    blocker.write_text("a file where the state folder should be")
    with pytest.raises(StateStorageError, match="Could not create the state file"):
        StateStore.open(blocker / "state" / "ftctl.db")


def test_processes_opening_a_new_path_together_share_one_state(tmp_path: Path) -> None:
    # Whichever creates the file, the others must find the state it made, not make another.
    path = tmp_path / "state" / "ftctl.db"
    children = [start_child(PRINT_LINEAGE, path) for _ in range(4)]
    outputs = [child.communicate(timeout=60) for child in children]
    assert [child.returncode for child in children] == [0] * 4, outputs
    lineages = {stdout.strip() for stdout, _ in outputs}
    with StateStore.open(path) as store:
        assert lineages == {store.snapshot().lineage}


# --------------------------------------------------------------------------------------------
# migrations
# --------------------------------------------------------------------------------------------


def add_notes_column(db: sqlite_utils.Database) -> None:
    db.execute("ALTER TABLE resources ADD COLUMN notes TEXT NOT NULL DEFAULT ''")


def fail_half_way(db: sqlite_utils.Database) -> None:
    db.execute("ALTER TABLE resources ADD COLUMN notes TEXT")
    raise RuntimeError("migration failed half way")


def test_an_older_format_is_migrated_keeping_its_contents(tmp_path: Path) -> None:
    path = tmp_path / "ftctl.db"
    make_state(path)
    with StateStore.open(path) as store:
        before = store.snapshot()
    with StateStore.open(path, migrations=(*MIGRATIONS, add_notes_column)) as store:
        assert store.snapshot() == before  # a format change is not a state change: same serial
    with sqlite_utils.Database(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == FORMAT_VERSION + 1
        assert "notes" in db["resources"].columns_dict
    # The code that knows only the older format now refuses the file.
    with pytest.raises(NewerStateVersion):
        StateStore.open(path)


def test_a_failed_migration_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "ftctl.db"
    make_state(path)
    before = files_in(tmp_path)
    with pytest.raises(RuntimeError, match="half way"):
        StateStore.open(path, migrations=(*MIGRATIONS, fail_half_way))
    assert files_in(tmp_path) == before
    with StateStore.open(path) as store:
        assert store.snapshot().serial == 1


def test_a_failed_creation_leaves_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "ftctl.db"
    with pytest.raises(RuntimeError, match="half way"):
        StateStore.open(path, migrations=(*MIGRATIONS, fail_half_way))
    assert path.read_bytes() == b""
    with StateStore.open(path) as store:  # and the next open makes it a state
        assert store.snapshot().serial == 0


def test_a_new_state_is_created_at_the_latest_format(tmp_path: Path) -> None:
    path = tmp_path / "ftctl.db"
    StateStore.open(path, migrations=(*MIGRATIONS, add_notes_column)).close()
    with sqlite_utils.Database(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == FORMAT_VERSION + 1
        assert "notes" in db["resources"].columns_dict
