"""`create_app(settings, engine)`: the OpenAI-compatible FastAPI app around one engine.

Routes: `GET /health`, `GET /metrics`, `GET /v1/models`, `GET /v1/models/{id}`,
`POST /v1/chat/completions`, `POST /v1/completions` (both also as SSE with `"stream": true`).

Decisions:
- Errors use OpenAI's shape and statuses (see `local_models.server.errors`): malformed JSON and invalid
  fields are 400 (never 422), unknown model 404, prompt too long 400 `context_length_exceeded`,
  queue full 503 + Retry-After, bad API key 401, anything else 500 (logged, no traceback sent).
- `model` may be omitted; when given it must be one of the names `GET /v1/models` lists: the served
  model's name, the reference it was started with (`--model`), and any `--aliases`.
- With an API key set, every route (also `/health` and `/metrics`) needs `Authorization: Bearer KEY`.
- A streamed response starts (status 200) only once the request reaches the model and its prompt is
  accepted, so a prompt that is too long is still an HTTP 400, not an error inside the stream.
- A client that disconnects cancels its job: skipped if still queued, stopped between tokens if running.
- Bounds (`local_models.server.limits`): a body over `max_body_bytes` is 413, JSON nested too deep is 400;
  schema bounds are the engine's (`local_models.schema_limits`).
- Shutdown (SIGTERM, `begin_shutdown`): the running generation stops between tokens and every waiting or
  running request is answered 503 `server_shutting_down`; a stream ends with that error event and [DONE].
- No `/docs` or `/redoc` pages (they load their assets from a CDN, and the server is offline-first);
  `GET /openapi.json` describes the routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from local_models.server import schemas
from local_models.server.embeddings import embeddings_router
from local_models.server.errors import (
    APIError,
    error_body,
    from_engine_error,
    install_handlers,
    internal_error,
)
from local_models.server.limits import counting_receive, declared_length, load_json_body, too_large
from local_models.server.metrics import Metrics
from local_models.server.scheduler import (
    Failed,
    QueueFullError,
    Scheduler,
    ShuttingDown,
    ShuttingDownError,
    Skipped,
    Started,
    Ticket,
)
from local_models.server.settings import ServerSettings
from local_models.server.tokenize import tokenize_router
from local_models.types import Engine, EngineError, FinishEvent, Job, TokenEvent

log = logging.getLogger("local_models.server")
Req = TypeVar("Req", bound=BaseModel)
DISCONNECT_POLL_SECONDS = 0.1


def load_engine_for(settings: ServerSettings) -> Engine:
    """Open the engine the settings name (slow for a real model: it loads the weights)."""
    if settings.engine == "scripted":
        from local_models.testing import ScriptedEngine

        return ScriptedEngine(model_name=settings.model, n_ctx=settings.n_ctx, token_delay=settings.token_delay)
    from local_models.engine import load_engine

    return load_engine(
        settings.model,
        settings.cache_dir,
        n_ctx=settings.n_ctx,
        n_threads=settings.threads,
        prompt_lookup=settings.prompt_lookup,
        reuse_prefix=settings.reuse_prefix,
    )


def create_app(settings: ServerSettings, engine: Engine | None = None) -> FastAPI:
    """Build the app. Without `engine`, the model named by `settings` is loaded now."""
    engine = engine if engine is not None else load_engine_for(settings)
    metrics = Metrics(engine.model_name)
    scheduler = Scheduler(engine, max_queue=settings.max_queue, metrics=metrics, retry_after=settings.retry_after)
    names = list(dict.fromkeys([engine.model_name, settings.model, *settings.aliases]))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        app.state.begin_shutdown = lambda: loop.call_soon_threadsafe(scheduler.shutdown)
        yield
        await asyncio.to_thread(scheduler.stop)

    app = FastAPI(
        title="ragloop model server",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.begin_shutdown = scheduler.shutdown  # replaced by a loop-safe version once serving
    app.state.engine = engine
    app.state.scheduler = scheduler
    app.state.metrics = metrics
    app.state.settings = settings
    install_handlers(app)
    app.include_router(embeddings_router(settings))  # POST /v1/embeddings (local_models.server.embeddings)
    app.include_router(tokenize_router())
    app.add_middleware(_Guard, api_key=settings.api_key, metrics=metrics, max_body=settings.max_body_bytes)

    def check_model(requested: str | None) -> str:
        if requested is not None and requested not in names:
            raise APIError(
                404,
                f"The model {requested!r} does not exist on this server; it serves {names[0]!r} "
                f"(accepted names: {', '.join(names)}). See GET /v1/models.",
                param="model",
                code="model_not_found",
            )
        return engine.model_name

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": engine.model_name, "queue_depth": scheduler.depth, "busy": scheduler.busy}

    @app.get("/metrics")
    async def get_metrics() -> Response:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        return {"object": "list", "data": [_model_card(name, engine) for name in names]}

    @app.get("/v1/models/{model_id:path}")
    async def get_model(model_id: str) -> dict[str, Any]:
        check_model(model_id)
        return _model_card(model_id, engine)

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        body = await _parse(request, schemas.ChatRequest)
        model = check_model(body.model)
        sampling, messages, tools = body.sampling(), body.message_dicts(), body.tool_dicts()

        def prepare(eng: Engine) -> Job:
            return eng.prepare_chat(
                messages, sampling, tools=tools, tool_choice=body.tool_choice, response_format=body.response_format
            )

        ticket = await _start(request, scheduler, prepare, "/v1/chat/completions", body.stream)
        rid = schemas.new_id("chatcmpl")
        if body.stream:
            return _sse(_chat_stream(ticket, rid, model, body.include_usage), ticket)
        return JSONResponse(schemas.chat_body(rid, model, await _finish(request, ticket)))

    @app.post("/v1/completions")
    async def completions(request: Request) -> Response:
        body = await _parse(request, schemas.CompletionRequest)
        model = check_model(body.model)
        sampling, prompt = body.sampling(), body.prompt_text

        def prepare(eng: Engine) -> Job:
            return eng.prepare_completion(prompt, sampling, response_format=body.response_format)

        ticket = await _start(request, scheduler, prepare, "/v1/completions", body.stream)
        rid = schemas.new_id("cmpl")
        if body.stream:
            return _sse(_completion_stream(ticket, rid, model, body.include_usage), ticket)
        return JSONResponse(schemas.completion_body(rid, model, await _finish(request, ticket)))

    return app


def _model_card(name: str, engine: Engine) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "ragloop", "context_length": engine.n_ctx}


async def _parse(request: Request, model: type[Req]) -> Req:
    data = load_json_body(await request.body())
    if not isinstance(data, dict):
        raise APIError(400, "The request body must be a JSON object.", code="invalid_json")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            where = ".".join(str(part) for part in err["loc"])
            problems.append(f"{where}: {err['msg']}" if where else str(err["msg"]))
        first = exc.errors()[0]["loc"]
        raise APIError(
            400,
            "Invalid request: " + "; ".join(problems),
            param=".".join(str(p) for p in first) or None,
            code="invalid_value",
        ) from None


async def _next(request: Request, ticket: Ticket) -> Any:
    """The ticket's next message, cancelling the ticket if the client leaves meanwhile."""
    while True:
        try:
            return await asyncio.wait_for(ticket.next(), DISCONNECT_POLL_SECONDS)
        except TimeoutError:
            if await request.is_disconnected():
                ticket.cancel()
                raise APIError(503, "The client disconnected; the request was cancelled.", code="cancelled") from None


