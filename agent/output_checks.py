"""Output checks: text that must never reach the user as an answer, whatever the route.

Every route's final answer goes through `check_answer` (documents: in reflect, which regenerates or marks the
answer failed; direct/clarify: in generate; tool: in the tool loop, where a call written as text is run as the
call it is). Each problem carries `feedback`, the sentence a regeneration prompt gives the model.

What is caught, cheaply and without a model:
- a tool call written as text (`{"name": ..., "arguments": ...}`, `<tool_call>` markup);
- JSON (an object or an array, fenced or not) instead of sentences;
- a copy of the sources: an answer that opens with a source marker or header ("[1] Title ..."), or that is
  mostly long verbatim stretches of the given sources;
- a pasted manual page: its furniture (a SYNOPSIS or NAME section line, "Manual Page");
- a list of raw command lines with no sentence that answers;
- the prompt echoed back: a stretch of the instructions or of a reviewer's feedback (`ECHO_MIN_WORDS` words in a
  row), or a degenerate loop (the same citation marker or phrase over and over). Small models do this when a
  retry's feedback confuses them: the fast profile returned "The direct answer first, then the command or
  option, with [1] citations: [1] [1] [1] ..." as an answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any, Literal

ProblemKind = Literal["tool_call", "json", "source_copy", "manual_page", "command_list", "echo"]

# an answer counts as a copy when at least this share of it lies in verbatim stretches of the sources that are
# each at least COPY_MIN_RUN characters long, and those stretches add up to at least COPY_MIN_CHARS: a few copied
# sentences are an extractive answer (the 1.5B's first answer on "where does SQLite remember the largest
# AUTOINCREMENT id" was four sentences, 96% copied, 653 chars, and correct; rejecting it made the retries worse),
# a pasted page is not
COPY_MIN_RUN = 40
COPY_MIN_CHARS = 800
COPY_MIN_SHARE = 0.6
COMMAND_LIST_MIN_LINES = 3
# an answer echoes the prompt when it holds this many consecutive words of an instruction text
ECHO_MIN_WORDS = 7
# a degenerate loop: the same citation marker this many times in a row, or the same phrase (LOOP_PHRASE_WORDS
# words) this many times
LOOP_MIN_REPEATS = 4
LOOP_PHRASE_WORDS = 5

_FENCE = re.compile(r"^```[\w-]*\s*\n?|\n?```\s*$")
_TOOL_TAG = re.compile(r"</?tool_call>|<\|?function_call\|?>|\[TOOL_CALLS\]", re.IGNORECASE)
_LEADING_MARKER = re.compile(r"^\s*\[\d+\]")
_MANUAL_FURNITURE = re.compile(
    r"(?m)^\s*(?:NAME|SYNOPSIS)\s*$|\bSYNOPSIS\b|\bManual Page\b|^\s*\S+\(\d\)\s+(?:\S+\s+)?\S+\(\d\)\s*$"
)
_CITATION = re.compile(r"\[\d+(?:\s*,\s*\d+)*\]")
_PROSE_WORD = re.compile(r"\b[a-z]{3,}\b")
_OPTION = re.compile(r"(?:^|\s)--?[A-Za-z0-9]")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)]|\$|>)\s+")


@dataclass(frozen=True)
class OutputProblem:
    kind: ProblemKind
    feedback: str  # for the regeneration prompt: what was wrong and what to write instead
    detail: str = ""  # for the trace: what exactly matched


@dataclass(frozen=True)
class TextToolCall:
    """A tool call the model wrote as text instead of through the tool-calling channel."""

    name: str
    arguments: str  # JSON text


FEEDBACK: dict[ProblemKind, str] = {
    "tool_call": "Your reply was a tool call written as text, not an answer. Answer in plain sentences.",
    "json": "Your reply was JSON, not an answer. Answer in plain sentences.",
    "source_copy": "Your reply copied the sources instead of answering. Write your own short answer: "
    "the direct answer first, then the command or option, with [n] citations.",
    "manual_page": "Your reply pasted a manual page (NAME/SYNOPSIS). Do not paste pages: give the direct answer "
    "in one or two sentences, then the one command or option that does it, with [n] citations.",
    "command_list": "Your reply was a list of command lines. Start with a sentence that answers the question, "
    "then give the one command or option that does it, with [n] citations.",
    # worded unlike the instructions, so an echo of this feedback is still caught as one
    "echo": "Your reply repeated my instructions back instead of answering. Say what the sources tell about "
    "the question, in your own words, and end each sentence with its source number.",
}


def check_answer(
    answer: str,
    sources: Sequence[Mapping[str, Any]] = (),
    tool_names: Iterable[str] = (),
    instructions: Sequence[str] = (),
) -> OutputProblem | None:
    """The first problem that keeps `answer` from being returned as an answer, or None when it is usable.

    `sources` are the numbered chunks the answer was written from (dicts with "text", "title", "source"),
    `tool_names` the tools the model could call (a JSON object naming one is a call, not an answer),
    `instructions` the prompt texts the model was given (an answer repeating them is an echo); the reviewer
    feedback of this module (FEEDBACK) always counts as instructions."""
    text = answer.strip()
    if not text:
        return None
    if text_tool_calls(text, tool_names) or _TOOL_TAG.search(text):
        return _problem("tool_call", "a tool call")
    if _is_json(text):
        return _problem("json", "JSON")
    if _LEADING_MARKER.match(text):
        return _problem("source_copy", "opens with a source marker")
    if _opens_with_header(text, sources):
        return _problem("source_copy", "opens with a source's header")
    if _quotes_headers(text, sources):
        return _problem("source_copy", "quotes source headers")
    furniture = _MANUAL_FURNITURE.search(text)
    if furniture:
        return _problem("manual_page", f"manual-page furniture {furniture.group(0).strip()!r}")
    if _is_command_list(text):
        return _problem("command_list", "command lines without a sentence")
    if is_loop(text):
        return _problem("echo", "a loop")
    if echoes(text, [*instructions, *FEEDBACK.values()]):
        return _problem("echo", "repeats the instructions")
    share = copied_share(text, [str(s.get("text", "")) for s in sources]) if sources else 0.0
    if share >= COPY_MIN_SHARE:
        return _problem("source_copy", f"{share:.0%} of {len(text)} chars copied")
    return None


def text_tool_calls(text: str, tool_names: Iterable[str] = ()) -> list[TextToolCall]:
    """The calls in `text` when the whole text is one or more tool calls written as JSON (bare, fenced or in
    `<tool_call>` tags): `{"name": ..., "arguments": {...}}` (or "parameters"). With `tool_names` given, only
    calls naming one of them count. Anything else (prose, other JSON) gives []."""
    names = set(tool_names)
    body = _TOOL_TAG.sub("\n", _FENCE.sub("", text.strip())).strip()
    if not body.startswith(("{", "[")):
        return []
    decoder = json.JSONDecoder()
    objects: list[Any] = []
    position = 0
    while position < len(body):
        try:
            value, end = decoder.raw_decode(body, position)
        except json.JSONDecodeError:
            return []
        objects.extend(value if isinstance(value, list) else [value])
        position = end
        while position < len(body) and body[position] in " \t\r\n,":
            position += 1
    calls = []
    for obj in objects:
        call = _as_call(obj)
        if call is None or (names and call.name not in names):
            return []
        calls.append(call)
    return calls


def copied_share(answer: str, texts: Sequence[str]) -> float:
    """The share of `answer` (0..1) that lies in verbatim stretches of `texts` of at least COPY_MIN_RUN chars
    (whitespace normalized), when those stretches add up to at least COPY_MIN_CHARS; 0 otherwise."""
    normalized = " ".join(answer.split())
    if len(normalized) < COPY_MIN_CHARS:
        return 0.0
    covered = [False] * len(normalized)
    for text in texts:
        source = " ".join(text.split())
        if not source:
            continue
        matcher = SequenceMatcher(None, normalized, source, autojunk=False)
        for block in matcher.get_matching_blocks():
            if block.size >= COPY_MIN_RUN:
                for i in range(block.a, block.a + block.size):
                    covered[i] = True
    copied = sum(covered)
    return copied / len(normalized) if copied >= COPY_MIN_CHARS else 0.0


def echoes(answer: str, instructions: Sequence[str]) -> bool:
    """Whether `answer` holds ECHO_MIN_WORDS consecutive words of one of `instructions` (case, punctuation and
    placeholders like "{feedback}" ignored)."""
    words = _words(answer)
    if len(words) < ECHO_MIN_WORDS:
        return False
    spans = {tuple(words[i : i + ECHO_MIN_WORDS]) for i in range(len(words) - ECHO_MIN_WORDS + 1)}
    for text in instructions:
        said = _words(_PLACEHOLDER.sub(" ", text))
        if any(tuple(said[i : i + ECHO_MIN_WORDS]) in spans for i in range(len(said) - ECHO_MIN_WORDS + 1)):
            return True
    return False


def is_loop(answer: str) -> bool:
    """A degenerate loop: the same citation marker LOOP_MIN_REPEATS times in a row with nothing between, or
    one LOOP_PHRASE_WORDS-word phrase LOOP_MIN_REPEATS times."""
    if _MARKER_RUN.search(answer):
        return True
    words = _words(answer)
    counts: dict[tuple[str, ...], int] = {}
    for i in range(len(words) - LOOP_PHRASE_WORDS + 1):
        phrase = tuple(words[i : i + LOOP_PHRASE_WORDS])
        counts[phrase] = counts.get(phrase, 0) + 1
        if counts[phrase] >= LOOP_MIN_REPEATS:
            return True
    return False


_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
_ECHO_WORD = re.compile(r"[a-z0-9]+")
_MARKER_RUN = re.compile(r"(\[\d+\])(?:[\s,.;]*\1){" + str(LOOP_MIN_REPEATS - 1) + ",}")


def _words(text: str) -> list[str]:
    return _ECHO_WORD.findall(text.lower())


def strip_prompt_residue(answer: str) -> str:
    """`answer` without what the prompt left in it: the rule names used as labels ("The direct answer is: ...",
    "The command or option: ..."; the labelled text stays) and sentences about the review itself ("The reviewer
    rejected your previous answer because ..."). The 1.5B writes both on retries, before a usable answer."""
    kept = [s for s in _SENTENCE_SPLIT.split(_RULE_LABEL.sub("", answer)) if not _REVIEW_TALK.search(s)]
    return _RULE_LABEL.sub("", "".join(kept)).strip()


def cut_sources_continuation(answer: str, sources: Sequence[Mapping[str, Any]]) -> str:
    """`answer` up to where it goes on into the sources block: a line that starts like a source's header ("[1]
    Title > Section (file)"), after at least one whole sentence. The 0.5B does this after quoting a source; the
    sentence the header line broke off is dropped too. Unchanged when no such line follows a whole sentence
    (an answer that is only headers is left to `check_answer`)."""
    titles = [str(source.get("title") or "").strip() for source in sources]
    offset = 0
    for line in answer.splitlines(keepends=True):
        start = line.lstrip()
        marker = _LINE_MARKER.match(start)
        header = marker is not None and (
            any(_is_header_rest(start[marker.end() :], title) for title in titles) or _HEADER_LIKE.match(start)
        )
        if header and offset:
            before = answer[:offset].rstrip()
            whole = before if before.endswith((".", "!", "?", ")", "`")) else before[: _last_sentence_end(before)]
            return whole.rstrip() or answer
        offset += len(line)
    return answer


def _is_header_rest(text: str, title: str) -> bool:
    """`text` (a line after its "[n] ") is a header of the source titled `title`: the title alone, or followed
    by the source in parentheses or the heading path."""
    if not title or not text.startswith(title):
        return False
    rest = text[len(title) :]
    return not rest.strip() or rest.startswith((" (", " > "))


def _last_sentence_end(text: str) -> int:
    """The index just after the last sentence end (". ", "! ", "? " or at the end of a line) in `text`, or 0."""
    ends = [m.end() for m in re.finditer(r"[.!?](?=\s)", text)]
    return ends[-1] if ends else 0


_LINE_MARKER = re.compile(r"\[\d+\] ")


_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])(?=\s)")
_REVIEW_TALK = re.compile(r"\b(?:the|a|your) reviewer\b|\b(?:my|your|the) previous (?:answer|reply)\b", re.IGNORECASE)


