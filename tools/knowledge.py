"""Knowledge-base tools: search, ask, list collections, read a document, ingest (opt-in).

Plain typed methods of `KnowledgeTools`, which is given its runtime objects (`ToolContext`) by the composition
root; the registry turns them into tools for the agent and the MCP server alike. Results are pydantic models:
the MCP server sends them as structured output (with their JSON schema), the agent reads them as JSON.

`read_document` never touches the file system: it returns the text stored at ingest, reassembled from the
document's chunks (each chunk is an exact slice of the document's text). A `source` is accepted only when it is
the exact source of a document in an ingested collection, so `../` paths, absolute paths elsewhere and links
planted after the ingest have nothing to match and are refused with a message.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, Field

from tools.call import CallContext
from tools.context import ToolContext
from tools.registry import tool

if TYPE_CHECKING:
    from agent.types import AgentEvent
    from retrieval.types import Chunk
    from tools.sessions import Session

SearchModeArg = Literal["hybrid", "dense", "bm25"]


class Hit(BaseModel):
    rank: int
    chunk_id: str
    source: str
    title: str
    heading_path: list[str]
    page: int | None = None
    start: int
    end: int
    score: float
    scores: dict[str, float]
    text: str


class SearchResults(BaseModel):
    query: str
    collection: str
    mode: str
    hits: list[Hit]
    notes: list[str] = Field(default_factory=list)


class CollectionInfo(BaseModel):
    name: str
    chunks: int
    documents: int
    embedder: str | None = None


class Collections(BaseModel):
    collections: list[CollectionInfo]
    default: str


class DocumentText(BaseModel):
    collection: str
    source: str
    title: str
    start: int
    end: int
    length: int  # characters of the whole document
    truncated: bool  # the requested range was cut at the size limit: read on from `end`
    text: str


class CitedSource(BaseModel):
    n: int
    chunk_id: str
    source: str
    title: str
    heading_path: list[str]
    page: int | None = None
    quote: str


class VerdictInfo(BaseModel):
    criterion: str
    passed: bool | None  # None: the judge's output could not be parsed ("unjudged"), never a silent pass
    status: str  # pass | fail | unjudged
    rationale: str
    attempt: int


class Answer(BaseModel):
    answer: str
    thread: str
    citations: list[CitedSource]
    verdicts: list[VerdictInfo]
    route: str
    failed: bool
    abstained: bool


class IngestSummary(BaseModel):
    collection: str
    report: dict[str, Any]


class KnowledgeTools:
    def __init__(self, context: ToolContext) -> None:
        self.ctx = context

    def functions(self) -> list[Callable[..., Any]]:
        fns: list[Callable[..., Any]] = [self.search_knowledge_base, self.list_collections, self.read_document]
        if self.ctx.answer is not None:
            fns.insert(1, self.ask)
        if self.ctx.ingest is not None:
            fns.append(self.ingest)
        return fns

    @tool(title="Search the knowledge base", timeout=60.0)
    def search_knowledge_base(
        self,
        query: str,
        k: Annotated[int, Field(ge=1, le=50)] = 5,
        collection: str | None = None,
        mode: SearchModeArg = "hybrid",
    ) -> SearchResults:
        """Search the ingested documents and return the best passages with their source, title, heading path,
        chunk id and scores, for citing.

        Args:
            query: What to look for, in plain words.
            k: How many passages to return (1-50).
            collection: The collection to search (default: the server's collection; see list_collections).
            mode: hybrid (dense + BM25, the default), dense (meaning) or bm25 (exact words).
        """
        if not query.strip():
            raise ValueError("the query is empty: say what to look for")
        name = self._documents(collection)
        self.ctx.sessions.warm(name)  # models load outside the store's lock
        with self.ctx.sessions.open() as session:
            result = session.searcher(name).run(query, min(k, self.ctx.max_k), mode=mode)
        hits = [
            Hit(
                rank=h.rank,
                chunk_id=h.chunk.id,
                source=h.chunk.source,
                title=h.chunk.title,
                heading_path=list(h.chunk.heading_path),
                page=h.chunk.page,
                start=h.chunk.start,
                end=h.chunk.end,
                score=round(h.score, 6),
                scores={key: round(value, 6) for key, value in h.scores.items()},
                text=h.chunk.text,
            )
            for h in result.hits
        ]
        return SearchResults(query=query, collection=name, mode=result.mode, hits=hits, notes=result.notes)

    @tool(title="Ask a question (cited answer)", idempotent=False, timeout=600.0)
    def ask(
        self, question: str, context: CallContext, collection: str | None = None, thread: str | None = None
    ) -> Answer:
        """Answer a question from the ingested documents with the full agent: a cited answer ([n] markers with
        their sources) and the judge's verdicts. Slower than search_knowledge_base (a local model writes it).

        Args:
            question: The question, in plain words.
            collection: The collection to answer from (default: the server's collection).
            thread: A thread id returned by an earlier ask, to continue that conversation.
        """
        if self.ctx.answer is None:  # pragma: no cover - not registered then
            raise ValueError("ask is not available on this server")
        if not question.strip():
            raise ValueError("the question is empty")
        steps = 0

        def on_event(event: AgentEvent) -> None:
            nonlocal steps
            context.check()  # cancellation or timeout stops the agent at its next step or token
            if event.kind == "step" and event.step is not None:
                steps += 1
                context.progress(steps, None, f"{event.step.node}: {event.step.summary}"[:200])

        context.progress(0, None, "starting (the first question loads the model)")
        result = self.ctx.answer(question, self._documents(collection), thread, on_event)
        return Answer(
            answer=result.answer,
            thread=result.thread_id,
            citations=[
                CitedSource(
                    n=c.n,
                    chunk_id=c.chunk_id,
                    source=c.source,
                    title=c.title,
                    heading_path=list(c.heading_path),
                    page=c.page,
                    quote=c.quote,
                )
                for c in result.citations
            ],
            verdicts=[
                VerdictInfo(
                    criterion=v.criterion, passed=v.passed, status=v.status, rationale=v.rationale, attempt=v.attempt
                )
                for v in result.verdicts
            ],
            route=result.route,
            failed=result.failed,
            abstained=result.abstained,
        )

    @tool(title="List collections", timeout=30.0)
    def list_collections(self) -> Collections:
        """List the collections of ingested documents, with their sizes."""
        from retrieval.manifest import is_manifest_name

        out: list[CollectionInfo] = []
        with self.ctx.sessions.open() as session:
            for name in session.store.list_collections():
                if is_manifest_name(name) or name in self.ctx.private_collections:
                    continue
                stats = session.store.stats(name)
                out.append(
                    CollectionInfo(name=name, chunks=stats.chunks, documents=stats.documents, embedder=stats.embedder)
                )
        return Collections(collections=out, default=self.ctx.default_collection)

    @tool(title="Read a document", timeout=30.0)
    def read_document(
        self,
        source: str,
        start: Annotated[int, Field(ge=0)] = 0,
        end: Annotated[int | None, Field(ge=0)] = None,
        collection: str | None = None,
    ) -> DocumentText:
        """Read the text of an ingested document (the source of a search hit), or a character range of it.

        Args:
            source: The document's source exactly as search_knowledge_base returned it.
            start: First character to return (0: the beginning).
            end: Character after the last one to return (default: as much as the size limit allows).
            collection: The collection holding it (default: the server's collection, then the others).
        """
        if end is not None and end < start:
            raise ValueError(f"end ({end}) is before start ({start})")
        with self.ctx.sessions.open() as session:
            found = self._find_document(session, source, collection)
        name, chunks = found
        text = _reassemble(chunks)
        limit = self.ctx.max_document_chars
        stop = len(text) if end is None else min(end, len(text))
        truncated = stop - start > limit
        stop = min(stop, start + limit)
        return DocumentText(
            collection=name,
            source=source,
            title=chunks[0].title,
            start=min(start, len(text)),
            end=max(stop, min(start, len(text))),
            length=len(text),
            truncated=truncated,
            text=text[start:stop],
        )

    @tool(title="Ingest files", read_only=False, idempotent=True, timeout=3600.0)
    def ingest(self, paths: list[str], context: CallContext, collection: str | None = None) -> IngestSummary:
        """Ingest files or folders into a collection (new and changed files only), so they can be searched.

        Args:
            paths: Files or folders on the server's machine.
            collection: The collection to ingest into (default: the server's collection).
        """
        if self.ctx.ingest is None:  # pragma: no cover - not registered then
            raise ValueError("ingest is not allowed on this server (start it with --allow-ingest)")
        if not paths:
            raise ValueError("give at least one file or folder")
        name = self._documents(collection)

        def on_progress(message: str) -> None:
            context.progress(0, None, message)

        report = self.ctx.ingest([Path(p).expanduser() for p in paths], name, on_progress)
        return IngestSummary(collection=name, report=report)

    # -- helpers ------------------------------------------------------------------------------------
    def _documents(self, collection: str | None) -> str:
        """The collection to use (default: the server's), refused when it is not a document collection."""
        name = collection or self.ctx.default_collection
        if name in self.ctx.private_collections:
            raise ValueError(f"collection {name!r} holds long-term memory, not documents: use the recall tool")
        return name

    def _find_document(self, session: Session, source: str, collection: str | None) -> tuple[str, list[Chunk]]:
        from retrieval.manifest import current_chunk_ids, is_manifest_name

        if not source.strip():
            raise ValueError("source is empty: pass a hit's source from search_knowledge_base")
        if collection is not None:
            names = [self._documents(collection)]
            session.store.get_collection(collection)  # a clear error for an unknown collection
        else:
            others = [
                n
                for n in session.store.list_collections()
                if not is_manifest_name(n) and n not in self.ctx.private_collections
            ]
            names = [self.ctx.default_collection] + [n for n in others if n != self.ctx.default_collection]
        for name in names:
            if not session.store.has_collection(name):
                continue
            visible = current_chunk_ids(session.store, name)
            chunks = [
                c
                for c in session.store.get_collection(name).get(where={"source": source})
                if visible is None or c.id in visible
            ]
            if chunks:
                return name, chunks
        where = f"collection {collection!r}" if collection else "any ingested collection"
        hint = ""
        if ".." in Path(source).parts or Path(source).is_absolute():
            hint = " Only documents of ingested collections can be read, never other files."
        raise ValueError(
            f"{source!r} is not a document of {where}.{hint} Use a source returned by search_knowledge_base."
        )


def _reassemble(chunks: list[Chunk]) -> str:
    """The document's text from its chunks (exact slices at their offsets; uncovered gaps become spaces)."""
    pieces: list[str] = []
    pos = 0
    for chunk in sorted(chunks, key=lambda c: c.start):
        if chunk.start > pos:
            pieces.append(" " * (chunk.start - pos))
            pos = chunk.start
        if chunk.start + len(chunk.text) > pos:
            pieces.append(chunk.text[pos - chunk.start :])
            pos = chunk.start + len(chunk.text)
    return "".join(pieces)
