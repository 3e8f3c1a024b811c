"""Prompts and the JSON schemas of the model's structured decisions. Short on purpose: small local models
follow short instructions better, and every prompt token costs prefill time on CPU.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, create_model

ABSTAIN_ANSWER = "I couldn't find this in the documents."

# -- route ---------------------------------------------------------------------------------------

ROUTE_SYSTEM = """You route the user's message for an assistant that answers from a document collection.
Routes:
{routes}
Reply in JSON with the route."""

ROUTE_HELP = {
    "documents": '"documents": any question or request for information (facts, concepts, how something works, '
    "settings, numbers, names), even if you think you know the answer. "
    'Examples: "What is BM25?", "Which port does the server use?", "Who invented the telephone?"',
    "tool": '"tool": only when the message itself asks for what one of these tools does: {tools}. '
    "Never for a question about how something works, even with numbers in it.",
    "direct": '"direct": only greetings, thanks, small talk, or questions about the assistant itself or about '
    'this conversation. Examples: "hello!", "thanks a lot", "who are you?", "what did I just tell you?"',
    "clarify": '"clarify": too vague to act on without more context. Examples: "what about it?", "and the other one?"',
}


def route_schema(routes: tuple[str, ...]) -> type[BaseModel]:
    """`{"route": one of routes}`; only the routes available to this agent are allowed. No free-text reason:
    asked first, a small model starts answering the question in it and then routes to "direct"; asked after
    the route, it costs generation time and changes nothing."""
    route_type: Any = Literal.__getitem__(routes)
    return create_model("RouteDecision", route=(route_type, ...))


# -- rewrite -------------------------------------------------------------------------------------

REWRITE_SYSTEM = """You turn the user's latest question into search queries for a document search engine.
Make each query standalone: replace words like "it", "they" or "that one" with what they refer to in the conversation.
If the question asks about several different things, write one query per thing (at most 3); otherwise write exactly one.
Reply in JSON: {"queries": ["..."]}."""

REWRITE_FEEDBACK = """A previous search for this question found nothing useful. Reviewer's note: {feedback}
Write different queries (other words, the key terms the documents would use)."""


class RewriteResult(BaseModel):
    queries: list[str] = Field(min_length=1, max_length=3)


# -- grade ---------------------------------------------------------------------------------------

GRADE_SYSTEM = """You check whether a passage is useful for answering a question.
Reply in JSON: {"relevant": true} if the passage contains information that helps answer the question,
{"relevant": false} otherwise."""


class GradeResult(BaseModel):
    relevant: bool


# -- generate, judge, retry: one layout ---------------------------------------------------------
# The answer, the judge and a retry all open with the same system message: the answer rules, then the numbered
# sources. Each call's own part (the question; the answer to review; the reviewer's feedback) comes after, in
# the user message. The model server reuses the KV cache of the longest shared prompt prefix, so the judge and
# a retry pay prefill only for their own few lines, not for the sources again (most of every prompt).
#
# The rules go before the sources, not after the question: placed last, right before the answer, the abstain
# rule won. qwen2.5-0.5b answered "I couldn't find this" to 10 of 11 answerable SQLite questions with the
# rules after the question, as the first layout with the rules up front did to none of the demo questions.

ABSTAIN_RULE = (
    "The sources usually hold the answer: read them all before deciding. Only when no source is about the "
    f'question at all, reply exactly: "{ABSTAIN_ANSWER}"'
)

# the fixed instructions of an answer call (also what the budget sizes an answer call by)
# No example sentence: an example ("Paris is the capital of France [2].") was copied as the answer by
# qwen2.5-0.5b on real SQLite questions.
ANSWER_SYSTEM = f"""You are ragloop. You answer the user's question using only the numbered sources below, in the \
question's own terms.
Start with the direct answer in one sentence. Then give the command, option or setting that does it, if there is one.
After each sentence, write the number of the source that supports it in square brackets: [1], [2] and so on.
Write at most three sentences. Use no outside knowledge.
Do not copy the sources, their titles, manual-page synopses or lists of command lines.
{ABSTAIN_RULE}"""

SOURCES_SYSTEM = (
    ANSWER_SYSTEM
    + """

Sources:
{sources}"""
)

# The closing instruction matters for small models: without it qwen2.5-0.5b often replied with a copy of a
# source's header ("[1] Title (file.md)") instead of an answer (6 of 12 demo questions; 0 of 12 with it).
ANSWER_USER = """Question: {question}
Answer in full sentences, each ending with its source number like [1]."""

ANSWER_FEEDBACK = """

