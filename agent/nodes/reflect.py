"""reflect: LLM-as-judge of the answer's groundedness and relevance (rationale first, then a binary verdict,
JSON-schema constrained; the judge sees the chunks the answer cites). A failing answer is retried at most
`max_retries` times: a relevance failure rewrites the query and retrieves again, a groundedness failure
regenerates with the judge's feedback.

When no attempt passes, the best one is returned, marked as failed: the one that passed the most criteria,
the earliest on a tie. A retry can therefore only replace the first answer by one the judge rates higher,
never by a worse one (an abstention after a rewrite counts as passing nothing)."""

from __future__ import annotations

from typing import Any

from agent.budget import Call
from agent.context import RunContext
from agent.errors import ModelOutputError
from agent.evidence import answer_support, judge_skip_reason, strong_sources
from agent.excerpt import clip
from agent.judge import JUDGE_MAX_TOKENS, CitedSource, judge, judge_messages
from agent.nodes.grade import answer_call
from agent.output_checks import OutputProblem, check_answer
from agent.prompts import (
    ABSTAIN_ANSWER,
    ABSTAIN_FEEDBACK,
    FAILED_ANSWER,
    PROMPT_TEXTS,
    UNSUPPORTED_FEEDBACK,
    source_header,
)
from agent.state import AgentState
from agent.types import Verdict

ATTEMPT_KEYS = ("answer", "citations", "kept", "abstained")


