"""The one wiring path: settings → store → embedder → searcher → model endpoints → agent.

Every surface builds its objects here (the CLI commands, the MCP server, the evaluation harness), so a setting
means the same thing everywhere::

    with open_runtime(settings) as rt:              # opens the store; nothing else loads yet
        rt.searcher()                                # HybridSearcher over settings.retrieval.collection
        rt.searcher("other")                         # ... or another collection (cached per collection)
        rt.chat, rt.judge                            # ChatClients; the local model server starts on first use
        with rt.agent() as agent:                    # Agent over the settings' collection, models and knobs
            agent.ask("How does RRF work?")

- Without `models.model_url` the project's local model server is started (`local_models.serve.serve`) when a
  model is first needed, announced on stderr with the time it took; with it, any OpenAI-compatible endpoint.
- The judge defaults to the chat model on the same endpoint. `judge_url` points it elsewhere; a `judge_model`
  other than the chat model, without `judge_url`, is served by a second local server (or, with `model_url`,
  asked of the same endpoint by name).
- The embedder is the `retrieval.embedder` setting, else the one the collection was built with, else the
  bundled default, on the `retrieval.embed_backend` runtime.
Heavy imports stay inside the functions: `ragloop --help` must not load them.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from agent.settings import Settings

if TYPE_CHECKING:
    from agent.chat_client import ChatClient
    from agent.run import Agent, AgentConfig, AgentDeps
    from memory.service import Memory
    from retrieval.ingest import IngestReport
    from retrieval.search import HybridSearcher
    from retrieval.store import Store
    from retrieval.types import Embedder


@dataclass
class Endpoint:
    """An OpenAI-compatible endpoint and the model name to ask it for."""

    base_url: str
    model: str
    api_key: str | None = None


def plain_config(settings: Settings) -> AgentConfig:
    """The evaluation's plain baseline: retrieve the top 5 and answer (no route, rewrite, LLM grading, judge)."""
    return settings.agent.replace(route=False, rewrite=False, llm_grading=False, reflect=False, max_retries=0, k=5)


# -- models -------------------------------------------------------------------------------------------


@contextlib.contextmanager
def local_model(settings: Settings, model: str) -> Iterator[str]:
    """Start the local server for `model`, announce it on stderr, yield its base URL; stopped on exit."""
    from local_models.serve import serve

    typer.echo(f"starting local model {model}…", err=True)
    start = time.perf_counter()
    m = settings.models
    with serve(model=model, n_ctx=m.n_ctx, threads=m.threads, cache_dir=settings.models_dir) as url:
        typer.echo(f"local model {model} ready in {time.perf_counter() - start:.1f} s", err=True)
        yield url


@contextlib.contextmanager
def model_endpoints(settings: Settings, *, judge: bool = True) -> Iterator[tuple[Endpoint, Endpoint | None]]:
    """(chat endpoint, judge endpoint or None for "same as chat"), starting local servers as needed."""
    m = settings.models
    with contextlib.ExitStack() as stack:
        if m.model_url:
            chat = Endpoint(m.model_url, m.model, m.api_key)
        else:
            chat = Endpoint(stack.enter_context(local_model(settings, m.model)), m.model)
        judge_endpoint: Endpoint | None = None
        if judge:
            judge_model = m.judge_model or m.model
            if m.judge_url:
                judge_endpoint = Endpoint(m.judge_url, judge_model, m.judge_api_key or m.api_key)
            elif judge_model != m.model:
                if m.model_url:
                    judge_endpoint = Endpoint(m.model_url, judge_model, m.judge_api_key or m.api_key)
                else:
                    judge_endpoint = Endpoint(stack.enter_context(local_model(settings, judge_model)), judge_model)
        yield chat, judge_endpoint


def open_clients(settings: Settings, stack: contextlib.ExitStack) -> tuple[ChatClient, ChatClient | None]:
    """(chat client, judge client or None for "the chat model judges"), local servers started as needed;
    everything is closed when `stack` closes."""
    from agent.chat_client import ChatClient

    chat_at, judge_at = stack.enter_context(model_endpoints(settings))
    chat = ChatClient(chat_at.base_url, chat_at.model, api_key=chat_at.api_key)
    stack.callback(chat.close)
    judge = None
    if judge_at is not None:
        judge = ChatClient(judge_at.base_url, judge_at.model, api_key=judge_at.api_key)
        stack.callback(judge.close)
    return chat, judge