async def _start(
    request: Request, scheduler: Scheduler, prepare: Callable[[Engine], Job], endpoint: str, stream: bool
) -> Ticket:
    """Queue the job and wait until it runs (its prompt accepted) or fails."""
    try:
        ticket = scheduler.submit(prepare, endpoint, stream=stream)
    except ShuttingDownError:
        raise _shutting_down() from None
    except QueueFullError as exc:
        raise APIError(
            503,
            f"The model is busy: {exc.waiting} requests are waiting, which is the server's limit "
            f"(--max-queue {scheduler.max_queue}). Retry after {exc.retry_after} s.",
            type="server_error",
            code="server_overloaded",
            headers={"Retry-After": str(exc.retry_after)},
        ) from None
    try:
        message = await _next(request, ticket)
    except BaseException:
        ticket.cancel()
        raise
    if isinstance(message, Started):
        return ticket
    raise _failure(message)


def _failure(message: Any) -> APIError:
    if isinstance(message, Failed):
        if isinstance(message.error, EngineError):
            return from_engine_error(message.error)
        return internal_error(message.error)
    if isinstance(message, Skipped):
        return APIError(503, "The request was cancelled before it ran.", type="server_error", code="cancelled")
    if isinstance(message, ShuttingDown):
        return _shutting_down()
    return internal_error(RuntimeError(f"unexpected message {message!r}"))


