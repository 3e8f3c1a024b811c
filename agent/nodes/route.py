"""route: a JSON-schema constrained decision between documents, tool, direct answer and clarifying question.

Every decision other than "documents" is checked against the collection: when a search for the message finds
a chunk that is confidently relevant by its retrieval score (the grader's cheap signal), the documents know
about it and the route becomes "documents". A small model otherwise answers some on-topic questions from its
own (often wrong) knowledge, or sends a question about the documents to a tool (on a real manual, 6 of 20
questions went to the calculator or the clock). The strict form of that check (the chunk also holds most of
the question's words) overturns any decision, so it runs before the model is asked, and a match skips the
route call."""

from __future__ import annotations

import time
from typing import Any

from agent.context import RunContext
from agent.errors import ModelOutputError
from agent.evidence import QUESTION_COVERAGE, question_coverage
from agent.nodes.grade import cheap_signal
from agent.nodes.retrieve import to_hit
from agent.nodes.tools import named_tools
from agent.prompts import ROUTE_HELP, ROUTE_SYSTEM, route_schema
from agent.state import AgentState
from tools.registry import ToolRegistry


def available_routes(ctx: RunContext) -> tuple[str, ...]:
    routes: list[str] = []
    if ctx.deps.retriever is not None:
        routes.append("documents")
    if ctx.deps.tools is not None and len(ctx.deps.tools) > 0:
        routes.append("tool")
    return (*routes, "direct", "clarify")


def route(state: AgentState, ctx: RunContext) -> dict[str, Any]:
    routes = available_routes(ctx)
    fallback = "documents" if "documents" in routes else "direct"
    if not ctx.config.route:
        ctx.note(f"routing off: {fallback}")
        return {"route": fallback, "route_reason": "routing off"}
    named_tool = ctx.deps.tools is not None and bool(named_tools(ctx.deps.tools, state["question"]))
    if "documents" in routes and not named_tool:
        # the check that overturns any other decision, made first: when it holds, the model's decision cannot
        # change the route, so it is not asked (a route call is a prefill of the routing prompt, ~5 s on 2 cores)
        match = _confident_match(state["question"], ctx, strong=True)
        if match:
            ctx.note(f"{match}: documents (the model was not asked)")
            return {"route": "documents", "route_reason": match}
    help_lines = []
    for name in routes:
        line = ROUTE_HELP[name]
        if name == "tool" and ctx.deps.tools is not None:
            tools = ctx.deps.tools
            line = line.format(tools="; ".join(f"{n} ({_first_sentence(tools, n)})" for n in tools.names()))
        help_lines.append(f"- {line}")
    # only the earlier questions: earlier answers make small models copy them instead of deciding
    earlier = [m["content"] for m in state.get("history", []) if m["role"] == "user"]
    user = f"Message: {state['question']}"
    if earlier:
        user = "Earlier messages:\n" + "\n".join(f"- {q}" for q in earlier) + "\n\n" + user
    messages = [
        {"role": "system", "content": ROUTE_SYSTEM.format(routes="\n".join(help_lines))},
        {"role": "user", "content": user},
    ]
    try:
        decision = ctx.chat.structured(messages, route_schema(routes), max_tokens=20)
    except ModelOutputError as exc:
        ctx.model_error("route", exc)
        ctx.note(f"fallback route: {fallback}")
        return {"route": fallback, "route_reason": "the routing decision was unusable"}
    chosen = str(decision.route)  # type: ignore[attr-defined]
    if chosen in ("direct", "clarify") and "documents" in routes and not named_tool:
        # a tool decision is overturned only by a chunk that holds the question's words (checked above): "1+1,
        # again" must not go to the documents because a chunk scores high on "again"; a message naming a tool
        # keeps it
        match = _confident_match(state["question"], ctx)
        if match:
            ctx.note(f"model said {chosen}; {match}: documents")
            return {"route": "documents", "route_reason": f"the model said {chosen}, but {match}"}
    ctx.note(chosen)
    return {"route": chosen, "route_reason": "the model's decision"}


def _confident_match(question: str, ctx: RunContext, *, strong: bool = False) -> str:
    """A description of the first chunk of the top 3 that shows the documents know about `question`, or "".

    Such a chunk scores confidently relevant, or scores uncertain and holds at least half of the question's
    content words (agent.evidence.question_coverage). With `strong` (a tool decision) the words are always
    required. On the SQLite manual "How do I make a column auto-increment?" tops out at dense 0.40 (FAQ,
    half its words) in the hybrid top 3: not confident, yet plainly a question for the documents."""
    retriever = ctx.deps.retriever
    if retriever is None:
        return ""
    start = time.perf_counter()
    hits = retriever.search(question, k=3)
    ctx.budget.add_time("retrieval", time.perf_counter() - start)
    for hit in hits:
        flat = to_hit(hit, question, 0)
        signal, stage = cheap_signal(flat, ctx.config.grade_thresholds)
        if stage not in hit.scores:
            continue  # no stage scored it: no evidence either way
        covered = question_coverage(question, flat) >= QUESTION_COVERAGE
        if (signal == "relevant" and (covered or not strong)) or (signal == "uncertain" and covered):
            return f"the documents match it ({stage} {hit.scores[stage]:.2f}, {hit.chunk.source})"
    return ""


def _first_sentence(tools: ToolRegistry, name: str) -> str:
    tool = tools.get(name)
    description = tool.description if tool is not None else ""
    return description.split(". ")[0].rstrip(".")
