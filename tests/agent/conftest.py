"""Fixtures for the agent tests: an agent factory over the shared chunks in `agent_support`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agent_support import CHUNKS, AgentFactory

from agent.run import Agent, AgentConfig, AgentDeps
from agent.testing import KeywordRetriever, Script, ScriptedChatClient
from retrieval.types import Chunk
from tools.registry import ToolRegistry


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
        # the scripted tests are written around the judge's call: the strong-evidence skip is opted into by the
        # tests of that rule
        config.setdefault("judge_skip", False)
        # and their answers are short made-up sentences, not in the chunks' words: the lexical support rule is
        # opted into by its own tests
        config.setdefault("min_support", 0.0)
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
