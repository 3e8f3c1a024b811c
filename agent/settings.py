"""The one settings tree. Built at the edge (CLI, MCP server, evaluation harness), then passed down explicitly.

    settings.home                 data directory (RAGLOOP_HOME)
    settings.models.*             chat and judge endpoints, the local model server's context and threads
    settings.retrieval.*          store, collection, embedder, reranker
    settings.agent.*              the agent's knobs (agent.config.AgentConfig: the one place of their defaults)
    settings.memory.* / .mcp.* / .evals.*   long-term memory, the MCP server and client, the evaluation harness

Precedence, highest first: command-line flags, `RAGLOOP_*` environment variables, `$RAGLOOP_HOME/ragloop.toml`
(tables `[models]`, `[retrieval]`, `[agent]`, ...), the defaults (which work offline). The sources are
pydantic-settings sources; `load_settings` records which one gave each value (`ragloop config show`).

Environment names: `RAGLOOP_<FIELD>` for the models, retrieval and agent sections (`RAGLOOP_MODEL`,
`RAGLOOP_COLLECTION`, `RAGLOOP_CONTEXT_TOKENS`), `RAGLOOP_<SECTION>_<FIELD>` for the others
(`RAGLOOP_MCP_TOKEN`, `RAGLOOP_MEMORY_USER`). Every scalar field is also a command-line flag `--field-name`
(agent/cli/options.py), unless its `json_schema_extra` says `{"cli": False}`.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from platformdirs import user_data_path
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from agent.config import AgentConfig
from agent.profiles import DEFAULT_PROFILE, Profile, resolve_models
from evals.settings import EvalSettings
from memory.settings import MemorySettings
from tools.mcp_settings import McpSettings

CONFIG_FILENAME = "ragloop.toml"
MAX_CONFIG_BYTES = 1024 * 1024
DEFAULT_N_CTX = 4096  # the local model's context window; the server's own default mirrors it
SECRET_FIELDS = frozenset({"api_key", "judge_api_key", "token"})

Backend = Literal["torch", "onnx", "onnx-int8"]  # sentence-transformers runtimes; ONNX exports cached in home/onnx


def default_home() -> Path:
    return user_data_path("ragloop", appauthor=False)


class SettingsError(Exception):
    """The configuration (flags, environment, ragloop.toml) is invalid; the message names the setting."""


class ModelSettings(BaseModel):
    """Chat and judge models: any OpenAI-compatible endpoint, or the local server started on demand."""

    model_config = ConfigDict(extra="forbid")

    profile: Profile = Field(
        DEFAULT_PROFILE,
        description="Which models answer and judge when --model / --judge-model are not given: quality "
        "(qwen2.5-coder-1.5b) or fast (qwen2.5-coder-0.5b).",
    )
    # None until validated: then the given model, else the profile's (so consumers always read a name)
    model: str = Field(
        None,  # type: ignore[assignment]
        description="Chat model: registered name, .gguf path or hub id (default: the profile's).",
        json_schema_extra={"short": "-m"},
    )
    model_url: str | None = Field(None, description="OpenAI-compatible base URL (…/v1); none: start the local server.")
    api_key: str | None = Field(None, description="API key for the model server (sent as a bearer token).")
    judge_model: str | None = Field(None, description="Judge model for reflection (default: the chat model).")
    judge_url: str | None = Field(None, description="OpenAI-compatible base URL of the judge (default: the chat one).")
    judge_api_key: str | None = Field(None, description="API key for the judge endpoint.")
    n_ctx: int = Field(DEFAULT_N_CTX, ge=256, le=1_048_576, description="Context window of the local model, in tokens.")
    threads: int | None = Field(None, ge=1, le=1024, description="CPU threads for llama.cpp (default: all cores).")

    @model_validator(mode="after")
    def _models_from_profile(self) -> ModelSettings:
        """No model given: the profile's chat and judge models. A model given without a judge judges itself."""
        if self.model is None:
            self.model, self.judge_model = resolve_models(self.profile, None, self.judge_model)
        return self


class RetrievalSettings(BaseModel):
    """The store, the collection and the models that search it."""

    model_config = ConfigDict(extra="forbid")

    chroma_url: str | None = Field(None, description="Chroma server URL instead of the embedded store.")
    lock_wait: float = Field(
        30.0,
        ge=0.0,
        le=3600.0,
        description="Seconds to wait for another ragloop process (e.g. ragloop mcp during a call) to release "
        "the embedded store.",
    )
    collection: str = Field(
        "default", description="Collection to ingest into and search.", json_schema_extra={"short": "-c"}
    )
    embedder: str | None = Field(
        None, description="Embedding model (default: the collection's own, else all-MiniLM-L6-v2)."
    )
    embed_backend: Backend = Field(
        "torch", description="Embedder runtime: torch, onnx (about 2x faster, same results) or onnx-int8."
    )
    rerank_model: str | None = Field(
        None,
        description="Cross-encoder that reranks the fused candidates (ragloop-reranker, a name or a path); none: off.",
    )
    rerank_backend: Backend = Field(
        "onnx-int8", description="Reranker runtime: onnx-int8 (2x faster than torch), onnx or torch."
    )
    rerank_weight: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Reranker's share of a weighted RRF with the hybrid order; 1 is the reranker alone "
        "(default: 0.3 for ragloop-reranker, else 1).",
    )


