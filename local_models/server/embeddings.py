"""`POST /v1/embeddings` (OpenAI shape) for the model server: `embeddings_router(settings)`.

Choice: embedding models are loaded ALONGSIDE the served chat model, on the first request that names one, and
kept for the server's life. Every server therefore answers embeddings for the registered embedding models
(`nomic-embed-text-v1.5`, and `nomic-embed-text-v1.5-q8`, quantized once on first use) without a flag or a
second process; the chat model's queue is not involved (embeddings run on their own worker thread, one request
at a time per model). Only registered names are accepted, never a file path: a request must not be able to
make the server open arbitrary files.

Request: `model` (required), `input` (a string or a list of strings), `encoding_format` (`float`, or `base64`
of little-endian float32, which the `openai` client asks for by default), optional `dimensions` (only the
model's own size), `user` (ignored). The vectors are L2-normalised. The server adds no task prefix: send
`search_query: ...` / `search_document: ...` for nomic (ragloop's `OpenAIEmbedder` does). An input longer than
the model's context (2,048 tokens for nomic) is a 400 `context_length_exceeded`, not silently truncated.
"""

from __future__ import annotations

import asyncio
import base64
import struct
import threading
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from local_models.errors import ModelError, ModelNotInstalledError
from local_models.server.errors import APIError
from local_models.server.limits import load_json_body

if TYPE_CHECKING:
    from local_models.embedding_engine import EmbeddingEngine
    from local_models.server.settings import ServerSettings

MAX_INPUTS = 2048


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str
    input: str | list[str]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1)
    user: str | None = None

    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input)


class EmbeddingModels:
    """The embedding engines of one server, loaded on first use (thread-safe)."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self._engines: dict[str, EmbeddingEngine] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        from local_models.embedding_engine import embedding_model_names

        return embedding_model_names()

    def get(self, name: str) -> EmbeddingEngine:
        from local_models.embedding_engine import load_embedding_engine

        with self._lock:
            if name not in self._engines:
                self._engines[name] = load_embedding_engine(
                    name, self.settings.cache_dir, n_threads=self.settings.threads
                )
            return self._engines[name]

    def close(self) -> None:
        with self._lock:
            for engine in self._engines.values():
                engine.close()
            self._engines.clear()


def embeddings_router(settings: ServerSettings) -> APIRouter:
    models = EmbeddingModels(settings)
    router = APIRouter()

    @router.post("/v1/embeddings")
    async def create_embeddings(request: Request) -> JSONResponse:
        body = await _parse(request)
        if body.model not in models.names():
            raise APIError(
                404,
                f"The embedding model {body.model!r} is not served here; use one of: {', '.join(models.names())}.",
                param="model",
                code="model_not_found",
            )
        texts = body.texts()
        if not texts or len(texts) > MAX_INPUTS:
            raise APIError(400, f"`input` must hold 1 to {MAX_INPUTS} strings.", param="input", code="invalid_value")
        engine = await _engine(models, body.model)
        if body.dimensions is not None and body.dimensions != engine.dimension:
            raise APIError(
                400,
                f"{body.model} returns {engine.dimension} dimensions; `dimensions` must be that or left out.",
                param="dimensions",
                code="invalid_value",
            )
        vectors, tokens = await asyncio.to_thread(_embed, engine, texts)
        data = [
            {"object": "embedding", "index": i, "embedding": _encode(vector, body.encoding_format)}
            for i, vector in enumerate(vectors)
        ]
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return JSONResponse({"object": "list", "data": data, "model": body.model, "usage": usage})

    router.embedding_models = models  # type: ignore[attr-defined]  # for shutdown and tests
    return router


async def _parse(request: Request) -> EmbeddingRequest:
    data = load_json_body(await request.body())  # the server's bounds: bad, too deep, lone surrogates: 400
    if not isinstance(data, dict):
        raise APIError(400, "The request body must be a JSON object.", code="invalid_json")
    try:
        return EmbeddingRequest.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"])
        hint = " (token arrays are not accepted: send text)" if where.startswith("input") else ""
        raise APIError(
            400, f"Invalid request: {where}: {err['msg']}{hint}", param=where, code="invalid_value"
        ) from None


async def _engine(models: EmbeddingModels, name: str) -> EmbeddingEngine:
    try:
        return await asyncio.to_thread(models.get, name)
    except ModelNotInstalledError as exc:
        raise APIError(404, str(exc), param="model", code="model_not_found") from None
    except ModelError as exc:
        raise APIError(500, str(exc), type="server_error", code="model_unavailable") from None


def _embed(engine: EmbeddingEngine, texts: list[str]) -> tuple[list[list[float]], int]:
    for i, text in enumerate(texts):
        if (n := engine.count_tokens(text)) > engine.n_ctx:
            raise APIError(
                400,
                f"input[{i}] has {n} tokens; {engine.model_name} reads at most {engine.n_ctx}. Split it.",
                param="input",
                code="context_length_exceeded",
            )
    return engine.embed(texts)


def _encode(vector: list[float], encoding: str) -> Any:
    if encoding == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
    return vector
