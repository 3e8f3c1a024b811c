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
    "document_id",
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
    """A file's absolute path (symlinks kept as given), POSIX style: where a document was read from."""
    return Path(os.path.abspath(path)).as_posix()


def document_id(path: Path, root: Path) -> str:
    """A file's document id: its path relative to the folder it was ingested from, led by that folder's
    name (`docs/guide/intro.md`), so ingesting the same folder from another location or working directory
    gives the same ids. A file named directly counts as ingested from its parent folder (`docs/a.md`)."""
    path, root = Path(os.path.abspath(path)), Path(os.path.abspath(root))
    base = root if root != path and _inside(path, root) else path.parent
    relative = path.relative_to(base).as_posix()
    return f"{base.name}/{relative}" if base.name else relative


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def load_file(
    path: Path, *, doc_id: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES, warn: Warn | None = None
) -> list[Document]:
    """The documents of one file (several for JSONL, whose records carry their own ids). `doc_id`
    defaults to `document_id(path, path)`. Raises `SkipFile` with the reason to skip the file."""
    if path.is_dir():
        raise SkipFile("is a directory")
    key = file_key(path)
    path = Path(key)  # sources and warnings name the file by its absolute path, however it was given
    try:
        documents = loader_for(path)(
            path, doc_id or document_id(path, path), max_bytes=max_bytes, warn=warn or (lambda message: None)
        )
    except RecursionError as exc:  # a parser recursing over absurdly nested input: skip this file only
        raise SkipFile("nested too deeply to parse") from exc
    for document in documents:
        document.origin = key
    return documents


@dataclass(frozen=True)
class Found:
    """A file to ingest, or (with `skip` set) one left out on purpose, with the reason."""

    path: Path
    root: Path
    skip: str | None = None

    @property
    def doc_id(self) -> str:
        return document_id(self.path, self.root)


def _matches(relative: str, name: str, pattern: str | None) -> bool:
    return pattern is None or fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(name, pattern)


def discover(roots: list[Path], glob: str | None = None, *, follow_symlinks: bool = False) -> Iterator[Found]:
    """Files under the roots in a stable order. Hidden files and folders (and caches) are left out
    of directory walks; a file named directly is always taken, whatever the glob. A symlink (to a file
    or a folder) whose target lies outside its root is reported as skipped unless `follow_symlinks`;
    followed folders are walked once each, so link cycles end."""
    seen: set[str] = set()
    for root in roots:
        if not root.is_dir():
            key = file_key(root)
            if key not in seen:
                seen.add(key)
                yield Found(root, root)
            continue
        real_root = Path(os.path.realpath(root))
        walked: set[str] = set()
        for folder, dirs, files in os.walk(root, followlinks=follow_symlinks):
            real_folder = os.path.realpath(folder)
            if real_folder in walked:  # reached again through a followed link
                dirs[:] = []
                continue
            walked.add(real_folder)
            kept = []
            for name in sorted(d for d in dirs if not d.startswith(".") and d not in SKIPPED_DIRS):
                path = Path(folder) / name
                if not follow_symlinks and path.is_symlink() and _escapes(path, real_root):
                    if glob is None:  # with a glob, whether it held matching files is unknown: not reported
                        yield Found(path, root, skip=_LINK_OUT + " (a folder: pass --follow-symlinks to walk it)")
                    continue
                kept.append(name)
            dirs[:] = kept
            for name in sorted(files):
                if name.startswith("."):
                    continue
                path = Path(folder) / name
                relative = path.relative_to(root).as_posix()
                key = file_key(path)
                if key in seen or not _matches(relative, name, glob):
                    continue
                seen.add(key)
                if not follow_symlinks and path.is_symlink() and _escapes(path, real_root):
                    yield Found(path, root, skip=_LINK_OUT + " (pass --follow-symlinks to read it)")
                    continue
                yield Found(path, root)


_LINK_OUT = "symlink pointing outside the ingested folder"


def _escapes(link: Path, real_root: Path) -> bool:
    """Whether the link's final target (all links resolved) lies outside `real_root`."""
    target = Path(os.path.realpath(link))
    return not _inside(target, real_root)