# section name -> (model class, environment prefix after RAGLOOP_)
SECTIONS: dict[str, tuple[type[BaseModel], str]] = {
    "models": (ModelSettings, ""),
    "retrieval": (RetrievalSettings, ""),
    "agent": (AgentConfig, ""),
    "memory": (MemorySettings, "MEMORY_"),
    "mcp": (McpSettings, "MCP_"),
    "evals": (EvalSettings, "EVALS_"),
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="forbid", validate_default=True)

    home: Path = Field(default_factory=default_home, description="Data directory (stores, models, threads).")
    models: ModelSettings = Field(default_factory=ModelSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    agent: AgentConfig = Field(default_factory=AgentConfig)
    memory: MemorySettings = Field(default_factory=MemorySettings)
    mcp: McpSettings = Field(default_factory=McpSettings)
    evals: EvalSettings = Field(default_factory=EvalSettings)

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def config_file(self) -> Path:
        return self.home / CONFIG_FILENAME

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Flags (init) > RAGLOOP_* > ragloop.toml > defaults; the file is found in the home the first two choose.
        env = FlatEnvSource(settings_cls)
        return (init_settings, env, TomlFileSource(settings_cls, home_from(init_settings(), env())))


# -- sources -----------------------------------------------------------------------------------------


def env_name(section: str | None, name: str) -> str:
    """The environment variable of a setting: RAGLOOP_HOME, RAGLOOP_COLLECTION, RAGLOOP_MCP_TOKEN..."""
    if section is None:
        return f"RAGLOOP_{name.upper()}"
    return f"RAGLOOP_{SECTIONS[section][1]}{name.upper()}"


def leaf_fields() -> Iterator[tuple[str | None, str, FieldInfo]]:
    """(section or None for top level, field name, field) of every setting."""
    yield None, "home", Settings.model_fields["home"]
    for section, (model, _prefix) in SECTIONS.items():
        for name, info in model.model_fields.items():
            yield section, name, info


def _is_complex(info: FieldInfo) -> bool:
    text = str(info.annotation)
    return any(word in text for word in ("dict", "list", "tuple", "BaseModel")) or (
        isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel)
    )


