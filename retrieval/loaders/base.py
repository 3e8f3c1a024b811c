"""What every loader produces: a `Document` made of `Section`s, plus the checks that skip bad files.

A loader turns one file (or one JSONL record) into a `Document`: the extracted text split into
sections that carry a heading path and a page, so the chunker can respect the structure. The
document's extracted text is the sections' texts joined by blank lines; `Section.start` is the
section's offset into that text, which is what chunk offsets point into.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


def read_bytes(path: Path, max_bytes: int) -> bytes:
    """The file's bytes, or `SkipFile` naming why it cannot be used (unreadable, oversized, empty)."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise SkipFile(f"unreadable ({exc.strerror or exc})") from exc
    if size > max_bytes:
        raise SkipFile(f"oversized ({size / 1e6:.1f} MB > limit of {max_bytes / 1e6:.1f} MB; see --max-mb)")
    try:
        data = path.read_bytes()
    except PermissionError as exc:
        raise SkipFile("unreadable (permission denied)") from exc
    except OSError as exc:
        raise SkipFile(f"unreadable ({exc.strerror or exc})") from exc
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