_RULE_LABEL = re.compile(
    r"(?im)^[ \t]*(?:[-*][ \t]+)?(?:\*\*)?(?:the[ \t]+)?"
    r"(?:direct[ \t]+answer|command(?:,|[ \t]+or)[ \t]+(?:option|setting)(?:[ \t]+or[ \t]+setting)?|"
    r"(?:number[ \t]+of[ \t]+(?:the[ \t]+)?)?supporting[ \t]+sources?)"
    r"(?:[ \t]+(?:first|is|are))?(?:\*\*)?[ \t]*:(?:\*\*)?[ \t]*"
)


def _problem(kind: ProblemKind, detail: str) -> OutputProblem:
    return OutputProblem(kind, FEEDBACK[kind], detail)


def _as_call(obj: Any) -> TextToolCall | None:
    if not isinstance(obj, dict):
        return None
    if isinstance(obj.get("function"), dict):  # {"type": "function", "function": {"name", "arguments"}}
        obj = obj["function"]
    name = obj.get("name")
    if not isinstance(name, str) or not name:
        return None
    arguments = obj.get("arguments", obj.get("parameters", {}))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            return None
    if not isinstance(arguments, dict) or set(obj) - {"name", "arguments", "parameters", "type", "id"}:
        return None
    return TextToolCall(name, json.dumps(arguments))


