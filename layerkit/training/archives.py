"""The files of a folder or a .zip/.tar(.gz) archive, listed first and read only when asked.

Takes the path of a folder or archive; gives its :class:`Member` list in name order — a name, a
declared size and a way to read the bytes — without reading any file. A member is read only when
its caller asks, and never past :data:`MAX_FILE_BYTES`, whatever the archive's header claims, so
memory follows what is used, not what an archive says it holds. Only regular files are members:
links, devices, FIFOs and sockets are left out (in a folder, a file that turns into one between
the listing and the read is left out too, never opened in a way that could block). Names that
leave the archive's folder are refused.
"""

from __future__ import annotations

import os
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .dataset import DataError

MAX_FILE_BYTES = 64 * 2**20  # one image file: far above any photo a classifier is fed


class TooLarge(Exception):
    """A file over the limit it is read with: ``size`` bytes (at least), ``limit`` allowed."""

    def __init__(self, size: int, limit: int) -> None:
        self.size, self.limit = size, limit
        super().__init__(f"{size / 2**20:.1f} MiB, over the limit of {limit // 2**20} MiB")


class NotRegular(Exception):
    """A path that is not (or is no longer) a regular file: a FIFO, socket, device or folder."""


@dataclass(frozen=True)
class Member:
    """A file (``size`` its declared bytes) or a folder (``size`` None) of a folder or archive."""

    name: str  # relative, with / between parts
    size: int | None
    opener: Callable[[int], bytes] | None = None  # reads at most the limit given, plus one byte

    def read(self, limit: int = MAX_FILE_BYTES) -> bytes:
        """The member's bytes; :class:`TooLarge` past ``limit``, declared or found reading."""
        if self.size is None or self.opener is None:
            raise NotRegular(self.name)
        if self.size > limit:
            raise TooLarge(self.size, limit)
        data = self.opener(limit)
        if len(data) > limit:
            raise TooLarge(len(data), limit)
        return data


@contextmanager
def members(path: Path) -> Iterator[list[Member]]:
    """The members of the folder or archive at ``path``, readable while the context is open.

    Raises:
        DataError: a damaged archive, a name that leaves it, or a path that is neither.
    """
    if path.is_dir():
        yield _folder_members(path)
        return
    name = path.name.lower()
    if not name.endswith((".zip", ".tar", ".tar.gz", ".tgz")):
        raise DataError(
            f"'{path}' is not a folder, .tar, .tar.gz, .zip or .npz file; point --data at one "
            "of those"
        )
    try:
        with _archive_members(path, name) as listed:
            yield listed
    except (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError, OSError) as error:
        # tarfile lists every compression it tried, a line each: the gist is the last one
        detail = str(error).strip().splitlines()[-1].lstrip("- ") if str(error) else "unreadable"
        raise DataError(
            f"cannot read archive '{path}' ({detail}); give a whole .tar, .tar.gz or .zip of "
            "class folders"
        ) from None


@contextmanager
def _archive_members(path: Path, name: str) -> Iterator[list[Member]]:
    if name.endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            yield sorted(_zip_members(archive, path), key=lambda member: member.name)
    else:
        with tarfile.open(path) as archive:
            yield sorted(_tar_members(archive, path), key=lambda member: member.name)


def _folder_members(path: Path) -> list[Member]:
    found = []
    for file in sorted(path.rglob("*")):
        name = file.relative_to(path).as_posix()
        if file.is_dir():
            found.append(Member(name, None))
        elif file.is_file():  # a regular file (through a link); FIFOs, sockets, devices: not
            found.append(Member(name, file.stat().st_size, _file_opener(file)))
    return found


def _file_opener(file: Path) -> Callable[[int], bytes]:
    return lambda limit: read_regular(file, limit)


def read_regular(file: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of ``file`` if it is a regular file of at most ``limit`` bytes.

    Opened without blocking (a FIFO opened to read waits for a writer) and checked on the open
    descriptor, so a file swapped for a FIFO or a device after it was listed is refused, not
    read: :class:`NotRegular`. :class:`TooLarge` past ``limit``."""
    descriptor = os.open(file, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(descriptor, "rb") as opened:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise NotRegular(str(file))
        if status.st_size > limit:
            raise TooLarge(status.st_size, limit)
        return opened.read(limit + 1)


def _zip_members(archive: zipfile.ZipFile, path: Path) -> Iterator[Member]:
    for info in archive.infolist():
        name = safe_member(info.filename.rstrip("/"), path)
        if info.is_dir():
            yield Member(name, None)
        else:
            yield Member(name, info.file_size, _zip_opener(archive, info))


def _zip_opener(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[int], bytes]:
    def read(limit: int) -> bytes:
        with archive.open(info) as file:  # stops at the declared size, checks the CRC there
            return file.read(limit + 1)

    return read


def _tar_members(archive: tarfile.TarFile, path: Path) -> Iterator[Member]:
    for member in archive.getmembers():
        if member.isdir():
            yield Member(safe_member(member.name, path), None)
        elif member.isfile():  # links, devices and FIFOs are not the user's images
            yield Member(safe_member(member.name, path), member.size, _tar_opener(archive, member))


def _tar_opener(archive: tarfile.TarFile, member: tarfile.TarInfo) -> Callable[[int], bytes]:
    def read(limit: int) -> bytes:
        file = archive.extractfile(member)
        if file is None:
            raise NotRegular(member.name)
        with file:
            return file.read(limit + 1)

    return read


def safe_member(name: str, archive: Path) -> str:
    """``name`` if it stays inside the archive's folder; a DataError if it leaves it."""
    parts = PurePosixPath(name).parts
    if name.startswith("/") or ".." in parts:
        raise DataError(
            f"archive '{archive}' has a path that leaves its folder: '{name}'; refusing to use it"
        )
    return name
