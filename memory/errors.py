"""Errors of the memory area meant for the user (a bad user name, an unknown memory id, a bad import file).

`MemoryStoreError` is a `RetrievalError` (memory is built on retrieval's store), so every surface that turns
retrieval errors into clean messages does the same for memory.
"""

from __future__ import annotations

from retrieval.errors import RetrievalError


class MemoryStoreError(RetrievalError):
    """A problem the user can fix; the message says how."""
