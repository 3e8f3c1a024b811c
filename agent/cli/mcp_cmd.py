"""`ragloop mcp`: the knowledge base as an MCP server (stdio for desktop clients, streamable HTTP for remote).

The composition root for the server: settings → per-call store sessions (tools/sessions.py) → the tool context
(search, a lazily started agent for `ask`, ingest when allowed) → the registry → the MCP server
(tools/mcp_server.py). Nothing heavy loads before the first call: the embedder on the first search, the chat
model on the first `ask`. With stdio, stdout carries protocol messages only: every log goes to stderr.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from agent.cli.app import app
from agent.cli.options import with_settings
from agent.settings import Settings, SettingsError

if TYPE_CHECKING:
    from agent.run import Agent
    from agent.types import AgentAnswer, AgentEvent
    from memory.service import Memory
    from tools.context import ToolContext
    from tools.sessions import StoreSessions


@app.command("mcp")
@with_settings("models", "retrieval", "agent", "memory", "mcp")
def mcp(settings: Settings) -> None:
    """Serve the knowledge base over MCP: search, cited answers, documents (stdio, or --transport http)."""
    from tools.builtin import builtin_registry
    from tools.mcp_server import build_server, http_app, is_loopback, listen, run_http, run_stdio

    _log_to_stderr()
    cfg = settings.mcp
    if cfg.transport == "http" and not is_loopback(cfg.host) and not cfg.token:
        raise SettingsError(
            f"Binding {cfg.host} exposes the server beyond this machine: set a token with RAGLOOP_MCP_TOKEN "
            "(or --token), or bind 127.0.0.1."
        )
    with contextlib.ExitStack() as stack:
        context = build_tool_context(settings, stack)
        registry = builtin_registry(context, timeout=cfg.tool_timeout)
        server = build_server(registry, context, version=_version())
        if cfg.transport == "stdio":
            typer.echo(f"ragloop mcp: serving {len(registry)} tools over stdio", err=True)
            run_stdio(server)
        else:
            try:
                sock = stack.enter_context(listen(cfg.host, cfg.port))
            except OSError as exc:
                raise SettingsError(
                    f"Cannot listen on {cfg.host}:{cfg.port} ({exc.strerror or exc}): choose another --port, "
                    "or stop the process using it."
                ) from exc
            application = http_app(
                server, host=cfg.host, port=cfg.port, token=cfg.token, allowed_hosts=cfg.allowed_hosts
            )
            auth = "bearer token required" if cfg.token else "no token: loopback only"
            typer.echo(f"ragloop mcp: http://{cfg.host}:{cfg.port}/mcp ({auth})", err=True)
            run_http(application, sock)


def build_tool_context(settings: Settings, stack: contextlib.ExitStack) -> ToolContext:
    """The knowledge-base tools' runtime for these settings; models it starts are stopped when `stack` closes."""
    from tools.context import ToolContext

    r = settings.retrieval
    sessions = store_sessions(settings)
    agents = LazyAgents(settings, sessions, stack)
    return ToolContext(
        sessions=sessions,
        default_collection=r.collection,
        answer=agents.answer,
        ingest=make_ingest(settings, sessions) if settings.mcp.allow_ingest else None,
        memory=lambda: memory_session(settings, sessions, agents.chat),
        private_collections=frozenset({settings.memory.collection}),
    )


@contextlib.contextmanager
def memory_session(settings: Settings, sessions: StoreSessions, chat: Callable[[], Any]) -> Iterator[Memory]:
    """The served user's long-term memory for one call: the store is open (and its lock held) for the call only.
    The embedder is the cached one of the memory collection's model; the chat model starts only when a memory
    decision needs it."""
    from memory.service import open_memory

    name = settings.memory.collection
    with sessions.open() as session:
        stored = session.store.get_collection(name).embedder if session.store.has_collection(name) else None
        embedder = sessions.embedder(stored.split("@", 1)[0] if stored else None)
        yield open_memory(session.store, chat, settings.memory, embedder=embedder)


def store_sessions(settings: Settings) -> StoreSessions:
    """Per-call store sessions over the settings' store, embedder and reranker (the MCP server's retrieval)."""
    from tools.sessions import StoreSessions

    r = settings.retrieval
    return StoreSessions(
        settings.home,
        r.chroma_url,
        embedder=r.embedder,
        embed_backend=r.embed_backend,
        rerank_model=r.rerank_model,
        rerank_backend=r.rerank_backend,
        rerank_weight=r.rerank_weight,
        lock_wait=r.lock_wait,
    )


class LazyAgents:
    """One agent per collection, built on the first question (the chat model starts then, not at launch).
    Its retriever opens a store session per search, so the store's lock is not held while the model writes."""

    def __init__(self, settings: Settings, sessions: StoreSessions, stack: contextlib.ExitStack) -> None:
        self.settings = settings
        self.sessions = sessions
        self.stack = stack
        self._agents: dict[str, Agent] = {}
        self._clients: tuple[Any, Any] | None = None
        self._lock = threading.Lock()  # an Agent answers one question at a time
        self._lock_clients = threading.Lock()

    def answer(
        self, question: str, collection: str, thread_id: str | None, on_event: Callable[[AgentEvent], None]
    ) -> AgentAnswer:
        with self._lock:
            return self._agent(collection).ask(question, thread_id=thread_id, on_event=on_event)

    def chat(self) -> Any:
        """The chat client (the model server starts on the first call)."""
        return self._models()[0]

    def _models(self) -> tuple[Any, Any]:
        from agent.cli.wiring import open_clients

        with self._lock_clients:
            if self._clients is None:
                self._clients = open_clients(self.settings, self.stack)
            return self._clients

    def _agent(self, collection: str) -> Agent:
        from agent.cli.wiring import agent_deps
        from agent.run import Agent
        from tools.sessions import SessionRetriever

        if collection not in self._agents:
            with self.sessions.open() as session:
                session.store.get_collection(collection)  # a clear error before any model starts
            chat, judge = self._models()
            # the same dependencies as every other surface; long-term memory stays off here: the server
            # holds no store open between calls, and its remember/recall tools are the memory interface
            deps = agent_deps(self.settings, self.stack, chat, judge, SessionRetriever(self.sessions, collection))
            agent = Agent(deps, home=self.settings.home)
            self.stack.callback(agent.close)
            self._agents[collection] = agent
        return self._agents[collection]


def make_ingest(
    settings: Settings, sessions: StoreSessions
) -> Callable[[list[Path], str, Callable[[str], None]], dict[str, Any]]:
    def ingest_files(paths: list[Path], collection: str, on_progress: Callable[[str], None]) -> dict[str, Any]:
        from agent.cli.wiring import embedder_for
        from retrieval.ingest import ingest

        on_progress(f"ingesting {len(paths)} path(s) into {collection}")
        with sessions.open() as session:
            report = ingest(
                paths,
                store=session.store,
                collection=collection,
                embedder=embedder_for(settings, session.store, collection),
                home=settings.home,
                progress=False,
            )
        return report.as_dict()

    return ingest_files


def _log_to_stderr() -> None:
    """Every log record to stderr (stdout is the protocol channel over stdio)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("ragloop").setLevel(logging.INFO)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ragloop")
    except PackageNotFoundError:  # pragma: no cover - running from a checkout without install
        return ""
