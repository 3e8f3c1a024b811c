"""Errors of the memory area meant for the user (a bad user name, an unknown memory id, a bad import file), and
the one memory catches from the model.

`MemoryStoreError` is a `RetrievalError` (memory is built on retrieval's store), so every surface that turns
retrieval errors into clean messages does the same for memory.
"""

from __future__ import annotations

from retrieval.errors import RetrievalError


class MemoryStoreError(RetrievalError):
    """A problem the user can fix; the message says how."""


class UnusableModelOutput(Exception):
    """The chat model's output could not be used (malformed JSON, empty). Memory catches it and falls back (no
    fact kept, the summary left as it was); the chat client raises it. Defined here so that memory need not
    import the agent: `agent.errors.ModelOutputError` is this error."""
