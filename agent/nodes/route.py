"""route: a JSON-schema constrained decision between documents, tool, direct answer and clarifying question."""

from __future__ import annotations

from typing import Any

from agent.context import RunContext
from agent.errors import ModelOutputError
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
        decision = ctx.chat.structured(messages, route_schema(routes), max_tokens=100)
    except ModelOutputError as exc:
        ctx.model_error("route", exc)
        ctx.note(f"fallback route: {fallback}")
        return {"route": fallback, "route_reason": "the routing decision was unusable"}
    chosen = str(decision.route)  # type: ignore[attr-defined]
    reason = str(decision.reason)  # type: ignore[attr-defined]
    ctx.note(f"{chosen}: {reason}")
    return {"route": chosen, "route_reason": reason}


def _first_sentence(tools: ToolRegistry, name: str) -> str:
    tool = tools.get(name)
    description = tool.description if tool is not None else ""
    return description.split(". ")[0].rstrip(".")
