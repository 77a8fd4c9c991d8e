"""`ftctl state ...` and `ftctl force-unlock`: read and repair the state by hand, as
Terraform's state commands do. None of them calls the API; every one that writes takes the lock.

Address filters: `TYPE.NAME` stands for the resource's instances (`TYPE.NAME[...]`) and its
deposed object (`TYPE.NAME~deposed`) too; `TYPE.NAME["key"]` for that instance and its
deposed object.
"""

import os
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ftctl.cli.common import (
    duration,
    fail,
    lock_taken_over,
    read_state,
    reported_errors,
    show_diagnostics,
)
from ftctl.engine.run import state_path
from ftctl.plan import DEPOSED
from ftctl.state.model import NotLocked, State
from ftctl.views import state as view

if TYPE_CHECKING:
    from ftctl.state.store import StateStore

state_app = typer.Typer(help="Inspect and repair the state.", pretty_exceptions_show_locals=False)

_CHDIR_HELP = "Directory of the .tf files."
_STATE_HELP = "State file (or FTCTL_STATE)."
_LOCK_TIMEOUT_HELP = "How long to wait for the state lock (10s)."

# TYPE.NAME, an optional instance key (a number or a JSON string), an optional deposed mark.
_ADDRESS = re.compile(
    r'[A-Za-z_][A-Za-z0-9_-]*\.[A-Za-z_][A-Za-z0-9_-]*(\[(\d+|"(?:[^"\\]|\\.)*")\])?'
    + f"(?:{re.escape(DEPOSED)})?"
)


@state_app.command("list")
def state_list(
    addresses: list[str] = typer.Argument(
        None, metavar="[ADDR]", help="Only these resources or instances."
    ),
    remote_id: str = typer.Option(None, "--id", "-id", help="Only the one with this API ID."),
    chdir: Path = typer.Option(Path("."), "--chdir", "-chdir", help=_CHDIR_HELP),
    state: str = typer.Option(None, "--state", "-state", help=_STATE_HELP),
    no_color: bool = typer.Option(False, "--no-color", "-no-color", help="No colour (none used)."),
) -> None:
    """List the addresses the state records, one a line."""
    with reported_errors():
        current = read_state(state_path(chdir, state, os.environ))
    listed = (
        _matching(current, addresses, doing="listed") if addresses else sorted(current.resources)
    )
    if remote_id is not None:
        listed = [a for a in listed if current.resources[a].remote_id == remote_id]
    for address in listed:
        typer.echo(address)


@state_app.command("show")
def state_show(
    address: str = typer.Argument(..., metavar="ADDR", help="One resource instance."),
    chdir: Path = typer.Option(Path("."), "--chdir", "-chdir", help=_CHDIR_HELP),
    state: str = typer.Option(None, "--state", "-state", help=_STATE_HELP),
    no_color: bool = typer.Option(False, "--no-color", "-no-color", help="No colour (none used)."),
) -> None:
    """Show every attribute the state records for one resource."""
    with reported_errors():
        current = read_state(state_path(chdir, state, os.environ))
    resource = current.resources.get(address)
    if resource is None:
        found = [a for a in sorted(current.resources) if _covers(address, a)]
        if found:
            fail(f"{address} matches {len(found)} objects; show one of them: " + ", ".join(found))
        fail(f"No resource {address} in the state; ftctl state list shows what there is.")
    typer.echo(view.describe(resource))


@state_app.command("rm")
def state_rm(
    addresses: list[str] = typer.Argument(
        ..., metavar="ADDR", help="Resources or instances to forget."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", "-dry-run", help="Say what would be removed; remove nothing."
    ),
    lock_timeout: str = typer.Option(
        "0s", "--lock-timeout", "-lock-timeout", help=_LOCK_TIMEOUT_HELP
    ),
    chdir: Path = typer.Option(Path("."), "--chdir", "-chdir", help=_CHDIR_HELP),
    state: str = typer.Option(None, "--state", "-state", help=_STATE_HELP),
    no_color: bool = typer.Option(False, "--no-color", "-no-color", help="No colour."),
) -> None:
    """Forget resources: ftctl stops tracking them.

    Nothing is cancelled or deleted remotely, and `ftctl import` can adopt them again.
    """
    timeout = duration(lock_timeout)
    path = state_path(chdir, state, os.environ)
    with reported_errors():
        chosen = _matching(read_state(path), addresses, doing="removed")
        if dry_run:
            for address in chosen:
                typer.echo(f"Would remove {address}")
            return
        with _locked(path, "state-rm", timeout) as store:
            # Again under the lock: another run may have written since the first read.
            current = store.snapshot()
            chosen = _matching(current, addresses, doing="removed")
            in_flight = [a for a in chosen if current.resources[a].pending_token]
            if in_flight:
                # Its token is the only way to find a job the interrupted create may have made.
                fail(
                    f"{', '.join(in_flight)} has a create in flight (its job may exist): run "
                    "ftctl apply first, which looks it up; then remove it."
                )
            with store.batch():
                for address in chosen:
                    store.remove(address, operation="state-rm", action="forget")
    for address in chosen:
        typer.echo(f"Removed {address}")
    _success(f"Successfully removed {len(chosen)} resource instance(s).", no_color)


