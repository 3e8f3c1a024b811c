"""Settings section `[mcp]` of ragloop.toml (env `RAGLOOP_MCP_<FIELD>`): the MCP server and MCP client servers.

[mcp]
port = 8765
allow_ingest = false

[[mcp.servers]]                 # tools of other MCP servers, offered to the agent
name = "files"
command = "npx"
args = ["-y", "@modelcontextprotocol/server-filesystem", "/home/me/notes"]
allow = ["read_file", "list_directory"]     # only these tools, whatever a document says

[[mcp.servers]]
name = "wiki"
url = "https://wiki.example.org/mcp"
token = "..."                   # read from this file only: keep it private (chmod 600)
allow = ["search"]
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

NOT_A_FLAG: dict[str, Any] = {"cli": False}
_SERVER_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,24}$")


class McpServerConfig(BaseModel):
    """One MCP server whose tools the agent may call (stdio: `command` + `args`; HTTP: `url` + `token`)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Short name; its tools are offered as NAME__TOOL.", pattern=_SERVER_NAME.pattern)
    command: str | None = Field(None, description="Program to start (stdio transport).")
    args: list[str] = Field(default_factory=list, description="Arguments of the program.")
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment variables for the program.")
    url: str | None = Field(None, description="Streamable HTTP endpoint (…/mcp).")
    token: str | None = Field(None, description="Bearer token for `url`.")
    allow: list[str] = Field(
        description='Tool names the agent may call ("*" for every tool the server lists). Enforced in code: '
        "text in documents or tool results cannot widen it."
    )
    timeout: float = Field(30.0, gt=0, description="Seconds one call may take before it is abandoned.")
    startup_timeout: float = Field(30.0, gt=0, description="Seconds the server may take to start and list tools.")
    max_output_chars: int = Field(8000, ge=100, description="Longest tool result passed to the model.")

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerConfig:
        if bool(self.command) == bool(self.url):
            raise ValueError(f"MCP server {self.name!r}: set either `command` (stdio) or `url` (HTTP), not both")
        if self.token and not self.url:
            raise ValueError(f"MCP server {self.name!r}: `token` is for `url` servers")
        return self


class McpSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    transport: Literal["stdio", "http"] = Field("stdio", description="ragloop mcp: stdio or http (streamable).")
    host: str = Field("127.0.0.1", description="ragloop mcp --transport http: address to bind (loopback default).")
    port: int = Field(8765, ge=1, le=65535, description="ragloop mcp --transport http: port.")
    token: str | None = Field(
        None,
        description="Bearer token every HTTP request must carry (required to bind a non-loopback address; "
        "prefer RAGLOOP_MCP_TOKEN: flags are visible in ps).",
    )
    allow_ingest: bool = Field(False, description="Offer the ingest tool (it reads files on this machine).")
    tool_timeout: float = Field(30.0, gt=0, description="Seconds a tool call may take (ask and ingest: longer).")
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Extra Host names accepted over HTTP (DNS-rebinding protection), e.g. the machine's name.",
        json_schema_extra=NOT_A_FLAG,
    )
    servers: list[McpServerConfig] = Field(
        default_factory=list, description="MCP servers whose tools the agent may use.", json_schema_extra=NOT_A_FLAG
    )

    @model_validator(mode="after")
    def _unique_names(self) -> McpSettings:
        names = [s.name for s in self.servers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"[[mcp.servers]] names must be unique: {', '.join(duplicates)}")
        return self
