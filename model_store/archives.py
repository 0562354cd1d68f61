"""Zip archives from a person (an `.npz` of drawings, a `.keras` model), checked before anything
in them is decompressed: a zip bomb of a few kB can hold gigabytes.

The checks read only the central directory and, for an `.npz`, each array's header. Python's
`zipfile` (which numpy and Keras read through) stops every member at the size the directory
declares and checks its CRC there, so a member cannot unpack to more than was checked here.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np
from numpy.lib import format as npy

MAX_RATIO = 250  # uncompressed over compressed, for a member over RATIO_FROM: real arrays and weights stay far under it
RATIO_FROM = 1 << 20  # a small member's ratio says nothing (a 2-byte file of 600 bytes)
NPZ_MEMBERS, NPZ_TOTAL = 16, 256 << 20  # an import of 100,000 drawings at 28x28 is 78 MB
KERAS_MEMBERS, KERAS_TOTAL = 64, 512 << 20  # a .keras holds config.json, metadata.json and model.weights.h5


class ArchiveError(ValueError):
    """An archive refused before it was unpacked; the message says why, for a person."""


def check_zip(data: bytes, max_members: int, max_total_uncompressed: int, max_ratio: float = MAX_RATIO) -> list[zipfile.ZipInfo]:
    """The members of a zip archive, once their count, their total size unpacked and each one's
    compression ratio are within bounds; ArchiveError otherwise. Nothing is decompressed."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise ArchiveError(f"not a readable zip archive ({err})") from None
    if len(members) > max_members:
        raise ArchiveError(f"the archive holds {len(members):,} files; at most {max_members} are expected")
    total = sum(m.file_size for m in members)
    if total > max_total_uncompressed:
        raise ArchiveError(
            f"the archive unpacks to {total / 2**20:,.0f} MB; the limit is {max_total_uncompressed / 2**20:,.0f} MB"
        )
    for m in members:
        if m.file_size > RATIO_FROM and m.file_size > max_ratio * max(m.compress_size, 1):
            raise ArchiveError(
                f"{m.filename} is compressed {m.file_size / max(m.compress_size, 1):,.0f} to 1 (a zip bomb?); "
                f"at most {max_ratio:g} to 1 is expected"
            )
    return members


def check_npz(data: bytes, max_members: int = NPZ_MEMBERS, max_total: int = NPZ_TOTAL) -> dict[str, tuple]:
    """Each array's (shape, dtype) in an `.npz`, read from its `.npy` header, once the archive and
    the arrays' sizes are within bounds (an array's header must agree with its member's size)."""
    members = check_zip(data, max_members, max_total)
    arrays = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for m in members:
            if not m.filename.endswith(".npy"):
                raise ArchiveError(f"{m.filename} is not an array (.npy)")
            arrays[m.filename[:-4]] = _npy_header(archive, m)
    return arrays


def _npy_header(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> tuple:
    with archive.open(member) as f:  # only the first few hundred bytes are unpacked
        try:
            version = npy.read_magic(f)
            read = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
            shape, _, dtype = read(f, max_header_size=10_000)
        except ValueError as err:
            raise ArchiveError(f"{member.filename} is not a readable array ({err})") from None
        header = f.tell()
    if dtype.hasobject:
        raise ArchiveError(f"{member.filename} holds Python objects, not numbers")
    size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if header + size != member.file_size:
        raise ArchiveError(f"{member.filename} says it holds {size:,} bytes of {shape} but its file has {member.file_size:,}")
    return shape, dtype


def check_keras(data: bytes) -> None:
    """A `.keras` upload's archive within bounds, before Keras unpacks it."""
    names = {m.filename for m in check_zip(data, KERAS_MEMBERS, KERAS_TOTAL)}
    if "config.json" not in names:
        raise ArchiveError("not a .keras model file (it has no config.json)")
