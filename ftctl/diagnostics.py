"""Diagnostics: the one vocabulary for problems a user can fix, each with where and what next.

Functions that read user input return their result together with diagnostics, so that one run
reports every problem; nothing that a user can fix ever reaches them as a traceback.
"""

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class SourceRange:
    """Where in a file: 1-based line and column of the start (and end, when known)."""

    file: str
    line: int
    column: int
    end_line: int | None = None
    end_column: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Diagnostic:
    severity: Severity
    summary: str  # one line: what is wrong
    detail: str = ""  # what to do about it
    where: SourceRange | None = None
    # False for a line that holds a secret (a literal API key): the position, never the text.
    excerpt: bool = True

    def to_json(self) -> dict[str, object]:
        body: dict[str, object] = {
            "severity": self.severity.value,
            "summary": self.summary,
            "detail": self.detail,
        }
        if self.where is not None:
            body["range"] = {
                "filename": self.where.file,
                "start": {"line": self.where.line, "column": self.where.column},
            }
        return body


def error(summary: str, detail: str = "", where: SourceRange | None = None) -> Diagnostic:
    return Diagnostic(Severity.ERROR, summary, detail, where)


def warning(summary: str, detail: str = "", where: SourceRange | None = None) -> Diagnostic:
    return Diagnostic(Severity.WARNING, summary, detail, where)


class Diagnostics:
    """An ordered collection that callers append to and test with `has_errors`."""

    def __init__(self, items: Iterable[Diagnostic] = ()) -> None:
        self._items = list(items)

    def add(self, diagnostic: Diagnostic) -> None:
        self._items.append(diagnostic)

    def extend(self, diagnostics: Iterable[Diagnostic]) -> None:
        self._items.extend(diagnostics)

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self._items)

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def sorted(self) -> list[Diagnostic]:
        """Errors first, then by file and position, as a reader scans them."""
        return sorted(
            self._items,
            key=lambda d: (d.severity is not Severity.ERROR, d.where or SourceRange("", 0, 0)),
        )


def render(diagnostic: Diagnostic, sources: Mapping[str, str]) -> str:
    """Terraform's layout: `Error: summary`, `on FILE line N:`, the source line, the detail."""
    lines = [f"{diagnostic.severity.value.capitalize()}: {diagnostic.summary}"]
    where = diagnostic.where
    if where is not None:
        lines += ["", f"  on {where.file} line {where.line}:"]
        text = sources.get(where.file) if diagnostic.excerpt else None
        if text is not None:
            source_lines = text.splitlines()
            if 0 < where.line <= len(source_lines):
                excerpt = source_lines[where.line - 1]
                lines.append(f"{where.line:>4}: {excerpt}")
                lines.append(" " * (6 + where.column - 1) + "^")
    if diagnostic.detail:
        lines += ["", diagnostic.detail]
    return "\n".join(lines)


class FtctlError(Exception):
    """A failure that aborts a command, with a message fit for the user."""


class DiagnosticsError(FtctlError):
    """Problems found while planning (evaluation errors, a prevent_destroy violation), to be
    rendered like the configuration's own diagnostics."""

    def __init__(self, diagnostics: Iterable[Diagnostic], sources: Mapping[str, str]) -> None:
        self.diagnostics = list(diagnostics)
        self.sources = sources
        super().__init__("; ".join(d.summary for d in self.diagnostics))
