"""agent.evidence.answer_support: the share of an answer's own words found in the kept sources."""

from __future__ import annotations

from agent.evidence import answer_support
from agent.state import Hit


def hit(text: str, title: str = "FAQ") -> Hit:
    return {"text": text, "title": title, "heading_path": []}  # type: ignore[typeddict-item]


FAQ = hit("SQLite has no built-in encryption. The SQLite Encryption Extension (SEE) is a commercial add-on.")


def test_an_answer_from_outside_knowledge_scores_low_and_names_the_missing_words() -> None:
    support, missing = answer_support(
        "How do I encrypt my database with SQLCipher?",
        "Install SQLCipher with Homebrew on macOS, then generate a key and run PRAGMA key [1].",
        [FAQ],
    )
    assert support < 0.2 and {"homebrew", "macos", "install"} <= set(missing)


def test_an_extractive_or_paraphrased_answer_scores_high() -> None:
    support, missing = answer_support(
        "How do I encrypt my database?",
        "SQLite has no built-in encryption; the commercial SQLite Encryption Extensions (SEE) add it [1].",
        [FAQ],
    )
    assert support > 0.8 and missing == ["add"]  # "Extensions" matches "Extension"; "add-on" is one word


def test_the_questions_own_words_and_numbers_do_not_count() -> None:
    assert answer_support("Is SQLCipher supported?", "SQLCipher 4 [1].", [FAQ]) == (1.0, [])