def _is_json(text: str) -> bool:
    body = _FENCE.sub("", text).strip()
    if not body.startswith(("{", "[")):
        return False
    try:
        value = json.loads(body)
    except json.JSONDecodeError:
        # a truncated object is still JSON-shaped output: `{"key": ...` with no prose before it
        return body.startswith("{") and bool(re.match(r'\{\s*"[^"]+"\s*:', body))
    return isinstance(value, dict | list)


def _opens_with_header(text: str, sources: Sequence[Mapping[str, Any]]) -> bool:
    """The answer opens with a source's header line (a continued sources block): the title alone on its line,
    or followed by the source in parentheses or the heading path (" > ...")."""
    opening = text.lstrip()[:300]
    for source in sources:
        title = str(source.get("title") or "").strip()
        if not title or not opening.startswith(title):
            continue
        rest = opening[len(title) :]
        if not rest.strip() or rest.startswith(("\n", " (", " > ", "(")):
            return True
    return False


def _quotes_headers(text: str, sources: Sequence[Mapping[str, Any]]) -> bool:
    """The answer repeats source header lines ("[2] Title > Section") anywhere: a small model that gives up
    often lists the sources' headers after its sentence."""
    for n, source in enumerate(sources, start=1):
        title = str(source.get("title") or "").strip()
        if title and f"[{n}] {title}" in text:
            return True
    return len(_HEADER_LIKE.findall(text)) >= 2


