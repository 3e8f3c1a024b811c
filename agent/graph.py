"""The LangGraph graph: the only module that imports LangGraph.

    load_context → route ─┬─ documents → rewrite → retrieve → grade → generate → reflect ─┬─ done → save
                          │                ↑_____________ rewrite ______________________│
                          │                                  ↑________ regenerate ______│
                          ├─ direct / clarify → generate → save
                          └─ tool → tools → save

Nodes are the plain functions of `agent.nodes`; each runs through `agent.context.run_node` with the per-question
`RunContext` passed as LangGraph's run context. Threads persist in a SQLite checkpointer (`threads.sqlite`).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agent import nodes
from agent.context import NodeFn, RunContext, run_node
from agent.state import AgentState

THREADS_FILENAME = "threads.sqlite"


def _node(name: str, fn: NodeFn) -> Any:
    def run(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        return run_node(name, fn, state, runtime.context)

    run.__name__ = name
    return run


def _after_route(state: AgentState) -> str:
    return {"documents": "rewrite", "tool": "tools"}.get(state.get("route", ""), "generate")


def _after_generate(state: AgentState) -> str:
    return "reflect" if state.get("route") == "documents" else "save"


def _after_reflect(state: AgentState) -> str:
    return {"rewrite": "rewrite", "regenerate": "generate"}.get(state.get("next_action", ""), "save")


def build_graph(checkpointer: Any = None) -> Any:
    """The compiled graph; invoke it with `context=RunContext(...)` and a `thread_id` in the config."""
    graph = StateGraph(AgentState, context_schema=RunContext)
    for name, fn in (
        ("load_context", nodes.load_context),
        ("route", nodes.route),
        ("rewrite", nodes.rewrite),
        ("retrieve", nodes.retrieve),
        ("grade", nodes.grade),
        ("generate", nodes.generate),
        ("tools", nodes.tools),
        ("reflect", nodes.reflect),
        ("save", nodes.save),
    ):
        graph.add_node(name, _node(name, fn))
    graph.add_edge(START, "load_context")
    graph.add_edge("load_context", "route")
    graph.add_conditional_edges("route", _after_route, {"rewrite": "rewrite", "tools": "tools", "generate": "generate"})
    graph.add_edge("rewrite", "retrieve")
    graph.add_edge("retrieve", "grade")
    graph.add_edge("grade", "generate")
    graph.add_conditional_edges("generate", _after_generate, {"reflect": "reflect", "save": "save"})
    graph.add_conditional_edges(
        "reflect", _after_reflect, {"rewrite": "rewrite", "generate": "generate", "save": "save"}
    )
    graph.add_edge("tools", "save")
    graph.add_edge("save", END)
    return graph.compile(checkpointer=checkpointer)


class ThreadStore:
    """The SQLite checkpointer at `<home>/threads.sqlite` and the thread queries the agent needs."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._conn = sqlite3.connect(str(path), check_same_thread=False)
        self.saver = SqliteSaver(self._conn)
        self.saver.setup()

    def close(self) -> None:
        self._conn.close()

    def thread_ids(self) -> list[str]:
        """Thread ids, most recently updated first (checkpoint ids are time-ordered UUIDv6)."""
        with self.saver.cursor(transaction=False) as cur:
            rows = cur.execute(
                "SELECT thread_id, MAX(checkpoint_id) AS last FROM checkpoints "
                "WHERE checkpoint_ns = '' GROUP BY thread_id ORDER BY last DESC"
            ).fetchall()
        return [str(row[0]) for row in rows]

    def delete(self, thread_id: str) -> None:
        self.saver.delete_thread(thread_id)


def run_graph(app: Any, thread_id: str, question: str, ctx: RunContext) -> AgentState:
    """One turn: returns the final state of the thread."""
    config = {"configurable": {"thread_id": thread_id}}
    result: AgentState = app.invoke({"question": question, "thread_id": thread_id}, config, context=ctx)
    return result


def thread_values(app: Any, thread_id: str) -> AgentState:
    """The latest saved state of a thread (empty when the thread does not exist)."""
    snapshot = app.get_state({"configurable": {"thread_id": thread_id}})
    values = snapshot.values or {}
    return AgentState(**values)
