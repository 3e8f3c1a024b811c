"""Fixtures for the agent tests: a small chunk set, a keyword retriever, an agent factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.run import Agent, AgentConfig, AgentDeps
from agent.testing import KeywordRetriever, Script, ScriptedChatClient
from retrieval.types import Chunk
from tools.registry import ToolRegistry

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
    return {"reason": f"scripted {name}", "route": name}


AgentFactory = Callable[..., tuple[Agent, ScriptedChatClient]]


@pytest.fixture
def make_agent(tmp_path: Path) -> Iterator[AgentFactory]:
    agents: list[Agent] = []

    def factory(
        script: Script,
        *,
        judge: ScriptedChatClient | None = None,
        tools: ToolRegistry | None = None,
        chunks: list[Chunk] | None = None,
        retriever: Any = "default",
        **config: Any,
    ) -> tuple[Agent, ScriptedChatClient]:
        chat = ScriptedChatClient(script)
        if retriever == "default":
            retriever = KeywordRetriever(CHUNKS if chunks is None else chunks)
        deps = AgentDeps(chat=chat, judge=judge, retriever=retriever, tools=tools, config=AgentConfig(**config))
        agent = Agent(deps, home=tmp_path)
        agents.append(agent)
        return agent, chat

    yield factory
    for agent in agents:
        agent.close()
