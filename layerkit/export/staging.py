"""Writing an artifact so that nothing half-written is ever seen, and clearing what a killed
export left.

Takes the artifact's destination; gives a temporary beside it to write to, which takes the
destination's name only when whole (:func:`staged`). The temporary's name records who writes it
(``.model.onnx.tmp-HOST-PID-START-XXXXXXXX.onnx``: host, process id and the process's start
tick), so the next export to the same destination can tell a temporary whose export was killed
(SIGKILL, a power cut: nothing ran to delete it) from one another export is writing now, and
remove only the former (:func:`clear_leftovers`). A folder artifact (a SavedModel) that replaces
an earlier one moves the earlier one aside first (``.savedmodel.old-…/previous``); if the export
died between the two renames, the earlier one is put back rather than deleted.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..files import atomic_output
from ..runs.lock import Owner, this_process
from .formats import ExportError, Format


@contextmanager
def staged(path: Path, form: Format, replace: bool) -> Iterator[Path]:
    """A temporary path beside ``path`` to export to; when the block ends without error it takes
    the name ``path`` (an existing one only with ``replace``), otherwise it is deleted."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if form.suffix:
        try:
            with atomic_output(path, replace, tag=_owner_tag()) as temporary:
                yield temporary
        except FileExistsError:
            raise ExportError(f"'{path}' appeared meanwhile; pass --force to replace it") from None
        return
    temporary = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-{_owner_tag()}", dir=path.parent))
    try:
        yield temporary
        _publish_folder(temporary, path, replace)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def _publish_folder(temporary: Path, path: Path, replace: bool) -> None:
    """The folder ``temporary`` renamed to ``path``; an existing ``path`` is moved aside first
    (with ``replace``) and deleted once the new one is in place."""
    if not (path.exists() or path.is_symlink()):
        os.rename(temporary, path)
        return
    if not replace:
        raise ExportError(f"'{path}' appeared meanwhile; pass --force to replace it")
    old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-{_owner_tag()}", dir=path.parent))
    os.rename(path, old / "previous")
    os.rename(temporary, path)
    shutil.rmtree(old, ignore_errors=True)


def clear_leftovers(path: Path) -> list[str]:
    """Remove what exports to ``path`` left when killed mid-way (their process has ended, on this
    host): half-written temporaries, and an earlier artifact moved aside — put back in its place
    if the new one never took it. Returns what was done, a line each; temporaries of a live
    export, of another host, or named otherwise are left alone."""
    try:
        beside = sorted(path.parent.iterdir())
    except OSError:  # no folder yet, or one that cannot be listed: nothing to clear
        return []
    done = []
    pattern = re.compile(
        rf"\.{re.escape(path.name)}\.(tmp|old)-([A-Za-z0-9]*)-(\d+)-(\d*)-[a-z0-9_]{{8}}"
        rf"(?:{re.escape(path.suffix)})?"
    )
    for leftover in beside:
        found = pattern.fullmatch(leftover.name)
        if found is None or leftover.is_symlink():
            continue
        kind, host, pid, start = found.groups()
        owner = Owner(int(pid), None, None, int(start) if start else None)
        if host != _host() or owner.alive() is not False:
            continue
        try:
            done.append(_clear(leftover, kind == "old", path, pid))
        except OSError:  # another process's, or not ours to remove: left as it is
            continue
    return done


def _clear(leftover: Path, aside: bool, path: Path, pid: str) -> str:
    """Remove one dead export's ``leftover``, first putting back the artifact it had moved
    aside (``aside``) if ``path`` was never filled again; what was done, in words."""
    previous = leftover / "previous"
    said = f"removed {leftover}, left by an export (pid {pid}) that was killed"
    if aside and previous.exists() and not (path.exists() or path.is_symlink()):
        os.rename(previous, path)
        said = (
            f"put {path} back: an export (pid {pid}) killed while replacing it had moved it "
            f"aside to {leftover}"
        )
    if leftover.is_dir():
        shutil.rmtree(leftover)
    else:
        leftover.unlink(missing_ok=True)
    return said


def _owner_tag() -> str:
    """``HOST-PID-START-``: who writes a temporary, in its name (see the module's docstring)."""
    owner = this_process()
    start = "" if owner.process_start is None else str(owner.process_start)
    return f"{_host()}-{owner.pid}-{start}-"


def _host() -> str:
    """This host's name as a temporary's name carries it: letters and digits, 24 at most."""
    return re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:24]
