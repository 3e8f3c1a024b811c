"""Ingest files into a collection: load → chunk → embed → store, incremental and crash-consistent.

`ingest(paths, store=..., collection=..., embedder=..., home=...)` walks the paths, loads every file
(`retrieval.loaders`), and compares each document's content hash (and chunking signature) with the
collection's manifest (`retrieval.manifest`, a sidecar Chroma collection `<name>__docs`; see that module
for why it lives there and how it makes interrupted ingests safe). Unchanged documents cost a file read
and a hash: no chunking, no embedding. New and changed documents are chunked (`retrieval.chunking`),
embedded in batches, and committed batch by batch: new chunks upserted, then the manifest records
switched, then the old chunks deleted. `prune=True` deletes the documents of files under the given roots
that no longer exist; the records of a JSONL file that disappeared from it are deleted whenever the file
is re-read. At the end the BM25 index is rebuilt from the manifest's chunks (saved atomically by
`retrieval.bm25`); its fingerprint of chunk ids equals the manifest's, which is how a searcher sees that
the BM25 index is current.

Document ids are paths relative to the ingested folder, led by its name (`docs/guide/intro.md`; see
`retrieval.loaders.document_id`), so the same folder ingested from elsewhere matches its documents; each
document's `origin` (the absolute path it was read from) is what `prune` checks. A collection written by
an older ragloop with absolute-path ids is re-keyed on its next ingest (a warning says so). Only regular
files are read, at most `max_bytes` + 1 bytes each; symlinks out of the ingested folder are skipped
unless `follow_symlinks`; every skipped file is counted by reason in the report.

Only one ingest per collection at a time: the embedded store's lock guarantees it there; with a Chroma
server, running two ingests into the same collection at once is not supported.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from retrieval.bm25 import ensure_index
from retrieval.chunking import Chunker, chunking_signature
from retrieval.errors import RetrievalError
from retrieval.loaders import DEFAULT_MAX_BYTES, Document, SkipFile, discover, file_key, load_file
from retrieval.manifest import DocEntry, Manifest, check_collection_name, delete_manifest
from retrieval.store import ChunkCollection, Store
from retrieval.types import Chunk, Embedder

DEMO_CORPUS = Path(__file__).resolve().parent / "data" / "demo_corpus"
EMBED_BATCH = 128  # chunks per embed call and per commit


@dataclass
class IngestReport:
    collection: str
    files: int = 0
    added: int = 0  # documents
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0  # files
    deleted: int = 0  # documents
    chunks: int = 0  # chunks embedded and written by this run
    total_documents: int = 0
    total_chunks: int = 0
    orphans_removed: int = 0  # leftovers of an interrupted ingest, deleted at the start
    seconds: float = 0.0
    skip_reasons: dict[str, int] = field(default_factory=dict)  # why files were skipped: reason -> count
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        why = ", ".join(f"{count} {reason}" for reason, count in sorted(self.skip_reasons.items()))
        return (
            f"{self.collection}: {self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.skipped} skipped{f' ({why})' if why else ''}, {self.deleted} deleted; {self.chunks} chunks "
            f"embedded ({self.total_chunks} chunks in {self.total_documents} documents) in {self.seconds:.1f}s"
        )

    def skip(self, source: str, reason: str) -> None:
        self.skipped += 1
        category = reason.split(" (", 1)[0]
        self.skip_reasons[category] = self.skip_reasons.get(category, 0) + 1
        self.warnings.append(f"{source}: skipped: {reason}")


@dataclass
class _Pending:
    document: Document
    chunks: list[Chunk]
    previous: DocEntry | None


def check_paths(paths: Sequence[Path]) -> list[Path]:
    missing = [str(p) for p in paths if not os.path.lexists(p)]
    if missing:
        raise RetrievalError(f"No such file or directory: {', '.join(missing)}. Check the PATH arguments.")
    if not paths:
        raise RetrievalError("Nothing to ingest: give at least one file or directory.")
    return [Path(p) for p in paths]


def open_collection(store: Store, name: str, embedder: Embedder) -> ChunkCollection:
    """The collection to ingest into, created for `embedder` if new; an error if made with another model."""
    check_collection_name(name)
    if store.has_collection(name):
        collection = store.get_collection(name)
        if collection.embedder not in (None, embedder.name):
            from retrieval.embedder import mismatch_error

            raise mismatch_error(name, collection.embedder, embedder.name, "ingest")
        return collection
    return store.create_collection(name, embedder=embedder.name, dimension=embedder.dimension)


def ingest(
    paths: Sequence[Path | str],
    *,
    store: Store,
    collection: str,
    embedder: Embedder,
    home: Path,
    glob: str | None = None,
    prune: bool = False,
    follow_symlinks: bool = False,
    progress: bool = True,
    max_bytes: int = DEFAULT_MAX_BYTES,
    embed_batch: int = EMBED_BATCH,
    chunker: Chunker | None = None,
) -> IngestReport:
    """Bring `collection` up to date with the files under `paths`; see the module docstring.

    Only regular files are read (never more than `max_bytes` + 1 bytes of one); a symlink whose target
    lies outside its ingest root is skipped unless `follow_symlinks`. A `glob` that matches no file is a
    `RetrievalError`, raised before anything is written."""
    started = time.perf_counter()
    roots = check_paths([Path(p) for p in paths])
    report = IngestReport(collection=check_collection_name(collection))
    found = list(discover(roots, glob, follow_symlinks=follow_symlinks))
    if glob is not None and not found and not (prune and store.has_collection(collection)):
        raise RetrievalError(
            f"No file under {', '.join(str(r) for r in roots)} matches --glob {glob!r}; nothing was ingested. "
            "The pattern is matched against each file's name and its path relative to PATH "
            "(e.g. '*.md' or 'guide/*.md'); quote it so the shell does not expand it."
        )
    if not store.has_collection(collection):
        delete_manifest(store, collection)  # a manifest left by a collection deleted behind our back lies
    chunks_col = open_collection(store, collection, embedder)
    manifest = Manifest.open(store, collection)
    assert manifest is not None
    if manifest.dirty:
        report.orphans_removed = remove_orphans(chunks_col, manifest)
    _chunker = chunker
    signature = chunker.signature if chunker is not None else chunking_signature(embedder.name)

    def get_chunker() -> Chunker:  # built on first use: it loads the tokenizer
        nonlocal _chunker
        if _chunker is None:
            _chunker = Chunker.for_embedder(embedder)
        return _chunker

    def warn(message: str) -> None:
        report.warnings.append(message)

    # 1. read every file; keep the documents that are new or changed
    pending: list[_Pending] = []
    seen_docs: set[str] = set()
    read_files: set[str] = set()
    moved: list[tuple[DocEntry, str]] = []  # unchanged documents now read from another place, new source
    report.files = len(found)
    for item in _bar(found, progress, "reading", "file"):
        if item.skip is not None:
            report.skip(file_key(item.path), item.skip)
            continue
        try:
            documents = load_file(item.path, doc_id=item.doc_id, max_bytes=max_bytes, warn=warn)
        except SkipFile as reason:
            report.skip(file_key(item.path), str(reason))
            continue
        read_files.add(file_key(item.path))
        for document in documents:
            if document.doc_id in seen_docs:
                warn(f"{document.source}: skipped: document id {document.doc_id!r} was already read in this run")
                continue
            seen_docs.add(document.doc_id)
            previous = manifest.get(document.doc_id)
            if previous and previous.doc_hash == document.doc_hash and previous.signature == signature:
                report.unchanged += 1
                if previous.origin != document.origin:
                    moved.append((replace(previous, origin=document.origin), document.source))
                continue
            pending.append(_Pending(document, get_chunker().chunk(document), previous))

    # records that vanished from a file that was read (JSONL), and, with prune, files that are gone
    gone = [
        entry.doc_id
        for entry in manifest.entries.values()
        if entry.doc_id not in seen_docs
        and (entry.origin in read_files or (prune and _under(entry.origin, roots) and not _exists(entry.origin)))
    ]

    rekeyed = sum(1 for doc_id in gone if doc_id == manifest.entries[doc_id].origin)
    if rekeyed:
        warn(
            f"{rekeyed} documents were stored under absolute-path ids by an older ragloop; they now have ids "
            "relative to the ingested folder (re-embedded once; later ingests from any location match them)"
        )

    # 2. write: new chunks, then the manifest switch, then old chunks out
    if moved:  # same content elsewhere: point citations and --prune at the new place, no re-embedding
        _relocate(chunks_col, moved, embed_batch)
        manifest.put(entry for entry, _ in moved)
    if pending or gone:
        manifest.mark_dirty()
        _commit(pending, chunks_col, manifest, embedder, signature, embed_batch, progress, report)
        if gone:
            old_ids = [cid for doc_id in gone for cid in manifest.entries[doc_id].chunk_ids]
            manifest.remove(gone)
            chunks_col.delete(ids=old_ids)
            report.deleted = len(gone)
        manifest.mark_clean()

    # 3. BM25 over exactly the manifest's chunks (rebuilt when it differs)
    ensure_index(home, chunks_col, manifest.chunk_ids())  # BM25 over exactly the manifest's chunks
    report.total_documents = len(manifest)
    report.total_chunks = manifest.chunk_count()
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _commit(
    pending: list[_Pending],
    chunks_col: ChunkCollection,
    manifest: Manifest,
    embedder: Embedder,
    signature: str,
    embed_batch: int,
    progress: bool,
    report: IngestReport,
) -> None:
    total = sum(len(p.chunks) for p in pending)
    bar = _bar(None, progress, "embedding", "chunk", total=total)
    try:
        for group in _groups(pending, embed_batch):
            chunks = [c for p in group for c in p.chunks]
            for start in range(0, len(chunks), embed_batch):  # written batch by batch: a huge document's
                batch = chunks[start : start + embed_batch]  # vectors are never all held in memory at once
                chunks_col.upsert(batch, embedder.embed([c.text for c in batch], "document"))
                bar.update(len(batch))
            manifest.put(
                DocEntry(
                    doc_id=p.document.doc_id,
                    doc_hash=p.document.doc_hash,
                    signature=signature,
                    origin=p.document.origin,
                    title=p.document.title,
                    chunk_ids=[c.id for c in p.chunks],
                )
                for p in group
            )
            stale = [
                cid
                for p in group
                if p.previous is not None
                for cid in set(p.previous.chunk_ids) - {c.id for c in p.chunks}
            ]
            if stale:
                chunks_col.delete(ids=stale)
            for p in group:
                if p.previous is None:
                    report.added += 1
                else:
                    report.updated += 1
            report.chunks += len(chunks)
    finally:
        bar.close()


def _relocate(chunks_col: ChunkCollection, moved: list[tuple[DocEntry, str]], batch: int) -> None:
    """Rewrite the chunks of moved documents with their new `source`, keeping ids and stored vectors
    (an upsert of the same ids: a kill midway leaves some chunks with the old path, never a broken one)."""
    for start in range(0, len(moved), batch):
        group = moved[start : start + batch]
        sources = {entry.doc_id: source for entry, source in group}
        ids = [cid for entry, _ in group for cid in entry.chunk_ids]
        chunks = chunks_col.get(ids=ids)
        vectors = chunks_col.embeddings(ids)
        updated = [replace(chunk, source=sources[chunk.doc_id]) for chunk in chunks if chunk.id in vectors]
        if updated:
            chunks_col.upsert(updated, [vectors[chunk.id] for chunk in updated])


def _groups(pending: list[_Pending], size: int) -> Iterator[list[_Pending]]:
    """Whole documents, about `size` chunks per group (a big document forms a group of its own)."""
    group: list[_Pending] = []
    count = 0
    for item in pending:
        if group and count + len(item.chunks) > size:
            yield group
            group, count = [], 0
        group.append(item)
        count += len(item.chunks)
    if group:
        yield group


def remove_orphans(chunks_col: ChunkCollection, manifest: Manifest) -> int:
    """Delete chunks that no manifest record names (debris of an interrupted ingest)."""
    keep = manifest.chunk_ids()
    orphans = [cid for cid in chunks_col.ids() if cid not in keep]
    if orphans:
        chunks_col.delete(ids=orphans)
    manifest.mark_clean()
    return len(orphans)


def _under(origin: str, roots: list[Path]) -> bool:
    for root in roots:
        key = file_key(root)
        if origin == key or origin.startswith(key.rstrip("/") + "/"):
            return True
    return False


def _exists(origin: str) -> bool:
    return os.path.lexists(origin)


def _bar(items: Any, enabled: bool, desc: str, unit: str, total: int | None = None) -> Any:
    from tqdm import tqdm

    return tqdm(
        items,
        total=total,
        desc=desc,
        unit=unit,
        disable=not enabled,
        file=sys.stderr,
        leave=False,
        dynamic_ncols=True,
    )
