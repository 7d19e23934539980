"""Arrays read from an .npz with their headers checked first.

Takes an .npz (a zip of .npy members) and the kinds of values each array may hold; gives numpy
arrays. Before a byte of data is read, each member's .npy header (shape, dtype, order) is read
and checked: Python objects (pickles) are never loaded, only the kinds asked for are, a single
value (a 0-d array) is not an array of samples, and the size the header claims must fit in the
member as the zip declares it. The data is then read in pieces and never allocated ahead, so a
header or a zip directory that lies costs what the file really holds, not what it claims.
"""

from __future__ import annotations

import math
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

PIECE = 1 << 24
HEADER_BYTES = 10_000  # numpy's own limit for a header it reads without being told it is safe


class ArrayProblem(Exception):
    """An array that is not loaded: why, in a few words."""


@contextmanager
def opened_npz(path: Path) -> Iterator[zipfile.ZipFile]:
    """The .npz at ``path`` as a zip; :class:`ArrayProblem` when it is not one."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        detail = "not a zip of arrays" if isinstance(error, zipfile.BadZipFile) else str(error)
        raise ArrayProblem(detail) from None
    with archive:
        yield archive


def array_names(archive: zipfile.ZipFile) -> list[str]:
    """The names of the arrays in an .npz, as ``numpy.load(...).files`` gives them."""
    return [name.removesuffix(".npy") for name in archive.namelist()]


def read_array(archive: zipfile.ZipFile, key: str, kinds: str, max_items: int | None = None,
               ndim_at_least: int = 1) -> np.ndarray:  # fmt: skip
    """The array ``key`` of ``archive``, if its header says it holds ``kinds`` of values
    (numpy's ``dtype.kind`` letters), at least ``ndim_at_least`` axes, and at most
    ``max_items`` values.

    Raises:
        ArrayProblem: anything else, a header that claims more than the member holds, or a
            damaged member.
    """
    try:
        info = archive.getinfo(f"{key}.npy")
        with archive.open(info) as member:
            shape, fortran, dtype = _header(member, kinds, max_items, ndim_at_least)
            size = math.prod(shape) * dtype.itemsize
            room = info.file_size - member.tell()
            if size > room:
                raise ArrayProblem(
                    f"its header claims {shape} values of {dtype}, {size:,} bytes, but the "
                    f"member holds {max(room, 0):,}"
                )
            data = _read_exactly(member, size, shape, dtype)
    except (KeyError, ValueError, EOFError, OSError, zipfile.BadZipFile, zlib.error) as error:
        raise ArrayProblem(str(error) or type(error).__name__) from None
    array = np.frombuffer(data, dtype=dtype, count=math.prod(shape))
    if fortran:
        return array.reshape(shape[::-1]).transpose()
    return array.reshape(shape)


def _header(member: Any, kinds: str, max_items: int | None,
            ndim_at_least: int) -> tuple[tuple[int, ...], bool, np.dtype]:  # fmt: skip
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(member, HEADER_BYTES)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(member, HEADER_BYTES)
    else:
        raise ArrayProblem(f"it is an .npy of format {version[0]}.{version[1]}, not 1.0 or 2.0")
    if dtype.hasobject:
        raise ArrayProblem("it holds Python objects, which are never loaded")
    if dtype.kind not in kinds or dtype.fields is not None:
        raise ArrayProblem(f"it holds {dtype} values, not {_wanted(kinds)}")
    if any(side < 0 for side in shape):
        raise ArrayProblem(f"its header gives the shape {shape}")
    if len(shape) < ndim_at_least:
        raise ArrayProblem(f"it is a single value (shape {shape}), not an array of samples")
    if max_items is not None and math.prod(shape) > max_items:
        raise ArrayProblem(f"it holds {math.prod(shape):,} values, over the limit of {max_items:,}")
    return shape, fortran, dtype


def _wanted(kinds: str) -> str:
    """What ``kinds`` (``dtype.kind`` letters) are, in words."""
    if kinds == "U":
        return "text"
    if "f" in kinds:
        return "numbers"
    return "unsigned integers" if kinds == "u" else "integers"


def _read_exactly(member: Any, size: int, shape: tuple[int, ...], dtype: np.dtype) -> bytearray:
    """``size`` bytes, read in pieces into a buffer that grows with what arrives."""
    data = bytearray()
    while len(data) < size:
        piece = member.read(min(PIECE, size - len(data)))
        if not piece:
            raise ArrayProblem(
                f"its header claims {shape} values of {dtype}, {size:,} bytes, but the member "
                f"holds {len(data):,}"
            )
        data += piece
    member.read(1)  # to the member's end, where the zip's CRC is checked
    return data
