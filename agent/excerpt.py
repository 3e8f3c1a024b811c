"""One-line excerpts of model output for trace lines and error messages."""

from __future__ import annotations


def clip(text: str, limit: int = 120) -> str:
    """`text` on one line (whitespace runs become one space), cut to `limit` characters with "…"."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"
