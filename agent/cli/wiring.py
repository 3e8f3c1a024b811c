"""Composition for the agent commands (`ask`, `chat`, `demo`, `bench agent`): settings → models, retriever, agent.

    with open_agent(settings) as agent:          # store + searcher + chat/judge clients (+ local server)
        answer = agent.ask("How does RRF work?")

- Without `model_url` the project's local model server is started for the duration of the block
  (`local_models.serve.serve`), announced on stderr with the time it took; with it, any OpenAI-compatible
  endpoint is used as is.
- The judge defaults to the chat model on the same endpoint. `judge_url` points it elsewhere; a `judge_model`
  other than the chat model, without `judge_url`, is served by a second local server (or, with `model_url`,
  asked of the same endpoint by name).
- The collection is checked before any model starts, so a typo fails in a second, not after a model load.
Heavy imports stay inside the functions: `ragloop --help` must not load them.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agent.settings import Settings

if TYPE_CHECKING:
    from agent.chat_client import ChatClient
    from agent.run import Agent, AgentConfig, AgentDeps
    from retrieval.embedder import SentenceTransformerEmbedder
    from retrieval.ingest import IngestReport
    from retrieval.search import HybridSearcher
    from retrieval.store import Store
    from retrieval.types import SearchHit


@dataclass
class Endpoint:
    """An OpenAI-compatible endpoint and the model name to ask it for."""

    base_url: str
    model: str
    api_key: str | None = None


def agent_config(settings: Settings, **overrides: Any) -> AgentConfig:
    """The agent's knobs from settings; `overrides` set any other `AgentConfig` field (e.g. the baseline)."""
    from agent.run import AgentConfig

    values: dict[str, Any] = {
        "context_tokens": settings.context_tokens,
        "max_retries": settings.max_retries,
        "max_tool_steps": settings.max_tool_steps,
        "budget_seconds": settings.budget_seconds,
    }
    values.update(overrides)
    return AgentConfig(**values)


def plain_config(settings: Settings) -> AgentConfig:
    """The evaluation's plain baseline: retrieve the top 5 and answer (no route, rewrite, LLM grading, judge)."""
    return agent_config(settings, route=False, rewrite=False, llm_grading=False, reflect=False, max_retries=0, k=5)


@contextlib.contextmanager
def local_model(settings: Settings, model: str) -> Iterator[str]:
    """Start the local server for `model`, announce it on stderr, yield its base URL; stopped on exit."""
    from local_models.serve import serve

    typer.echo(f"starting local model {model}…", err=True)
    start = time.perf_counter()
    with serve(model=model, n_ctx=settings.n_ctx, threads=settings.threads, cache_dir=settings.models_dir) as url:
        typer.echo(f"local model {model} ready in {time.perf_counter() - start:.1f} s", err=True)
        yield url


@contextlib.contextmanager
def model_endpoints(settings: Settings, *, judge: bool = True) -> Iterator[tuple[Endpoint, Endpoint | None]]:
    """(chat endpoint, judge endpoint or None for "same as chat"), starting local servers as needed."""
    with contextlib.ExitStack() as stack:
        if settings.model_url:
            chat = Endpoint(settings.model_url, settings.model, settings.api_key)
        else:
            chat = Endpoint(stack.enter_context(local_model(settings, settings.model)), settings.model)
        judge_endpoint: Endpoint | None = None
        if judge:
            judge_model = settings.judge_model or settings.model
            if settings.judge_url:
                judge_endpoint = Endpoint(settings.judge_url, judge_model, settings.judge_api_key or settings.api_key)
            elif judge_model != settings.model:
                if settings.model_url:
                    judge_endpoint = Endpoint(
                        settings.model_url, judge_model, settings.judge_api_key or settings.api_key
                    )
                else:
                    judge_endpoint = Endpoint(stack.enter_context(local_model(settings, judge_model)), judge_model)
        yield chat, judge_endpoint


def embedder_for(settings: Settings, store: Store, model: str | None) -> SentenceTransformerEmbedder:
    """The `--embedder` model, else the one the collection was built with, else the bundled default; on the
    settings' `embed_backend` runtime (ONNX exports cached in the data directory)."""
    from retrieval.embedder import build_embedder

    if model is None and store.has_collection(settings.collection):
        model = store.get_collection(settings.collection).embedder
    if model:  # collections written before the runtime left the name recorded it as "NAME@onnx"
        base, sep, suffix = model.rpartition("@")
        if sep and suffix in ("torch", "onnx"):  # anything else is part of the name (a path may hold "@")
            model = base
    return build_embedder(model, settings.embed_backend, cache_dir=settings.home / "onnx")


@contextlib.contextmanager
def open_searcher(settings: Settings) -> Iterator[tuple[Store, HybridSearcher]]:
    """The store and a hybrid searcher over `settings.collection` (missing collection: a clean error now)."""
    from retrieval.search import build_searcher
    from retrieval.store import open_store

    with open_store(settings.home, settings.chroma_url) as store:
        yield (
            store,
            build_searcher(
                store,
                settings.home,
                settings.collection,
                rerank_model=settings.rerank_model,
                rerank_backend=settings.rerank_backend,
                rerank_weight=settings.rerank_weight,
            ),
        )


