"""Tests of the language layer: the .tf loader and the configuration built from it.

Shared helpers for their inline fixtures: `write` puts a dict of files under a directory, `at`
gives the "file:line:col" of a needle in a fixture's text, and `marked` strips a `»` marker from a
set of files and says where it was, so that a table row shows exactly where a diagnostic points.
"""

from collections.abc import Mapping
from pathlib import Path

MARK = "»"


def write(root: Path, files: Mapping[str, str | bytes]) -> Path:
    """Writes each file (text as UTF-8, bytes as they are) under root, making folders."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def line_col(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def at(file: str, text: str, needle: str, occurrence: int = 1) -> str:
    """'file:line:col' of the start of the occurrence-th `needle` in `text`."""
    offset = -1
    for _ in range(occurrence):
        offset = text.index(needle, offset + 1)
    line, column = line_col(text, offset)
    return f"{file}:{line}:{column}"


def marked(files: Mapping[str, str]) -> tuple[dict[str, str], str]:
    """The files without their one `»` marker, and 'file:line:col' of where it stood."""
    found = [(name, text) for name, text in files.items() if MARK in text]
    assert len(found) == 1 and found[0][1].count(MARK) == 1, "exactly one » marker expected"
    name, text = found[0]
    where = at(name, text, MARK)
    return {n: t.replace(MARK, "") for n, t in files.items()}, where
