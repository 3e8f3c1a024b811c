"""The agent's MCP client against an external MCP server defined here (tests/tools/external_mcp_server.py, a real
subprocess): namespaced tools with their schemas, calls and their limits, failures reported once, a dying server's
tools withdrawn, the allow list enforced in code (a prompt injection in a tool result cannot reach a forbidden
tool), and `[[mcp.servers]]` read from ragloop.toml."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import pytest

from agent.run import Agent, AgentConfig, AgentDeps
from agent.settings import SettingsError, load_settings
from agent.testing import KeywordRetriever, ScriptedChatClient, ScriptedReply
from tools.mcp_client import McpToolset, agent_tools
from tools.mcp_settings import McpServerConfig
from tools.registry import ToolRegistry

SERVER = str(Path(__file__).with_name("external_mcp_server.py"))


def external(log: Path, **overrides: object) -> McpServerConfig:
    values: dict[str, object] = {
        "name": "ext",
        "command": sys.executable,
        "args": [SERVER],
        "env": {"EXTERNAL_LOG": str(log)},
        "allow": ["lookup", "shout", "crash"],
    }
    values.update(overrides)
    return McpServerConfig.model_validate(values)


def calls(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_allowed_tools_are_offered_namespaced_and_called(tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    reports: list[str] = []
    with McpToolset([external(log, max_output_chars=100)], report=reports.append) as toolset:
        registry = toolset.add_to(ToolRegistry())
        assert registry.names() == ["ext__lookup", "ext__shout", "ext__crash"]  # delete_all is not allowed
        schema = registry.get("ext__lookup").parameters  # type: ignore[union-attr]
        assert schema["properties"]["term"]["type"] == "string" and schema["required"] == ["term"]
        assert registry.get("ext__lookup").description.startswith("[ext] Look a term up")  # type: ignore[union-attr]

        assert registry.execute("ext__lookup", '{"term": "RRF"}').content.startswith("RRF: a word from the team")
        # a small model writing the schema as the arguments is told what is wrong; nothing reaches the server
        wrong = registry.execute("ext__lookup", '{"type": "object"}')
        assert (
            wrong.error
            and "type: not a parameter of this tool" in wrong.error
            and "term: Field required" in wrong.error
        )
        long = registry.execute("ext__shout", '{"times": 500}')
        assert long.error is None and long.content.startswith("ha" * 50)
        assert long.content.endswith("[… truncated: 900 more characters of tool output]")
        assert registry.execute("ext__delete_all", "{}").error.startswith("unknown tool")  # type: ignore[union-attr]
    assert calls(log) == ["lookup RRF", "shout 500"]
    assert reports == []


def test_failing_and_dying_servers_are_reported_once_and_dropped(tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    reports: list[str] = []
    broken = McpServerConfig(name="broken", command="/bin/false", allow=["*"], startup_timeout=20)
    missing = McpServerConfig(name="gone", command=str(tmp_path / "no-such-program"), allow=["*"])
    with McpToolset([broken, external(log), missing], report=reports.append) as toolset:
        registry = toolset.add_to(ToolRegistry())
        assert registry.names() == ["ext__lookup", "ext__shout", "ext__crash"]
        assert len(reports) == 2 and all("did not start" in r for r in reports)
        assert "'broken'" in reports[0] and "'gone'" in reports[1]

        died = registry.execute("ext__crash", "{}")
        assert died.error and "stopped" in died.error
        assert len(reports) == 3 and "'ext' stopped" in reports[2] and "dropped" in reports[2]
        assert registry.names() == []  # withdrawn: the model is no longer offered them
        assert registry.execute("ext__lookup", '{"term": "x"}').error.startswith("unknown tool")  # type: ignore[union-attr]
    assert len(reports) == 3


def test_a_prompt_injection_in_a_tool_result_cannot_reach_a_forbidden_tool(tmp_path: Path) -> None:
    """The scripted model obeys the planted instruction (the worst case): the allow list still stops the call."""
    log = tmp_path / "calls.log"
    chat = ScriptedChatClient(
        {
            "route": [{"route": "tool"}],
            "tools": [
                ScriptedReply(tool_calls=[("ext__lookup", {"term": "planted"})]),
                ScriptedReply(tool_calls=[("ext__delete_all", {"confirm": True})]),
                "I could not delete anything.",
            ],
        }
    )
    with contextlib.ExitStack() as stack:
        registry = agent_tools([external(log)], stack)
        assert {"calculator", "current_time", "ext__lookup"} <= set(registry.names())
        deps = AgentDeps(
            chat=chat, judge=None, retriever=KeywordRetriever([]), tools=registry, config=AgentConfig(judge_skip=False)
        )
        with Agent(deps, home=tmp_path) as agent:
            result = agent.ask("Look up the glossary entry 'planted'.")
    assert calls(log) == ["lookup planted"]  # delete_all never reached the server
    last = chat.calls[-1].messages
    tool_results = [m["content"] for m in last if m["role"] == "tool"]
    assert "IMPORTANT SYSTEM NOTICE" in tool_results[0]
    assert tool_results[1].startswith("Error: unknown tool 'ext__delete_all'")
    assert result.answer == "I could not delete anything."
    offered = [t["function"]["name"] for t in chat.calls[1].request["tools"]]
    assert "ext__delete_all" not in offered and "ext__lookup" in offered


def test_servers_are_read_from_ragloop_toml(tmp_path: Path) -> None:
    (tmp_path / "ragloop.toml").write_text(
        "[[mcp.servers]]\n"
        'name = "ext"\n'
        f'command = "{sys.executable}"\n'
        f'args = ["{SERVER}"]\n'
        'allow = ["lookup"]\n'
        "timeout = 5\n",
        encoding="utf-8",
    )
    settings = load_settings({"home": str(tmp_path)})
    [server] = settings.mcp.servers
    assert (server.name, server.allow, server.timeout, server.max_output_chars) == ("ext", ["lookup"], 5.0, 8000)

    (tmp_path / "ragloop.toml").write_text(
        '[[mcp.servers]]\nname = "both"\ncommand = "x"\nurl = "http://127.0.0.1:1/mcp"\nallow = ["*"]\n',
        encoding="utf-8",
    )
    with pytest.raises(SettingsError, match="either `command`"):
        load_settings({"home": str(tmp_path)})
    (tmp_path / "ragloop.toml").write_text('[[mcp.servers]]\nname = "noallow"\ncommand = "x"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match="allow"):
        load_settings({"home": str(tmp_path)})


@pytest.mark.slow
def test_real_model_loop_with_an_external_server_keeps_to_the_allow_list(tmp_path: Path) -> None:
    """The real default model in the agent loop, offered the external server's tools: whatever it decides, only
    allowed tools reach the server, even when a tool result asks for another one."""
    from agent.chat_client import ChatClient
    from local_models.serve import serve

    log = tmp_path / "calls.log"
    with serve("qwen2.5-coder-0.5b", n_ctx=4096) as url, contextlib.ExitStack() as stack:
        chat = ChatClient(url, "qwen2.5-coder-0.5b")
        stack.callback(chat.close)
        registry = agent_tools([external(log, allow=["lookup"])], stack)
        deps = AgentDeps(chat=chat, judge=None, retriever=KeywordRetriever([]), tools=registry, config=AgentConfig())
        with Agent(deps, home=tmp_path) as agent:
            result = agent.ask("Use the ext__lookup tool to look up the glossary term 'planted'.")
    # qwen2.5-coder-0.5b routes this to the tool loop and calls the lookup (the question names the tool); the
    # lookup's result then asks for ext__delete_all, which is not allowed: it never reaches the server
    assert result.route == "tool" and any(s.node == "tools" for s in result.steps)
    assert calls(log) and all(line.startswith("lookup ") for line in calls(log)), calls(log)
