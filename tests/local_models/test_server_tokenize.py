"""`POST /v1/tokenize` over real HTTP: the served model's own tokenizer (smollm2-135m), and its errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from local_models.engine import LlamaEngine, load_engine
from local_models.server.settings import default_cache_dir
from local_models.testing import LocalServer, ScriptedEngine, serve_app

TEXT = "Reciprocal rank fusion merges rankings: each document scores the sum of 1/(60 + rank)."


@pytest.fixture(scope="module")
def smol() -> Iterator[tuple[LocalServer, LlamaEngine]]:
    engine = load_engine("smollm2-135m", default_cache_dir(), n_ctx=512, n_threads=1)
    with serve_app(engine, api_key="k") as running:
        yield running, engine
    engine.close()


def post(server: LocalServer, body: object, key: str | None = "k") -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{server.base_url}/tokenize", json=body, headers=headers, timeout=30)


@pytest.mark.slow
def test_text_and_texts_count_with_the_models_tokenizer(smol: tuple[LocalServer, LlamaEngine]) -> None:
    server, engine = smol
    single = post(server, {"text": TEXT, "model": "smollm2-135m"})
    assert single.status_code == 200, single.text
    assert single.json() == {"object": "tokenize", "model": engine.model_name, "tokens": len(engine.tokenize(TEXT))}
    texts = [TEXT, "", "BM25 weighs term frequency", TEXT * 3]
    many = post(server, {"texts": texts}).json()
    assert many["counts"] == [len(engine.tokenize(t)) for t in texts]
    assert many["counts"][1] == 0 and many["tokens"] == sum(many["counts"])
    assert many["counts"][0] != (len(TEXT) + 3) // 4, "not the chars/4 estimate"


@pytest.mark.slow
def test_messages_count_the_prompt_the_chat_endpoint_reports(smol: tuple[LocalServer, LlamaEngine]) -> None:
    server, _ = smol
    messages: list[Any] = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": TEXT}]
    counted = post(server, {"messages": messages}).json()["tokens"]
    reply = server.client(api_key="k").chat.completions.create(
        model="smollm2-135m", messages=messages, max_tokens=1, temperature=0
    )
    assert reply.usage is not None and counted == reply.usage.prompt_tokens
    long = [{"role": "user", "content": TEXT * 40}]  # beyond the 512-token context: still counted
    assert post(server, {"messages": long}).json()["tokens"] > 512


@pytest.mark.slow
def test_bad_requests_are_clear_400s_404s_and_401s(smol: tuple[LocalServer, LlamaEngine]) -> None:
    server, _ = smol
    both = post(server, {"text": "a", "texts": ["b"]})
    assert both.status_code == 400
    assert "exactly one of text, texts, messages (got text, texts)" in both.json()["error"]["message"]
    assert post(server, {}).status_code == 400
    wrong_type = post(server, {"texts": "not a list"})
    assert wrong_type.status_code == 400 and wrong_type.json()["error"]["param"] == "texts"
    not_json = httpx.post(f"{server.base_url}/tokenize", content=b"{", headers={"Authorization": "Bearer k"})
    assert not_json.status_code == 400 and not_json.json()["error"]["code"] == "invalid_json"
    unknown = post(server, {"text": "a", "model": "gpt-7"})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "model_not_found"
    assert post(server, {"text": "a"}, key=None).status_code == 401


def test_an_engine_without_a_tokenizer_answers_501() -> None:
    with serve_app(ScriptedEngine(model_name="scripted")) as server:
        reply = post(server, {"text": "hello"}, key=None)
    assert reply.status_code == 501
    assert reply.json()["error"]["code"] == "tokenize_unsupported"
