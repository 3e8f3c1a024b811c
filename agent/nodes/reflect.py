"""reflect: LLM-as-judge of the answer's groundedness and relevance (rationale first, then a binary verdict,
JSON-schema constrained). A failing answer is retried at most `max_retries` times: a relevance failure
rewrites the query and retrieves again, a groundedness failure regenerates with the judge's feedback.
An answer that still fails is returned marked as failed."""

from __future__ import annotations

from typing import Any

from agent.budget import Call
from agent.context import RunContext
from agent.errors import ModelOutputError
from agent.nodes.grade import answer_call
from agent.prompts import JUDGE_SYSTEM, JUDGE_USER, JudgeResult, format_sources
from agent.state import AgentState
from agent.types import Verdict

JUDGE_MAX_TOKENS = 300


def reflect(state: AgentState, ctx: RunContext) -> dict[str, Any]:
    answer = state.get("answer", "")
    retries = state.get("retries", 0)
    can_retry = ctx.config.reflect and retries < ctx.config.max_retries
    if not answer:
        if can_retry and _retry_fits(ctx, state, judge=False):
            ctx.note(f"empty answer: regenerating (retry {retries + 1}/{ctx.config.max_retries})")
            return _retry(state, "regenerate", "Your previous answer was empty. Answer the question.")
        ctx.note("empty answer: marked failed")
        return {"failed": True, "next_action": "done"}
    if state.get("route") != "documents":
        ctx.note("not applicable to this route")
        return {"next_action": "done"}
    if state.get("abstained"):
        ctx.note("abstained: nothing to judge")
        return {"next_action": "done"}
    if not ctx.config.reflect:
        ctx.note("reflection off")
        return {"next_action": "done"}

    rejected = state.get("rejected", [])
    if answer in rejected:
        # temperature-0 models repeat themselves: the same answer gets the same verdict, so stop here
        ctx.note(f"same answer as failed attempt {rejected.index(answer)}: not judged again, marked failed")
        return {"next_action": "done", "failed": True}

    if not state.get("citations"):
        # cheap signal first: an answer from sources that cites none of them is ungrounded, no judge needed
        rationale = "The answer cites none of the sources; every claim needs a [n] citation."
        verdicts = [*state.get("verdicts", []), Verdict("groundedness", False, rationale, retries).to_dict()]
        rejected = [*rejected, answer]
        if can_retry and _retry_fits(ctx, state, judge=True):
            ctx.note(f"no citations: regenerate (retry {retries + 1}/{ctx.config.max_retries})")
            return {**_retry(state, "regenerate", rationale), "verdicts": verdicts, "rejected": rejected}
        ctx.note("no citations; no retries left: marked failed")
        return {"verdicts": verdicts, "rejected": rejected, "next_action": "done", "failed": True}

    kept = state.get("kept", [])
    sources = format_sources(kept)
    judge_call = Call(
        "judge", ctx.count_tokens(JUDGE_SYSTEM + sources + state["question"] + answer) + 30, JUDGE_MAX_TOKENS
    )
    if not ctx.budget.check("reflect", judge_call):
        ctx.note("skipped: over budget")
        return {"next_action": "done"}
    messages = [
        {"role": "system", "content": JUDGE_SYSTEM},
        {"role": "user", "content": JUDGE_USER.format(sources=sources, question=state["question"], answer=answer)},
    ]
    try:
        judged = ctx.judge.structured(messages, JudgeResult, max_tokens=JUDGE_MAX_TOKENS)
    except ModelOutputError as exc:
        ctx.model_error("reflect", exc)
        ctx.note("the judge's output was unusable: answer returned unjudged")
        return {"next_action": "done"}

    verdicts = [
        *state.get("verdicts", []),
        Verdict("groundedness", judged.groundedness_pass, judged.groundedness_rationale, retries).to_dict(),
        Verdict("relevance", judged.relevance_pass, judged.relevance_rationale, retries).to_dict(),
    ]
    if judged.groundedness_pass and judged.relevance_pass:
        ctx.note("grounded and relevant")
        return {"verdicts": verdicts, "next_action": "done", "failed": False}
    failing = [
        name
        for name, passed in (("groundedness", judged.groundedness_pass), ("relevance", judged.relevance_pass))
        if not passed
    ]
    feedback = " ".join(
        rationale
        for passed, rationale in (
            (judged.groundedness_pass, judged.groundedness_rationale),
            (judged.relevance_pass, judged.relevance_rationale),
        )
        if not passed
    )
    rejected = [*rejected, answer]
    if not can_retry:
        ctx.note(f"failed {', '.join(failing)}; no retries left: marked failed")
        return {"verdicts": verdicts, "rejected": rejected, "next_action": "done", "failed": True}
    action = "rewrite" if not judged.relevance_pass else "regenerate"
    if not _retry_fits(ctx, state, judge=True):
        ctx.note(f"failed {', '.join(failing)}; retry over budget: marked failed")
        return {"verdicts": verdicts, "rejected": rejected, "next_action": "done", "failed": True}
    ctx.note(f"failed {', '.join(failing)}: {action} (retry {retries + 1}/{ctx.config.max_retries})")
    return {**_retry(state, action, feedback), "verdicts": verdicts, "rejected": rejected}


def _retry(state: AgentState, action: str, feedback: str) -> dict[str, Any]:
    return {"next_action": action, "feedback": feedback, "retries": state.get("retries", 0) + 1, "failed": False}


def _retry_fits(ctx: RunContext, state: AgentState, *, judge: bool) -> bool:
    context = sum(h["tokens"] for h in state.get("kept", []))
    answer = answer_call(ctx, context)
    reserve = []
    if judge:
        reserve.append(Call("judge", answer.prompt_tokens + ctx.config.answer_max_tokens // 2, JUDGE_MAX_TOKENS))
    return ctx.budget.check("retry", answer, reserve)
