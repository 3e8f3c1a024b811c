"""The `remember` and `recall` tools: plain typed functions over one user's `Memory`.

    registry.register(remember_tool(memory), name="remember")    # the agent's tool registry
    memory_tools(open_session)    # the MCP server: a context manager per call, so the store is open per call

`source` is a `Memory`, or a zero-argument function returning a context manager that yields one (the MCP
server opens the store for the length of one call and closes it after, like its other tools).

Both return short text for the model; bad input (an empty fact) raises ValueError, which the registry turns
into an error message for the model.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager

from memory.service import Memory

MemorySource = Memory | Callable[[], AbstractContextManager[Memory]]


def _using(source: MemorySource) -> AbstractContextManager[Memory]:
    return contextlib.nullcontext(source) if isinstance(source, Memory) else source()


def remember_tool(source: MemorySource) -> Callable[[str], str]:
    def remember(fact: str) -> str:
        """Remember a fact or preference the user stated, for later conversations.

        Args:
            fact: One short first-person sentence, e.g. "I work on PostgreSQL 15" or "I prefer bullet points".
        """
        if not fact.strip():
            raise ValueError("fact is empty: pass the sentence to remember")
        with _using(source) as memory:
            decision = memory.remember(fact)
        if decision.stored:
            return f"remembered ({decision.action}): {decision.record.text if decision.record else fact}"
        return f"already known: {decision.record.text if decision.record else fact}"

    return remember


def recall_tool(source: MemorySource) -> Callable[..., str]:
    def recall(query: str, k: int = 4) -> str:
        """Recall what the user told you earlier that relates to a query (their facts and preferences).

        Args:
            query: What to look for, e.g. "which database does the user work on".
            k: At most this many memories (1-20).
        """
        k = max(1, min(int(k), 20))
        with _using(source) as memory:
            found = memory.facts.recall(memory.user, query, k=k)
        if not found:
            return "nothing remembered about that"
        return "\n".join(f"- {record.text}" for record in found)

    return recall


def memory_tools(source: MemorySource) -> list[Callable[..., str]]:
    """[remember, recall] for `ToolRegistry.register` / the MCP server."""
    return [remember_tool(source), recall_tool(source)]
