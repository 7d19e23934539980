"""The run lock: which process may write a run directory.

Takes a run directory's ``lock`` path; gives the lock to this process, or says who holds it. The
lock file is created with its owner's identity already in it (pid, host, when it was taken, and
the process's start tick, which tells a reused pid apart) in one step — written to a temporary,
then hard-linked to ``lock``, which fails if it exists — so two processes can never both believe
they hold it. A lock whose owner is gone (a dead pid on this host) is taken over; the takeover
itself is serialized by an ``flock`` on the folder, which the system releases if its holder dies.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from ..files import create_exclusively
from .records import RunError, reason

Notify = Callable[[str], None]


@dataclass(frozen=True)
class Owner:
    """Who holds a lock; every field None in a lock that records nothing readable."""

    pid: int | None = None
    host: str | None = None
    started: str | None = None  # when the lock was taken, local time
    process_start: int | None = None  # the owner's start tick (Linux), None where unknown

    def alive(self) -> bool | None:
        """Whether the owner still runs: None when that cannot be told (another host)."""
        if self.pid is None:
            return False
        if self.host is not None and self.host != socket.gethostname():
            return None
        if not _pid_exists(self.pid):
            return False
        start = process_start(self.pid)
        return self.process_start is None or start is None or start == self.process_start

    def describe(self) -> str:
        where = f" on {self.host}" if self.host else ""
        since = f" since {self.started}" if self.started else ""
        return f"pid {self.pid}{where}{since}"


def acquire(folder: Path, notify: Notify | None = None) -> None:
    """Take ``folder``'s lock for this process, or raise a RunError saying who holds it. A dead
    owner's lock is taken over, saying so to ``notify``."""
    lock, owner = folder / "lock", this_process()
    for _ in range(5):
        if lock.is_dir():
            raise RunError(
                f"'{lock}' is a folder, not a layerkit lock; remove it (rmdir) if no process is "
                "using the run"
            )
        if lock.exists() and not lock.is_file():
            raise RunError(
                f"'{lock}' is not a file, not a layerkit lock; remove it if no process is using "
                "the run"
            )
        try:
            if try_create(lock, owner):
                return
        except FileNotFoundError:  # our temporary was cleared by the holder: try again
            continue
        except OSError as error:
            raise RunError(
                f"cannot lock '{folder}': {reason(error)}; the run directory must be writable to "
                "train in it"
            ) from None
        _take_over(folder, lock, notify)
    raise RunError(f"cannot lock '{folder}': other processes keep taking its lock")


def _take_over(folder: Path, lock: Path, notify: Notify | None) -> None:
    """Remove the lock at ``lock`` if its owner is gone; a RunError if it lives."""
    found = read_owner(lock) if lock.is_file() else None
    if found is None:
        return  # released meanwhile: try again
    holder, content = found
    alive = holder.alive()
    if alive is None:
        raise RunError(
            f"'{folder}' is locked by {holder.describe()}; if that process is gone, delete {lock}"
        )
    if alive:
        raise RunError(
            f"another process ({holder.describe()}) is writing to '{folder}'; wait for it, or "
            "stop it first"
        )
    if remove_if_unchanged(lock, content) and notify is not None:
        who = holder.describe() if holder.pid is not None else "no process recorded"
        notify(f"note: took over the lock of '{folder}' left by {who}, which has ended")


def this_process() -> Owner:
    return Owner(os.getpid(), socket.gethostname(), time.strftime("%Y-%m-%d %H:%M:%S"),
                 process_start(os.getpid()))  # fmt: skip


def try_create(lock: Path, owner: Owner) -> bool:
    """Create ``lock`` naming ``owner``; False if a lock (or anything) is there already."""
    try:
        create_exclusively(lock, json.dumps(asdict(owner)) + "\n")
    except FileExistsError:
        return False
    return True


def read_owner(lock: Path) -> tuple[Owner, bytes] | None:
    """The owner a lock names, with the lock's bytes; None if there is no lock now. A lock
    that records no owner (empty, or not what layerkit writes) reads as Owner()."""
    try:
        content = lock.read_bytes()
    except FileNotFoundError:
        return None
    return _parse(content), content


def _parse(content: bytes) -> Owner:
    text = content.decode("utf-8", errors="replace").strip()
    if text.isdigit():  # written by layerkit before the lock recorded more than the pid
        return Owner(int(text))
    try:
        record = json.loads(text)
    except ValueError:
        return Owner()
    if not isinstance(record, dict):
        return Owner()
    pid, host = record.get("pid"), record.get("host")
    started, start = record.get("started"), record.get("process_start")
    return Owner(
        pid if isinstance(pid, int) and pid > 0 else None,
        host if isinstance(host, str) else None,
        started if isinstance(started, str) else None,
        start if isinstance(start, int) else None,
    )


def remove_if_unchanged(lock: Path, seen: bytes) -> bool:
    """Remove a dead owner's ``lock`` if it still holds ``seen``; False if another process
    changed it meanwhile (took it over, or released it)."""
    with _serialized(lock.parent):
        try:
            if lock.read_bytes() != seen:
                return False
        except FileNotFoundError:
            return False
        lock.unlink()
        return True


def release(lock: Path, owner: Owner) -> None:
    """Remove ``lock`` if ``owner`` holds it."""
    found = read_owner(lock) if lock.is_file() else None
    if found is not None and found[0].pid == owner.pid and found[0].host == owner.host:
        lock.unlink(missing_ok=True)


@contextmanager
def _serialized(folder: Path) -> Iterator[None]:
    """Only one process at a time in this block, for ``folder`` (an flock on it)."""
    import fcntl

    descriptor = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # releases the flock


def process_start(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks since boot (Linux); None elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:  # the fields after the command name, which is in parentheses and may hold spaces
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (IndexError, ValueError):
        return None


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:  # no process has so large a pid
        return False
    return True
