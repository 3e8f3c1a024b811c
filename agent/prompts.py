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
    "tool": '"tool": the message needs one of these tools: {tools}',
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


# -- generate ------------------------------------------------------------------------------------

ANSWER_SYSTEM = f"""You answer questions using only the numbered sources you are given.
Write one to three sentences. End each sentence with the number of the source that supports it in square \
brackets, for example: "Paris is the capital of France [2]."
Use no outside knowledge. If the sources do not contain the answer, reply exactly: "{ABSTAIN_ANSWER}\""""

# The closing instruction matters for small models: without it qwen2.5-0.5b often replied with a copy of a
# source's header ("[1] Title (file.md)") instead of an answer (6 of 12 demo questions; 0 of 12 with it).
ANSWER_USER = """Sources:
{sources}

Question: {question}
Answer in full sentences, each ending with its source number like [1]."""

ANSWER_FEEDBACK = """

(A reviewer rejected your previous answer. Reviewer's reason: {feedback})
Answer the question again. Use only the sources, and put the number of the supporting source in square brackets
after each sentence, like [1]."""

DIRECT_SYSTEM = """You are ragloop, a friendly assistant for questions about a document collection.
Reply briefly and naturally to the user's message."""

CLARIFY_SYSTEM = """You are ragloop, an assistant for questions about a document collection.
The user's message is unclear. Ask one short question that would let you help them."""

TOOLS_SYSTEM = """You are a helpful assistant with tools. Call a tool when it helps; when the tool results are in,
answer the user's question briefly using them. If a tool returns an error, fix the call or explain the problem."""

# -- reflect -------------------------------------------------------------------------------------

JUDGE_SYSTEM = """You are a strict reviewer of an answer written from numbered sources.
Judge two criteria:
- groundedness: is every claim in the answer supported by the sources it cites?
- relevance: does the answer address the question?
For each criterion write a short rationale first, then the verdict (true = pass, false = fail).
Reply in JSON with the fields in this order:
groundedness_rationale, groundedness_pass, relevance_rationale, relevance_pass."""

JUDGE_USER = """Sources:
{sources}

Question: {question}

Answer: {answer}"""


JUDGE_RATIONALE_CHARS = 240


class JudgeResult(BaseModel):
    groundedness_rationale: str = Field(max_length=JUDGE_RATIONALE_CHARS)
    groundedness_pass: bool
    relevance_rationale: str = Field(max_length=JUDGE_RATIONALE_CHARS)
    relevance_pass: bool


# -- helpers -------------------------------------------------------------------------------------


def source_header(n: int, hit: Any) -> str:
    """`[n] Title (source)`: the first line of a numbered source in the prompts."""
    label = hit["title"] or hit["source"]
    if hit["title"] and hit["source"]:
        label = f"{hit['title']} ({hit['source']})"
    return f"[{n}] {label}"


def format_sources(hits: list[Any]) -> str:
    """Numbered sources, `[n] Title (source)` then the text, in the order given."""
    return "\n\n".join(f"{source_header(n, hit)}\n{hit['text'].strip()}" for n, hit in enumerate(hits, start=1))
