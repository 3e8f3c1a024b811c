"""JSONL: each line a record `{"id", "title", "text", ...}`; each record is a document of its own.

`id` (or BEIR's `_id`) becomes the document id, so records keep their identity across files and
re-ingests; other scalar fields (str, int, float, bool) become metadata. A malformed line (bad JSON,
not an object, no id, no text, a repeated id) is skipped with a warning naming the file and line.
The document's text is the title and the text, separated by a blank line. The file is read line by
line, so its size is not limited: the size limit applies to each record (and a bad line does not stop
the rest of the file).

Record ids are document ids for the whole collection: the same id in two JSONL files is one document
(the file ingested last wins), and within one run the second occurrence is skipped with a warning.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from retrieval.loaders.base import Document, Section, SkipFile, Warn, content_hash, make_document, open_regular

RESERVED = {"id", "_id", "title", "text"}


def _scalar_metadata(record: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value
        for key, value in record.items()
        if key not in RESERVED and isinstance(value, str | int | float | bool) and not key.startswith("__")
    }


def _lines(path: Path, max_bytes: int) -> Iterator[tuple[int, bytes | None]]:
    """(line number, line) pairs; a line longer than `max_bytes` comes as None (it is skipped, unread)."""
    with open_regular(path) as handle:
        number = 0
        while True:
            try:
                raw = handle.readline(max_bytes + 1)
            except OSError as exc:
                raise SkipFile(f"unreadable ({exc.strerror or exc})") from exc
            if not raw:
                return
            number += 1
            if len(raw) > max_bytes and not raw.endswith(b"\n"):
                while (rest := handle.readline(1 << 20)) and not rest.endswith(b"\n"):
                    pass  # the rest of the oversized line, read in bounded pieces and dropped
                yield number, None
                continue
            yield number, raw


def load_jsonl(path: Path, doc_id: str, *, max_bytes: int, warn: Warn) -> list[Document]:
    """Read line by line: the size limit applies to each record (a JSONL file is many documents)."""
    documents: list[Document] = []
    seen: set[str] = set()
    blank = True
    for number, raw in _lines(path, max_bytes):
        where = f"{path}:{number}"
        if raw is None or len(raw.rstrip(b"\r\n")) > max_bytes:
            blank = False
            size = f"more than {max_bytes / 1e6:.1f}" if raw is None else f"{len(raw) / 1e6:.1f}"
            warn(f"{where}: line skipped: oversized record ({size} MB > {max_bytes / 1e6:.1f} MB)")
            continue
        if number == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")
        if not raw.strip():
            continue
        blank = False
        if b"\x00" in raw:
            if number == 1:
                raise SkipFile("binary (contains NUL bytes)")
            warn(f"{where}: line skipped: contains NUL bytes")
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            warn(f"{where}: line skipped: not UTF-8")
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            warn(f"{where}: line skipped: malformed JSON ({exc.msg})")
            continue
        except RecursionError:
            warn(f"{where}: line skipped: JSON nested too deeply to read")
            continue
        if not isinstance(record, dict):
            warn(f"{where}: line skipped: not a JSON object")
            continue
        raw_id = record.get("id", record.get("_id"))
        if not isinstance(raw_id, str | int) or isinstance(raw_id, bool) or str(raw_id).strip() == "":
            warn(f"{where}: line skipped: no 'id' field")
            continue
        record_id = str(raw_id)
        body = record.get("text")
        if not isinstance(body, str) or not body.strip():
            warn(f"{where}: line skipped: no 'text' field (record {record_id!r})")
            continue
        if record_id in seen:
            warn(f"{where}: line skipped: id {record_id!r} repeats an earlier line")
            continue
        seen.add(record_id)
        title = record.get("title")
        title = title.strip() if isinstance(title, str) else ""
        metadata = _scalar_metadata(record)
        metadata["record_id"] = record_id
        documents.append(
            make_document(
                doc_id=record_id,
                source=f"{path}#{record_id}",
                title=title,
                sections=[Section(text=f"{title}\n\n{body.strip()}" if title else body)],
                doc_hash=content_hash(json.dumps(record, sort_keys=True, ensure_ascii=False)),
                format="jsonl",
                metadata=metadata,
            )
        )
    if blank:
        raise SkipFile("empty")
    if not documents:
        raise SkipFile("no valid records")
    return documents