# -- retrieval ----------------------------------------------------------------------------------------


def open_settings_store(settings: Settings) -> Store:
    """The settings' store (embedded or server), waiting up to `retrieval.lock_wait` for another process."""
    from retrieval.store import open_store

    r = settings.retrieval
    return open_store(settings.home, r.chroma_url, lock_timeout=r.lock_wait, on_wait=lambda m: typer.echo(m, err=True))


def embedder_for(settings: Settings, store: Store, collection: str | None = None) -> Embedder:
    """The `retrieval.embedder` setting, else the model `collection` was built with, else the bundled default;
    on the `retrieval.embed_backend` runtime (ONNX exports cached in the data directory)."""
    from retrieval.embedder import build_embedder

    model = settings.retrieval.embedder
    name = collection or settings.retrieval.collection
    if model is None and store.has_collection(name):
        model = store.get_collection(name).embedder
    if model:  # collections written before the runtime left the name recorded it as "NAME@onnx"
        base, sep, suffix = model.rpartition("@")
        if sep and suffix in ("torch", "onnx"):  # anything else is part of the name (a path may hold "@")
            model = base
    return build_embedder(model, settings.retrieval.embed_backend, cache_dir=settings.home / "onnx")


def searcher_for(settings: Settings, store: Store, collection: str | None = None, **options: Any) -> HybridSearcher:
    """A hybrid searcher over `collection` (default: the settings'); a missing collection is a clean error."""
    from retrieval.search import build_searcher

    name = collection or settings.retrieval.collection
    r = settings.retrieval
    return build_searcher(
        store,
        settings.home,
        name,
        embedder=embedder_for(settings, store, name) if store.has_collection(name) else None,
        rerank_model=options.pop("rerank_model", r.rerank_model),
        rerank_backend=r.rerank_backend,
        rerank_weight=r.rerank_weight,
        **options,
    )


def ingest_demo_corpus(settings: Settings, *, progress: bool = False, store: Store | None = None) -> IngestReport:
    """Bring the settings' collection up to date with the bundled demo corpus (unchanged files cost a hash)."""
    from retrieval.ingest import DEMO_CORPUS, ingest

    with contextlib.ExitStack() as stack:
        if store is None:
            store = stack.enter_context(open_settings_store(settings))
        return ingest(
            [DEMO_CORPUS],
            store=store,
            collection=settings.retrieval.collection,
            embedder=embedder_for(settings, store),
            home=settings.home,
            progress=progress,
        )


# -- the runtime ------------------------------------------------------------------------------------------