@state_app.command("mv")
def state_mv(
    source: str = typer.Argument(..., metavar="SOURCE", help="The address to move."),
    destination: str = typer.Argument(..., metavar="DESTINATION", help="Its new address."),
    dry_run: bool = typer.Option(
        False, "--dry-run", "-dry-run", help="Say what would move; move nothing."
    ),
    lock_timeout: str = typer.Option(
        "0s", "--lock-timeout", "-lock-timeout", help=_LOCK_TIMEOUT_HELP
    ),
    chdir: Path = typer.Option(Path("."), "--chdir", "-chdir", help=_CHDIR_HELP),
    state: str = typer.Option(None, "--state", "-state", help=_STATE_HELP),
    no_color: bool = typer.Option(False, "--no-color", "-no-color", help="No colour."),
) -> None:
    """Rename a resource (with its instances) or one instance in the state.

    Nothing changes remotely: use it after renaming a block, so that plan does not replace
    the job.
    """
    timeout = duration(lock_timeout)
    path = state_path(chdir, state, os.environ)
    with reported_errors():
        moves = _moves(read_state(path), source, destination)
        if dry_run:
            for old, new in moves:
                typer.echo(f'Would move "{old}" to "{new}"')
            return
        with _locked(path, "state-mv", timeout) as store:
            moves = _moves(store.snapshot(), source, destination)
            store.move(dict(moves), operation="state-mv")
    for old, new in moves:
        typer.echo(f'Move "{old}" to "{new}"')
    _success(f"Successfully moved {len(moves)} object(s).", no_color)


@state_app.command("history")
def state_history(
    chdir: Path = typer.Option(Path("."), "--chdir", "-chdir", help=_CHDIR_HELP),
    state: str = typer.Option(None, "--state", "-state", help=_STATE_HELP),
    no_color: bool = typer.Option(False, "--no-color", "-no-color", help="No colour (none used)."),
) -> None:
    """List every write to the state, and the serials that can be restored.

    One line per write, oldest first: the serial it made, when (UTC), the operation, who
    (user@host), the address and what happened to it.
    """
    path = state_path(chdir, state, os.environ)
    with reported_errors(), _existing(path) as store:
        if store is None:
            typer.echo(view.history_table((), 0))
            return
        entries, since = store.history(), store.restorable_since()
    typer.echo(view.history_table(entries, since))


@state_app.command("restore")
def state_restore(
    serial: int = typer.Argument(..., min=0, help="The serial to bring back (state history)."),
    lock_timeout: str = typer.Option(
        "0s", "--lock-timeout", "-lock-timeout", help=_LOCK_TIMEOUT_HELP
    ),
    chdir: Path = typer.Option(Path("."), "--chdir", "-chdir", help=_CHDIR_HELP),
    state: str = typer.Option(None, "--state", "-state", help=_STATE_HELP),
    no_color: bool = typer.Option(False, "--no-color", "-no-color", help="No colour."),
) -> None:
    """Bring back the resources and outputs of an earlier serial, as a new serial.

    The new serial can be restored away in turn. Only ftctl's records change: no job is
    started or cancelled.
    """
    timeout = duration(lock_timeout)
    path = state_path(chdir, state, os.environ)
    with reported_errors():
        if not _has_state(path):
            fail(f"No state at {path}: there is nothing to restore.")
        with _locked(path, "restore", timeout) as store:
            restored = store.restore(serial, operation="restore")
    if restored.new_serial is None:
        typer.echo(f"The state already holds what serial {serial} held: nothing was written.")
        return
    for address in sorted((*restored.restored, *restored.removed)):
        typer.echo(f"{'Removed' if address in restored.removed else 'Restored'} {address}")
    if restored.outputs_changed:
        typer.echo("Restored the outputs")
    for address, remote_id in restored.untracked:
        typer.secho(
            f"Warning: {remote_id} (was {address}) is no longer tracked, and is not cancelled "
            "or deleted: ftctl import can adopt it again.",
            err=True,
            fg="yellow",
            color=False if no_color else None,
        )
    _success(f"Successfully restored serial {serial} as serial {restored.new_serial}.", no_color)


