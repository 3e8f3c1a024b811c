"""Errors of the agent area, split by who must act.

- `AgentError` and its subclasses are for the person running ragloop: the model server cannot be reached,
  the prompt does not fit the model's context. The message says what to do next; the CLI prints it
  without a traceback.
- `ModelOutputError` is caused by the model (malformed JSON, empty output, an unknown tool). Nodes catch it,
  record it in the step trace and carry on with a documented fallback; it never reaches the user as a crash.
- Anything else is a bug and is raised.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from memory.errors import UnusableModelOutput

if TYPE_CHECKING:
    from agent.chat_client import ChatResult


class AgentError(Exception):
    """A problem the user can fix (start the model server, pass --model-url, raise --n-ctx)."""


class ChatBackendError(AgentError):
    """The OpenAI-compatible endpoint failed (unreachable, timed out, rejected the request)."""


class ContextLengthError(ChatBackendError):
    """The prompt plus the answer budget does not fit the model's context window."""


class ModelOutputError(UnusableModelOutput):
    """The model produced output the agent cannot use. Recorded in the step trace, then handled."""

    def __init__(self, message: str, result: ChatResult | None = None) -> None:
        super().__init__(message)
        self.result = result
