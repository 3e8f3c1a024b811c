"""Settings section `[evals]` of ragloop.toml (env `RAGLOOP_EVALS_<FIELD>`): evaluation harness defaults."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class EvalSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
