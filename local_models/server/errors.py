"""OpenAI-shaped errors: `{"error": {"message", "type", "param", "code"}}`, and their status codes.

Choices (documented in the server's module docstring too):
- malformed JSON and invalid fields are both 400 `invalid_request_error` (as OpenAI does), never 422;
- an unknown `model` is 404 `model_not_found`;
- engine errors (`EngineError`) are 400 with the engine's code, `context_length_exceeded` included;
- a full queue is 503 `server_overloaded` with a `Retry-After` header;
- a missing or wrong API key is 401 `invalid_api_key`;
- anything unexpected is 500 `internal_error`, logged to stderr with its traceback, never sent to the client.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from local_models.types import EngineError

log = logging.getLogger("local_models.server")


class APIError(Exception):
    """An error to send to the client as it is."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.message, type=self.type, param=self.param, code=self.code)


def error_body(
    message: str, *, type: str = "invalid_request_error", param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def from_engine_error(exc: EngineError) -> APIError:
    return APIError(400, str(exc), param=exc.param, code=exc.code)


def internal_error(exc: BaseException) -> APIError:
    log.error("unexpected error while serving a request", exc_info=exc)
    return APIError(
        500,
        f"The server hit an unexpected error ({type(exc).__name__}); it is logged on the server's stderr.",
        type="server_error",
        code="internal_error",
    )


def json_error(error: APIError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


def install_handlers(app: FastAPI) -> None:
    async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, APIError)
        return json_error(exc)

    async def on_engine_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, EngineError)
        return json_error(from_engine_error(exc))

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        message = str(exc.detail)
        if exc.status_code == 404:
            message = f"No route {request.method} {request.url.path}. See GET /v1/models, POST /v1/chat/completions."
        return json_error(APIError(exc.status_code, message, code=code, headers=dict(exc.headers or {})))

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        return json_error(internal_error(exc))

    app.add_exception_handler(APIError, on_api_error)
    app.add_exception_handler(EngineError, on_engine_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
