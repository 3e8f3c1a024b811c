"""Settings section `[memory]` of ragloop.toml (env `RAGLOOP_MEMORY_<FIELD>`): long-term memory knobs."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class MemorySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
