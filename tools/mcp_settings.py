"""Settings section `[mcp]` of ragloop.toml (env `RAGLOOP_MCP_<FIELD>`): the MCP server and MCP client servers."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class McpSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
