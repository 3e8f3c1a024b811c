"""tools: a bounded tool-calling loop. The model emits tool calls, the registry runs them, the results (errors
included) go back as tool messages; after `max_tool_steps` model turns the model must answer without tools.
The first turn must call a tool (`tool_choice="required"`): the router already decided one is needed."""

from __future__ import annotations

from typing import Any

from agent.context import RunContext
from agent.prompts import TOOLS_SYSTEM
from agent.state import AgentState
from tools.registry import ToolOutcome


def tools(state: AgentState, ctx: RunContext) -> dict[str, Any]:
    registry = ctx.deps.tools
    if registry is None or len(registry) == 0:
        ctx.model_error("tools", "routed to tools but no tools are registered")
        return {"answer": "", "failed": True}
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": TOOLS_SYSTEM},
        *state.get("history", []),
        {"role": "user", "content": state["question"]},
    ]
    schemas = registry.schemas()
    max_steps = max(1, ctx.config.max_tool_steps)
    calls_made = 0
    answer = ""
    for step in range(1, max_steps + 1):
        last = step == max_steps
        result = ctx.chat.generate(
            messages,
            tools=schemas,
            # the router decided a tool is needed: the first turn must call one (grammar-constrained on the
            # local server); later turns may answer; the last must answer
            tool_choice="none" if last else ("required" if step == 1 else "auto"),
            max_tokens=ctx.config.answer_max_tokens,
            on_token=ctx.token_sink(),
        )
        if not result.tool_calls or last:
            if result.tool_calls:
                ctx.model_error("tools", "called tools after the last allowed step; calls ignored")
            answer = result.text.strip()
            break
        messages.append(
            {
                "role": "assistant",
                "content": result.text or None,
                "tool_calls": [call.as_message_part() for call in result.tool_calls],
            }
        )
        for call in result.tool_calls:
            calls_made += 1
            outcome: ToolOutcome = registry.execute(call.name, call.arguments)
            if outcome.error:
                ctx.model_error(f"tool {call.name}", outcome.error)
            ctx.note(f"{call.name}({call.arguments}) → {_clip(outcome.content)}")
            messages.append({"role": "tool", "tool_call_id": call.id, "name": call.name, "content": outcome.content})
    if not answer:
        ctx.model_error("tools", "the model gave no final answer")
        return {"answer": "", "citations": [], "failed": True}
    ctx.note(f"answered after {calls_made} tool call(s)")
    return {"answer": answer, "citations": []}


def _clip(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
