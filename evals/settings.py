"""Settings section `[evals]` of ragloop.toml (env `RAGLOOP_EVALS_<FIELD>`): evaluation harness defaults."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class EvalSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    runs_dir: Path | None = Field(None, description="Where `eval run` puts run directories (default: HOME/runs).")
    bootstrap_samples: int = Field(
        2000, ge=100, description="Bootstrap resamples for confidence intervals and paired comparisons."
    )
