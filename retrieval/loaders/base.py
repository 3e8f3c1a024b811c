"""What every loader produces: a `Document` made of `Section`s, plus the checks that skip bad files.

A loader turns one file (or one JSONL record) into a `Document`: the extracted text split into
sections that carry a heading path and a page, so the chunker can respect the structure. The
document's extracted text is the sections' texts joined by blank lines; `Section.start` is the
section's offset into that text, which is what chunk offsets point into.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

SECTION_SEPARATOR = "\n\n"
DEFAULT_MAX_BYTES = 20 * 1024 * 1024

Warn = Callable[[str], None]


class SkipFile(Exception):  # a control-flow signal, not an error for the user
    """The whole file is skipped; the message is the reason shown to the user."""


@dataclass
class Section:
    text: str
    heading_path: list[str] = field(default_factory=list)
    page: int | None = None
    start: int = 0  # offset of `text` in the document's extracted text (set by `make_document`)


@dataclass
class Document:
    doc_id: str
    source: str
    title: str
    sections: list[Section]
    doc_hash: str
    format: str
    metadata: dict[str, Any] = field(default_factory=dict)
    origin: str = ""  # the file this document came from (its absolute path); set by `load_file`

    @property
    def text(self) -> str:
        return SECTION_SEPARATOR.join(s.text for s in self.sections)


def content_hash(data: bytes | str) -> str:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()


def make_document(
    *,
    doc_id: str,
    source: str,
    title: str,
    sections: list[Section],
    doc_hash: str,
    format: str,
    metadata: dict[str, Any] | None = None,
) -> Document:
    """Drop empty sections, strip them, and set each section's offset into the joined text."""
    kept: list[Section] = []
    offset = 0
    for section in sections:
        text = section.text.strip()
        if not text:
            continue
        kept.append(Section(text=text, heading_path=list(section.heading_path), page=section.page, start=offset))
        offset += len(text) + len(SECTION_SEPARATOR)
    if not kept:
        raise SkipFile("no extractable text")
    return Document(
        doc_id=doc_id,
        source=source,
        title=title.strip(),
        sections=kept,
        doc_hash=doc_hash,
        format=format,
        metadata=dict(metadata or {}),
    )


def open_regular(path: Path) -> BinaryIO:
    """Open `path` for reading if it is a regular file; `SkipFile` for anything else (device, FIFO, socket,
    directory) or when it cannot be opened. O_NONBLOCK so that opening a FIFO never waits for a writer, and
    the type is checked again on the open descriptor, so a file swapped after the first look is caught too."""
    try:
        info = path.stat()
    except OSError as exc:
        raise SkipFile(_unreadable(exc)) from exc
    if not stat.S_ISREG(info.st_mode):
        raise SkipFile(f"not a regular file ({file_kind(info.st_mode)})")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise SkipFile(_unreadable(exc)) from exc
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise SkipFile(f"not a regular file ({file_kind(mode)})")
    return os.fdopen(fd, "rb")


def file_kind(mode: int) -> str:
    kinds = [
        (stat.S_ISDIR, "directory"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISFIFO, "named pipe"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISLNK, "symlink"),
    ]
    return next((name for check, name in kinds if check(mode)), "special file")


def _unreadable(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "unreadable (permission denied)"
    return f"unreadable ({exc.strerror or exc})"


def _oversized(size: int, max_bytes: int, at_least: bool = False) -> SkipFile:
    shown = f"{'more than ' if at_least else ''}{size / 1e6:.1f} MB"
    return SkipFile(f"oversized ({shown} > limit of {max_bytes / 1e6:.1f} MB; see --max-mb)")


def read_bytes(path: Path, max_bytes: int) -> bytes:
    """The file's bytes, or `SkipFile` naming why it cannot be used (not a regular file, unreadable,
    oversized, empty). Never reads more than `max_bytes + 1` bytes, whatever the file claims its size is."""
    with open_regular(path) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > max_bytes:
            raise _oversized(size, max_bytes)
        try:
            data = handle.read(max_bytes + 1)
        except OSError as exc:
            raise SkipFile(_unreadable(exc)) from exc
    if len(data) > max_bytes:  # the file grew, or reports a wrong size
        raise _oversized(max_bytes, max_bytes, at_least=True)
    if not data.strip():
        raise SkipFile("empty")
    return data


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM) or BOM-marked UTF-16; anything else is reported as binary/undecodable."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise SkipFile("undecodable (bad UTF-16)") from exc
    if b"\x00" in data[:65536]:
        raise SkipFile("binary (contains NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SkipFile(f"undecodable (not UTF-8 text: invalid byte at offset {exc.start})") from exc
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise SkipFile("empty")
    return text


def read_text(path: Path, max_bytes: int) -> tuple[str, bytes]:
    data = read_bytes(path, max_bytes)
    return decode_text(data), data


def title_from_stem(path: Path) -> str:
    return path.stem.replace("_", " ").replace("-", " ").strip() or path.name