def ingest_demo_corpus(settings: Settings, *, progress: bool = False) -> IngestReport:
    """Bring the settings' collection up to date with the bundled demo corpus (unchanged files cost a hash)."""
    from retrieval.ingest import DEMO_CORPUS, ingest
    from retrieval.store import open_store

    with open_store(settings.home, settings.chroma_url) as store:
        return ingest(
            [DEMO_CORPUS],
            store=store,
            collection=settings.collection,
            embedder=embedder_for(settings, store, None),
            home=settings.home,
            progress=progress,
        )


class DenseScoredRetriever:
    """A `Retriever` over a `HybridSearcher` whose hits all carry a "dense" score (cosine similarity).

    Hybrid search leaves chunks found only by BM25 without a dense score; the agent's grader would then treat
    them as uncertain (kept unjudged by the plain baseline, sent to the model by the full graph), so an
    off-topic question could be answered from whatever shares a word with it. Their similarity is computed
    here from the stored embeddings, which costs one query embedding and one store read.
    """

    def __init__(self, searcher: HybridSearcher) -> None:
        self.searcher = searcher

    def search(self, query: str, k: int = 5) -> list[SearchHit]:
        hits = self.searcher.search(query, k)
        missing = [hit for hit in hits if "dense" not in hit.scores]
        if missing:
            query_vector = self.searcher.embedder.embed([query], kind="query")[0]
            stored = self.searcher.collection.embeddings([hit.chunk.id for hit in missing])
            for hit in missing:
                if hit.chunk.id in stored:
                    hit.scores["dense"] = cosine(query_vector, stored[hit.chunk.id])
        return hits


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


@dataclass
class Runtime:
    """What the agents of one command share: the searcher and the chat and judge clients."""

    settings: Settings
    searcher: HybridSearcher
    chat: ChatClient
    judge: ChatClient | None

    def deps(self, config: AgentConfig | None = None) -> AgentDeps:
        from agent.run import AgentDeps
        from tools.builtin import builtin_registry

        return AgentDeps(
            chat=self.chat,
            judge=self.judge,
            retriever=DenseScoredRetriever(self.searcher),
            tools=builtin_registry(),
            config=config or agent_config(self.settings),
        )

    def agent(self, config: AgentConfig | None = None, *, threads_path: Path | None = None) -> Agent:
        """A new `Agent` (close it, or use it as a context manager); threads in the home unless `threads_path`."""
        from agent.run import Agent

        return Agent(self.deps(config), home=self.settings.home, threads_path=threads_path)


@contextlib.contextmanager
def open_runtime(settings: Settings) -> Iterator[Runtime]:
    """Store, searcher and model clients for the settings (local servers started as needed), closed on exit."""
    from agent.chat_client import ChatClient

    with contextlib.ExitStack() as stack:
        _store, searcher = stack.enter_context(open_searcher(settings))
        chat_at, judge_at = stack.enter_context(model_endpoints(settings))
        chat = ChatClient(chat_at.base_url, chat_at.model, api_key=chat_at.api_key)
        stack.callback(chat.close)
        judge = None
        if judge_at is not None:
            judge = ChatClient(judge_at.base_url, judge_at.model, api_key=judge_at.api_key)
            stack.callback(judge.close)
        yield Runtime(settings, searcher, chat, judge)


@contextlib.contextmanager
def open_agent(settings: Settings, config: AgentConfig | None = None) -> Iterator[Agent]:
    """An `Agent` over the settings' collection and models; everything it started is stopped on exit."""
    with open_runtime(settings) as runtime, runtime.agent(config) as agent:
        yield agent


# -- flags shared by the agent commands ------------------------------------------------------------

CollectionOpt = Annotated[
    str | None, typer.Option("--collection", "-c", help="Collection to answer from (default: settings).")
]
ThreadOpt = Annotated[
    str | None, typer.Option("--thread", "-t", help="Continue this thread (ids: `ragloop chat` → /threads).")
]
ModelOpt = Annotated[
    str | None, typer.Option("--model", "-m", help="Chat model: registered name or .gguf path (default: settings).")
]
ModelUrlOpt = Annotated[
    str | None,
    typer.Option("--model-url", help="OpenAI-compatible base URL (…/v1); without it the local server is started."),
]
ApiKeyOpt = Annotated[str | None, typer.Option("--api-key", help="API key for --model-url (or RAGLOOP_API_KEY).")]
JudgeModelOpt = Annotated[
    str | None, typer.Option("--judge-model", help="Judge model for reflection (default: the chat model).")
]
JudgeUrlOpt = Annotated[
    str | None, typer.Option("--judge-url", help="OpenAI-compatible base URL of the judge (default: the chat one).")
]
BudgetOpt = Annotated[
    float | None,
    typer.Option(
        "--budget-seconds", min=0.1, help="Per-question time budget: optional steps that would exceed it skip."
    ),
]
ChromaUrlOpt = Annotated[
    str | None, typer.Option("--chroma-url", help="Chroma server URL instead of the embedded store.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON only on stdout (progress goes to stderr).")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Show the node trace (on stderr).")]
