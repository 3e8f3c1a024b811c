"""`POST /v1/embeddings` on the real server process, through the `openai` client, with the real nomic GGUF.

The chat side runs the scripted engine (no chat model needed); embedding models load alongside on first use.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import openai
import pytest

from agent.settings import Settings
from local_models.serve import serve
from retrieval.embedders.gguf import GGUFEmbedder
from retrieval.embedders.openai_endpoint import OpenAIEmbedder

pytestmark = pytest.mark.slow

NOMIC = "nomic-embed-text-v1.5"
QUERY = "search_query: how do I undo the last commit"
RELEVANT = "search_document: git reset --soft HEAD~1 moves the branch back one commit and keeps the changes staged."
UNRELATED = "search_document: The octopus is a soft-bodied marine animal with eight arms and three hearts."


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve("echo", engine="scripted", threads=2, cache_dir=Settings().models_dir, api_key="k") as url:
        yield url


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=base_url, api_key="k", max_retries=0) as c:
        yield c


def test_embeddings_through_the_openai_client(client: openai.OpenAI) -> None:
    # the client asks for base64 by default and decodes it; float is asked for explicitly below
    reply = client.embeddings.create(model=NOMIC, input=[QUERY, RELEVANT, UNRELATED])
    vectors = np.array([item.embedding for item in sorted(reply.data, key=lambda d: d.index)])
    assert vectors.shape == (3, 768)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[1] @ vectors[0] > vectors[2] @ vectors[0] + 0.1
    assert reply.model == NOMIC and reply.usage.prompt_tokens > 20
    floats = client.embeddings.create(model=NOMIC, input=QUERY, encoding_format="float")
    assert np.allclose(floats.data[0].embedding, vectors[0], atol=2e-4)  # alone vs in a batch: float noise


def test_served_vectors_equal_the_local_gguf_embedder(base_url: str) -> None:
    local = GGUFEmbedder(NOMIC, Settings().models_dir, threads=1)
    remote = OpenAIEmbedder(base_url, NOMIC, api_key="k")
    try:
        texts = ["how do I undo the last commit", "git stash saves uncommitted changes"]
        for kind in ("query", "document"):
            a, b = np.array(local.embed(texts, kind)), np.array(remote.embed(texts, kind))
            assert np.allclose(a, b, atol=1e-4)  # the client adds the same task prefixes
        assert remote.dimension == 768 and remote.name == local.name == NOMIC
    finally:
        local.close()
        remote.close()


def test_bad_requests_are_openai_errors(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError, match="not served here"):
        client.embeddings.create(model="text-embedding-3-small", input="x")
    with pytest.raises(openai.BadRequestError, match="token arrays"):
        client.embeddings.create(model=NOMIC, input=[[1, 2, 3]])
    with pytest.raises(openai.BadRequestError, match="768 dimensions"):
        client.embeddings.create(model=NOMIC, input="x", dimensions=64)
    with pytest.raises(openai.BadRequestError) as too_long:
        client.embeddings.create(model=NOMIC, input="word " * 3000)
    assert too_long.value.code == "context_length_exceeded"


def test_the_api_key_guards_embeddings(base_url: str) -> None:
    with (
        openai.OpenAI(base_url=base_url, api_key="wrong", max_retries=0) as bad,
        pytest.raises(openai.AuthenticationError),
    ):
        bad.embeddings.create(model=NOMIC, input="x")


def test_openai_embedder_reports_an_unreachable_endpoint() -> None:
    from retrieval.errors import RetrievalError

    embedder = OpenAIEmbedder.from_reference("openai:http://127.0.0.1:9/v1#" + NOMIC)
    with pytest.raises(RetrievalError, match="Cannot reach the embeddings endpoint"):
        embedder.embed(["x"])
