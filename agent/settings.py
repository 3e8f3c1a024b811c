"""The one settings model. Built at the edge (CLI, HTTP apps, MCP server), then passed down explicitly.

Precedence, highest first: command-line flags, `RAGLOOP_*` environment variables, the optional
`$RAGLOOP_HOME/ragloop.toml` file, the defaults below (which work offline).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from platformdirs import user_data_path
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

CONFIG_FILENAME = "ragloop.toml"


def default_home() -> Path:
    return user_data_path("ragloop", appauthor=False)


Backend = Literal["torch", "onnx", "onnx-int8"]  # sentence-transformers runtimes; ONNX exports cached in home/onnx


class SettingsError(Exception):
    """The configuration (flags, environment, ragloop.toml) is invalid; the message names the setting."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAGLOOP_", extra="forbid", validate_default=True)

    home: Path = Field(default_factory=default_home, description="Data directory (stores, models, threads).")

    # models: any OpenAI-compatible endpoint; without model_url the local server is started on demand
    model: str = Field("qwen2.5-coder-0.5b", description="Chat model: registered name, .gguf path or hub id.")
    model_url: str | None = Field(None, description="Base URL of an OpenAI-compatible server (…/v1).")
    api_key: str | None = Field(None, description="API key for the model server (sent as a bearer token).")
    n_ctx: int = Field(4096, ge=256, description="Context window of the local model, in tokens.")
    threads: int | None = Field(None, ge=1, description="CPU threads for llama.cpp (default: all cores).")

    # retrieval
    chroma_url: str | None = Field(None, description="Chroma server URL; default is the embedded store.")
    collection: str = Field("default", description="Collection to ingest into and search.")
    rerank_model: str | None = Field(None, description="CrossEncoder name or path; None leaves reranking off.")
    rerank_backend: Backend = Field(
        "onnx-int8",
        description="Reranker runtime: ONNX int8 (default: 2x faster than torch, the one that meets 500 ms for "
        "30 candidates on 2 cores), ONNX fp32 or torch fp32.",
    )
    rerank_weight: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Weight of the reranker's ranking in a weighted RRF with the hybrid ranking of the candidates "
        "(1: the reranker's order alone; default: 0.3 for ragloop-reranker, 1 for other models).",
    )
    embed_backend: Backend = Field(
        "torch", description="Embedder runtime: torch fp32, ONNX fp32 (about 2x faster, same results), ONNX int8."
    )

    # agent
    judge_model: str | None = Field(None, description="Judge model for reflection (default: the chat model).")
    judge_url: str | None = Field(None, description="Judge endpoint (default: the chat model's endpoint).")
    judge_api_key: str | None = Field(None, description="API key for the judge endpoint.")
    context_tokens: int = Field(1500, ge=100, description="Token budget of retrieved context in the answer prompt.")
    max_retries: int = Field(2, ge=0, description="Reflection retries when the judge fails an answer.")
    max_tool_steps: int = Field(4, ge=1, description="Model turns in the tool-calling loop.")
    budget_seconds: float | None = Field(None, gt=0, description="Per-question time budget; optional steps skip.")

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlFileSource(settings_cls, init_settings))


class _TomlFileSource(PydanticBaseSettingsSource):
    """Reads `ragloop.toml` from the home directory chosen by flags or environment."""

    def __init__(self, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource) -> None:
        super().__init__(settings_cls)
        self._init = init_settings

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        home = self._init().get("home") or os.environ.get("RAGLOOP_HOME") or default_home()
        path = Path(home).expanduser() / CONFIG_FILENAME
        if not path.is_file():
            return {}
        try:
            with path.open("rb") as handle:
                return tomllib.load(handle)
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{path} is not valid TOML: {exc}. Fix or remove the file.") from exc


def load_settings(**overrides: Any) -> Settings:
    """Build settings from flags (`overrides`, None meaning 'not given'), environment and ragloop.toml."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}" for err in exc.errors()
        )
        raise SettingsError(
            f"Invalid settings ({problems}). Check the flags, RAGLOOP_* variables and "
            f"{CONFIG_FILENAME} in the data directory."
        ) from exc
