"""`ServerSettings`: everything the model server needs, as one pydantic model.

The entry points (`ragloop serve-model`, `python -m local_models.server`, `local_models.serve`) build
it from flags (and, at the entry point only, `RAGLOOP_API_KEY`), then pass it to `create_app` and
`run_server`. The `python -m` flags are generated from these fields, so they cannot drift.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from local_models.registry import DEFAULT_CHAT_MODEL
from local_models.server.limits import DEFAULT_MAX_BODY_BYTES


def default_cache_dir() -> Path:
    from platformdirs import user_data_path

    return user_data_path("ragloop", appauthor=False) / "models"


class ServerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(DEFAULT_CHAT_MODEL, description="Registered model name, .gguf path or hub id.")
    aliases: list[str] = Field(
        default_factory=list,
        description="More names the `model` field of a request may use (besides the served name and --model).",
    )
    host: str = Field("127.0.0.1", description="Interface to bind (loopback by default).")
    port: int = Field(8808, ge=0, le=65535, description="TCP port (0: any free port).")
    n_ctx: int = Field(4096, ge=256, description="Context window in tokens (prompt + answer).")
    threads: int | None = Field(None, ge=1, description="CPU threads for llama.cpp (default: all cores).")
    api_key: str | None = Field(
        None,
        description="When set, every request must send `Authorization: Bearer KEY` (also /health). "
        "Prefer RAGLOOP_API_KEY or --api-key-file: a flag's value shows in `ps`.",
    )
    max_body_bytes: int = Field(
        DEFAULT_MAX_BODY_BYTES, ge=1024, description="Largest request body accepted, in bytes; larger ones get 413."
    )
    max_queue: int = Field(8, ge=0, description="Requests that may wait while one runs; more get HTTP 503.")
    retry_after: int | None = Field(
        None, ge=1, description="Retry-After seconds sent with 503 (default: estimated from recent jobs)."
    )
    prompt_lookup: int | None = Field(
        None, ge=1, description="Prompt-lookup speculative decoding: draft tokens per step (off when unset)."
    )
    reuse_prefix: bool = Field(True, description="Reuse the KV cache for a prompt prefix shared with the last job.")
    cache_dir: Path = Field(default_factory=default_cache_dir, description="Where assembled GGUF files live.")
    engine: Literal["llama", "scripted"] = Field(
        "llama", description="`scripted`: a model-free echo engine for plumbing tests (local_models.testing)."
    )
    token_delay: float = Field(0.0, ge=0, description="Scripted engine only: seconds per token.")
    log_level: str = Field("warning", description="Uvicorn log level (logs go to stderr).")
