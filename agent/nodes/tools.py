"""tools: a bounded tool-calling loop. The model emits tool calls, the registry runs them, the results (errors
included) go back as tool messages; after `max_tool_steps` model turns the model must answer without tools.

A call is forced (`tool_choice` "required") only on the first turn and only when the user's message names a
tool ("use the calculator"); otherwise every turn is "auto", then "none" on the last: the router's "tool"
decision is a guess, and a forced first call makes a small model call some tool for any question (the
calculator with the example from its own description). A call whose arguments copy the tool's description
instead of the user's message is refused back to the model. A call the model writes as text
(`{"name": ..., "arguments": ...}`) is run as the call it is; the final answer passes the output checks of
every route (agent.output_checks), and one that still fails them is replaced and marked failed.

A first turn that calls no tool hands the question to the documents route (when there is one): the router's
guess was wrong, and an answer written here would come from the model's own knowledge, uncited and unjudged
(the 1.5B answered questions the manual does not cover, such as SQLCipher set-up, this way). That first turn
is capped at `DECISION_TOKENS`: enough for a call, while prose is stopped early."""

from __future__ import annotations

import json
import re
from typing import Any

from agent.chat_client import ToolCallRequest
from agent.context import RunContext
from agent.excerpt import clip
from agent.output_checks import check_answer, text_tool_calls
from agent.prompts import FAILED_ANSWER, PROMPT_TEXTS, TOOLS_SYSTEM
from agent.state import AgentState
from tools.registry import ToolOutcome, ToolRegistry

# the first turn's length when it may hand over to the documents: a tool call fits (about 25 tokens for the
# calculator's), an answer in prose is cut short since it is not used
DECISION_TOKENS = 64
_CALL_OPENING = re.compile(r"^\s*(?:[{\[<]|```)")

COPIED_EXAMPLE = (
    "Error: the arguments {values} are the example from the tool's description, not something the user asked. "
    "Call a tool only when the user's message needs it; otherwise answer the message directly."
)


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
    asked = " ".join([state["question"], *(str(m.get("content") or "") for m in state.get("history", []))])
    schemas = registry.schemas()
    names = registry.names()
    max_steps = max(1, ctx.config.max_tool_steps)
    calls_made = 0
    answer = ""
    named = named_tools(registry, state["question"])
    if named:
        ctx.note(f"the message names {', '.join(named)}: the first turn must call a tool")
    can_hand_over = ctx.deps.retriever is not None and not named and max_steps > 1
    for step in range(1, max_steps + 1):
        last = step == max_steps
        deciding = step == 1 and can_hand_over
        result = ctx.chat.generate(
            messages,
            tools=schemas,
            tool_choice="none" if last else ("required" if step == 1 and named else "auto"),
            max_tokens=DECISION_TOKENS if deciding else ctx.config.answer_max_tokens,
            on_token=None if deciding else ctx.token_sink(),
        )
        calls = list(result.tool_calls)
        if not calls and not last:
            written = text_tool_calls(result.text, names)
            if written:
                ctx.note(f"the model wrote {len(written)} tool call(s) as text: run as calls")
                calls = [ToolCallRequest(f"text_call_{step}_{i}", c.name, c.arguments) for i, c in enumerate(written)]
        if deciding and not calls:
            if result.finish_reason == "length" and _CALL_OPENING.match(result.text):
                # a call written as text, cut by the cap: let it finish (the prompt is cached)
                result = ctx.chat.generate(
                    messages, tools=schemas, tool_choice="auto", max_tokens=ctx.config.answer_max_tokens
                )
                calls = list(result.tool_calls) or [
                    ToolCallRequest(f"text_call_{step}_{i}", c.name, c.arguments)
                    for i, c in enumerate(text_tool_calls(result.text, names))
                ]
            if not calls:
                ctx.note("the model called no tool: the documents route answers instead")
                return {"route": "documents", "route_reason": "routed to tools, but the model called none"}
        if not calls or last:
            if calls:
                ctx.model_error("tools", "called tools after the last allowed step; calls ignored")
            answer = result.text.strip()
            break
        messages.append(
            {
                "role": "assistant",
                "content": None if calls is not result.tool_calls else (result.text or None),
                "tool_calls": [call.as_message_part() for call in calls],
            }
        )
        for call in calls:
            calls_made += 1
            copied = copied_example(registry, call.name, call.arguments, asked)
            if copied:
                outcome = ToolOutcome(content=COPIED_EXAMPLE.format(values=copied), error="copied example")
            else:
                outcome = registry.execute(call.name, call.arguments)
            if outcome.error:
                ctx.model_error(f"tool {call.name}", outcome.error)
            ctx.note(f"{call.name}({call.arguments}) → {clip(outcome.content)}")
            messages.append({"role": "tool", "tool_call_id": call.id, "name": call.name, "content": outcome.content})
    if not answer:
        ctx.model_error("tools", "the model gave no final answer")
        return {"answer": "", "citations": [], "failed": True}
    problem = check_answer(answer, tool_names=names, instructions=PROMPT_TEXTS)
    if problem is not None:
        ctx.model_error("tools", f"unusable final answer ({problem.kind}): {clip(answer)}")
        ctx.note("no usable answer: replaced, marked failed")
        return {"answer": FAILED_ANSWER, "citations": [], "failed": True}
    ctx.note(f"answered after {calls_made} tool call(s)")
    return {"answer": answer, "citations": []}


def named_tools(registry: ToolRegistry, message: str) -> list[str]:
    """The tools the message names, by name or title ("current_time", "current time", "the Calculator")."""
    text = " " + re.sub(r"[^a-z0-9]+", " ", message.lower()) + " "
    named = []
    for tool in registry.tools():
        titles = {tool.name, tool.name.replace("_", " ").replace("-", " "), str(tool.meta.title or "")}
        if any(t and f" {re.sub(r'[^a-z0-9]+', ' ', t.lower()).strip()} " in text for t in titles):
            named.append(tool.name)
    return named


def copied_example(registry: ToolRegistry, name: str, arguments: str, asked: str) -> str:
    """The argument values copied from a quoted example in the tool's description ("Example: "(2 + 3) * 4"")
    when they share no word or number with what the user wrote and are not the parameter's default; "" for a
    call whose arguments may come from the user."""
    tool = registry.get(name)
    if tool is None:
        return ""
    try:
        values = json.loads(arguments)
    except json.JSONDecodeError:
        return ""
    if not isinstance(values, dict) or not values:
        return ""
    properties = tool.parameters.get("properties", {}) if isinstance(tool.parameters, dict) else {}
    described = " ".join([tool.description, *(str(p.get("description", "")) for p in properties.values())])
    examples = {_squash(e) for e in _QUOTED.findall(described)}
    user_tokens = set(_TOKEN.findall(asked.lower()))
    copied = []
    for key, value in values.items():
        text = str(value)
        default = properties.get(key, {}).get("default")
        if _squash(text) not in examples or value == default or set(_TOKEN.findall(text.lower())) & user_tokens:
            return ""
        copied.append(repr(text))
    return ", ".join(copied)


_QUOTED = re.compile(r"\"([^\"]+)\"|'([^']+)'")
_TOKEN = re.compile(r"[a-z]{3,}|\d+")


def _squash(text: Any) -> str:
    if isinstance(text, tuple):  # a findall group pair: one of them matched
        text = next((t for t in text if t), "")
    return "".join(str(text).lower().split())
