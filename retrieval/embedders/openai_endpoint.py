"""`OpenAIEmbedder`: an `Embedder` over any OpenAI-compatible `POST /v1/embeddings` endpoint.

Reference syntax (what `--embedder` / `build_embedder` accept): `openai:<base_url>#<model>`, e.g.
`openai:http://127.0.0.1:8808/v1#nomic-embed-text-v1.5` (the project's own model server) or
`openai:https://api.example.com/v1#text-embedding-3-small`. The API key is passed by the caller (settings),
never read here.

Identity: `name` is the model name alone, not the URL, so the same model served elsewhere (or run locally as a
GGUF) embeds into the same collections. The task prefixes of a known model are added here, on the client side,
since the OpenAI request has no notion of query versus document. The endpoint's tokenizer is not visible, so
`count_tokens` estimates (about 4 characters or 0.75 words per token, whichever is more), and `max_tokens`
(default 512) is the chunk budget the ingest pipeline packs to.
"""

from __future__ import annotations

import math
import re
import threading
from typing import TYPE_CHECKING, Any

from retrieval.embedders.prompts import TaskPrompts, prompts_for
from retrieval.errors import RetrievalError
from retrieval.types import EmbedKind

if TYPE_CHECKING:
    from openai import OpenAI

PREFIX = "openai:"
DEFAULT_MAX_TOKENS = 512
DEFAULT_BATCH = 64
_WORD = re.compile(r"\w+|[^\w\s]")


def parse_reference(ref: str) -> tuple[str, str]:
    """(base_url, model) of `openai:<base_url>#<model>`; a clear error for anything else."""
    body = ref[len(PREFIX) :] if ref.startswith(PREFIX) else ref
    url, sep, model = body.rpartition("#")
    if not sep or not url.startswith(("http://", "https://")) or not model.strip():
        raise RetrievalError(
            f"Bad embedder reference {ref!r}: write openai:<base_url>#<model>, "
            "e.g. openai:http://127.0.0.1:8808/v1#nomic-embed-text-v1.5."
        )
    return url.rstrip("/"), model.strip()


class OpenAIEmbedder:
    """Normalised embeddings from an OpenAI-compatible endpoint (batched, in input order)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        batch_size: int = DEFAULT_BATCH,
        timeout: float = 120.0,
        prompts: TaskPrompts | None = None,
    ) -> None:
        self.base_url = base_url
        self.name = model
        self.runtime = "openai"
        self.max_tokens = max_tokens
        self.batch_size = max(1, batch_size)
        self.timeout = timeout
        self.prompts = prompts if prompts is not None else prompts_for(model)
        self._api_key = api_key
        self._client: OpenAI | None = None
        self._dimension: int | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_reference(cls, ref: str, **kwargs: Any) -> OpenAIEmbedder:
        url, model = parse_reference(ref)
        return cls(url, model, **kwargs)

    @property
    def label(self) -> str:
        return f"{self.name}@{self.base_url}"

    @property
    def client(self) -> OpenAI:
        with self._lock:
            if self._client is None:
                from openai import OpenAI

                # a local server needs no key, but the client insists on one
                key = self._api_key or "not-needed"
                self._client = OpenAI(base_url=self.base_url, api_key=key, timeout=self.timeout, max_retries=1)
            return self._client

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self._dimension = len(self.embed(["dimension probe"], "query")[0])
        return self._dimension

    def embed(self, texts: list[str], kind: EmbedKind = "document") -> list[list[float]]:
        inputs = self.prompts.apply(texts, kind)
        out: list[list[float]] = []
        for start in range(0, len(inputs), self.batch_size):
            out.extend(self._request(inputs[start : start + self.batch_size]))
        if out and self._dimension is None:
            self._dimension = len(out[0])
        return out

    def _request(self, batch: list[str]) -> list[list[float]]:
        import openai

        try:
            response = self.client.embeddings.create(model=self.name, input=batch, encoding_format="float")
        except openai.APIStatusError as exc:
            raise RetrievalError(
                f"The embeddings endpoint {self.base_url} refused the request for {self.name!r} "
                f"(HTTP {exc.status_code}): {_message(exc)}"
            ) from exc
        except openai.APIError as exc:
            raise RetrievalError(
                f"Cannot reach the embeddings endpoint {self.base_url} ({exc}). Is the server running? "
                "Check the URL in the openai:<base_url>#<model> reference."
            ) from exc
        data = sorted(response.data, key=lambda item: item.index)
        if len(data) != len(batch):
            raise RetrievalError(f"{self.base_url} returned {len(data)} embeddings for {len(batch)} inputs.")
        return [_normalise(item.embedding) for item in data]

    def embed_array(self, texts: list[str], kind: EmbedKind = "document") -> Any:
        import numpy as np

        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.asarray(self.embed(texts, kind), dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        """An estimate (the endpoint's tokenizer is not visible), prefix and two specials included."""
        full = self.prompts.document + text
        return max(math.ceil(len(full) / 4), math.ceil(len(_WORD.findall(full)) / 0.75)) + 2

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


def _normalise(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(v * v for v in vector))
    return [float(v) / norm for v in vector] if norm else [float(v) for v in vector]


def _message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
    return str(exc)
