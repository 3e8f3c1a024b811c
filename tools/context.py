"""What the knowledge-base tools are given: built by the composition root, passed in explicitly (no globals).

- `sessions`: per-call access to the store (tools/sessions.py): the embedded store's inter-process lock is held
  only while one call runs, so `ragloop ingest` in another process can take turns with a running MCP server.
- `answer`: runs the full agent for the `ask` tool (None: `ask` is not offered). The composition root makes it
  lazy: the model server starts on the first question, not when the MCP server starts.
- `ingest`: brings a collection up to date with files (None unless the server was started with
  `--allow-ingest`: an MCP client must not be able to make the server read arbitrary files by default).
- `memory`: opens the served user's long-term memory for one call (None: no `remember`/`recall` tools).
- `private_collections`: collections in the same store that are not documents (long-term memory): the knowledge
  tools never list, search, read, answer from or ingest into them. Memory is scoped per user by the memory
  store's own query filter; a plain search of its collection would return every user's facts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.types import AgentAnswer, AgentEvent
    from memory.tools import MemorySource
    from tools.sessions import StoreSessions

# answer(question, collection, thread_id, on_event) -> AgentAnswer; on_event may raise to stop the run
AnswerFn = Callable[[str, str, "str | None", "Callable[[AgentEvent], None]"], "AgentAnswer"]
# ingest(paths, collection, on_progress(message)) -> the ingest report as a dict
IngestFn = Callable[[list[Path], str, Callable[[str], None]], dict[str, Any]]

MAX_K = 50
MAX_DOCUMENT_CHARS = 20_000


@dataclass
class ToolContext:
    sessions: StoreSessions
    default_collection: str
    answer: AnswerFn | None = None
    ingest: IngestFn | None = None
    memory: MemorySource | None = None
    private_collections: frozenset[str] = frozenset()
    max_k: int = MAX_K
    max_document_chars: int = MAX_DOCUMENT_CHARS