def reflect(state: AgentState, ctx: RunContext) -> dict[str, Any]:
    answer = state.get("answer", "")
    retries = state.get("retries", 0)
    can_retry = ctx.config.reflect and retries < ctx.config.max_retries
    if not answer:
        if can_retry and _retry_fits(ctx, state, judge=False):
            ctx.note(f"empty answer: regenerating (retry {retries + 1}/{ctx.config.max_retries})")
            return _retry(state, "regenerate", "Your previous answer was empty. Answer the question.", score=-1)
        ctx.note("empty answer")
        return _give_up(state, ctx, score=-1)
    if state.get("route") != "documents":
        ctx.note("not applicable to this route")
        return {"next_action": "done"}

    rejected = state.get("rejected", [])
    # the output checks come first and apply with reflection off too: a tool call, JSON, a pasted page or a
    # list of command lines is never returned as an answer
    problem = output_problem(state, ctx)
    if problem is not None:
        feedback = problem.feedback
        verdicts = [*state.get("verdicts", []), Verdict("groundedness", False, feedback, retries).to_dict()]
        rejected = [*rejected, answer]
        if can_retry and answer not in state.get("rejected", []) and _retry_fits(ctx, state, judge=True):
            ctx.note(
                f"unusable answer ({problem.kind}: {problem.detail}; {clip(answer, 160)!r}): regenerate "
                f"(retry {retries + 1}/{ctx.config.max_retries})"
            )
            return {**_retry(state, "regenerate", feedback, score=-1), "verdicts": verdicts, "rejected": rejected}
        ctx.note(f"unusable answer ({problem.kind}: {problem.detail}; {clip(answer, 160)!r}); no retries left")
        return {**_give_up(state, ctx, score=-1), "verdicts": verdicts, "rejected": rejected}

    if state.get("abstained"):
        return _after_abstention(state, ctx, can_retry)
    support, missing = answer_support(state["question"], answer, state.get("kept", []))
    ctx.note(f"lexical support {support:.2f}" + (f" (not in the sources: {', '.join(missing[:8])})" if missing else ""))
    if not ctx.config.reflect:
        ctx.note("reflection off")
        return {"next_action": "done"}
    if support < ctx.config.min_support:
        # most of what the answer adds is not in the sources: an answer from the model's own knowledge (the 1.5B
        # judge passes those). A retry rarely helps (on the tune half every answerable question's first answer
        # scored 0.64 or more; an unanswerable one's retries went on inventing, 107 s for one question): the
        # evidence lacks what the model said, so it abstains
        verdict = Verdict("groundedness", False, UNSUPPORTED_FEEDBACK.format(words=", ".join(missing[:6])), retries)
        if state.get("attempts"):  # a retry of an answer that was in the sources' words: the best attempt stands
            ctx.note("unsupported by the sources; an earlier attempt was supported")
            return {**_give_up(state, ctx, score=0), "verdicts": [*state.get("verdicts", []), verdict.to_dict()]}
        ctx.note("unsupported by the sources: abstaining")
        return {
            "answer": ABSTAIN_ANSWER,
            "abstained": True,
            "citations": [],
            "failed": False,
            "next_action": "done",
            "verdicts": [*state.get("verdicts", []), verdict.to_dict()],
            "rejected": [*rejected, answer],
        }

    if answer in rejected:
        # temperature-0 models repeat themselves: the same answer gets the same verdict, so stop here
        ctx.note(f"same answer as failed attempt {rejected.index(answer)}: not judged again")
        return _give_up(state, ctx, score=0)

    problem_text = _cheap_failure(state)
    if problem_text:
        # cheap signals first: no judge call needed to reject these
        verdicts = [*state.get("verdicts", []), Verdict("groundedness", False, problem_text, retries).to_dict()]
        rejected = [*rejected, answer]
        if can_retry and _retry_fits(ctx, state, judge=True):
            ctx.note(f"{problem_text} Regenerate (retry {retries + 1}/{ctx.config.max_retries})")
            return {**_retry(state, "regenerate", problem_text, score=0), "verdicts": verdicts, "rejected": rejected}
        ctx.note(f"{problem_text} No retries left")
        return {**_give_up(state, ctx, score=0), "verdicts": verdicts, "rejected": rejected}

    kept = state.get("kept", [])
    skip = ctx.config.judge_skip and judge_skip_reason(
        state["question"], answer, kept, ctx.config.grade_thresholds, support
    )
    if skip:
        ctx.note(f"judge skipped ({skip})")
        return {"next_action": "done", "failed": False}

    # every kept source, in the answer prompt's order: the judge prompt shares the answer prompt's prefix
    sources = [
        CitedSource(n, hit["title"], hit["source"], hit["text"], tuple(hit["heading_path"]))
        for n, hit in enumerate(kept, start=1)
    ] or cited_sources(state)
    prompt = "".join(m["content"] for m in judge_messages(state["question"], answer, sources))
    if not ctx.budget.check("reflect", Call("judge", ctx.count_tokens(prompt) + 30, JUDGE_MAX_TOKENS)):
        ctx.note("skipped: over budget")
        return {"next_action": "done"}
    try:
        judged = judge(ctx.judge, state["question"], answer, sources)
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
    score = 2 - len(failing)
    if not can_retry:
        ctx.note(f"failed {', '.join(failing)}; no retries left")
        return {**_give_up(state, ctx, score=score), "verdicts": verdicts, "rejected": rejected}
    action = "rewrite" if not judged.relevance_pass else "regenerate"
    if not _retry_fits(ctx, state, judge=True):
        ctx.note(f"failed {', '.join(failing)}; retry over budget")
        return {**_give_up(state, ctx, score=score), "verdicts": verdicts, "rejected": rejected}
    ctx.note(f"failed {', '.join(failing)}: {action} (retry {retries + 1}/{ctx.config.max_retries})")
    return {**_retry(state, action, feedback, score=score), "verdicts": verdicts, "rejected": rejected}


def output_problem(state: AgentState, ctx: RunContext) -> OutputProblem | None:
    """The output checks (agent.output_checks) applied to this attempt's answer."""
    tool_names = ctx.deps.tools.names() if ctx.deps.tools is not None else []
    return check_answer(state.get("answer", ""), state.get("kept", []), tool_names, PROMPT_TEXTS)


