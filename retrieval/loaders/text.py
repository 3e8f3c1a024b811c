"""Plain text: one section; the title is a short first line followed by a blank line, else the file name."""

from __future__ import annotations

from pathlib import Path

from retrieval.loaders.base import Document, Section, Warn, content_hash, make_document, read_text, title_from_stem

MAX_TITLE_CHARS = 100


def guess_title(text: str, path: Path) -> str:
    lines = text.strip().split("\n")
    first = lines[0].strip()
    if first and len(first) <= MAX_TITLE_CHARS and (len(lines) == 1 or not lines[1].strip()):
        return first
    return title_from_stem(path)


def load_text(path: Path, doc_id: str, *, max_bytes: int, warn: Warn) -> list[Document]:
    text, data = read_text(path, max_bytes)
    return [
        make_document(
            doc_id=doc_id,
            source=str(path),
            title=guess_title(text, path),
            sections=[Section(text=text)],
            doc_hash=content_hash(data),
            format="text",
        )
    ]
