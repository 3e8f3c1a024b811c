"""retrieve: hybrid search + rerank through the `Retriever`, merged across sub-queries, fitted to the
context budget in tokens."""

from __future__ import annotations

import time
from typing import Any

from agent.context import RunContext
from agent.errors import AgentError
from agent.focus import focus
from agent.prompts import source_header
from agent.state import AgentState, Hit
from retrieval.types import SearchHit

SOURCE_HEADER_TOKENS = 4  # the separator between sources and the digits of [n]; the header line itself is counted
HEADER_ALLOWANCE = 30  # a hit's tokens include its header line: a chunk this much over source_tokens is cut


def retrieve(state: AgentState, ctx: RunContext) -> dict[str, Any]:
    retriever = ctx.deps.retriever
    if retriever is None:
        raise AgentError("The documents route needs a retriever: pass one in AgentDeps(retriever=...).")
    queries = state.get("queries") or [state["question"]]
    start = time.perf_counter()
    per_query = [(query, retriever.search(query, k=ctx.config.k)) for query in queries]
    ctx.budget.add_time("retrieval", time.perf_counter() - start)
    merged = _interleave(per_query, ctx)
    focused = _focus(merged, state["question"], ctx) if ctx.config.source_tokens else 0
    fitted, used = fit_to_budget(merged, ctx.config.context_tokens)
    ctx.note(
        f"{len(queries)} quer{'y' if len(queries) == 1 else 'ies'} → {len(merged)} unique hit(s)"
        + (f", {focused} cut to their passages about the question" if focused else "")
        + f", {len(fitted)} fit {ctx.config.context_tokens} tokens ({used} used)"
    )
    return {"hits": fitted, "kept": []}


def to_hit(hit: SearchHit, query: str, tokens: int) -> Hit:
    chunk = hit.chunk
    return Hit(
        chunk_id=chunk.id,
        text=chunk.text,
        source=chunk.source,
        title=chunk.title,
        heading_path=list(chunk.heading_path),
        page=chunk.page,
        score=float(hit.score),
        scores={k: float(v) for k, v in hit.scores.items()},
        query=query,
        tokens=tokens,
    )


def fit_to_budget(hits: list[Hit], budget: int) -> tuple[list[Hit], int]:
    """Keep hits in order while they fit; a hit too large for what is left is passed over for smaller ones."""
    kept: list[Hit] = []
    used = 0
    for hit in hits:
        cost = hit["tokens"] + SOURCE_HEADER_TOKENS
        if used + cost <= budget:
            kept.append(hit)
            used += cost
    return kept, used


def _focus(hits: list[Hit], question: str, ctx: RunContext) -> int:
    """Cut the hits longer than `source_tokens` to their passages about the question and the query that found
    them (agent.focus), re-sized as the prompt shows them; how many were cut."""
    limit = ctx.config.source_tokens
    cut = [i for i, hit in enumerate(hits) if hit["tokens"] > limit + HEADER_ALLOWANCE]
    for i in cut:
        hits[i]["text"] = focus(hits[i]["text"], [question, hits[i]["query"]], limit)
    counts = ctx.count_tokens_many([_as_shown(hits[i]) for i in cut])
    for i, n in zip(cut, counts, strict=True):
        hits[i]["tokens"] = n
    return len(cut)


def _interleave(per_query: list[tuple[str, list[SearchHit]]], ctx: RunContext) -> list[Hit]:
    """Round-robin over the queries' ranked lists (best first), dropping repeated chunks; each sized as the
    prompt shows it (header line and text), in one batch."""
    seen: set[str] = set()
    picked: list[tuple[SearchHit, str]] = []
    depth = max((len(hits) for _, hits in per_query), default=0)
    for i in range(depth):
        for query, hits in per_query:
            if i < len(hits) and hits[i].chunk.id not in seen:
                seen.add(hits[i].chunk.id)
                picked.append((hits[i], query))
    sized = [to_hit(hit, query, 0) for hit, query in picked]
    # what the prompt shows of each: its header line (title, heading path, source) and its text
    counts = ctx.count_tokens_many([_as_shown(hit) for hit in sized])
    for hit, n in zip(sized, counts, strict=True):
        hit["tokens"] = n
    return sized


def _as_shown(hit: Hit) -> str:
    """A source as the answer prompt shows it (header line, then its text): what its token count measures."""
    return f"{source_header(0, hit)}\n{hit['text'].strip()}"