def _after_abstention(state: AgentState, ctx: RunContext, can_retry: bool) -> dict[str, Any]:
    """An abstention stands when the evidence lacks the answer. When a kept source is strong evidence for the
    question (agent.evidence), the model is asked once more, pointed at it."""
    retries = state.get("retries", 0)
    strong = strong_sources(state["question"], state.get("kept", []), ctx.config.grade_thresholds)
    questioned = any(a.get("abstained") for a in state.get("attempts", []))
    if strong and can_retry and not questioned and _retry_fits(ctx, state, judge=True):
        numbers = ", ".join(f"[{n}]" for n in strong)
        ctx.note(f"abstained although {numbers} is strong evidence: regenerate (retry {retries + 1})")
        return _retry(state, "regenerate", ABSTAIN_FEEDBACK.format(numbers=numbers), score=0)
    if state.get("attempts"):
        ctx.note("abstained after a retry")
        return _give_up(state, ctx, score=0)
    ctx.note("abstained: nothing to judge")
    return {"next_action": "done"}


def _cheap_failure(state: AgentState) -> str:
    """Why the answer fails without asking the judge, or "": it cites nothing, or it opens with a source's
    header line ("[1] Title (file.md)"): small models do that when they continue the sources block instead
    of answering."""
    if not state.get("citations"):
        return "The answer cites none of the sources; every claim needs a [n] citation."
    answer = state.get("answer", "")
    opening = answer.lstrip()
    if any(opening.startswith(source_header(n, hit)) for n, hit in enumerate(state.get("kept", []), start=1)):
        return "The answer copies the sources instead of answering; write your own sentences."
    return ""


def cited_sources(state: AgentState) -> list[CitedSource]:
    """The chunks the answer cites, full text, under the numbers the answer uses."""
    kept = state.get("kept", [])
    sources = []
    for citation in state.get("citations", []):
        n = int(citation["n"])
        text = kept[n - 1]["text"] if 1 <= n <= len(kept) else str(citation.get("quote", ""))
        sources.append(CitedSource(n, str(citation.get("title", "")), str(citation.get("source", "")), text))
    return sources


def _attempt(state: AgentState, score: int) -> dict[str, Any]:
    return {"score": score, **{key: state.get(key) for key in ATTEMPT_KEYS}}


def _retry(state: AgentState, action: str, feedback: str, *, score: int) -> dict[str, Any]:
    return {
        "next_action": action,
        "feedback": feedback,
        "retries": state.get("retries", 0) + 1,
        "failed": False,
        "attempts": [*state.get("attempts", []), _attempt(state, score)],
    }


def _give_up(state: AgentState, ctx: RunContext, *, score: int) -> dict[str, Any]:
    """No attempt passed: return the best one (most criteria passed, earliest on a tie), marked failed."""
    attempts = [*state.get("attempts", []), _attempt(state, score)]
    best_index = max(range(len(attempts)), key=lambda i: (attempts[i]["score"], -i))
    best = attempts[best_index]
    update: dict[str, Any] = {"next_action": "done", "failed": True, "attempts": attempts}
    if best_index != len(attempts) - 1:
        ctx.note(f"returning attempt {best_index} (rated higher than the later ones), marked failed")
        update |= {key: best[key] for key in ATTEMPT_KEYS} | {"answer_attempt": best_index}
    else:
        ctx.note("marked failed")
    if best["score"] < 0 and best.get("answer"):
        # the best attempt is still unusable output (a tool call, JSON, a pasted page): never shown as an answer
        ctx.note("no usable attempt: the answer is replaced")
        update |= {"answer": FAILED_ANSWER, "abstained": False, "citations": []}  # nothing left to cite
    return update


def _retry_fits(ctx: RunContext, state: AgentState, *, judge: bool) -> bool:
    context = sum(h["tokens"] for h in state.get("kept", []))
    answer = answer_call(ctx, context)
    reserve = []
    if judge:
        reserve.append(Call("judge", answer.prompt_tokens + ctx.config.answer_max_tokens // 2, JUDGE_MAX_TOKENS))
    return ctx.budget.check("retry", answer, reserve)
