"""grade: drop irrelevant chunks. The retrieval scores decide first (reranker, else dense similarity, with
thresholds per stage). The model is asked only when the retrieval is uncertain as a whole: when no chunk is
confidently relevant, the uncertain ones go to the model (within the question's budget) and those it rejects
are dropped, so an off-topic question ends in an abstention. When some chunk is confidently relevant, the
uncertain ones stay unjudged: a small model's false "irrelevant" would cost the answer a fact it needed,
while a superfluous chunk costs only prompt tokens."""

from __future__ import annotations

from typing import Any, Literal

from agent.budget import Call
from agent.context import RunContext
from agent.errors import ModelOutputError
from agent.evidence import question_names
from agent.prompts import ANSWER_SYSTEM, GRADE_SYSTEM, GradeResult
from agent.state import AgentState, Hit
from retrieval.types import Vocabulary

Signal = Literal["relevant", "irrelevant", "uncertain"]
GRADE_MAX_TOKENS = 20


def cheap_signal(hit: Hit, thresholds: dict[str, tuple[float, float]]) -> tuple[Signal, str]:
    """The verdict of the first stage in `thresholds` that scored the hit, and that stage's name.

    The searcher gives every hybrid candidate a dense score (retrieval.search), so a chunk found only by BM25
    is judged by its similarity like any other."""
    for stage, (low, high) in thresholds.items():
        if stage in hit["scores"]:
            score = hit["scores"][stage]
            if score >= high:
                return "relevant", stage
            if score < low:
                return "irrelevant", stage
            return "uncertain", stage
    return "uncertain", "none"


def answer_call(ctx: RunContext, context_tokens: int) -> Call:
    """The size of the answer call that must still run after an optional step (reserved in budget checks)."""
    prompt = ctx.count_tokens(ANSWER_SYSTEM) + context_tokens + 60
    return Call("chat", prompt, ctx.config.answer_max_tokens)


def grade(state: AgentState, ctx: RunContext) -> dict[str, Any]:
    hits = state.get("hits", [])
    unknown = _unknown_names(state["question"], ctx) if hits else []
    if unknown:
        # on the real-docs tune half, 4 of the 6 unanswerable questions named a product the manual never
        # mentions (Django, Prisma ...) and the model answered them from its own knowledge; no answerable one did
        ctx.note(f"kept 0/{len(hits)}: the documents never mention {', '.join(unknown)}")
        return {"kept": []}
    kept: list[Hit] = []
    counts = {"relevant": 0, "irrelevant": 0, "model kept": 0, "model dropped": 0, "kept unjudged": 0}
    graded_by_model = 0
    reserve = [answer_call(ctx, sum(h["tokens"] for h in hits))]
    signals = [cheap_signal(hit, ctx.config.grade_thresholds)[0] for hit in hits]
    confident = "relevant" in signals
    for hit, signal in zip(hits, signals, strict=True):
        if signal == "relevant":
            counts["relevant"] += 1
            kept.append(hit)
            continue
        if signal == "irrelevant":
            counts["irrelevant"] += 1
            continue
        if confident or not ctx.config.llm_grading or graded_by_model >= ctx.config.max_llm_grades:
            counts["kept unjudged"] += 1
            kept.append(hit)
            continue
        call = Call("chat", ctx.count_tokens(GRADE_SYSTEM + state["question"]) + hit["tokens"] + 30, GRADE_MAX_TOKENS)
        if not ctx.budget.check("grade (LLM)", call, reserve):
            counts["kept unjudged"] += 1
            kept.append(hit)
            continue
        graded_by_model += 1
        if _model_says_relevant(hit, state["question"], ctx):
            counts["model kept"] += 1
            kept.append(hit)
        else:
            counts["model dropped"] += 1
    ctx.note(f"kept {len(kept)}/{len(hits)} (" + ", ".join(f"{k} {v}" for k, v in counts.items() if v) + ")")
    return {"kept": kept}


def _unknown_names(question: str, ctx: RunContext) -> list[str]:
    """The names in the question (agent.evidence.question_names) that the collection never contains; none when
    the check is off or the retriever cannot tell (retrieval.types.Vocabulary)."""
    retriever = ctx.deps.retriever
    if not ctx.config.unknown_names or not isinstance(retriever, Vocabulary):
        return []
    names = question_names(question)
    return retriever.unknown_terms(names) if names else []


def _model_says_relevant(hit: Hit, question: str, ctx: RunContext) -> bool:
    messages = [
        {"role": "system", "content": GRADE_SYSTEM},
        {"role": "user", "content": f"Question: {question}\n\nPassage:\n{hit['text'].strip()}"},
    ]
    try:
        result = ctx.chat.structured(messages, GradeResult, max_tokens=GRADE_MAX_TOKENS)
    except ModelOutputError as exc:
        ctx.model_error(f"grade {hit['chunk_id']}", exc)
        return True  # an unusable grade keeps the chunk: the judge still checks the answer
    return result.relevant