_HEADER_LIKE = re.compile(r"\[\d+\] [^\[\]\n]{2,80}? > ")  # "[2] Title > Section"


def _is_command_list(text: str) -> bool:
    """At least COMMAND_LIST_MIN_LINES raw command lines, at least twice as many as prose lines, and no sentence
    before the first command: a list of commands is not an answer in the user's terms."""
    lines = [line for line in _FENCE.sub("", text).splitlines() if line.strip() and not line.strip().startswith("```")]
    kinds = ["prose" if _is_prose(line) else "command" if _is_command(line) else "other" for line in lines]
    commands = kinds.count("command")
    if commands < COMMAND_LIST_MIN_LINES or commands < 2 * kinds.count("prose"):
        return False
    return kinds[0] != "prose"


def _is_prose(line: str) -> bool:
    body = _CITATION.sub("", _BULLET.sub("", line)).strip().strip("`")
    return len(_PROSE_WORD.findall(body)) >= 4 and body.rstrip().endswith((".", ":", "!", "?", ")"))


def _is_command(line: str) -> bool:
    body = _CITATION.sub("", _BULLET.sub("", line)).strip().strip("`").strip()
    if not body or len(body) > 160 or (" " not in body and not body.startswith(".")):
        return body.startswith(".") and len(body) > 1
    first = body.split()[0]
    looks_like_program = bool(re.fullmatch(r"\.?[a-z][\w.+-]*", first))
    sql = bool(re.match(r"(?:PRAGMA|SELECT|CREATE|INSERT|UPDATE|DELETE|DROP|ALTER|ATTACH|VACUUM)\b", body))
    return sql or (looks_like_program and (bool(_OPTION.search(body)) or len(body.split()) <= 6))