def force_unlock(
    lock_id: str = typer.Argument(..., metavar="LOCK_ID", help="The ID the lock error named."),
    force: bool = typer.Option(False, "--force", "-force", help="Do not ask for confirmation."),
    chdir: Path = typer.Option(Path("."), "--chdir", "-chdir", help=_CHDIR_HELP),
    state: str = typer.Option(None, "--state", "-state", help=_STATE_HELP),
    no_color: bool = typer.Option(False, "--no-color", "-no-color", help="No colour."),
) -> None:
    """Remove the state lock left by a run that cannot release it.

    For a lock left by a lost CI runner, say. Only when no ftctl is running on that state:
    its writes would meet another's.
    """
    path = state_path(chdir, state, os.environ)
    with reported_errors():
        if not _has_state(path):
            fail(f"No state at {path}: there is no lock to remove.")
        from ftctl.state.store import StateStore

        with StateStore.open(path) as store:
            holder = store.current_lock()
            if holder is None or holder.id != lock_id:
                raise NotLocked.no_such_lock(lock_id, holder)
            if not force:
                _confirm_unlock()
            store.force_unlock(lock_id)  # checks the ID again, in the transaction that removes it
    _success("ftctl state has been successfully unlocked!", no_color)
    typer.echo(
        "\nThe state has been unlocked, and ftctl commands should now be able to\n"
        "obtain a new lock on the state."
    )


# Helpers


def _covers(pattern: str, address: str) -> bool:
    """Whether a filter address stands for `address` (see the module docstring)."""
    if address == pattern:
        return True
    if not address.startswith(pattern):
        return False
    rest = address[len(pattern) :]
    return rest == DEPOSED or (rest.startswith("[") and "[" not in pattern)


def _matching(current: State, patterns: Iterable[str], *, doing: str) -> list[str]:
    """The addresses the patterns stand for, sorted; fails naming every pattern that stands
    for nothing."""
    patterns = list(patterns)
    unmatched = [p for p in patterns if not any(_covers(p, a) for a in current.resources)]
    if unmatched:
        fail(
            f"No resource in the state matches {', '.join(unmatched)}: nothing was {doing}. "
            "ftctl state list shows what there is."
        )
    return sorted(a for a in current.resources if any(_covers(p, a) for p in patterns))


def _moves(current: State, source: str, destination: str) -> list[tuple[str, str]]:
    """(old, new) address pairs for `state mv SOURCE DESTINATION`, after every check."""
    if not _ADDRESS.fullmatch(destination):
        fail(
            f"{destination} is not a resource address: write TYPE.NAME, or TYPE.NAME[KEY] "
            'with a number or a quoted string as KEY (openai_fine_tuning_job.sweep["lr-1"]).'
        )
    if destination == source:
        fail(f"{source} and {destination} are the same address: nothing to move.")
    moves = [(a, destination + a[len(source) :]) for a in _matching_one(current, source)]
    for old, new in moves:
        record = current.resources[old]
        if not new.startswith(f"{record.type}."):
            fail(
                f"{old} cannot move to {new}: a {record.type} keeps its type. Remove it "
                "(ftctl state rm) and import it under the new block instead."
            )
        if old.endswith(DEPOSED) != new.endswith(DEPOSED):
            fail(f"A deposed object and a current one cannot swap places ({old} to {new}).")
        if not _ADDRESS.fullmatch(new):
            fail(
                f"{old} cannot move to {new}, which is not an address: move a resource's "
                "instances to a resource address (TYPE.NAME)."
            )
    taken = [new for _, new in moves if new in current.resources]
    if taken:
        fail(
            f"{', '.join(taken)} {'is' if len(taken) == 1 else 'are'} already in the state: "
            "nothing was moved. Remove it first (ftctl state rm), or choose another address."
        )
    return moves


def _matching_one(current: State, source: str) -> list[str]:
    found = [a for a in sorted(current.resources) if _covers(source, a)]
    if not found:
        fail(f"No resource in the state matches {source}: nothing was moved.")
    return found


@contextmanager
def _locked(path: Path, operation: str, timeout: float) -> Iterator["StateStore"]:
    from ftctl.state.store import StateStore  # sqlite_utils costs ~0.1 s: only with a state

    with StateStore.open(path) as store, store.lock(operation, timeout=timeout) as acquired:
        if (took_over := lock_taken_over(acquired)) is not None:
            show_diagnostics([took_over], {}, no_color=True)
        yield store


@contextmanager
def _existing(path: Path) -> Iterator["StateStore | None"]:
    """The state store, or None where there is no state yet (none is created)."""
    if not _has_state(path):
        yield None
        return
    from ftctl.state.store import StateStore

    with StateStore.open(path) as store:
        yield store


def _has_state(path: Path) -> bool:
    return path.exists() and (path.is_dir() or path.stat().st_size > 0)


def _success(message: str, no_color: bool) -> None:
    typer.secho(message, fg="green", bold=True, color=False if no_color else None)


def _confirm_unlock() -> None:
    if not sys.stdin.isatty():
        fail("No terminal to ask for confirmation: pass --force to remove the lock.")
    typer.echo(
        "Do you really want to force-unlock?\n"
        "  ftctl will remove the lock on the state.\n"
        "  This will allow local ftctl commands to modify this state, even though it\n"
        "  may still be in use. Only 'yes' will be accepted to confirm.\n"
    )
    if typer.prompt("  Enter a value", default="", show_default=False) != "yes":
        fail("force-unlock cancelled: the lock is still in place.")