class Runtime:
    """What one command (or server) shares: the store, searchers per collection, the chat and judge clients.

    Models start on first use (`chat`, `judge`, `agent()`), so a surface that only searches never loads one.
    Safe to share between threads for reading; an `Agent` itself answers one question at a time.
    """

    def __init__(self, settings: Settings, store: Store, stack: contextlib.ExitStack) -> None:
        self.settings = settings
        self.store = store
        self._stack = stack
        self._searchers: dict[str, HybridSearcher] = {}
        self._clients: tuple[ChatClient, ChatClient | None] | None = None
        self._memory: Memory | None = None
        self._lock = threading.RLock()

    def searcher(self, collection: str | None = None) -> HybridSearcher:
        name = collection or self.settings.retrieval.collection
        with self._lock:
            if name not in self._searchers:
                self._searchers[name] = searcher_for(self.settings, self.store, name)
            return self._searchers[name]

    def _models(self) -> tuple[ChatClient, ChatClient | None]:
        with self._lock:
            if self._clients is None:
                self._clients = open_clients(self.settings, self._stack)
            return self._clients

    @property
    def chat(self) -> ChatClient:
        return self._models()[0]

    @property
    def judge(self) -> ChatClient | None:
        """The judge's client, or None when the chat model judges its own answers."""
        return self._models()[1]

    def agent_config(self, **overrides: Any) -> AgentConfig:
        """The settings' agent knobs with `overrides` applied (validated)."""
        return self.settings.agent.replace(**overrides) if overrides else self.settings.agent

    def deps(self, config: AgentConfig | None = None, collection: str | None = None) -> AgentDeps:
        retriever = self.searcher(collection)  # a missing collection fails before any model starts
        chat, judge = self._models()
        memory = self.memory() if self.settings.memory.recall else None
        return agent_deps(self.settings, self._stack, chat, judge, retriever, config=config, memory=memory)

    def memory(self, user: str | None = None) -> Memory:
        """The long-term memory of `user` (default: settings.memory.user) in this store; its model calls use
        the chat client, started only when a memory decision first needs it."""
        from memory.service import open_memory

        with self._lock:
            if self._memory is None:
                r = self.settings.retrieval
                searcher = self._searchers.get(r.collection)  # its embedder is reused when it is the same model
                self._memory = open_memory(
                    self.store,
                    lambda: self.chat,
                    self.settings.memory,
                    embed_backend=r.embed_backend,
                    cache_dir=self.settings.home / "onnx",
                    embedder=searcher.embedder if searcher is not None else None,
                )
            return self._memory if user is None else self._memory.for_user(user)

    def describe(self, config: AgentConfig | None = None, collection: str | None = None) -> dict[str, Any]:
        """The components actually in use (what `--json` reports as "runtime"): proof that settings arrived."""
        searcher = self.searcher(collection)
        chat, judge = self._models()
        reranker = searcher.reranker
        config = config or self.settings.agent
        return {
            "collection": searcher.collection.name,
            "embedder": searcher.embedder.name,
            "embed_backend": getattr(searcher.embedder, "runtime", None),
            "rerank_model": getattr(reranker, "name", None) if reranker is not None else None,
            "rerank_backend": getattr(reranker, "backend", None) if reranker is not None else None,
            "rerank_weight": searcher.rerank_weight if reranker is not None else None,
            "model": chat.model,
            "judge_model": (judge or chat).model,
            "context_tokens": config.context_tokens,
            "max_retries": config.max_retries,
        }

    def agent(
        self, config: AgentConfig | None = None, *, collection: str | None = None, threads_path: Path | None = None
    ) -> Agent:
        """A new `Agent` (close it, or use it as a context manager); threads in the home unless `threads_path`."""
        from agent.run import Agent

        return Agent(self.deps(config, collection), home=self.settings.home, threads_path=threads_path)


def agent_deps(
    settings: Settings,
    stack: contextlib.ExitStack,
    chat: ChatClient,
    judge: ChatClient | None,
    retriever: Any,
    *,
    config: AgentConfig | None = None,
    memory: Memory | None = None,
) -> AgentDeps:
    """An agent's dependencies, the same for every surface: the built-in tools plus the allowed MCP servers'
    tools (their clients close with `stack`), the thread policy, and the served model's tokenizer for budgets
    (/v1/tokenize, else the documented estimate)."""
    from agent.run import AgentDeps
    from memory.threads import ThreadPolicy
    from tools.mcp_client import agent_tools

    return AgentDeps(
        chat=chat,
        judge=judge,
        retriever=retriever,
        tools=agent_tools(settings.mcp.servers, stack),
        config=config or settings.agent,
        memory=memory,
        threads=ThreadPolicy(history_tokens=settings.memory.history_tokens),
        token_counter=chat,
    )


@contextlib.contextmanager
def open_runtime(settings: Settings) -> Iterator[Runtime]:
    """The store (and, on first use, searchers and models) for the settings; everything is closed on exit."""
    with contextlib.ExitStack() as stack:
        store = stack.enter_context(open_settings_store(settings))
        yield Runtime(settings, store, stack)


@contextlib.contextmanager
def open_agent(settings: Settings, config: AgentConfig | None = None) -> Iterator[Agent]:
    """An `Agent` over the settings' collection and models; everything it started is stopped on exit."""
    with open_runtime(settings) as runtime, runtime.agent(config) as agent:
        yield agent
