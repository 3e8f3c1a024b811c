"""How the harness reaches the composition root: settings per configuration, the runtime, the agent, the judge.

The only module of `evals/` that knows the shape of the settings tree and of `agent.cli.wiring`; everything
else receives plain objects (an `Agent`, a `ChatModel`, a searcher). A configuration's settings are the
command's settings (flags > RAGLOOP_* > ragloop.toml > defaults) with the configuration's fields replaced,
each section validated again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals.suite import Configuration

if TYPE_CHECKING:
    from agent.chat_client import ChatModel
    from agent.run import Agent
    from agent.settings import Settings
    from retrieval.search import HybridSearcher


def with_changes(settings: Settings, **sections: dict[str, Any]) -> Settings:
    """A copy of `settings` with fields of the named sections changed (each changed section re-validated)."""
    update = {}
    for name, changes in sections.items():
        if not changes:
            continue
        section = getattr(settings, name)
        update[name] = type(section).model_validate({**section.model_dump(), **changes})
    return settings.model_copy(update=update)


def chat_model_of(settings: Settings) -> str:
    return settings.models.model


def collection_of(settings: Settings) -> str:
    return settings.retrieval.collection


def for_collection(settings: Settings, collection: str) -> Settings:
    return with_changes(settings, retrieval={"collection": collection})


def for_judge(settings: Settings, collection: str, judge_model: str) -> Settings:
    """Settings whose chat model is the evaluation judge (on the judge endpoint when one is set)."""
    m = settings.models
    models: dict[str, Any] = {"model": judge_model}
    if m.judge_url:
        models |= {"model_url": m.judge_url, "api_key": m.judge_api_key or m.api_key}
    return with_changes(settings, models=models, retrieval={"collection": collection})


def config_settings(settings: Settings, config: Configuration, collection: str) -> Settings:
    agent: dict[str, Any] = {"k": config.k}
    if config.context_tokens is not None:
        agent["context_tokens"] = config.context_tokens
    if config.pipeline == "plain":
        agent |= {"route": False, "rewrite": False, "llm_grading": False}
    if not config.reflect or config.pipeline == "plain":
        agent |= {"reflect": False, "max_retries": 0}
    return with_changes(
        settings,
        models={"model": config.chat_model or settings.models.model, "judge_model": None},
        retrieval={"collection": collection, "rerank_model": config.rerank_model if config.rerank else None},
        agent=agent,
    )


def ingest_corpus(settings: Settings, corpus: Path) -> str:
    """Bring the settings' collection up to date with `corpus` (unchanged files cost a hash); the summary."""
    from agent.cli.wiring import embedder_for, open_runtime
    from retrieval.ingest import ingest

    with open_runtime(settings) as rt:
        report = ingest(
            [corpus],
            store=rt.store,
            collection=settings.retrieval.collection,
            embedder=embedder_for(settings, rt.store),
            home=settings.home,
            progress=False,
        )
    return report.summary()


class AgentSession:
    """An agent for one configuration plus the searcher and store access the harness needs around it."""

    def __init__(self, agent: Agent, searcher: HybridSearcher) -> None:
        self.agent = agent
        self.searcher = searcher

    def chunk_texts(self, ids: list[str]) -> dict[str, str]:
        return {chunk.id: chunk.text for chunk in self.searcher.collection.get(ids)} if ids else {}


@contextlib.contextmanager
def open_agent_session(settings: Settings, config: Configuration, threads_path: Path) -> Iterator[AgentSession]:
    """The runtime for a configuration's settings (see `config_settings`) and its agent."""
    from agent.cli.wiring import open_runtime
    from retrieval.search import check_mode

    with open_runtime(settings) as rt:
        searcher = rt.searcher()
        searcher.mode = check_mode(config.search_mode)  # no setting holds the mode: the searcher's own knob
        with rt.agent(threads_path=threads_path) as agent:
            yield AgentSession(agent, searcher)


@contextlib.contextmanager
def open_judge(settings: Settings) -> Iterator[ChatModel]:
    """A client of the settings' chat model (see `for_judge`), used as the evaluation judge: the wiring's model
    endpoint (a local server started when no URL is set), without opening the store (`eval calibrate` and the
    judge phase need no store, so they can run beside another process that holds it)."""
    from agent.chat_client import ChatClient
    from agent.cli.wiring import model_endpoints

    with model_endpoints(settings, judge=False) as (endpoint, _):
        client = ChatClient(endpoint.base_url, endpoint.model, api_key=endpoint.api_key)
        try:
            yield client
        finally:
            client.close()
