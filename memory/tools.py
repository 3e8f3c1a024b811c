"""The `remember` and `recall` tools: plain typed functions over one user's `Memory`.

    registry.register(remember_tool(memory), name="remember")    # the agent's tool registry
    # the MCP server registers the same functions (bound to the user it serves)

Both return short text for the model; bad input (an empty fact) raises ValueError, which the registry turns
into an error message for the model.
"""

from __future__ import annotations

from collections.abc import Callable

from memory.service import Memory


def remember_tool(memory: Memory) -> Callable[[str], str]:
    def remember(fact: str) -> str:
        """Remember a fact or preference the user stated, for later conversations.

        Args:
            fact: One short first-person sentence, e.g. "I work on PostgreSQL 15" or "I prefer bullet points".
        """
        if not fact.strip():
            raise ValueError("fact is empty: pass the sentence to remember")
        decision = memory.remember(fact)
        if decision.stored:
            return f"remembered ({decision.action}): {decision.record.text if decision.record else fact}"
        return f"already known: {decision.record.text if decision.record else fact}"

    return remember


def recall_tool(memory: Memory) -> Callable[..., str]:
    def recall(query: str, k: int = 4) -> str:
        """Recall what the user told you earlier that relates to a query (their facts and preferences).

        Args:
            query: What to look for, e.g. "which database does the user work on".
            k: At most this many memories (1-20).
        """
        k = max(1, min(int(k), 20))
        found = memory.facts.recall(memory.user, query, k=k)
        if not found:
            return "nothing remembered about that"
        return "\n".join(f"- {record.text}" for record in found)

    return recall


def memory_tools(memory: Memory) -> list[Callable[..., str]]:
    """[remember, recall] for `ToolRegistry.register` / the MCP server."""
    return [remember_tool(memory), recall_tool(memory)]
