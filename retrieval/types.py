"""Plain types and seams of the retrieval area. No chromadb / sentence-transformers types cross these.

Ownership: loaders, chunking and the ingest pipeline produce `Chunk`s; the store adapter keeps them
with their embeddings (Chroma); the lexical index keeps BM25 over the same chunks; the searcher fuses
both and reranks, returning `SearchHit`s that carry everything a citation needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

EmbedKind = Literal["query", "document"]
SearchMode = Literal["dense", "bm25", "hybrid"]


@dataclass
class Chunk:
    id: str  # stable: derived from the document id, the document's content hash and the chunk's position
    text: str
    doc_id: str  # stable per source document (e.g. the path relative to the ingest root, or a JSONL id)
    source: str  # path or URL shown in citations
    title: str = ""
    heading_path: list[str] = field(default_factory=list)  # e.g. ["Install", "From source"]
    page: int | None = None  # 1-based page for PDFs
    start: int = 0  # character offsets in the document's extracted text
    end: int = 0
    doc_hash: str = ""  # content hash of the whole document version this chunk belongs to
    metadata: dict[str, Any] = field(default_factory=dict)  # extra scalar metadata (JSONL fields, format)


@dataclass
class SearchHit:
    chunk: Chunk
    score: float  # the score of the last stage that ordered the hits
    scores: dict[str, float] = field(default_factory=dict)  # per stage: "dense", "bm25", "rrf", "rerank"
    rank: int = 0  # 1-based

    def citation(self) -> dict[str, Any]:
        c = self.chunk
        return {
            "chunk_id": c.id,
            "source": c.source,
            "title": c.title,
            "heading_path": c.heading_path,
            "page": c.page,
            "start": c.start,
            "end": c.end,
        }


class Embedder(Protocol):
    """Bi-encoder. One method; batching, progress and caching are built around it."""

    @property
    def name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    @property
    def max_tokens(self) -> int:
        """Longest input in word pieces the model sees (256 for MiniLM)."""
        ...

    def embed(self, texts: list[str], kind: EmbedKind = "document") -> list[list[float]]: ...

    def count_tokens(self, text: str) -> int: ...


class Reranker(Protocol):
    name: str

    def score(self, query: str, passages: list[str]) -> list[float]: ...


class Retriever(Protocol):
    def search(self, query: str, k: int = 5) -> list[SearchHit]: ...


@runtime_checkable
class Vocabulary(Protocol):
    """A retriever that can tell which words its collection never contains (an optional capability)."""

    def unknown_terms(self, terms: list[str]) -> list[str]:
        """The `terms` that occur in no chunk of the collection (compared case-insensitively)."""
        ...
