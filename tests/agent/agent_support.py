"""Shared helpers of the agent tests (imported by name: a test must never import `conftest`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent.run import Agent
from agent.testing import ScriptedChatClient
from retrieval.types import Chunk

CHUNKS = [
    Chunk(
        id="rrf-1",
        text="Reciprocal rank fusion merges rankings: each document scores the sum of 1/(60 + rank) over the lists.",
        doc_id="rrf.md",
        source="docs/rrf.md",
        title="Reciprocal rank fusion",
    ),
    Chunk(
        id="bm25-1",
        text="BM25 is a lexical ranking function that weighs term frequency against document length.",
        doc_id="bm25.md",
        source="docs/bm25.md",
        title="BM25",
    ),
    Chunk(
        id="kv-1",
        text="The KV cache stores attention keys and values so a shared prompt prefix is not processed twice.",
        doc_id="kv.md",
        source="docs/kv-cache.md",
        title="KV cache",
    ),
]


def verdict(grounded: bool = True, relevant: bool = True, why: str = "") -> dict[str, Any]:
    return {
        "groundedness_rationale": why or ("supported" if grounded else "the claim about speed is not in the sources"),
        "groundedness_pass": grounded,
        "relevance_rationale": why or ("answers it" if relevant else "talks about something else"),
        "relevance_pass": relevant,
    }


def route_to(name: str) -> dict[str, str]:
    return {"route": name}


AgentFactory = Callable[..., tuple[Agent, ScriptedChatClient]]
