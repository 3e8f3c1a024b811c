"""generate: the answer. From the documents it is grounded only in the kept chunks, with inline citations
[n] mapped to chunk ids; with nothing relevant it abstains without calling the model. Direct and clarifying
replies come from the same node with their own prompts."""

from __future__ import annotations

import re
from typing import Any

from agent.context import RunContext
from agent.excerpt import clip
from agent.output_checks import check_answer, cut_sources_continuation, strip_prompt_residue
from agent.prompts import (
    ABSTAIN_ANSWER,
    ANSWER_FEEDBACK,
    ANSWER_USER,
    CLARIFY_SYSTEM,
    DIRECT_SYSTEM,
    FAILED_ANSWER,
    PROMPT_TEXTS,
    REPLY_FEEDBACK,
    sources_system,
)
from agent.state import AgentState, Hit
from agent.types import Citation

_CITATION_GROUP = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
_ABSTAINS = re.compile(
    r"couldn'?t find|could not find|can(?:no|')t find|not (?:mentioned|found|covered) in the (?:documents|sources)"
    r"|(?:documents|sources) do(?:es)? not (?:contain|mention|say)",
    re.IGNORECASE,
)
QUOTE_CHARS = 300
ATTRIBUTION_MIN_OVERLAP = 0.5  # share of a sentence's content words found in the chunk
ATTRIBUTION_MIN_SHARED = 2
# a sentence ends at . ! ? followed by whitespace or the end: "0.75" or "e.g.," stay inside their sentence
_SENTENCE = re.compile(r"(?:[^.!?\n]|[.!?](?=\S))+(?:[.!?]+(?=\s|$)|(?=\n)|$)\s*|\n+")
_WHOLE_SENTENCE = re.compile(r"[.!?:](?:\s|$)")
_WORD = re.compile(r"[a-z0-9][a-z0-9'-]{2,}")
_STOPWORDS = frozenset(
    {
        "the",
        "and",
        "for",
        "are",
        "but",
        "not",
        "you",
        "all",
        "any",
        "can",
        "had",
        "her",
        "was",
        "one",
        "our",
        "out",
        "has",
        "have",
        "been",
        "from",
        "this",
        "that",
        "with",
        "they",
        "will",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "how",
        "its",
        "also",
        "into",
        "than",
        "then",
        "them",
        "there",
        "these",
        "those",
        "such",
        "only",
        "other",
        "some",
        "more",
        "most",
        "very",
        "about",
        "over",
        "does",
        "each",
        "used",
        "uses",
        "using",
        "use",
        "",
    }
)


def generate(state: AgentState, ctx: RunContext) -> dict[str, Any]:
    route = state.get("route") or "documents"
    if route in ("direct", "clarify"):
        return _reply(state, ctx, DIRECT_SYSTEM if route == "direct" else CLARIFY_SYSTEM)
    kept = state.get("kept", [])
    if not kept:
        ctx.note("no relevant chunks: abstaining")
        return {"answer": ABSTAIN_ANSWER, "citations": [], "abstained": True}
    messages = answer_messages(state, kept)
    retrying = state.get("next_action") == "regenerate" and state.get("feedback")
    # a retry samples (the best-rated attempt is kept): at temperature 0 a small model often repeats itself
    temperature = ctx.config.retry_temperature if state.get("retries", 0) else 0.0
    result = ctx.chat.generate(
        messages, max_tokens=ctx.config.answer_max_tokens, temperature=temperature, on_token=ctx.token_sink()
    )
    answer = strip_prompt_residue(result.text)
    if answer.split() != result.text.split():
        ctx.note('took the rule labels out of the answer ("The direct answer is:" ...)')
    cut = cut_sources_continuation(answer, kept)
    if cut != answer:
        ctx.note(f"the answer went on into the sources block: kept its first {len(cut)} of {len(answer)} chars")
        answer = cut
    # a bare "[1] [2]" (small models do this) says nothing, and neither does a fragment cut by the token limit
    # before its first sentence ended ("Reciprocal rank fusion"): handled like an empty answer
    prose = _CITATION_GROUP.sub("", answer)
    problem = ""
    if not answer:
        problem = "an empty answer"
    elif not prose.strip(" \t\n.,;:"):
        problem = "only citation markers"
    elif result.finish_reason == "length" and not _WHOLE_SENTENCE.search(prose):
        problem = f"a fragment cut at {ctx.config.answer_max_tokens} tokens"
    if problem:
        ctx.model_error("generate", f"the model returned {problem}")
        return {"answer": "", "citations": [], "abstained": False, "next_action": ""}
    if answer.startswith(ABSTAIN_ANSWER.rstrip(".")) and answer.rstrip() != ABSTAIN_ANSWER:
        # the abstention sentence followed by anything (small models list the sources' headers after it) is
        # an abstention: the rest is not an answer
        ctx.note(f"abstained, then went on ({len(answer)} chars): kept the abstention only")
        answer = ABSTAIN_ANSWER
    attributed: set[int] = set()
    if ctx.config.attribute_citations and not _CITATION_GROUP.search(answer) and not _ABSTAINS.search(answer):
        answer, attributed = attribute_citations(answer, kept)
        if attributed:
            ctx.note(f"the model wrote no citations: attributed {sorted(attributed)} by word overlap")
    citations, unknown = extract_citations(answer, kept, attributed)
    if unknown:
        ctx.model_error("generate", f"cited source(s) that do not exist: {', '.join(f'[{n}]' for n in unknown)}")
    abstained = not citations and bool(_ABSTAINS.search(answer))
    if result.finish_reason == "length":
        ctx.note(f"answer cut at {ctx.config.answer_max_tokens} tokens")
    ctx.note(
        f"{'regenerated with feedback, ' if retrying else ''}{len(answer)} chars, "
        f"{len(citations)} citation(s)" + (", abstained" if abstained else "")
    )
    return {
        "answer": answer,
        "citations": [c.to_dict() for c in citations],
        "abstained": abstained,
        "next_action": "",
    }


