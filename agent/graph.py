"""The LangGraph graph: the only module that imports LangGraph.

    load_context → route ─┬─ documents → rewrite → retrieve → grade → generate → reflect ─┬─ done → save
                          │                ↑_____________ rewrite ______________________│
                          │                                  ↑________ regenerate ______│
                          ├─ direct / clarify → generate → save
                          └─ tool → tools ─┬─ save
                                           └─ no call made: → rewrite (the documents route)

Nodes are the plain functions of `agent.nodes`; each runs through `agent.context.run_node` with the per-question
`RunContext` passed as LangGraph's run context. Threads persist in a SQLite checkpointer (`threads.sqlite`) that
writes only the thread's lean part (`LeanSaver`), once per turn; the thread listing is ragloop's own table there.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agent import nodes
from agent.context import NodeFn, RunContext, run_node
from agent.state import PERSISTENT_KEYS, AgentState

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


def _after_tools(state: AgentState) -> str:
    return "rewrite" if state.get("route") == "documents" else "save"


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
    graph.add_conditional_edges("tools", _after_tools, {"rewrite": "rewrite", "save": "save"})
    graph.add_edge("save", END)
    return graph.compile(checkpointer=checkpointer)


class LeanSaver(SqliteSaver):
    """The SQLite checkpointer, writing only what a thread needs: `PERSISTENT_KEYS` of the state (its turns
    and summary). Hits with full chunk text, attempts, traces and the other per-question keys stay in memory:
    `load_context` resets them at the start of every turn, so a resumed thread never needs them."""

    def put(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        values = checkpoint.get("channel_values", {})
        lean: Any = {**checkpoint, "channel_values": {k: v for k, v in values.items() if k not in _QUESTION_KEYS}}
        return super().put(config, lean, metadata, new_versions)

    def put_writes(self, config: Any, writes: Any, task_id: str, task_path: str = "") -> None:
        kept = [(channel, value) for channel, value in writes if channel not in _QUESTION_KEYS]
        super().put_writes(config, kept, task_id, task_path)


_QUESTION_KEYS = frozenset(AgentState.__annotations__) - frozenset(PERSISTENT_KEYS)


class ThreadStore:
    """`<home>/threads.sqlite`: the checkpointer (LangGraph's tables) and ragloop's own thread listing
    (`ragloop_threads`: id, last update, turn count, last question), written by the agent after each turn."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._conn = sqlite3.connect(str(path), check_same_thread=False)
        self.saver = LeanSaver(self._conn)
        self.saver.setup()
        self._table = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
        with self._table:
            created = not self._table.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'ragloop_threads'"
            ).fetchone()
            self._table.execute(
                "CREATE TABLE IF NOT EXISTS ragloop_threads (thread_id TEXT PRIMARY KEY, updated_ns INTEGER NOT NULL,"
                " turns INTEGER NOT NULL, last_question TEXT NOT NULL)"
            )
        if created:
            self._backfill()

    def close(self) -> None:
        self._table.close()
        self._conn.close()

    def record(self, thread_id: str, turns: int, last_question: str) -> None:
        """Note a thread's latest turn (called by the agent after each answered question)."""
        with self._table:
            self._table.execute(
                "INSERT INTO ragloop_threads (thread_id, updated_ns, turns, last_question) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(thread_id) DO UPDATE SET updated_ns = excluded.updated_ns, turns = excluded.turns, "
                "last_question = excluded.last_question",
                (thread_id, _now_ns(), turns, last_question),
            )

    def threads(self) -> list[tuple[str, int, str]]:
        """(thread id, turns, last question), most recently updated first."""
        rows = self._table.execute(
            "SELECT thread_id, turns, last_question FROM ragloop_threads ORDER BY updated_ns DESC, rowid DESC"
        ).fetchall()
        return [(str(r[0]), int(r[1]), str(r[2])) for r in rows]

    def thread_ids(self) -> list[str]:
        return [thread_id for thread_id, _, _ in self.threads()]

    def delete(self, thread_id: str) -> None:
        self.saver.delete_thread(thread_id)
        with self._table:
            self._table.execute("DELETE FROM ragloop_threads WHERE thread_id = ?", (thread_id,))

    def _backfill(self) -> None:
        """A threads.sqlite from before the table: list its threads once, through the checkpointer's API."""
        latest: dict[str, Any] = {}
        for item in self.saver.list(None):
            thread_id = str(item.config["configurable"]["thread_id"])
            if item.config["configurable"].get("checkpoint_ns", "") == "" and thread_id not in latest:
                latest[thread_id] = item  # newest first
        for thread_id, item in sorted(latest.items(), key=lambda kv: str(kv[1].checkpoint.get("ts", ""))):
            turns = item.checkpoint.get("channel_values", {}).get("turns", [])
            if turns:
                self.record(thread_id, len(turns), str(turns[-1].get("question", "")))


_last_ns = 0


def _now_ns() -> int:
    """Strictly increasing within the process (two turns in the same clock tick keep their order)."""
    global _last_ns
    _last_ns = max(time.time_ns(), _last_ns + 1)
    return _last_ns


def run_graph(app: Any, thread_id: str, question: str, ctx: RunContext) -> AgentState:
    """One turn: returns the final state of the thread."""
    config = {"configurable": {"thread_id": thread_id}}
    # durability "exit": one checkpoint per turn, written when the turn completes (an interrupted turn leaves none)
    result: AgentState = app.invoke(
        {"question": question, "thread_id": thread_id}, config, context=ctx, durability="exit"
    )
    return result


def thread_values(app: Any, thread_id: str) -> AgentState:
    """The latest saved state of a thread (empty when the thread does not exist)."""
    snapshot = app.get_state({"configurable": {"thread_id": thread_id}})
    values = snapshot.values or {}
    return AgentState(**values)
