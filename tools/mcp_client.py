"""Tools of other MCP servers for the agent: `McpToolset` starts the servers of `[[mcp.servers]]`, lists their
tools and turns the allowed ones into registry `Tool`s named `SERVER__TOOL`.

- Started with the agent, stopped with it (a context manager; the SDK's async client runs on a private event loop
  thread, so the synchronous agent calls tools as plain functions).
- A server that fails to start, or dies later, is reported once through `report` and its tools are dropped;
  the agent goes on with the rest.
- The allow list is enforced in code, twice: only allowed tools ever reach the registry (the model cannot even
  name the others: "unknown tool"), and every call checks the name again. Text in documents or tool results
  cannot widen it; see docs/threat-model.md.
- Per call: the server's timeout (the registry abandons an overrun, the client sends a cancellation), the output
  truncated at `max_output_chars` with a marker, arguments checked against the tool's schema first (properties
  not in the schema are invalid: a small model that writes the schema itself as arguments gets told so).
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tools.registry import Tool, ToolMeta, ToolRegistry

if TYPE_CHECKING:
    from anyio.from_thread import BlockingPortal

    from tools.mcp_settings import McpServerConfig

LOG = logging.getLogger("ragloop.mcp.client")
SEPARATOR = "__"
_INVALID = re.compile(r"[^a-zA-Z0-9_-]")


class McpToolError(Exception):
    """An MCP tool call failed (error result, server gone, not allowed); the message goes back to the model."""


def namespaced(server: str, tool: str) -> str:
    return _INVALID.sub("_", f"{server}{SEPARATOR}{tool}")[:64]


def is_allowed(config: McpServerConfig, tool: str) -> bool:
    return "*" in config.allow or tool in config.allow


def truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n[… truncated: {len(text) - limit} more characters of tool output]"


class _Connection:
    def __init__(self, config: McpServerConfig, client: Any, exit_cm: Callable[[], None]) -> None:
        self.config = config
        self.client = client
        self.exit = exit_cm
        self.dead: str | None = None


class McpToolset:
    """The tools of the configured MCP servers, as registry tools; `report(message)` hears of failures once."""

    def __init__(self, servers: list[McpServerConfig], *, report: Callable[[str], None] | None = None) -> None:
        self.servers = servers
        self.report = report or (lambda message: LOG.warning("%s", message))
        self._portal_cm: Any = None
        self._portal: BlockingPortal | None = None
        self._connections: dict[str, _Connection] = {}
        self._tools: list[Tool] = []
        self._registries: weakref.WeakSet[ToolRegistry] = weakref.WeakSet()
        self._lock = threading.Lock()

    # -- lifetime -----------------------------------------------------------------------------------
    def __enter__(self) -> McpToolset:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        if not self.servers:
            return
        from anyio.from_thread import start_blocking_portal

        self._portal_cm = start_blocking_portal()
        self._portal = self._portal_cm.__enter__()
        for config in self.servers:
            try:
                self._connect(config)
            except Exception as exc:  # reported once; the agent goes on without this server
                self.report(f"MCP server {config.name!r} did not start ({_describe(exc)}); its tools are not offered")

    def close(self) -> None:
        for connection in list(self._connections.values()):
            with contextlib.suppress(Exception):
                connection.exit()
        self._connections.clear()
        if self._portal_cm is not None:
            with contextlib.suppress(Exception):  # a server stuck in its start must not hang the agent's exit
                assert self._portal is not None
                self._portal.call(self._portal.stop, True)
            with contextlib.suppress(Exception):
                self._portal_cm.__exit__(None, None, None)
            self._portal_cm = self._portal = None

    # -- tools --------------------------------------------------------------------------------------
    def tools(self) -> list[Tool]:
        return list(self._tools)

    def add_to(self, registry: ToolRegistry) -> ToolRegistry:
        for tool in self._tools:
            if tool.name in registry:
                self.report(f"MCP tool {tool.name!r} clashes with a tool of the same name; not offered")
                continue
            registry.add(tool)
        self._registries.add(registry)
        return registry

    def call(self, server: str, tool: str, arguments: dict[str, Any]) -> str:
        connection = self._connections.get(server)
        if connection is None or self._portal is None:
            raise McpToolError(f"MCP server {server!r} is not available")
        if not is_allowed(connection.config, tool):  # defence in depth: such tools are never registered
            raise McpToolError(f"tool {tool!r} of MCP server {server!r} is not in its allow list")
        if connection.dead is not None:
            raise McpToolError(f"MCP server {server!r} stopped ({connection.dead}); its tools are unavailable")
        timeout = connection.config.timeout
        try:
            result = self._portal.call(
                lambda: connection.client.call_tool(tool, arguments, read_timeout_seconds=timeout)
            )
        except Exception as exc:
            if _is_transport_failure(exc):
                self._mark_dead(connection, _describe(exc))
                raise McpToolError(f"MCP server {server!r} stopped ({_describe(exc)})") from exc
            raise McpToolError(f"{server}{SEPARATOR}{tool} failed: {_describe(exc)}") from exc
        text = "\n".join(_block_text(block) for block in result.content).strip()
        if not text and result.structured_content is not None:
            import json

            text = json.dumps(result.structured_content, ensure_ascii=False)
        text = truncate(text, connection.config.max_output_chars)
        if result.is_error:
            raise McpToolError(text or "the tool reported an error without a message")
        return text

    # -- internals ----------------------------------------------------------------------------------
    def _connect(self, config: McpServerConfig) -> None:
        assert self._portal is not None
        client = _client_for(config)
        cm = self._portal.wrap_async_context_manager(client)
        entered = threading.Event()
        failure: list[BaseException] = []

        def enter() -> None:
            try:
                cm.__enter__()
                entered.set()
            except BaseException as exc:  # handed back below
                failure.append(exc)
                entered.set()

        starter = threading.Thread(target=enter, daemon=True, name=f"mcp-start-{config.name}")
        starter.start()
        if not entered.wait(config.startup_timeout):
            raise TimeoutError(f"no answer within {config.startup_timeout:g} s")
        if failure:
            raise failure[0]

        def exit_cm() -> None:
            cm.__exit__(None, None, None)

        connection = _Connection(config, client, exit_cm)
        try:
            listed = self._portal.call(client.list_tools)
        except Exception:
            with contextlib.suppress(Exception):
                exit_cm()
            raise
        self._connections[config.name] = connection
        offered = [t for t in listed.tools if is_allowed(config, t.name)]
        missing = [name for name in config.allow if name != "*" and name not in {t.name for t in listed.tools}]
        if missing:
            self.report(f"MCP server {config.name!r} has no tools named {', '.join(missing)} (allow list)")
        for remote in offered:
            self._tools.append(self._as_tool(config, remote))

    def _as_tool(self, config: McpServerConfig, remote: Any) -> Tool:
        server, name = config.name, remote.name

        def invoke(**arguments: Any) -> str:
            return self.call(server, name, arguments)

        annotations = remote.annotations
        schema = dict(remote.input_schema or {"type": "object", "properties": {}})
        schema.setdefault("properties", {})
        return Tool(
            name=namespaced(server, name),
            description=f"[{server}] {(remote.description or remote.title or name).strip()}",
            parameters=schema,
            fn=invoke,
            arguments=None,
            meta=ToolMeta(
                read_only=bool(annotations and annotations.read_only_hint),
                idempotent=bool(annotations and annotations.idempotent_hint),
                open_world=True,
                timeout=config.timeout,
            ),
        )

    def _mark_dead(self, connection: _Connection, reason: str) -> None:
        with self._lock:
            if connection.dead is None:
                connection.dead = reason
                self.report(f"MCP server {connection.config.name!r} stopped ({reason}); its tools are dropped")
                prefix = namespaced(connection.config.name, "")
                self._tools = [t for t in self._tools if not t.name.startswith(prefix)]
                for registry in list(self._registries):
                    for name in registry.names():
                        if name.startswith(prefix):
                            registry.remove(name)


def _client_for(config: McpServerConfig) -> Any:
    from mcp import Client, StdioServerParameters

    if config.command:
        # the SDK passes a minimal environment (PATH, HOME, ...) plus `env`: never ragloop's keys and tokens
        params = StdioServerParameters(command=config.command, args=list(config.args), env=dict(config.env) or None)
        return Client(params)
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    headers = {"Authorization": f"Bearer {config.token}"} if config.token else {}
    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(config.startup_timeout, read=config.timeout))
    assert config.url is not None
    return Client(streamable_http_client(config.url, http_client=http))


def _block_text(block: Any) -> str:
    text = getattr(block, "text", None)
    if isinstance(text, str):
        return text
    kind = getattr(block, "type", "content")
    return f"[{kind} content not shown]"


def _is_transport_failure(exc: BaseException) -> bool:
    import anyio
    from mcp.shared.exceptions import MCPError
    from mcp_types import CONNECTION_CLOSED

    chain = _chain(exc)
    broken = (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, ConnectionError, EOFError)
    if any(isinstance(e, broken) for e in chain) or "ConnectError" in {type(e).__name__ for e in chain}:
        return True
    return any(isinstance(e, MCPError) and e.error.code == CONNECTION_CLOSED for e in chain)


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in out:
        out.append(current)
        if isinstance(current, BaseExceptionGroup):
            out.extend(current.exceptions)
        current = current.__cause__ or current.__context__
    return out


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return _describe(exc.exceptions[0])
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


_TOOLSETS: weakref.WeakKeyDictionary[contextlib.ExitStack, McpToolset] = weakref.WeakKeyDictionary()
_TOOLSETS_LOCK = threading.Lock()


def agent_tools(
    servers: list[McpServerConfig], stack: contextlib.ExitStack, *, report: Callable[[str], None] | None = None
) -> ToolRegistry:
    """A registry for one agent: the built-ins plus the allowed tools of `servers`. The servers start on the
    first call for `stack` and stop when it closes; later calls (more agents of the same runtime) share them.
    This is the composition root's one call."""
    from tools.builtin import builtin_registry

    registry = builtin_registry()
    if not servers:
        return registry
    with _TOOLSETS_LOCK:
        toolset = _TOOLSETS.get(stack)
        if toolset is None:
            toolset = _TOOLSETS[stack] = stack.enter_context(McpToolset(servers, report=report or _warn))
    return toolset.add_to(registry)


def _warn(message: str) -> None:
    import sys

    print(f"warning: {message}", file=sys.stderr)
