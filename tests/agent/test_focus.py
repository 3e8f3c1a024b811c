"""agent.focus: a long chunk is cut to its passages about the question, in order, within its token budget."""

from __future__ import annotations

from agent_support import AgentFactory, route_to, verdict

from agent.focus import focus, passages
from retrieval.types import Chunk

PRAGMAS = "\n".join(
    [
        "PRAGMA schema.auto_vacuum;",
        "Query or set the auto-vacuum status in the database.",
        "PRAGMA busy_timeout = milliseconds;",
        "Query or change the setting of the busy timeout, which sleeps while a table is locked.",
        "PRAGMA cache_size = pages;",
        "Query or change the suggested maximum number of database disk pages held in memory.",
        "PRAGMA foreign_keys = boolean;",
        "Query, set, or clear the enforcement of foreign key constraints.",
        "PRAGMA journal_mode = DELETE | TRUNCATE | PERSIST | MEMORY | WAL | OFF;",
        "Query or change the journal mode for databases associated with the current connection.",
    ]
)


def test_a_long_chunk_keeps_the_passages_about_the_question_and_their_neighbours() -> None:
    cut = focus(PRAGMAS, ["How long does SQLite wait when a table is locked (busy timeout)?"], max_tokens=40)
    lines = cut.splitlines()
    # the best line is the description; the option's name before it matches by its parts (busy_timeout)
    assert lines[:3] == [
        "…",
        "PRAGMA busy_timeout = milliseconds;",
        "Query or change the setting of the busy timeout, which sleeps while a table is locked.",
    ]
    assert lines[-1] == "…" and not {"auto_vacuum", "foreign_keys", "journal_mode"} & set(cut.replace(".", " ").split())
    assert len(cut) <= 40 * 4 + 10


def test_a_chunk_that_fits_is_kept_whole_and_one_without_a_match_keeps_its_opening() -> None:
    assert focus("Short text.", ["anything"], max_tokens=40) == "Short text."
    opening = focus(PRAGMAS, ["zebra"], max_tokens=20)
    assert opening.startswith("PRAGMA schema.auto_vacuum;") and len(opening) <= 20 * 4 + 10


def test_long_lines_are_split_into_sentences() -> None:
    line = "First sentence about vacuum. " * 10 + "The busy timeout sleeps. " + "Filler sentence here. " * 5
    parts = passages(line)
    assert len(parts) > 10 and "The busy timeout sleeps." in parts


def test_the_answer_prompt_carries_the_focused_passages(make_agent: AgentFactory) -> None:
    chunk = Chunk(id="p-1", text=PRAGMAS, doc_id="pragma.html", source="pragma.html", title="Pragma statements")
    agent, chat = make_agent(
        {"route": [route_to("documents")], "answer": ["Set PRAGMA busy_timeout [1]."], "judge": [verdict()]},
        chunks=[chunk],
        source_tokens=40,
    )
    result = agent.ask("Which pragma sets the busy timeout for a locked table?")
    system = next(c for c in chat.calls if c.kind == "answer").messages[0]["content"]
    assert "PRAGMA busy_timeout = milliseconds;" in system and "journal_mode" not in system
    assert "1 cut to their passages about the question" in next(s.summary for s in result.steps if s.node == "retrieve")
    assert result.citations[0].quote.startswith("… PRAGMA busy_timeout")  # the citation quotes what the model saw
