"""The fixed check of `qwen2.5-coder-1.5b`: it loads offline (assembled from its 22 parts, sha256-verified) and
answers a JSON-schema constrained request through the real server and the `openai` client."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import jsonschema
import pytest

from agent.chat_client import ChatClient
from agent.settings import Settings
from local_models.registry import MODELS, sha256_file

pytestmark = pytest.mark.slow

CAPITAL = {
    "type": "object",
    "properties": {
        "country": {"type": "string"},
        "capital": {"type": "string"},
        "population_millions": {"type": "number"},
    },
    "required": ["country", "capital", "population_millions"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    from local_models.serve import serve

    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may come from the network
    # The assembled file is cached in the models directory of the default settings (RAGLOOP_HOME).
    with serve("qwen2.5-coder-1.5b", n_ctx=2048, threads=2, cache_dir=Settings().models_dir) as url:
        yield url


def test_the_assembled_file_is_the_verified_upstream_gguf() -> None:
    spec = MODELS["qwen2.5-coder-1.5b"]
    path = spec.cached_path(Settings().models_dir)
    if not path.exists():  # assembled by the server fixture or `ragloop models path`; assemble it here if not
        from local_models.registry import materialize

        path = materialize(spec, Settings().models_dir)
    assert path.stat().st_size == spec.size_bytes and sha256_file(path) == spec.sha256


def test_it_answers_a_json_schema_request(base_url: str) -> None:
    import openai

    client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=300)
    try:
        reply = client.chat.completions.create(
            model="qwen2.5-coder-1.5b",
            messages=[
                {"role": "system", "content": "Reply with JSON only."},
                {
                    "role": "user",
                    "content": "Which city is the capital of France, and about how many people live in France?",
                },
            ],
            response_format={"type": "json_schema", "json_schema": {"name": "capital", "schema": CAPITAL}},
            temperature=0,
            max_tokens=80,
        )
    finally:
        client.close()
    text = reply.choices[0].message.content or ""
    data = json.loads(text)
    jsonschema.validate(data, CAPITAL)
    assert data["capital"].strip().lower() == "paris"
    assert 40 <= data["population_millions"] <= 90


def test_its_server_counts_tokens_with_its_own_tokenizer(base_url: str) -> None:
    client = ChatClient(base_url, "qwen2.5-coder-1.5b")
    text = "def fuse(rankings):\n    return sorted(scores, key=scores.get, reverse=True)"
    counts = client.count_tokens_many([text, "Paris"])
    client.close()
    assert client.exact_token_counts is True
    assert counts[1] == 1 and counts[0] != (len(text) + 3) // 4