class FlatEnvSource(PydanticBaseSettingsSource):
    """`RAGLOOP_<FIELD>` / `RAGLOOP_<SECTION>_<FIELD>` variables, as a nested dict (JSON for list/dict fields)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str] | None = None) -> None:
        super().__init__(settings_cls)
        self._environ = os.environ if environ is None else environ

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for section, name, info in leaf_fields():
            var = env_name(section, name)
            if var not in self._environ:
                continue
            raw: Any = self._environ[var]
            if raw == "" and not info.is_required():
                raw = None  # an empty variable means "not set" (e.g. RAGLOOP_CHROMA_URL= for the embedded store)
            elif _is_complex(info):
                try:
                    raw = json.loads(raw)
                except json.JSONDecodeError as exc:
                    raise SettingsError(f"{var} must be JSON ({exc.msg}); got {raw[:80]!r}.") from exc
            if section is None:
                data[name] = raw
            else:
                data.setdefault(section, {})[name] = raw
        return data


class TomlFileSource(PydanticBaseSettingsSource):
    """`ragloop.toml` in the data directory: tables per section (`[retrieval]`, `[agent]`, `[[mcp.servers]]`)."""

    def __init__(self, settings_cls: type[BaseSettings], home: Path) -> None:
        super().__init__(settings_cls)
        self.path = home / CONFIG_FILENAME

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        if not self.path.exists():
            return {}
        if not self.path.is_file():
            raise SettingsError(f"{self.path} is not a regular file; make it a TOML file or remove it.")
        if self.path.stat().st_size > MAX_CONFIG_BYTES:
            raise SettingsError(f"{self.path} is over {MAX_CONFIG_BYTES // 1024} KiB; a settings file is a few lines.")
        try:
            with self.path.open("rb") as handle:
                data = tomllib.load(handle)
        except RecursionError as exc:
            raise SettingsError(f"{self.path} nests tables or arrays too deeply; fix or remove the file.") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(f"cannot read {self.path}: {exc}. Fix or remove the file.") from exc
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{self.path} is not valid TOML: {exc}. Fix or remove the file.") from exc
        if "home" in data:
            raise SettingsError(f"{self.path}: `home` cannot be set in the file that lives in it; use RAGLOOP_HOME.")
        _check_layout(data, self.path)
        return data


def _check_layout(data: dict[str, Any], path: Path) -> None:
    """Unknown keys and the flat layout of earlier versions, named with the table they belong in."""
    owner: dict[str, str] = {}
    for section, name, _ in leaf_fields():
        if section is not None:
            owner.setdefault(name, section)  # models, retrieval and agent first: the flat layout's keys
    for key, value in data.items():
        if key in SECTIONS:
            if not isinstance(value, dict):
                raise SettingsError(f"{path}: `{key}` must be a table ([{key}]), not a value.")
            continue
        if key in owner:
            raise SettingsError(
                f"{path}: `{key}` belongs in the [{owner[key]}] table (move the line under [{owner[key]}])."
            )
        raise SettingsError(f"{path}: unknown setting `{key}`. Known tables: {', '.join(f'[{s}]' for s in SECTIONS)}.")


def home_from(*layers: dict[str, Any]) -> Path:
    for layer in layers:
        if layer.get("home"):
            return Path(layer["home"]).expanduser()
    return default_home()


# -- loading with provenance --------------------------------------------------------------------------


@dataclass
class LoadedSettings:
    """Settings plus where each value came from: "flag", "env RAGLOOP_X", "file PATH" or "default"."""

    settings: Settings
    origins: dict[str, str] = field(default_factory=dict)


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """{"retrieval.collection": "x", "home": p} -> {"retrieval": {"collection": "x"}, "home": p}; None = not given."""
    out: dict[str, Any] = {}
    for dotted, value in flat.items():
        if value is None:
            continue
        section, _, name = dotted.rpartition(".")
        if section:
            out.setdefault(section, {})[name] = value
        else:
            out[name] = value
    return out


def _paths(data: Mapping[str, Any]) -> Iterator[str]:
    for key, value in data.items():
        if key in SECTIONS and isinstance(value, dict):
            for name in value:
                yield f"{key}.{name}"
        else:
            yield key


def load_settings_with_origins(flags: Mapping[str, Any] | None = None, **legacy: Any) -> LoadedSettings:
    """Settings from flags (dotted paths, e.g. {"retrieval.collection": "docs"}; None = not given), environment
    and ragloop.toml, with the origin of every value. Errors are `SettingsError`s that name the key and source."""
    given = nest({**_legacy_paths(legacy), **(flags or {})})
    env = FlatEnvSource(Settings)
    env_data = env()
    toml = TomlFileSource(Settings, home_from(given, env_data))
    toml_data = toml()
    origins: dict[str, str] = {}
    for path in _paths(toml_data):
        origins[path] = f"file {toml.path}"
    for path in _paths(env_data):
        section, _, name = path.rpartition(".")
        origins[path] = f"env {env_name(section or None, name)}"
    for path in _paths(given):
        origins[path] = "flag"
    try:
        settings = Settings(**given)
    except ValidationError as exc:
        raise SettingsError(_describe(exc, origins, toml.path)) from exc
    for key in ("models.model", "models.judge_model"):
        if key not in origins and getattr(settings.models, key.partition(".")[2]) is not None:
            origins[key] = f"profile {settings.models.profile}"
    for owner, leaf, _ in leaf_fields():
        origins.setdefault(f"{owner}.{leaf}" if owner else leaf, "default")
    return LoadedSettings(settings, origins)


def load_settings(flags: Mapping[str, Any] | None = None, **legacy: Any) -> Settings:
    """The settings for flags (dotted paths), environment and ragloop.toml; see `load_settings_with_origins`."""
    return load_settings_with_origins(flags, **legacy).settings


def _legacy_paths(values: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments by bare field name (load_settings(collection="x")) mapped to their dotted paths."""
    owner = {name: section for section, name, _ in leaf_fields() if section in ("models", "retrieval", "agent")}
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name == "home" or name in SECTIONS:
            out[name] = value
        elif name in owner:
            out[f"{owner[name]}.{name}"] = value
        else:
            raise TypeError(f"load_settings() got an unknown setting {name!r}")
    return out


def _describe(exc: ValidationError, origins: dict[str, str], toml_path: Path) -> str:
    problems = []
    for err in exc.errors():
        loc = [str(part) for part in err["loc"]]
        path = ".".join(loc[:2]) if loc and loc[0] in SECTIONS else (loc[0] if loc else "settings")
        origin = origins.get(path, "default")
        where = {"flag": f"--{path.rpartition('.')[2].replace('_', '-')}"}.get(origin, origin)
        if err["type"] == "extra_forbidden":
            problems.append(f"unknown setting `{'.'.join(loc)}` ({where})")
        else:
            problems.append(f"`{'.'.join(loc)}` ({where}): {err['msg']}")
    return (
        "invalid settings: " + "; ".join(problems) + f". Fix the flag, the RAGLOOP_* variable or {toml_path} "
        "(`ragloop config show` prints every setting and where it comes from)."
    )


def flat_view(settings: Settings, *, reveal: bool = False) -> dict[str, Any]:
    """{"models.model": ..., "retrieval.collection": ...} with secrets masked unless `reveal`."""
    data = settings.model_dump(mode="json")
    out: dict[str, Any] = {"home": data["home"]}
    for section in SECTIONS:
        for name, value in data[section].items():
            masked = name in SECRET_FIELDS and value is not None and not reveal
            out[f"{section}.{name}"] = "***" if masked else value
    return out
