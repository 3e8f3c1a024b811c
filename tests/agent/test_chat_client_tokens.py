"""ChatClient against the project's real server: exact token counts (batched, cached), the estimate where the
server cannot tokenize, and bounded retries of a 503 after its Retry-After."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from agent_support import CHUNKS

from agent.chat_client import ChatClient, ChatResult, estimate_tokens
from agent.context import AgentDeps, RunContext
from agent.errors import ChatBackendError
from agent.nodes.retrieve import SOURCE_HEADER_TOKENS, retrieve
from agent.prompts import SOURCES_SYSTEM, source_header, sources_system
from agent.testing import KeywordRetriever, ScriptedChatClient
from agent.types import AgentConfig
from local_models.engine import LlamaEngine, load_engine
from local_models.server.settings import default_cache_dir
from local_models.testing import LocalServer, ScriptedEngine, serve_app, wait_until
from retrieval.types import Chunk


def requests_to(server: LocalServer, status: int, endpoint: str = "/v1/tokenize") -> int:
    """How many requests the server counted for `endpoint` with `status`."""
    pattern = rf'ragloop_requests_total{{endpoint="{endpoint}",status="{status}"}} (\d+)'
    match = re.search(pattern, server.metrics())
    return int(match.group(1)) if match else 0


@pytest.fixture(scope="module")
def smol() -> Iterator[tuple[LocalServer, LlamaEngine]]:
    engine = load_engine("smollm2-135m", default_cache_dir(), n_ctx=512, n_threads=1)
    with serve_app(engine) as running:
        yield running, engine
    engine.close()


@pytest.mark.slow
def test_counts_are_exact_batched_and_cached(smol: tuple[LocalServer, LlamaEngine]) -> None:
    server, engine = smol
    client = ChatClient(server.base_url, engine.model_name)
    texts = [chunk.text for chunk in CHUNKS] + ["def f(x):\n    return {'k': [x, x]}"]
    before = requests_to(server, 200)
    counts = client.count_tokens_many(texts)
    assert counts == [len(engine.tokenize(t)) for t in texts]
    assert client.exact_token_counts is True
    assert requests_to(server, 200) == before + 1, "one request for the whole batch"
    assert client.count_tokens(texts[0]) == counts[0] and client.count_tokens_many(texts[::-1]) == counts[::-1]
    assert requests_to(server, 200) == before + 1, "counted texts come from the cache"
    client.close()


@pytest.mark.slow
def test_large_batches_are_split_under_the_body_limit(smol: tuple[LocalServer, LlamaEngine]) -> None:
    server, engine = smol
    client = ChatClient(server.base_url, engine.model_name)
    texts = [f"{n} " + "lorem ipsum dolor sit amet " * 3500 for n in range(3)]  # ~95k characters each
    too_big = "word " * 300_000  # 1.5 MB: beyond the server's 1 MiB body limit even alone
    before = requests_to(server, 200)
    counts = client.count_tokens_many([*texts, too_big])
    assert counts[:3] == [len(engine.tokenize(t)) for t in texts]
    assert requests_to(server, 200) == before + 2, "two texts per request under TOKENIZE_BATCH_CHARS"
    assert counts[3] == estimate_tokens(too_big) and client.exact_token_counts is True, "estimated, not an error"
    client.close()


@pytest.mark.slow
def test_the_retrieve_node_sizes_chunks_with_the_models_tokenizer(smol: tuple[LocalServer, LlamaEngine]) -> None:
    server, engine = smol
    client = ChatClient(server.base_url, engine.model_name)
    deps = AgentDeps(
        chat=ScriptedChatClient([]),
        retriever=KeywordRetriever(CHUNKS),
        config=AgentConfig(context_tokens=1000),
        token_counter=client,
    )
    before = requests_to(server, 200)
    ctx = RunContext.for_question(deps)
    update = retrieve({"question": "how does rank fusion merge document rankings"}, ctx)
    hits = update["hits"]
    assert hits, "the keyword retriever finds the RRF chunk"
    # each counted as the prompt shows it: its header line and its text
    shown = [f"{source_header(0, h)}\n{h['text'].strip()}" for h in hits]
    assert [h["tokens"] for h in hits] == [len(engine.tokenize(text)) for text in shown]
    assert requests_to(server, 200) == before + 1, "all chunks of the step sized in one request"
    used = sum(h["tokens"] + SOURCE_HEADER_TOKENS for h in hits)
    assert f"({used} used)" in ctx.notes[-1]
    client.close()


def test_a_server_without_tokenizer_gets_the_documented_estimate_after_one_probe() -> None:
    with serve_app(ScriptedEngine(model_name="scripted")) as server:
        client = ChatClient(server.base_url, "scripted")
        texts = ["one two three four five six", "x" * 40]
        assert client.count_tokens_many(texts) == [estimate_tokens(t) for t in texts]
        assert client.exact_token_counts is False
        assert client.count_tokens("another text entirely") == estimate_tokens("another text entirely")
        assert requests_to(server, 501) == 1, "the unsupported route is asked once per client"
        client.close()


def _generate_in_thread(client: ChatClient, out: dict[str, Any], **kwargs: Any) -> threading.Thread:
    def run() -> None:
        try:
            out["result"] = client.generate([{"role": "user", "content": kwargs.pop("text")}], **kwargs)
        except Exception as exc:  # the test inspects it
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_busy_server_is_retried_after_its_retry_after() -> None:
    gate = threading.Event()
    engine = ScriptedEngine(model_name="scripted", gate=gate)
    with serve_app(engine, max_queue=0, retry_after=1) as server:
        first: dict[str, Any] = {}
        holder = _generate_in_thread(ChatClient(server.base_url, "scripted", busy_retries=0), first, text="held")
        wait_until(engine.running.is_set, "the first request to hold the model")
        second: dict[str, Any] = {}
        tokens: list[str] = []
        client = ChatClient(server.base_url, "scripted", busy_retries=3)
        waiter = _generate_in_thread(client, second, text="queued behind", on_token=tokens.append)
        wait_until(lambda: requests_to(server, 503, "/v1/chat/completions") >= 1, "a 503 for the second request")
        gate.set()
        holder.join(30)
        waiter.join(30)
    assert isinstance(first.get("result"), ChatResult) and first["result"].text == "held"
    assert "error" not in second, second.get("error")
    assert second["result"].text == "queued behind" and "".join(tokens) == "queued behind"
    assert client.busy_waits and client.busy_waits[0] == 1.0, "waited the server's Retry-After"


def test_retries_are_bounded_and_the_error_says_what_to_do() -> None:
    gate = threading.Event()
    engine = ScriptedEngine(model_name="scripted", gate=gate)
    with serve_app(engine, max_queue=0, retry_after=1) as server:
        first: dict[str, Any] = {}
        holder = _generate_in_thread(ChatClient(server.base_url, "scripted"), first, text="held")
        wait_until(engine.running.is_set, "the first request to hold the model")
        client = ChatClient(server.base_url, "scripted", busy_retries=2, max_retry_wait=0.2)
        with pytest.raises(ChatBackendError, match=r"stayed busy after 2 retries.*--max-queue"):
            client.generate([{"role": "user", "content": "rejected"}])
        assert client.busy_waits == [0.2, 0.2], "each wait capped at max_retry_wait"
        assert requests_to(server, 503, "/v1/chat/completions") == 3
        gate.set()
        holder.join(30)
    assert first["result"].text == "held"


def test_a_navigation_block_parsed_as_a_heading_is_cut_in_the_prompt_and_counted_as_shown() -> None:
    # SQLite's docs.html: its navigation menu became a 3,090-token "heading", which the budget did not count,
    # and the answer prompt outgrew a 4,096-token model context
    nav = "Documentation Search Changelog Document Lists And Indexes Alphabetical Listing " * 150
    chunk = Chunk(
        id="docs-1",
        text="The documentation lists every page about the rank fusion of rankings.",
        doc_id="docs.html",
        source="docs.html",
        title="SQLite Documentation",
        heading_path=[nav],
    )
    deps = AgentDeps(
        chat=ScriptedChatClient([]), retriever=KeywordRetriever([chunk]), config=AgentConfig(context_tokens=200)
    )
    ctx = RunContext.for_question(deps)
    hits = retrieve({"question": "rank fusion of rankings"}, ctx)["hits"]
    assert len(hits) == 1
    header = source_header(1, hits[0])
    assert len(header) < 250 and header.endswith("(docs.html)") and "…" in header
    shown = f"{source_header(0, hits[0])}\n{hits[0]['text']}"
    assert hits[0]["tokens"] == estimate_tokens(shown)
    assert len(sources_system(hits)) < len(SOURCES_SYSTEM) + 400
