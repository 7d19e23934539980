"""Writing files safely: a reader sees the old file or the new one, never half of one.

Takes a destination path and what to write; gives the file written whole, or left as it was. A
write killed part-way leaves only a temporary beside the destination, named
``.<name>.tmp-XXXXXXXX<suffix>`` (:func:`is_temporary` recognises it), which
:func:`remove_temporaries` clears at the next start. :func:`create_exclusively` makes a new file
with its content in one step, failing if the name is taken (a lock).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TEMPORARY_MARK = ".tmp-"
# what a killed write leaves: ours (.state.json.tmp-k3j_x9a2.json), and those of layerkit
# before the mark (.state.k3j_x9a2.json: mkstemp's 8 characters between the name and suffix)
_TEMPORARY = re.compile(
    r"\..+\.tmp-[a-z0-9_]{8}(\.[A-Za-z0-9]+)?"
    r"|\.[^.].*\.[a-z0-9_]{8}\.(json|csv|yaml|keras|png)"
)


@contextmanager
def atomic_output(path: Path, replace: bool = True, tag: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same folder, same suffix) to write to; when the
    block ends without error it becomes ``path`` in one step, otherwise it is deleted and
    ``path`` is left as it was. ``tag`` goes into the temporary's name after ``.tmp-`` (who
    writes it, say).

    With ``replace=False`` an existing ``path`` is never replaced, even one created while the
    block ran (a check made before slow work is not enough): FileExistsError, and the temporary
    is deleted.
    """
    temporary = _temporary(path, tag)
    try:
        yield temporary
        os.chmod(temporary, _new_file_mode())  # mkstemp's 0600 would make a plain file private
        if replace:
            os.replace(temporary, path)
        else:
            _publish_new(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _publish_new(temporary: Path, path: Path) -> None:
    """Give the written ``temporary`` the name ``path`` unless that name is taken, in one step."""
    try:
        os.link(temporary, path)  # fails if path exists (a file, a folder, a dangling link)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: claim the name first, then fill it
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        os.replace(temporary, path)
        return
    temporary.unlink()


def _temporary(path: Path, tag: str = "") -> Path:
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{path.name}{TEMPORARY_MARK}{tag}", suffix=path.suffix, dir=path.parent
    )
    os.close(descriptor)
    return Path(temporary)


def _new_file_mode() -> int:
    """The mode ``open()`` would give a new file: 0666 less the process's umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def write_text_atomically(path: Path, text: str, replace: bool = True) -> None:
    """Write ``text`` to ``path`` through :func:`atomic_output`, flushed to disk first."""
    with atomic_output(path, replace) as temporary, open(temporary, "w", encoding="utf-8") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())


def create_exclusively(path: Path, text: str) -> None:
    """Create ``path`` holding ``text`` in one step: the content is written to a temporary first
    and then hard-linked to ``path``, so no reader ever sees it empty or half written.

    Raises:
        FileExistsError: ``path`` exists (a file, a folder, anything).
    """
    temporary = _temporary(path)
    try:
        with open(temporary, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, _new_file_mode())
        os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def is_temporary(path: Path) -> bool:
    """Whether ``path`` is a temporary of an atomic write (or of a lock being created)."""
    return bool(_TEMPORARY.fullmatch(path.name))


def remove_temporaries(folder: Path) -> list[Path]:
    """Delete the temporaries that killed writes left in ``folder`` (not below it); returns them."""
    removed = []
    for path in sorted(folder.iterdir()):
        if is_temporary(path) and path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed
