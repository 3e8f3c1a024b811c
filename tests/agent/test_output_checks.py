"""The output checks every route's final answer passes (agent/output_checks.py): tool calls, JSON, copies of
the sources, pasted manual pages and lists of command lines are caught; answers in the user's terms are not."""

from __future__ import annotations

import json

import pytest

from agent.output_checks import (
    FEEDBACK,
    check_answer,
    copied_share,
    cut_sources_continuation,
    strip_prompt_residue,
    text_tool_calls,
)
from agent.prompts import ABSTAIN_ANSWER, PROMPT_TEXTS

MANUAL = {
    "title": "git-clean(1) Manual Page",
    "source": "git-clean.html",
    "text": "NAME\n\ngit-clean - Remove untracked files from the working tree\n\nSYNOPSIS\n\n"
    "git clean [-d] [-f] [-i] [-n] [-q] [-e <pattern>] [-x | -X] [--] [<pathspec>...]\n\nDESCRIPTION\n\n"
    "Cleans the working tree by recursively removing files that are not under version control, starting from "
    "the current directory. Normally, only files unknown to Git are removed, but if the -x option is specified, "
    "ignored files are also removed. This can, for example, be useful to remove all build products.",
}


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "calculator", "arguments": {"expression": "2 + 3 * 4"}}',
        '```json\n{"name": "current_time", "arguments": {}}\n```',
        '<tool_call>\n{"name": "calculator", "arguments": {"expression": "1+1"}}\n</tool_call>',
        '[{"type": "function", "function": {"name": "calculator", "arguments": "{\\"expression\\": \\"1\\"}"}}]',
    ],
)
def test_a_tool_call_written_as_text_is_not_an_answer(text: str) -> None:
    problem = check_answer(text, tool_names=["calculator", "current_time"])
    assert problem is not None and problem.kind == "tool_call" and "tool call" in problem.feedback


def test_a_tool_call_in_text_is_parsed_as_the_call_it_is() -> None:
    [call] = text_tool_calls('{"name": "calculator", "arguments": {"expression": "17 * 23"}}', ["calculator"])
    assert call.name == "calculator" and json.loads(call.arguments) == {"expression": "17 * 23"}
    assert text_tool_calls('{"name": "teleport", "arguments": {}}', ["calculator"]) == []  # not one of the tools
    assert text_tool_calls('Call {"name": "calculator"} for sums.', ["calculator"]) == []  # prose around it


@pytest.mark.parametrize("text", ['{"answer": "use -x"}', "[1, 2, 3]", '{"answer": "cut off at the tok'])
def test_json_is_not_an_answer(text: str) -> None:
    problem = check_answer(text)
    assert problem is not None and problem.kind == "json"


def test_a_pasted_manual_page_or_source_header_is_not_an_answer() -> None:
    pasted = "[1] git-clean(1) Manual Page | NAME | git-clean - Remove untracked files | SYNOPSIS ..."
    assert check_answer(pasted, [MANUAL]).kind == "source_copy"  # type: ignore[union-attr]
    synopsis = "To clean, see:\nSYNOPSIS\ngit clean [-d] [-f] [-i] [-n] [-q] [-e <pattern>] [-x | -X]"
    assert check_answer(synopsis, [MANUAL]).kind == "manual_page"  # type: ignore[union-attr]
    header = "git-clean(1) Manual Page (git-clean.html)\nNAME git-clean - Remove untracked files"
    assert check_answer(header, [MANUAL]).kind == "source_copy"  # type: ignore[union-attr]


def test_source_headers_anywhere_in_the_answer_are_a_copy() -> None:
    listed = "Use -x to remove ignored files [1]. [1] git-clean(1) Manual Page > OPTIONS [2] git-clean(1) Manual Page"
    assert check_answer(listed, [MANUAL]).kind == "source_copy"  # type: ignore[union-attr]
    anonymous = "It is removed. [1] SQLite Autoincrement > 1. Summary [2] SQLite FAQ > Questions"
    assert check_answer(anonymous).kind == "source_copy"  # type: ignore[union-attr]


AUTOINC = {
    "title": "SQLite Autoincrement",
    "source": "autoinc.html",
    "text": 'SQLite keeps track of the largest ROWID using an internal table named "sqlite_sequence". The '
    "sqlite_sequence table is created and initialized automatically whenever a normal table that contains an "
    "AUTOINCREMENT column is created. The content of the sqlite_sequence table can be modified using ordinary "
    "UPDATE, INSERT, and DELETE statements. But making modifications to this table will likely perturb the "
    "AUTOINCREMENT key generation algorithm. Make sure you know what you are doing before you undertake such "
    "changes. The behavior implemented by the AUTOINCREMENT keyword is subtly different from the default "
    "behavior. With AUTOINCREMENT, rows with automatically selected ROWIDs are guaranteed to have ROWIDs that "
    "have never been used before by the same table in the same database. And the automatically generated ROWIDs "
    "are guaranteed to be monotonically increasing. These are important properties in certain applications. But "
    "if your application does not need these properties, you should probably stay with the default behavior "
    "since the use of AUTOINCREMENT requires additional work to be done as each row is inserted and thus causes "
    "INSERTs to run a little slower.",
}


def test_a_long_verbatim_copy_of_the_sources_is_not_an_answer() -> None:
    copy = AUTOINC["text"] + " [1]"
    assert copied_share(copy, [AUTOINC["text"]]) > 0.9
    problem = check_answer(copy, [AUTOINC])
    assert problem is not None and problem.kind == "source_copy" and "copied" in problem.detail


def test_a_few_copied_sentences_are_an_extractive_answer() -> None:
    # the 1.5B's first answer on the real manual, rejected as a copy by an earlier rule: correct and cited
    extractive = ". ".join(AUTOINC["text"].split(". ")[:4]) + " [1]."
    assert len(extractive) > 400 and extractive[:-5] in AUTOINC["text"]
    assert check_answer(extractive, [AUTOINC]) is None
    one = "Only files unknown to Git are removed, but if the -x option is specified, ignored files are removed [1]."
    assert check_answer(one, [MANUAL]) is None


def test_a_list_of_command_lines_is_not_an_answer() -> None:
    listing = "git clean -n [1]\ngit clean -f [2]\ngit clean -fd [3]\ngit clean -x [4]"
    assert check_answer(listing).kind == "command_list"  # type: ignore[union-attr]
    bullets = "- `.mode csv`\n- `.import data.csv t1`\n- `.headers on`"
    assert check_answer(bullets).kind == "command_list"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "text",
    [
        "Use the -x option: git clean also removes ignored files then [1].",
        "Run `git clean -n` first to see what would be removed [1]. Then:\n```\ngit clean -f\n```",
        "Turn foreign key enforcement on with PRAGMA foreign_keys = ON; it is off by default [2].",
        "The sources describe the calculator tool and its JSON arguments [1].",
        "git-clean removes untracked files from the working tree [1].",
    ],
)
def test_answers_in_the_users_terms_pass(text: str) -> None:
    assert check_answer(text, [MANUAL], ["calculator"]) is None


def test_the_check_modules_import_on_their_own() -> None:
    """agent.evidence is imported by nodes; importing it first must not be circular."""
    import subprocess
    import sys

    for module in ("agent.evidence", "agent.output_checks"):
        done = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize(
    "text",
    [
        # the fast profile's answers on the real SQLite manual
        "The direct answer first, then the command or option, with [1] citations: [1] [1] [1] [1] [1] [1]",
        "The reviewer rejected your previous answer: Your reply copied the sources instead of answering. "
        "Write your own short answer: the direct answer first, then the command or option, with [n] citations.",
        "Use the date() function [1]. Use the date() function [1]. Use the date() function [1]. "
        "Use the date() function [1].",
        "Start with the direct answer in one sentence. Then give the command, option or setting that does it.",
    ],
)
def test_the_prompt_echoed_back_is_not_an_answer(text: str) -> None:
    problem = check_answer(text, [MANUAL], instructions=PROMPT_TEXTS)
    assert problem is not None and problem.kind == "echo"


def test_the_echo_feedback_and_the_abstention_are_not_echoes_of_themselves() -> None:
    # the feedback is worded unlike the rules it enforces; the abstention sentence is quoted in the rules but
    # saying it is allowed
    assert check_answer(ABSTAIN_ANSWER, instructions=PROMPT_TEXTS) is None
    assert check_answer("Use [1], [2], [3] and [4] together: each covers one case [1].") is None
    feedback = FEEDBACK["echo"]
    assert check_answer(feedback, instructions=PROMPT_TEXTS) is not None  # echoing it is still an echo


def test_talk_about_the_review_is_taken_out() -> None:
    text = (
        "The reviewer rejected your previous answer because you copied the sources instead of answering. "
        "The direct answer is: SQLite keeps the largest ROWID in a table named sqlite_sequence [1]."
    )
    assert strip_prompt_residue(text) == "SQLite keeps the largest ROWID in a table named sqlite_sequence [1]."


def test_rule_labels_are_taken_out_and_the_labelled_text_stays() -> None:
    text = (
        "The direct answer is: set a busy timeout [1].\n"
        "The command or option is: PRAGMA busy_timeout = 5000; [2]\n"
        "**Supporting source:** [2]"
    )
    assert strip_prompt_residue(text) == "set a busy timeout [1].\nPRAGMA busy_timeout = 5000; [2]\n[2]"
    plain = "The direct answer depends on the mode [1]. The command or option names differ [2]."
    assert strip_prompt_residue(plain) == plain


def test_an_answer_going_on_into_the_sources_block_is_cut_before_the_header() -> None:
    # the 0.5B's answer on one machine: a quote of source [1], then source [1]'s header line, mid-sentence
    sources = [{"title": "Hybrid search and rank fusion", "source": "hybrid-search.md", "text": "..."}]
    text = (
        "Reciprocal rank fusion (RRF) uses only the ranks. A document's fused score is the sum of 1 / (k + rank).\n"
        "RRF was proposed at SIGIR 2009, who found\n"
        "[1] Hybrid search and rank fusion > Reciprocal rank fusion (hybrid-search.md)\n"
        "The scores of BM25 ..."
    )
    assert cut_sources_continuation(text, sources) == (
        "Reciprocal rank fusion (RRF) uses only the ranks. A document's fused score is the sum of 1 / (k + rank)."
    )
    # a header line made of another title, after a whole sentence: cut there
    whole = "RRF sums reciprocal ranks [1].\n[2] Some page > Options\nmore"
    assert cut_sources_continuation(whole, sources) == "RRF sums reciprocal ranks [1]."


@pytest.mark.parametrize(
    "text",
    [
        "[1] Hybrid search and rank fusion > Reciprocal rank fusion (hybrid-search.md)\nRRF ...",  # only headers
        "RRF sums reciprocal ranks.\n[1] Hybrid search and rank fusion uses it to merge BM25 and dense lists.",
        "Two ways:\n[1] turn WAL on [1].\n[2] set a busy timeout [2].",
        "Nothing about sources here.",
    ],
)
def test_answers_that_do_not_go_on_into_the_sources_are_left_alone(text: str) -> None:
    sources = [{"title": "Hybrid search and rank fusion", "source": "hybrid-search.md", "text": "..."}]
    assert cut_sources_continuation(text, sources) == text
