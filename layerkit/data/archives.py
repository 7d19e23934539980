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

import bz2
import gzip
import io
import lzma
import os
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from .dataset import DataError

MAX_FILE_BYTES = 64 * 2**20  # one image file: far above any photo a classifier is fed
# A compressed archive may inflate to at most this many times its own size (at least
# INFLATE_FLOOR bytes): images compress by a few percent, a bomb by a thousand times.
INFLATE_RATIO = 100
INFLATE_FLOOR = 2**28
SKIP_PIECE = 2**20


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
    position: int = 0  # where it lies in the archive: reading in this order never seeks back

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


class _Inflation:
    """What a compressed archive has inflated to so far, refused past its budget."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.limit = max(INFLATE_FLOOR, INFLATE_RATIO * path.stat().st_size)
        self.used = 0

    def spend(self, size: int) -> None:
        self.used += size
        if self.used > self.limit:
            raise DataError(
                f"'{self.path}' inflates to more than {self.limit:,} bytes, over {INFLATE_RATIO} "
                "times its own size (a compression bomb?); unpack it into a folder and give "
                "that folder"
            )


@contextmanager
def _archive_members(path: Path, name: str) -> Iterator[list[Member]]:
    inflation = _Inflation(path)
    if name.endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            listed = list(_zip_members(archive, path, inflation))
            yield sorted(listed, key=lambda member: member.name)
    else:
        with _open_tar(path) as (archive, compressed):
            # a plain .tar is listed by seeking past each member; a compressed one by
            # inflating it, which the budget bounds
            spend = inflation.spend if compressed else None
            listed = list(_tar_members(archive, path, spend))
            yield sorted(listed, key=lambda member: member.name)


COMPRESSIONS = {b"\x1f\x8b": gzip.open, b"BZh": bz2.open, b"\xfd7zXZ\x00": lzma.open}


@contextmanager
def _open_tar(path: Path) -> Iterator[tuple[tarfile.TarFile, bool]]:
    """The tar at ``path``; a compressed one read through :class:`_Inflated`."""
    with open(path, "rb") as file:
        magic = file.read(6)
    opener = next((open_ for start, open_ in COMPRESSIONS.items() if magic.startswith(start)), None)
    if opener is None:  # plain, or not a tar: tarfile says what it tried
        with tarfile.open(path) as archive:
            yield archive, False
        return
    with opener(path, "rb") as inner, tarfile.open(fileobj=_Inflated(inner), mode="r:") as archive:
        yield archive, True


class _Inflated(io.RawIOBase):
    """A compressed file read as its inflated bytes. Seeking forward inflates and drops 1 MiB
    at a time (gzip's own seek does it 8 KiB at a time, several times slower); seeking back
    starts again from the beginning, which reading members in the archive's order avoids."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer: Any) -> int:
        count = self.inner.readinto(buffer)
        self.position += count
        return count

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self.position
        elif whence != io.SEEK_SET:
            raise io.UnsupportedOperation("seek from the end")
        if offset < self.position:
            self.inner.seek(0)
            self.position = 0
        while self.position < offset:
            piece = self.inner.read(min(SKIP_PIECE, offset - self.position))
            if not piece:
                break
            self.position += len(piece)
        return self.position


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


def _zip_members(archive: zipfile.ZipFile, path: Path, inflation: _Inflation) -> Iterator[Member]:
    for position, info in enumerate(archive.infolist()):
        name = safe_member(info.filename.rstrip("/"), path)
        if info.is_dir():
            yield Member(name, None)
        else:
            opener = _zip_opener(archive, info, inflation)
            yield Member(name, info.file_size, opener, position)


def _zip_opener(archive: zipfile.ZipFile, info: zipfile.ZipInfo,
                inflation: _Inflation) -> Callable[[int], bytes]:  # fmt: skip
    def read(limit: int) -> bytes:
        if info.compress_type != zipfile.ZIP_STORED:
            inflation.spend(min(info.file_size, limit))
        with archive.open(info) as file:  # stops at the declared size, checks the CRC there
            return file.read(limit + 1)

    return read


def _tar_members(archive: tarfile.TarFile, path: Path,
                 spend: Callable[[int], None] | None) -> Iterator[Member]:  # fmt: skip
    for position, member in enumerate(archive):  # one header at a time
        if spend is not None:
            spend(member.size + tarfile.BLOCKSIZE)
        if member.isdir():
            yield Member(safe_member(member.name, path), None)
        elif member.isfile():  # links, devices and FIFOs are not the user's images
            opener = _tar_opener(archive, member)
            yield Member(safe_member(member.name, path), member.size, opener, position)


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
