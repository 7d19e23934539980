"""Downloading a built-in dataset's files into Keras's cache, and unpacking its archives.

Takes a :class:`RemoteFile` (an address, a cache path, a SHA-256) and where it goes; gives the
file in place — fetched to a temporary name, checked against its length and checksum, then
renamed, so an interrupted download leaves nothing half-made — and unpacks a .tar(.gz) into
Keras's layout, refusing members that leave their folder. ``LAYERKIT_DATASETS_MIRROR`` names a
folder URL that holds the same files under the same names; the checksums stay the publishers'.
Every failure is a :class:`DownloadError` saying what happened and what to do.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import LayerkitError

MIRROR_VARIABLE = "LAYERKIT_DATASETS_MIRROR"
TIMEOUT_SECONDS = 30  # for connecting and for each read: a stalled download fails, not hangs
CHUNK = 1 << 16

Progress = Callable[[str, int, int | None], None]  # (url, bytes so far, total bytes or None)


class DownloadError(LayerkitError):
    """A built-in dataset is not in the cache and could not be fetched, or is damaged there:
    ``problem`` says what happened, ``fix`` what to do (one imperative sentence)."""

    def __init__(self, problem: str, fix: str) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem}. {fix}")


@dataclass(frozen=True)
class RemoteFile:
    """One file ``keras.datasets`` downloads: from where, to which cache path, with which check."""

    url: str
    path: str  # under the datasets folder, as keras.datasets names it
    sha256: str | None  # None where keras.datasets checks nothing
    unpack_to: str | None = None  # the folder keras.datasets extracts the archive into

    @property
    def name(self) -> str:
        return PurePosixPath(urllib.parse.urlsplit(self.url).path).name


def source_url(remote: RemoteFile) -> str:
    """Where ``remote`` is fetched from: its publisher, or the mirror the environment names."""
    mirror = os.environ.get(MIRROR_VARIABLE)
    return f"{mirror.rstrip('/')}/{remote.name}" if mirror else remote.url


def _by_hand(dataset: str, remote: RemoteFile, target: Path) -> str:
    """The fix for a file that cannot be fetched: fetch it by hand, or use other data."""
    debian = " (or install Debian's dataset-fashion-mnist)" if dataset == "fashion_mnist" else ""
    return (
        f"download {remote.url} and save it as {target}{debian}, or give --data PATH (a folder "
        "or archive of class folders, or an .npz with x_train and y_train)"
    )


def download(dataset: str, remote: RemoteFile, target: Path, progress: Progress | None) -> None:
    """Fetch ``remote`` for the built-in ``dataset`` (its name, for messages) to ``target``,
    reporting to ``progress``."""
    url = source_url(remote)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".part"
        )
    except OSError as error:
        raise DownloadError(
            f"cannot write the built-in dataset '{dataset}' into {target.parent} "
            f"({error.strerror or error})",
            "Set KERAS_HOME to a writable folder, or give --data PATH.",
        ) from None
    digest = hashlib.sha256()
    try:
        with (
            open(handle, "wb") as out,
            urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response,
        ):
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            done = 0
            if progress is not None:
                progress(url, 0, total)
            while chunk := response.read(CHUNK):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(url, done, total)
        if total is not None and done != total:
            raise DownloadError(
                f"the download of {url} for '{dataset}' stopped after {done:,} of {total:,} bytes",
                "Try again, or " + _by_hand(dataset, remote, target),
            )
        if remote.sha256 is not None and digest.hexdigest() != remote.sha256:
            raise DownloadError(
                f"{url} is not the file keras.datasets expects for '{dataset}' (SHA-256 "
                f"{digest.hexdigest()[:16]}…, expected {remote.sha256[:16]}…)",
                "Download" + _by_hand(dataset, remote, target).removeprefix("download"),
            )
        os.replace(partial, target)
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
        reason = getattr(error, "reason", None) or getattr(error, "strerror", None) or error
        mirror = f" from {url}" if url != remote.url else ""
        raise DownloadError(
            f"the built-in dataset '{dataset}' is not in Keras's cache ({target.parent}) "
            f"and could not be downloaded{mirror} ({reason})",
            "Connect to the internet and run again, or " + _by_hand(dataset, remote, target),
        ) from None
    finally:
        Path(partial).unlink(missing_ok=True)


def unpack(archive: Path, folder: Path) -> None:
    """Unpack a .tar(.gz) into ``folder`` via a temporary sibling, refusing members that would
    land outside it, links and devices."""
    if folder.is_dir():
        return
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        with tarfile.open(archive) as members:
            for member in members:
                parts = PurePosixPath(member.name).parts
                if member.name.startswith("/") or ".." in parts:
                    raise DownloadError(
                        f"'{archive}' has a member that leaves its folder ('{member.name}'), "
                        "so it is not the published archive",
                        "Delete it so it is fetched again.",
                    )
                if member.isdir():
                    (staging / member.name).mkdir(parents=True, exist_ok=True)
                elif member.isfile():
                    destination = staging / member.name
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    source = members.extractfile(member)
                    if source is not None:
                        with source, open(destination, "wb") as out:
                            shutil.copyfileobj(source, out, CHUNK)
        os.replace(staging, folder)
    except (tarfile.TarError, EOFError, OSError) as error:
        raise DownloadError(
            f"cannot unpack '{archive}' ({error})", "Delete it so it is fetched again."
        ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