async def _finish(request: Request, ticket: Ticket) -> FinishEvent:
    try:
        while True:
            message = await _next(request, ticket)
            if isinstance(message, FinishEvent):
                if message.finish_reason == "cancelled":
                    raise APIError(503, "The request was cancelled.", type="server_error", code="cancelled")
                return message
            if not isinstance(message, TokenEvent):
                raise _failure(message)
    except BaseException:
        ticket.cancel()
        raise


def _shutting_down() -> APIError:
    return APIError(
        503,
        "The model server is shutting down; the request was stopped. Retry once it (or another) is running.",
        type="server_error",
        code="server_shutting_down",
    )


def _sse(events: AsyncIterator[dict[str, Any]], ticket: Ticket) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        try:
            async for event in events:
                yield b"data: " + json.dumps(event, ensure_ascii=False).encode() + b"\n\n"
            yield b"data: [DONE]\n\n"
        finally:
            ticket.cancel()  # a no-op when the job finished; stops it when the client went away

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(body(), media_type="text/event-stream", headers=headers)


async def _events(ticket: Ticket) -> AsyncIterator[TokenEvent | FinishEvent | dict[str, Any]]:
    """The job's token and finish events; a failure becomes an OpenAI error body (the stream has begun)."""
    while True:
        message = await ticket.next()
        if isinstance(message, TokenEvent | FinishEvent):
            yield message
            if isinstance(message, FinishEvent):
                return
        else:
            yield _failure(message).body()
            return


async def _chat_stream(ticket: Ticket, rid: str, model: str, include_usage: bool) -> AsyncIterator[dict[str, Any]]:
    created = schemas.now()
    yield schemas.chat_chunk(rid, created, model, {"role": "assistant", "content": ""})
    async for event in _events(ticket):
        if isinstance(event, TokenEvent):
            if event.text:
                yield schemas.chat_chunk(rid, created, model, {"content": event.text})
        elif isinstance(event, FinishEvent):
            if event.tool_calls:
                calls = [schemas.tool_call_body(c, i) for i, c in enumerate(event.tool_calls)]
                yield schemas.chat_chunk(rid, created, model, {"tool_calls": calls})
            yield schemas.chat_chunk(rid, created, model, {}, schemas.finish_reason(event))
            if include_usage:
                yield {**schemas.chat_chunk(rid, created, model, None), "usage": schemas.usage_body(event)}
        else:
            yield event


async def _completion_stream(
    ticket: Ticket, rid: str, model: str, include_usage: bool
) -> AsyncIterator[dict[str, Any]]:
    created = schemas.now()
    async for event in _events(ticket):
        if isinstance(event, TokenEvent):
            if event.text:
                yield schemas.completion_chunk(rid, created, model, event.text)
        elif isinstance(event, FinishEvent):
            yield schemas.completion_chunk(rid, created, model, "", schemas.finish_reason(event))
            if include_usage:
                yield {**schemas.completion_chunk(rid, created, model, None), "usage": schemas.usage_body(event)}
        else:
            yield event


class _Guard:
    """Pure ASGI middleware: API-key check before routing, and request counts by route and status."""

    ROUTES = (
        "/health",
        "/metrics",
        "/v1/models",
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
        "/v1/tokenize",
    )

    def __init__(self, app: ASGIApp, api_key: str | None, metrics: Metrics, max_body: int) -> None:
        self.app = app
        self.expected = api_key.encode() if api_key else None
        self.metrics = metrics
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        endpoint = next((r for r in self.ROUTES if path == r or path.startswith(r + "/")), "other")
        status = 500

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            if self.expected is not None and not self._authorized(scope):
                await _send_json(counting_send, 401, _unauthorized())
                return
            length = declared_length(scope["headers"])
            if length is not None and length > self.max_body:
                error = too_large(self.max_body)
                await _send_json(counting_send, error.status, error.body())
                return
            await self.app(scope, counting_receive(receive, self.max_body), counting_send)
        finally:
            self.metrics.count_request(endpoint, status)

    def _authorized(self, scope: Scope) -> bool:
        assert self.expected is not None
        scheme, _, key = dict(scope["headers"]).get(b"authorization", b"").partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(key.strip(), self.expected)


def _unauthorized() -> dict[str, Any]:
    return error_body(
        "Missing or wrong API key: send `Authorization: Bearer KEY` with the key the server was started "
        "with (--api-key or RAGLOOP_API_KEY).",
        type="invalid_request_error",
        code="invalid_api_key",
    )


async def _send_json(send: Callable[[Message], Awaitable[None]], status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