def answer_messages(state: AgentState, kept: list[Hit]) -> list[dict[str, Any]]:
    """The answer prompt: the rules and the sources as the system message (shared with the judge and retries,
    see `prompts.SOURCES_SYSTEM`), the conversation, then the question; a retry adds the reviewer's feedback at
    the very end, so it shares the whole first attempt's prompt as a prefix."""
    user = ANSWER_USER.format(question=state["question"])
    if state.get("next_action") == "regenerate" and state.get("feedback"):
        user += ANSWER_FEEDBACK.format(feedback=state["feedback"])
    return [
        {"role": "system", "content": sources_system(kept)},
        *state.get("history", []),
        {"role": "user", "content": user},
    ]


def attribute_citations(answer: str, kept: list[Hit]) -> tuple[str, set[int]]:
    """Add [n] after each sentence whose content words mostly come from one kept chunk (post-hoc attribution,
    for models that do not write citations). Returns the new answer and the numbers added."""
    chunk_words = [_content_words(hit["text"] + " " + hit["title"]) for hit in kept]
    added: set[int] = set()
    pieces: list[str] = []
    for sentence in _SENTENCE.findall(answer):
        words = _content_words(sentence)
        best, best_overlap = 0, 0.0
        for n, vocabulary in enumerate(chunk_words, start=1):
            shared = len(words & vocabulary)
            overlap = shared / len(words) if words else 0.0
            if shared >= ATTRIBUTION_MIN_SHARED and overlap > best_overlap:
                best, best_overlap = n, overlap
        if best and best_overlap >= ATTRIBUTION_MIN_OVERLAP:
            body = sentence.rstrip()
            tail = sentence[len(body) :]
            end = len(body.rstrip(".!?:;"))
            sentence = f"{body[:end]} [{best}]{body[end:]}{tail}"
            added.add(best)
        pieces.append(sentence)
    return "".join(pieces), added


def _content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS}


def extract_citations(
    answer: str, kept: list[Hit], attributed: set[int] | None = None
) -> tuple[list[Citation], list[int]]:
    """Citations for the [n] markers in `answer` (in number order), and the numbers with no source."""
    numbers: set[int] = set()
    for group in _CITATION_GROUP.findall(answer):
        numbers.update(int(part) for part in group.split(","))
    citations, unknown = [], []
    for n in sorted(numbers):
        if 1 <= n <= len(kept):
            hit = kept[n - 1]
            text = " ".join(hit["text"].split())
            citations.append(
                Citation(
                    n=n,
                    chunk_id=hit["chunk_id"],
                    source=hit["source"],
                    title=hit["title"],
                    quote=text if len(text) <= QUOTE_CHARS else text[:QUOTE_CHARS] + "…",
                    heading_path=list(hit["heading_path"]),
                    page=hit["page"],
                    attributed=n in (attributed or set()),
                )
            )
        else:
            unknown.append(n)
    return citations, unknown


def _reply(state: AgentState, ctx: RunContext, system: str) -> dict[str, Any]:
    """A direct or clarifying reply. It passes the same output checks as every answer: a reply that is a tool
    call, JSON or a pasted page is regenerated once with the reason, then replaced and marked failed."""
    tool_names = ctx.deps.tools.names() if ctx.deps.tools is not None else []
    user = state["question"]
    for attempt in range(2):
        messages = [
            {"role": "system", "content": system},
            *state.get("history", []),
            {"role": "user", "content": user},
        ]
        result = ctx.chat.generate(messages, max_tokens=ctx.config.answer_max_tokens, on_token=ctx.token_sink())
        answer = result.text.strip()
        if not answer:
            ctx.model_error("generate", "the model returned an empty reply")
            return {"answer": "", "citations": [], "failed": True}
        problem = check_answer(answer, tool_names=tool_names, instructions=PROMPT_TEXTS)
        if problem is None:
            ctx.note(f"{state.get('route')} reply, {len(answer)} chars" + (" (regenerated)" if attempt else ""))
            return {"answer": answer, "citations": []}
        ctx.model_error("generate", f"unusable reply ({problem.kind}): {clip(answer)}")
        user = state["question"] + REPLY_FEEDBACK.format(feedback=problem.feedback)
    ctx.note(f"{state.get('route')} reply unusable twice: marked failed")
    return {"answer": FAILED_ANSWER, "citations": [], "failed": True}
