"""The harness's user-facing error: a bad suite, dataset or run directory (the message says what to fix)."""

from __future__ import annotations

from agent.errors import AgentError


class EvalError(AgentError):
    """Shown as a clean `error: ...` by the CLI (exit code 2): it subclasses the agent's user error."""
