"""Request bounds of the model server: body size (413) and JSON nesting depth (400).

- The body of a request may be at most `ServerSettings.max_body_bytes` (1 MiB by default). A
  Content-Length above it is answered 413 before the body is read; a chunked body is counted as it
  arrives and refused as soon as it passes the limit, so the server never holds more than the limit.
- A JSON body nested deeper than `MAX_BODY_DEPTH` is a 400 (a tool's parameter schema, the deepest
  legitimate part of a request, is limited to `local_models.schema_limits.MAX_SCHEMA_DEPTH`); the
  depth is measured without recursion, and Python's own parser giving up (RecursionError) is a 400 too.
- A string holding an unpaired surrogate escape (`"\\ud800"`, valid JSON but not text) is a 400, not
  a UnicodeEncodeError in the tokenizer.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import Message, Receive

from local_models.schema_limits import MAX_SCHEMA_DEPTH
from local_models.server.errors import APIError

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
MAX_BODY_DEPTH = MAX_SCHEMA_DEPTH + 36
_TOO_DEEP = object()


def too_large(limit: int) -> APIError:
    return APIError(
        413,
        f"The request body is larger than this server's limit of {limit:,} bytes (--max-body-bytes). "
        "Send a shorter prompt, or start the server with a higher --max-body-bytes.",
        code="request_too_large",
    )


def declared_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def counting_receive(receive: Receive, limit: int) -> Receive:
    """`receive`, raising the 413 `APIError` once the body passes `limit` bytes."""
    received = 0

    async def wrapped() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise too_large(limit)
        return message

    return wrapped


def load_json_body(raw: bytes) -> Any:
    """The parsed body, or a 400 `APIError` for invalid or absurdly nested JSON."""
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise APIError(
            400, f"The request body is not valid JSON ({exc}). Send a JSON object.", code="invalid_json"
        ) from None
    except RecursionError:
        data = _TOO_DEEP
    if data is _TOO_DEEP or json_depth(data) > MAX_BODY_DEPTH:
        raise APIError(400, f"The request body is nested more than {MAX_BODY_DEPTH} levels deep.", code="invalid_json")
    if b"\\u" in raw and _has_lone_surrogate(data):
        raise APIError(
            400,
            "The request body holds an unpaired UTF-16 surrogate escape (such as \\ud800), which is not text. "
            "Escape characters outside the BMP as a surrogate pair, or send them as UTF-8.",
            code="invalid_json",
        )
    return data


def _has_lone_surrogate(data: Any) -> bool:
    """Whether a string anywhere in `data` (keys too) holds a lone surrogate: JSON allows the escape,
    UTF-8 (and so the tokenizer) does not."""
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def json_depth(value: Any) -> int:
    """The nesting depth of parsed JSON (a scalar is 0, `[]` and `{}` are 1), computed iteratively."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            depth += 1
            deepest = max(deepest, depth)
            if depth > MAX_BODY_DEPTH:
                return depth
            stack.extend((child, depth) for child in (node.values() if isinstance(node, dict) else node))
    return deepest
