"""`AgentConfig`: the agent's knobs, and the `[agent]` section of the settings tree (one place per default).

The CLI reads it from flags, `RAGLOOP_*` variables and ragloop.toml (agent/settings.py); library users build
it directly. The `route`/`rewrite`/`llm_grading`/`reflect` switches turn graph steps off: with all four False
and `max_retries=0` the graph is the plain "retrieve top k and answer" baseline of the evaluation.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

NOT_A_FLAG: dict[str, Any] = {"cli": False}


class AgentConfig(BaseModel):
    """Knobs of one agent. Defaults suit a small local model on 2 cores."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    context_tokens: int = Field(
        1000, ge=1, le=1_000_000, description="Token budget of retrieved context in the answer prompt."
    )
    k: int = Field(5, ge=1, le=1000, description="Hits asked from the retriever per (sub-)query.")
    # 150: the least that kept every key fact of the real-docs tune half in the context that whole chunks had
    # (`ragloop eval context`: 39/42 either way, 24% fewer prompt tokens; 120 lost one)
    source_tokens: int = Field(
        150,
        ge=0,
        le=1_000_000,
        description="Longest source in the answer prompt, in tokens: a longer chunk is cut to its passages about "
        "the question (agent/focus.py). 0: whole chunks.",
    )
    max_retries: int = Field(2, ge=0, le=100, description="Reflection retries when the judge fails an answer.")
    max_tool_steps: int = Field(
        4, ge=1, le=100, description="Model turns in the tool-calling loop (the last must answer)."
    )
    history_turns: int = Field(
        3, ge=0, le=1000, description="Earlier turns of the thread shown to route/rewrite/answer."
    )
    answer_max_tokens: int = Field(400, ge=1, le=1_000_000, description="Longest answer, in tokens.")
    retry_temperature: float = Field(
        0.5, ge=0.0, le=2.0, description="Sampling temperature of retried answers (at 0 a small model repeats itself)."
    )
    budget_seconds: float | None = Field(
        None, gt=0, description="Per-question time budget: optional steps that would exceed it are skipped."
    )
    budget_tokens: int | None = Field(
        None, gt=0, description="Per-question token budget (prompt + completion, all models)."
    )
    route: bool = Field(True, description="Route questions (documents, tool, direct, clarify); off: documents.")
    rewrite: bool = Field(True, description="Rewrite the question into standalone search queries.")
    llm_grading: bool = Field(True, description="Let the model grade chunks the retrieval scores leave uncertain.")
    max_llm_grades: int = Field(4, ge=0, le=1000, description="Uncertain chunks graded by the model per attempt.")
    reflect: bool = Field(True, description="Judge each answer (grounded? relevant?) and retry a failing one.")
    judge_skip: bool = Field(
        True, description="Skip the judge when the evidence is strong (rule in agent/evidence.py); off: always judge."
    )
    min_support: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Least share of an answer's own words found in the kept sources; below it the answer is "
        "taken as written from outside knowledge: regenerated, and replaced by the abstention if no attempt passes.",
    )
    unknown_names: bool = Field(
        True,
        description="Abstain when the question names something (a capitalised word such as a product) that no "
        "chunk of the collection contains: the documents are about something else.",
    )
    attribute_citations: bool = Field(
        True, description="Answers without [n] markers: cite chunks by word overlap (flagged as attributed)."
    )
    # cheap grading signal: (irrelevant below, relevant at or above) per retrieval stage, best stage first.
    # dense: all-MiniLM-L6-v2 cosine; on the demo corpus on-topic hits score 0.29-0.66, off-topic questions <= 0.20.
    grade_thresholds: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: {"rerank": (0.05, 0.5), "dense": (0.25, 0.45)},
        description="Per retrieval stage, (irrelevant below, relevant at or above) score thresholds.",
        json_schema_extra=NOT_A_FLAG,
    )

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> AgentConfig:
        for stage, (low, high) in self.grade_thresholds.items():
            if low > high:
                raise ValueError(f"AgentConfig.grade_thresholds[{stage!r}]: low {low} is above high {high}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()

    def replace(self, **changes: Any) -> AgentConfig:
        """A validated copy with `changes` applied."""
        return AgentConfig.model_validate({**self.model_dump(), **changes})
