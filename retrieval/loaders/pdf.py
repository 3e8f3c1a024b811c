"""PDF (pypdf): a section per page with its 1-based page number; title from the PDF metadata or file name."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from retrieval.loaders.base import (
    Document,
    Section,
    SkipFile,
    Warn,
    content_hash,
    make_document,
    read_bytes,
    title_from_stem,
)


def load_pdf(path: Path, doc_id: str, *, max_bytes: int, warn: Warn) -> list[Document]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    data = read_bytes(path, max_bytes)
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # pypdf logs recoverable quirks of real-world files
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise SkipFile("encrypted PDF (needs a password)")
        sections = []
        for number, page in enumerate(reader.pages, start=1):
            try:
                text = page.extract_text() or ""
            except Exception as exc:  # pypdf raises many types on broken pages; keep the other pages
                warn(f"{path}: page {number} skipped: {exc}")
                continue
            sections.append(Section(text=text.replace("\x00", ""), page=number))
        meta_title = ""
        if reader.metadata is not None and reader.metadata.title:
            meta_title = str(reader.metadata.title)
    except SkipFile:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise SkipFile(f"not a readable PDF ({exc})") from exc
    return [
        make_document(
            doc_id=doc_id,
            source=str(path),
            title=meta_title or title_from_stem(path),
            sections=sections,
            doc_hash=content_hash(data),
            format="pdf",
            metadata={"pages": len(reader.pages)},
        )
    ]
