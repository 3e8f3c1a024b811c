"""Settings section `[memory]` of ragloop.toml (env `RAGLOOP_MEMORY_<FIELD>`): long-term memory knobs."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MemorySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recall: bool = Field(
        True, description="Long-term memory: recall facts and lessons into prompts, store new facts after turns."
    )
    user: str = Field(
        "default",
        pattern=r"^[A-Za-z0-9._@-]{1,64}$",
        description="Whose memories to read and write (each user's memories are filtered at the store query).",
    )
    collection: str = Field(
        "ragloop-memory", description="Chroma collection holding the memories.", json_schema_extra={"cli": False}
    )
    recall_k: int = Field(4, ge=0, le=20, description="Memories recalled into a prompt, at most.")
    recall_threshold: float = Field(
        0.3, ge=0.0, le=1.0, description="Least hybrid similarity (0..1) for a memory to be recalled."
    )
    duplicate_similarity: float = Field(
        0.92,
        ge=0.5,
        le=1.0,
        description="A new fact this similar to a stored one is a duplicate (no model call).",
        json_schema_extra={"cli": False},
    )
    extract: bool = Field(True, description="Extract facts the user states after each turn (in the background).")
    history_tokens: int = Field(
        800, ge=100, description="Token budget of a thread's earlier turns; older turns fold into a summary."
    )