A reviewer rejected your previous answer: {feedback}
Answer the question again. Use only the sources, and put the number of the supporting source in square brackets
after each sentence, like [1]."""

# sources whose evidence is strong (see agent.evidence): the model's abstention is questioned once
ABSTAIN_FEEDBACK = (
    "You said the documents do not contain the answer, but source {numbers} is about exactly this question. "
    "Read it again and answer from it."
)

# the verdict recorded for an answer whose words are mostly not in the sources (agent.evidence.answer_support)
UNSUPPORTED_FEEDBACK = "The answer says things no source says ({words}): written from outside knowledge."

FAILED_ANSWER = "I could not write a usable answer to this question."

DIRECT_SYSTEM = """You are ragloop, a friendly assistant for questions about a document collection.
Reply briefly and naturally to the user's message, in plain sentences."""

CLARIFY_SYSTEM = """You are ragloop, an assistant for questions about a document collection.
The user's message is unclear. Ask one short question that would let you help them."""

TOOLS_SYSTEM = """You are a helpful assistant with tools. Call a tool only when the message needs what the tool does;
when the tool results are in, answer the user's question briefly in plain sentences using them. If a tool returns an
error, fix the call or explain the problem."""

REPLY_FEEDBACK = """

(Your previous reply was not usable: {feedback})"""

# -- reflect -------------------------------------------------------------------------------------

JUDGE_SYSTEM = SOURCES_SYSTEM  # the judge reads the answer's own system message (shared prefix)

JUDGE_USER = """Question: {question}

Answer to review: {answer}

Do not answer the question yourself: you are now a strict reviewer of this answer. Judge two criteria:
- groundedness: is every claim in the answer supported by the sources it cites (its [n] numbers)?
- relevance: does the answer address the question?
For each criterion write a rationale of a few words first, then the verdict (true = pass, false = fail).
Reply in JSON with the fields in this order:
groundedness_rationale, groundedness_pass, relevance_rationale, relevance_pass."""


JUDGE_RATIONALE_CHARS = 100  # a short verdict: every rationale token is generation time


class JudgeResult(BaseModel):
    groundedness_rationale: str = Field(max_length=JUDGE_RATIONALE_CHARS)
    groundedness_pass: bool
    relevance_rationale: str = Field(max_length=JUDGE_RATIONALE_CHARS)
    relevance_pass: bool


# the instructions a model is given, for the output checks' echo test (agent.output_checks.echoes): an answer
# repeating them is not an answer. The abstention sentence is taken out: saying it is allowed.
PROMPT_TEXTS = tuple(
    text.replace(ABSTAIN_ANSWER, " ")
    for text in (
        ANSWER_SYSTEM,
        ANSWER_USER,
        ANSWER_FEEDBACK,
        ABSTAIN_FEEDBACK,
        JUDGE_USER,
        DIRECT_SYSTEM,
        CLARIFY_SYSTEM,
        TOOLS_SYSTEM,
        REPLY_FEEDBACK,
    )
)

# -- helpers -------------------------------------------------------------------------------------


# a heading longer than this is not a heading (a page's navigation block parsed as one: 3,090 tokens on
# SQLite's docs.html, which pushed a 1,500-token context past a 4,096-token model context)
MAX_HEADING_CHARS = 80


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_HEADING_CHARS else text[: MAX_HEADING_CHARS - 1].rstrip() + "…"


def source_header(n: int, hit: Any) -> str:
    """`[n] Title > heading path (source)`: the first line of a numbered source in the prompts. The heading path
    says which section of a long page the text comes from (an option, a pragma), so it is shown unless it
    only repeats the title. Each part is cut to `MAX_HEADING_CHARS`."""
    title = _short(str(hit.get("title") or ""))
    source = str(hit.get("source") or "")
    headings = (_short(str(h)) for h in hit.get("heading_path") or [])
    path = [h for h in headings if h and h != title]
    label = " > ".join([title, *path] if title else path) or source
    if label != source and source:
        label = f"{label} ({source})"
    return f"[{n}] {label}"


def format_sources(hits: list[Any]) -> str:
    """Numbered sources, `[n] Title > path (source)` then the text, in the order given."""
    return "\n\n".join(f"{source_header(n, hit)}\n{hit['text'].strip()}" for n, hit in enumerate(hits, start=1))


def sources_system(hits: list[Any]) -> str:
    """The system message shared by the answer, the judge and a retry (see SOURCES_SYSTEM)."""
    return SOURCES_SYSTEM.format(sources=format_sources(hits) or "(none)")
