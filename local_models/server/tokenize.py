"""`POST /v1/tokenize`: count tokens with the served model's own tokenizer (not an OpenAI route).

Request: `{"model"?, "text": str}`, `{"model"?, "texts": [str, ...]}` or `{"model"?, "messages": [...]}`
(exactly one of the three). Response: `{"object": "tokenize", "model", "tokens": n}`; for `texts` also
`"counts": [n, ...]` (one per text, `tokens` is their sum), so a client counts many chunks in one round trip.

- `text`/`texts` count the tokens the text adds inside a prompt: no BOS token, special tokens parsed.
- `messages` counts the whole prompt the chat template renders (the number `/v1/chat/completions` would
  report as `prompt_tokens` for the same messages without tools), even when it would not fit the context.
- Bodies are bounded like every route's (`local_models.server.limits`: 413 over --max-body-bytes); clients
  split large batches.
- Counting does not wait in the generation queue: tokenizing reads only the vocabulary, and runs in a
  worker thread so the event loop stays free.
- An engine without a tokenizer (the scripted test engine) answers 501 `tokenize_unsupported`; clients then
  fall back to an estimate, as they do for servers that have no such route (404).
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from local_models.server.errors import APIError
from local_models.server.limits import load_json_body
from local_models.server.schemas import Message
from local_models.types import ContextLengthExceededError, Engine, SamplingParams

MAX_TEXTS = 10_000  # per request; more is a 400 (send several requests)


class TokenizeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    text: str | None = None
    texts: list[str] | None = Field(None, max_length=MAX_TEXTS)
    messages: list[Message] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _exactly_one(self) -> TokenizeRequest:
        given = [name for name in ("text", "texts", "messages") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"send exactly one of text, texts, messages (got {', '.join(given) or 'none'})")
        return self


def tokenize_router() -> APIRouter:
    """The route, reading the engine and settings from `request.app.state` (set by `create_app`)."""
    router = APIRouter()

    @router.post("/v1/tokenize")
    async def tokenize(request: Request) -> dict[str, Any]:
        body = await _parse(request)
        engine = request.app.state.engine
        settings = request.app.state.settings
        names = list(dict.fromkeys([engine.model_name, settings.model, *settings.aliases]))
        if body.model is not None and body.model not in names:
            raise APIError(
                404,
                f"The model {body.model!r} does not exist on this server; it serves {names[0]!r}. See GET /v1/models.",
                param="model",
                code="model_not_found",
            )
        tokenize_text = getattr(engine, "tokenize", None)
        if not callable(tokenize_text):
            raise APIError(
                501,
                f"The engine serving {engine.model_name!r} has no tokenizer; estimate token counts instead.",
                type="server_error",
                code="tokenize_unsupported",
            )
        reply: dict[str, Any] = {"object": "tokenize", "model": engine.model_name}
        if body.messages is not None:
            messages = [m.model_dump(exclude_none=True) for m in body.messages]
            reply["tokens"] = await asyncio.to_thread(_chat_prompt_tokens, engine, messages)
        elif body.texts is not None:
            texts = body.texts
            counts = await asyncio.to_thread(lambda: [len(tokenize_text(t)) if t else 0 for t in texts])
            reply.update(tokens=sum(counts), counts=counts)
        else:
            text = body.text or ""
            reply["tokens"] = await asyncio.to_thread(lambda: len(tokenize_text(text)) if text else 0)
        return reply

    return router


def _chat_prompt_tokens(engine: Engine, messages: list[dict[str, Any]]) -> int:
    try:
        job = engine.prepare_chat(messages, SamplingParams(temperature=0.0, max_tokens=1))
    except ContextLengthExceededError as exc:  # counting is still meaningful for a prompt that is too long
        return exc.prompt_tokens
    return len(job.prompt_tokens)


async def _parse(request: Request) -> TokenizeRequest:
    data = load_json_body(await request.body())  # the server's bounds: 400 for bad or absurdly nested JSON
    try:
        return TokenizeRequest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise APIError(
            400,
            f"Invalid tokenize request: {where + ': ' if where else ''}{first['msg']}. "
            'Send {"text": "..."}, {"texts": ["...", ...]} or {"messages": [...]}.',
            param=where or None,
            code="invalid_value",
        ) from None
