"""Loaders: files in, `Document`s (sections with heading path and page) out; bad files skipped with a reason.

One module per format; `load_file` picks the loader by file extension (anything unknown is read as
plain text, so binaries are caught by the NUL-byte check and skipped), and `discover` walks the roots.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from retrieval.loaders.base import (
    DEFAULT_MAX_BYTES,
    Document,
    Section,
    SkipFile,
    Warn,
    content_hash,
    make_document,
)
from retrieval.loaders.code import LANGUAGES, load_code
from retrieval.loaders.html import load_html
from retrieval.loaders.jsonl import load_jsonl
from retrieval.loaders.markdown import load_markdown
from retrieval.loaders.pdf import load_pdf
from retrieval.loaders.text import load_text

__all__ = [
    "DEFAULT_MAX_BYTES",
    "Document",
    "Section",
    "SkipFile",
    "content_hash",
    "discover",
    "file_key",
    "load_file",
    "loader_for",
    "make_document",
]

Loader = Callable[..., list[Document]]

LOADERS: dict[str, Loader] = {
    ".md": load_markdown,
    ".markdown": load_markdown,
    ".mdx": load_markdown,
    ".html": load_html,
    ".htm": load_html,
    ".xhtml": load_html,
    ".pdf": load_pdf,
    ".jsonl": load_jsonl,
    ".ndjson": load_jsonl,
    ".txt": load_text,
    ".text": load_text,
    ".rst": load_text,
    **dict.fromkeys(LANGUAGES, load_code),
}
SKIPPED_DIRS = {"node_modules", "__pycache__", "venv", "site-packages"}


def loader_for(path: Path) -> Loader:
    return LOADERS.get(path.suffix.lower(), load_text)


def file_key(path: Path) -> str:
    """The document id of a file: its absolute path (symlinks kept as given), POSIX style."""
    return Path(os.path.abspath(path)).as_posix()


def load_file(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES, warn: Warn | None = None) -> list[Document]:
    """The documents of one file (several for JSONL). Raises `SkipFile` with the reason to skip it."""
    if path.is_dir():
        raise SkipFile("is a directory")
    key = file_key(path)
    path = Path(key)  # sources and warnings name the file by its absolute path, however it was given
    documents = loader_for(path)(path, key, max_bytes=max_bytes, warn=warn or (lambda message: None))
    for document in documents:
        document.origin = key
    return documents


@dataclass(frozen=True)
class Found:
    path: Path
    root: Path


def _matches(relative: str, name: str, pattern: str | None) -> bool:
    return pattern is None or fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(name, pattern)


def discover(roots: list[Path], glob: str | None = None) -> Iterator[Found]:
    """Files under the roots in a stable order. Hidden files and folders (and caches) are left out
    of directory walks; a file named directly is always taken, whatever the glob."""
    seen: set[str] = set()
    for root in roots:
        if not root.is_dir():
            key = file_key(root)
            if key not in seen:
                seen.add(key)
                yield Found(root, root)
            continue
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIPPED_DIRS)
            for name in sorted(files):
                if name.startswith("."):
                    continue
                path = Path(folder) / name
                relative = path.relative_to(root).as_posix()
                key = file_key(path)
                if key in seen or not _matches(relative, name, glob):
                    continue
                seen.add(key)
                yield Found(path, root)
