"""The bounded tool-calling loop: tool calls run through the registry, results and errors go back to the model
as tool messages, and the last step must answer."""

from __future__ import annotations

import json

from agent_support import AgentFactory, route_to

from agent.testing import ScriptedReply
from tools.builtin import builtin_registry

QUESTION = "What is 17 * 23?"


def tool_messages(messages: list[dict[str, object]]) -> list[dict[str, object]]:
    return [m for m in messages if m["role"] == "tool"]


def test_tool_call_result_goes_back_to_the_model(make_agent: AgentFactory) -> None:
    agent, chat = make_agent(
        {
            "route": [route_to("tool")],
            "tools": [
                ScriptedReply(tool_calls=[("calculator", {"expression": "17 * 23"})]),
                "17 * 23 = 391.",
            ],
        },
        tools=builtin_registry(),
    )
    result = agent.ask(QUESTION)
    assert result.route == "tool" and result.answer == "17 * 23 = 391." and not result.failed
    assert chat.kinds() == ["route", "tools", "tools"]
    first, second = chat.calls[1], chat.calls[2]
    names = [t["function"]["name"] for t in first.request["tools"]]
    assert names == ["calculator", "current_time"] and first.request["tool_choice"] == "auto"
    assistant = second.messages[-2]
    assert assistant["role"] == "assistant" and assistant["tool_calls"][0]["function"]["name"] == "calculator"
    [tool_message] = tool_messages(second.messages)
    assert tool_message["content"] == "391"
    assert tool_message["tool_call_id"] == assistant["tool_calls"][0]["id"]
    tools_step = next(s for s in result.steps if s.node == "tools")
    assert "calculator" in tools_step.summary and tools_step.error is None
    assert nodes_of_answer(result) == ["load_context", "route", "tools", "save"]


def nodes_of_answer(result: object) -> list[str]:
    return [s.node for s in result.steps]  # type: ignore[attr-defined]


def test_tool_errors_and_unknown_tools_return_to_the_model(make_agent: AgentFactory) -> None:
    agent, chat = make_agent(
        {
            "route": [route_to("tool")],
            "tools": [
                ScriptedReply(
                    tool_calls=[
                        ("calculator", {"expression": "1/0"}),
                        ("teleport", {"to": "Mars"}),
                        ("calculator", "{not json"),
                        ("calculator", {"expr": "1+1"}),
                    ]
                ),
                ScriptedReply(tool_calls=[("calculator", {"expression": "6 * 7"})]),
                "It is 42; the first tries failed.",
            ],
        },
        tools=builtin_registry(),
    )
    result = agent.ask("What is 6 * 7?")
    assert result.answer == "It is 42; the first tries failed." and not result.failed
    contents = [m["content"] for m in tool_messages(chat.calls[2].messages)]
    assert contents[0] == "Error: tool 'calculator' failed: ZeroDivisionError: division by zero"
    assert "unknown tool 'teleport'" in str(contents[1]) and "calculator, current_time" in str(contents[1])
    assert "not valid JSON" in str(contents[2])
    assert "invalid arguments" in str(contents[3])
    assert tool_messages(chat.calls[3].messages)[-1]["content"] == "42"
    step = next(s for s in result.steps if s.node == "tools")
    assert step.error is not None and "teleport" in step.error and "ZeroDivisionError" in step.error


def test_tool_loop_is_bounded_and_the_last_step_must_answer(make_agent: AgentFactory) -> None:
    call = ScriptedReply(tool_calls=[("calculator", {"expression": "1+1"})], text="")
    final = ScriptedReply(tool_calls=[("calculator", {"expression": "1+1"})], text="Two.")
    agent, chat = make_agent(
        {"route": [route_to("tool")], "tools": [call, call, final]}, tools=builtin_registry(), max_tool_steps=3
    )
    result = agent.ask("1+1, again and again")
    assert [c.request["tool_choice"] for c in chat.calls[1:]] == ["auto", "auto", "none"]
    assert result.answer == "Two." and not result.failed
    assert len(tool_messages(chat.calls[-1].messages)) == 2


def test_tool_loop_without_a_final_answer_is_marked_failed(make_agent: AgentFactory) -> None:
    call = ScriptedReply(tool_calls=[("current_time", {})])
    agent, _ = make_agent(
        {"route": [route_to("tool")], "tools": [call, ""]}, tools=builtin_registry(), max_tool_steps=2
    )
    result = agent.ask("What time is it?")
    assert result.failed and result.answer == ""
    assert "no final answer" in (next(s for s in result.steps if s.node == "tools").error or "")


def test_tool_route_is_offered_only_with_tools(make_agent: AgentFactory) -> None:
    agent, chat = make_agent({"route": [route_to("direct")], "reply": ["Hi"]}, tools=builtin_registry())
    agent.ask("hello")
    route_call = chat.calls[0]
    enum = route_call.request["response_format"]["json_schema"]["schema"]["properties"]["route"]["enum"]
    assert enum == ["documents", "tool", "direct", "clarify"]
    assert (
        "calculator (Evaluate an arithmetic expression exactly as written and return the result); current_time ("
        in (route_call.messages[0]["content"])
    )
    assert json.loads(json.dumps(route_call.request["response_format"]))  # plain JSON
