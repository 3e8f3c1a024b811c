"""The graph end to end with a scripted model: routes, grading, citations, abstention, reflection retries,
and model output that is malformed or empty (recorded in the trace, never a crash)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from agent_support import CHUNKS, AgentFactory, route_to, verdict

from agent.cli.render import final_verdicts
from agent.errors import ChatBackendError
from agent.prompts import ABSTAIN_ANSWER
from agent.testing import ScriptedChatClient, ScriptedReply
from agent.types import AgentEvent
from retrieval.types import Chunk, SearchHit

QUESTION = "How does reciprocal rank fusion merge rankings?"


def errors_of(answer: Any, node: str) -> list[str]:
    return [s.error for s in answer.steps if s.node == node and s.error]


# a question sharing too few words with any chunk for the route to skip the model's decision
VAGUE_QUESTION = "Which method should I pick for combining result lists?"


def nodes_of(answer: Any) -> list[str]:
    return [s.node for s in answer.steps]


def test_documents_route_answers_with_citations_mapped_to_chunks(make_agent: AgentFactory) -> None:
    agent, chat = make_agent(
        {
            "route": [route_to("documents")],
            "answer": ["Each document gets the sum of 1/(60 + rank) [1]."],
            "judge": [verdict()],
        }
    )
    result = agent.ask(QUESTION)
    assert result.route == "documents"
    assert result.answer == "Each document gets the sum of 1/(60 + rank) [1]."
    assert [(c.n, c.chunk_id, c.source, c.title) for c in result.citations] == [
        (1, "rrf-1", "docs/rrf.md", "Reciprocal rank fusion")
    ]
    assert result.citations[0].quote.startswith("Reciprocal rank fusion merges rankings")
    assert [(v.criterion, v.passed) for v in result.verdicts] == [("groundedness", True), ("relevance", True)]
    assert not result.failed and not result.abstained and result.retries == 0
    assert nodes_of(result) == ["load_context", "route", "rewrite", "retrieve", "grade", "generate", "reflect", "save"]
    assert chat.kinds() == ["answer", "judge"]
    # the top hit holds the question's words and scores confidently: the documents route without a route call
    assert "the model was not asked" in next(s.summary for s in result.steps if s.node == "route")
    system, question = chat.calls[0].messages[0]["content"], chat.calls[0].messages[-1]["content"]
    assert "[1] Reciprocal rank fusion (docs/rrf.md)" in system and QUESTION in question
    assert result.tokens["total"] == result.tokens["prompt"] + result.tokens["completion"] > 0
    assert result.tokens["judge_prompt"] > 0
    assert {"total", "retrieval", "prompt", "generation", "judge"} <= set(result.timings)
    json.dumps(result.to_dict())  # JSON-ready for --json


def test_route_schema_offers_only_available_routes(make_agent: AgentFactory) -> None:
    agent, chat = make_agent({"route": [route_to("direct")], "reply": ["Hello!"]}, retriever=None)
    agent.ask("hi there")
    schema = chat.calls[0].request["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["route"]["enum"] == ["direct", "clarify"]
    assert list(schema["properties"]) == ["route"]


@pytest.mark.parametrize("route", ["direct", "clarify"])
def test_direct_and_clarify_routes_skip_retrieval_and_judge(make_agent: AgentFactory, route: str) -> None:
    agent, chat = make_agent({"route": [route_to(route)], "reply": ["Hello! What would you like to know?"]})
    result = agent.ask("hi")
    assert result.route == route
    assert result.answer == "Hello! What would you like to know?"
    assert chat.kinds() == ["route", "reply"]
    assert nodes_of(result) == ["load_context", "route", "generate", "save"]
    assert result.citations == [] and result.verdicts == []


@pytest.mark.parametrize("bad", ["not json at all", "", '{"reason": "x", "route": "teleport"}', '{"route": 3'])
def test_unusable_route_output_falls_back_to_documents_and_is_recorded(make_agent: AgentFactory, bad: str) -> None:
    agent, _ = make_agent(
        {"route": [bad], "answer": ["Sum of reciprocal ranks [1]."], "judge": [verdict()]},
        retriever=ScoredRetriever([(CHUNKS[0], {"dense": 0.6})]),
    )
    result = agent.ask(VAGUE_QUESTION)
    assert result.route == "documents"
    assert result.answer == "Sum of reciprocal ranks [1]."
    assert errors_of(result, "route") and "RouteDecision" in errors_of(result, "route")[0]
    assert not result.failed


def test_routing_off_always_uses_the_documents(make_agent: AgentFactory) -> None:
    agent, chat = make_agent({"answer": ["Sum of reciprocal ranks [1]."]}, route=False, reflect=False)
    result = agent.ask(QUESTION)
    assert result.route == "documents" and chat.kinds() == ["answer"]


def test_abstains_without_calling_the_model_when_nothing_is_found(make_agent: AgentFactory) -> None:
    agent, chat = make_agent({"route": [route_to("documents")]})
    result = agent.ask("Who won the 1998 football world cup?")
    assert result.answer == ABSTAIN_ANSWER
    assert result.abstained and not result.failed
    assert result.citations == [] and result.verdicts == []
    assert chat.kinds() == ["route"]


def test_model_abstaining_in_its_own_words_is_recognised(make_agent: AgentFactory) -> None:
    # an uncertain chunk (kept unjudged): weak evidence, so the abstention stands
    weak = ScoredRetriever([(CHUNKS[0], {"dense": 0.35})])
    agent, _ = make_agent(
        {"route": [route_to("documents")], "answer": ["The documents do not mention the ranking constant."]},
        retriever=weak,
        llm_grading=False,
    )
    result = agent.ask(QUESTION)
    assert result.abstained and result.verdicts == []


class ScoredRetriever:
    """Returns the given chunks with fixed per-stage scores."""

    def __init__(self, scored: list[tuple[Chunk, dict[str, float]]]) -> None:
        self.scored = scored

    def search(self, query: str, k: int = 5) -> list[SearchHit]:
        return [
            SearchHit(chunk=c, score=next(iter(s.values())), scores=s, rank=i)
            for i, (c, s) in enumerate(self.scored[:k], start=1)
        ]


def test_grading_keeps_uncertain_chunks_unjudged_when_a_chunk_is_confidently_relevant(
    make_agent: AgentFactory,
) -> None:
    retriever = ScoredRetriever(
        [
            (CHUNKS[0], {"rrf": 0.03, "dense": 0.8}),  # relevant by score
            (CHUNKS[1], {"rrf": 0.02, "dense": 0.35}),  # uncertain: kept without asking the model
            (CHUNKS[2], {"rrf": 0.01, "dense": 0.05}),  # irrelevant by score
        ]
    )
    agent, chat = make_agent(
        {"route": [route_to("documents")], "answer": ["Fusion [1] [2]."], "judge": [verdict()]},
        retriever=retriever,
    )
    result = agent.ask(QUESTION)
    assert chat.kinds() == ["answer", "judge"]
    assert [c.chunk_id for c in result.citations] == ["rrf-1", CHUNKS[1].id]
    grade_step = next(s for s in result.steps if s.node == "grade")
    assert "kept 2/3" in grade_step.summary and "kept unjudged 1" in grade_step.summary


def test_grading_asks_the_model_only_when_no_chunk_is_confidently_relevant(make_agent: AgentFactory) -> None:
    retriever = ScoredRetriever(
        [
            (CHUNKS[1], {"rrf": 0.02, "dense": 0.35}),  # uncertain: the model says no
            (CHUNKS[2], {"rrf": 0.01, "dense": 0.05}),  # irrelevant by score
            (Chunk(id="x", text="uncertain, model says yes", doc_id="x", source="x.md"), {"dense": 0.3}),
        ]
    )
    grades = [{"relevant": False}, {"relevant": True}]
    agent, chat = make_agent(
        {"route": [route_to("documents")], "grade": grades, "answer": ["Fusion [1]."], "judge": [verdict()]},
        retriever=retriever,
    )
    result = agent.ask(QUESTION)
    assert chat.kinds() == ["route", "grade", "grade", "answer", "judge"]
    assert [c.chunk_id for c in result.citations] == ["x"]
    grade_step = next(s for s in result.steps if s.node == "grade")
    assert "kept 1/3" in grade_step.summary and "model dropped 1" in grade_step.summary


def test_reranker_score_is_preferred_over_dense(make_agent: AgentFactory) -> None:
    retriever = ScoredRetriever([(CHUNKS[0], {"dense": 0.9, "rerank": 0.01})])
    agent, chat = make_agent({"route": [route_to("documents")]}, retriever=retriever)
    result = agent.ask(QUESTION)
    assert result.abstained and chat.kinds() == ["route"]


def test_unusable_grade_keeps_the_chunk_and_is_recorded(make_agent: AgentFactory) -> None:
    retriever = ScoredRetriever([(CHUNKS[0], {"dense": 0.3})])
    agent, _ = make_agent(
        {"route": [route_to("documents")], "grade": ["yes!"], "answer": ["Fusion [1]."], "judge": [verdict()]},
        retriever=retriever,
    )
    result = agent.ask(QUESTION)
    assert [c.chunk_id for c in result.citations] == ["rrf-1"]
    assert errors_of(result, "grade") and "GradeResult" in errors_of(result, "grade")[0]


def test_llm_grading_off_keeps_uncertain_chunks(make_agent: AgentFactory) -> None:
    retriever = ScoredRetriever([(CHUNKS[0], {"dense": 0.3})])
    agent, chat = make_agent(
        {"answer": ["Fusion [1]."]}, retriever=retriever, llm_grading=False, route=False, reflect=False
    )
    result = agent.ask(QUESTION)
    assert chat.kinds() == ["answer"] and len(result.citations) == 1


def test_multi_part_question_is_split_into_at_most_three_queries(make_agent: AgentFactory) -> None:
    queries = {"queries": ["reciprocal rank fusion", "BM25 ranking function", "KV cache", "ignored fourth"]}
    agent, _ = make_agent(
        {"route": [route_to("documents")], "rewrite": [queries], "answer": ["RRF [1], BM25 [2]."], "judge": [verdict()]}
    )
    result = agent.ask("What are RRF and BM25 and the KV cache and attention?")
    # four queries do not fit the schema (max 3): the rewrite falls back to the question, recorded
    assert result.queries == ["What are RRF and BM25 and the KV cache and attention?"]
    assert errors_of(result, "rewrite")

    agent, chat = make_agent(
        {
            "route": [route_to("documents")],
            "rewrite": [{"queries": ["reciprocal rank fusion", "BM25 ranking function", "  BM25   ranking function "]}],
            "answer": ["RRF [1], BM25 [2]."],
            "judge": [verdict()],
        }
    )
    result = agent.ask("What are RRF and BM25?")
    # the question as asked comes first, then the de-duplicated sub-queries
    assert result.queries == ["What are RRF and BM25?", "reciprocal rank fusion", "BM25 ranking function"]
    sources = next(c for c in chat.calls if c.kind == "answer").messages[0]["content"]
    assert "Reciprocal rank fusion merges rankings" in sources  # the sources block (the system message)


def test_follow_up_question_is_rewritten_with_the_thread_history(make_agent: AgentFactory) -> None:
    agent, chat = make_agent(
        {
            "route": [route_to("documents")],
            "answer": ["BM25 weighs term frequency [1].", "It weighs document length [1]."],
            "rewrite": [{"queries": ["BM25 document length normalization"]}],
            "grade": [{"relevant": False}] * 3,
            "judge": [verdict(), verdict()],
        }
    )
    first = agent.ask("What is BM25?")
    second = agent.ask("How does it treat long documents?", thread_id=first.thread_id)
    assert second.thread_id == first.thread_id
    rewrite_call = next(c for c in chat.calls if c.kind == "rewrite")
    contents = [m["content"] for m in rewrite_call.messages]
    assert "What is BM25?" in contents and "BM25 weighs term frequency." in contents  # citations stripped
    assert second.queries == ["BM25 document length normalization"]
    # "What is BM25?" matches a chunk outright (no route call); the follow-up shares too few words with one
    [route_call] = [c for c in chat.calls if c.kind == "route"]
    assert [m["role"] for m in route_call.messages] == ["system", "user"]  # earlier answers are not shown
    assert route_call.messages[1]["content"] == (
        "Earlier messages:\n- What is BM25?\n\nMessage: How does it treat long documents?"
    )
    assert [t["question"] for t in agent.turns(first.thread_id)] == [
        "What is BM25?",
        "How does it treat long documents?",
    ]


def test_judge_failing_groundedness_once_regenerates_with_feedback(make_agent: AgentFactory) -> None:
    agent, chat = make_agent(
        {
            "route": [route_to("documents")],
            "answer": ["RRF is 10x faster than BM25 [1].", "Each document scores the sum of 1/(60 + rank) [1]."],
            "judge": [verdict(grounded=False), verdict()],
        }
    )
    result = agent.ask(QUESTION)
    assert chat.kinds() == ["answer", "judge", "answer", "judge"]
    assert "the claim about speed is not in the sources" in chat.calls[2].messages[-1]["content"]
    assert result.answer == "Each document scores the sum of 1/(60 + rank) [1]."
    assert result.retries == 1 and not result.failed
    assert [(v.criterion, v.passed, v.attempt) for v in result.verdicts] == [
        ("groundedness", False, 0),
        ("relevance", True, 0),
        ("groundedness", True, 1),
        ("relevance", True, 1),
    ]
    assert nodes_of(result).count("generate") == 2


def test_judge_failing_relevance_rewrites_and_retrieves_again(make_agent: AgentFactory) -> None:
    agent, chat = make_agent(
        {
            "route": [route_to("documents")],
            "answer": ["BM25 weighs term frequency [1].", "RRF sums reciprocal ranks [1]."],
            "rewrite": [{"queries": ["reciprocal rank fusion formula"]}],
            "judge": [verdict(relevant=False), verdict()],
        }
    )
    result = agent.ask(QUESTION)
    assert chat.kinds() == ["answer", "judge", "rewrite", "answer", "judge"]
    assert "talks about something else" in chat.calls[2].messages[-1]["content"]
    assert result.queries == ["reciprocal rank fusion formula"]
    assert result.retries == 1 and not result.failed
    assert nodes_of(result).count("retrieve") == 2


def test_answer_still_failing_after_the_retries_is_marked_failed(make_agent: AgentFactory) -> None:
    agent, chat = make_agent(
        {
            "route": [route_to("documents")],
            "answer": ["Wrong [1].", "Still wrong [1].", "Wrong again [1]."],
            "judge": [verdict(grounded=False)] * 3,
        },
        max_retries=2,
    )
    result = agent.ask(QUESTION)
    assert result.failed and result.retries == 2
    assert len(result.verdicts) == 6 and chat.kinds().count("judge") == 3
    # no attempt rated higher than the first: the first is returned (a retry never makes the answer worse)
    assert result.answer == "Wrong [1]."
    reflect_step = [s for s in result.steps if s.node == "reflect"][-1]
    assert "returning attempt 0" in reflect_step.summary


def test_the_best_rated_failing_attempt_is_returned(make_agent: AgentFactory) -> None:
    agent, _ = make_agent(
        {
            "route": [route_to("direct")],  # only "hello!" needs a route call: the question matches a chunk
            "reply": ["Hi"],
            "answer": ["Off topic [1].", "Relevant but unsupported [1].", "Off again [1]."],
            "rewrite": [{"queries": ["reciprocal rank fusion"]}],
            "judge": [verdict(grounded=False, relevant=False), verdict(grounded=False), verdict(False, False)],
        },
        max_retries=2,
    )
    result = agent.ask(QUESTION)
    assert result.failed and result.retries == 2
    assert result.answer == "Relevant but unsupported [1]."
    assert [c.chunk_id for c in result.citations] == [CHUNKS[0].id]
    # the verdicts shown with it are its own, not the last attempt's
    assert result.attempt == 1
    assert [(v.criterion, v.passed) for v in final_verdicts(result)] == [("groundedness", False), ("relevance", True)]
    # the next turn of the same thread starts afresh
    again = agent.ask("hello!", thread_id=result.thread_id)
    assert again.answer == "Hi" and again.attempt == 0 and final_verdicts(again) == []


def test_separate_judge_model_does_the_judging(make_agent: AgentFactory) -> None:
    judge = ScriptedChatClient({"judge": [verdict()]}, model="judge-model")
    agent, chat = make_agent({"route": [route_to("documents")], "answer": ["Fusion [1]."]}, judge=judge)
    result = agent.ask(QUESTION)
    assert chat.kinds() == ["answer"] and judge.kinds() == ["judge"]
    assert result.tokens["judge_prompt"] > 0


@pytest.mark.parametrize("bad", ["", "   ", "{not json", '{"groundedness_pass": true}'])
def test_unusable_judge_output_returns_the_answer_unjudged(make_agent: AgentFactory, bad: str) -> None:
    agent, _ = make_agent({"route": [route_to("documents")], "answer": ["Fusion [1]."], "judge": [bad]})
    result = agent.ask(QUESTION)
    assert result.answer == "Fusion [1]." and not result.failed
    assert [v.status for v in result.verdicts] == ["unjudged", "unjudged"]  # never a silent pass
    assert errors_of(result, "reflect") and "JudgeResult" in errors_of(result, "reflect")[0]


def test_empty_answer_is_regenerated_then_marked_failed(make_agent: AgentFactory) -> None:
    agent, _ = make_agent({"route": [route_to("documents")], "answer": ["", "Fusion [1]."], "judge": [verdict()]})
    result = agent.ask(QUESTION)
    assert result.answer == "Fusion [1]." and result.retries == 1 and not result.failed
    assert errors_of(result, "generate") == ["generate: the model returned an empty answer"]

    agent, _chat = make_agent({"route": [route_to("documents")], "answer": ["", " ", "\n"]})
    result = agent.ask(QUESTION)
    assert result.failed and result.answer == "" and result.retries == 2


def test_an_answer_of_bare_citation_markers_is_regenerated(make_agent: AgentFactory) -> None:
    agent, _ = make_agent(
        {"route": [route_to("documents")], "answer": ["[1] [2].", "Fusion [1]."], "judge": [verdict()]}
    )
    result = agent.ask(QUESTION)
    assert result.answer == "Fusion [1]." and result.retries == 1 and not result.failed
    assert errors_of(result, "generate") == ["generate: the model returned only citation markers"]


def test_empty_direct_reply_is_marked_failed(make_agent: AgentFactory) -> None:
    agent, _ = make_agent({"route": [route_to("direct")], "reply": [""]})
    result = agent.ask("hello")
    assert result.failed and errors_of(result, "generate")


def test_citation_of_a_missing_source_is_recorded(make_agent: AgentFactory) -> None:
    agent, _ = make_agent({"route": [route_to("documents")], "answer": ["Fusion [1][7]."], "judge": [verdict()]})
    result = agent.ask(QUESTION)
    assert [c.n for c in result.citations] == [1]
    assert "[7]" in errors_of(result, "generate")[0]


def test_backend_errors_are_raised_for_the_user(make_agent: AgentFactory) -> None:
    agent, _ = make_agent({"route": [ChatBackendError("Cannot reach the model server")]})
    with pytest.raises(ChatBackendError, match="Cannot reach"):
        agent.ask("hello")


def test_events_stream_tokens_and_steps(make_agent: AgentFactory) -> None:
    agent, _ = make_agent({"route": [route_to("documents")], "answer": ["Sum of ranks [1]."], "judge": [verdict()]})
    events: list[AgentEvent] = []
    result = agent.ask(QUESTION, on_event=events.append)
    assert "".join(e.text for e in events if e.kind == "token") == result.answer
    steps = [e.step for e in events if e.kind == "step"]
    assert [s.node for s in steps if s is not None] == nodes_of(result)


def test_scripted_reply_with_finish_reason_length_is_noted(make_agent: AgentFactory) -> None:
    agent, _ = make_agent(
        {
            "route": [route_to("documents")],
            "answer": [
                # cut before its first sentence ended: a fragment, handled like an empty answer
                ScriptedReply(text="Sum of ranks [1] and", finish_reason="length"),
                ScriptedReply(text="Fusion sums reciprocal ranks [1]. It also", finish_reason="length"),
            ],
            "judge": [verdict()],
        }
    )
    result = agent.ask(QUESTION)
    generate = [s for s in result.steps if s.node == "generate"]
    assert "a fragment cut at" in str(generate[0].error) and result.retries == 1
    assert "answer cut" in generate[1].summary and result.answer.startswith("Fusion sums") and not result.failed


def test_uncited_answer_fails_groundedness_without_asking_the_judge(make_agent: AgentFactory) -> None:
    agent, chat = make_agent(
        {
            "route": [route_to("documents")],
            "answer": ["Fusion adds up reciprocal ranks.", "Fusion adds up reciprocal ranks [1]."],
            "judge": [verdict()],
        },
        attribute_citations=False,
    )
    result = agent.ask(QUESTION)
    assert chat.kinds() == ["answer", "answer", "judge"]
    assert "cites none of the sources" in chat.calls[1].messages[-1]["content"]
    assert [(v.criterion, v.passed, v.attempt) for v in result.verdicts] == [
        ("groundedness", False, 0),
        ("groundedness", True, 1),
        ("relevance", True, 1),
    ]
    assert result.retries == 1 and not result.failed and len(result.citations) == 1

    agent, chat = make_agent({"route": [route_to("documents")], "answer": ["Nothing in common with the sources."] * 3})
    result = agent.ask(QUESTION)
    assert result.failed and result.retries == 1 and chat.kinds() == ["answer", "answer"]  # repeat: stop


def test_a_bm25_only_hit_is_graded_by_the_dense_score_the_searcher_gives_it(make_agent: AgentFactory) -> None:
    """The searcher scores every hybrid candidate densely (retrieval.search); an off-topic BM25 match is dropped."""
    bm25_only = Chunk(id="b", text="world cup winners", doc_id="b", source="b.md")
    retriever = ScoredRetriever(
        [
            (CHUNKS[0], {"dense": 0.12, "bm25": 1.0, "rrf": 0.03}),
            (bm25_only, {"dense": 0.08, "bm25": 3.0, "rrf": 0.016}),
        ]
    )
    agent, chat = make_agent({"route": [route_to("documents")]}, retriever=retriever)
    result = agent.ask("Who won the 1998 football world cup?")
    assert result.abstained and chat.kinds() == ["route"]


def test_answer_without_citations_is_attributed_by_word_overlap_and_flagged(make_agent: AgentFactory) -> None:
    agent, chat = make_agent(
        {
            "route": [route_to("documents")],
            "answer": ["Reciprocal rank fusion scores the sum of 1/(60 + rank). I hope this helps!"],
            "judge": [verdict()],
        }
    )
    result = agent.ask(QUESTION)
    assert result.answer == "Reciprocal rank fusion scores the sum of 1/(60 + rank) [1]. I hope this helps!"
    [citation] = result.citations
    assert citation.chunk_id == "rrf-1" and citation.attributed
    assert "attributed [1] by word overlap" in next(s.summary for s in result.steps if s.node == "generate")
    assert chat.kinds() == ["answer", "judge"]  # the judge still checks the attributed answer
    assert "[1]" in chat.calls[-1].messages[-1]["content"]


def test_model_citations_are_not_attributed(make_agent: AgentFactory) -> None:
    agent, _ = make_agent(
        {
            "route": [route_to("documents")],
            "answer": ["Fusion sums reciprocal ranks [1]. BM25 weighs terms."],
            "judge": [verdict()],
        }
    )
    result = agent.ask(QUESTION)
    assert [(c.n, c.attributed) for c in result.citations] == [(1, False)]


def test_a_repeated_failing_answer_is_not_judged_or_retried_again(make_agent: AgentFactory) -> None:
    agent, chat = make_agent(
        {
            "route": [route_to("documents")],
            "answer": ["RRF is fast [1].", "RRF is fast [1]."],
            "rewrite": [{"queries": ["reciprocal rank fusion"]}],
            "judge": [verdict(relevant=False)],
        },
        max_retries=2,
    )
    result = agent.ask(QUESTION)
    assert chat.kinds() == ["answer", "judge", "rewrite", "answer"]
    assert result.failed and result.retries == 1 and len(result.verdicts) == 2
    assert "same answer as failed attempt 0" in [s.summary for s in result.steps if s.node == "reflect"][-1]


def test_a_direct_decision_on_a_question_the_documents_match_goes_to_the_documents(make_agent: AgentFactory) -> None:
    confident = ScoredRetriever([(CHUNKS[0], {"rrf": 0.03, "dense": 0.8})])
    agent, chat = make_agent(
        {"route": [route_to("direct")], "answer": ["Fusion [1]."], "judge": [verdict()]}, retriever=confident
    )
    # a top chunk scoring high without the question's words: the model is asked, and its "direct" overturned
    result = agent.ask(VAGUE_QUESTION)
    assert result.route == "documents" and chat.kinds() == ["route", "answer", "judge"]
    route_step = next(s for s in result.steps if s.node == "route")
    assert "model said direct; the documents match it (dense 0.80" in route_step.summary
    # nothing confidently relevant: the model's decision stands
    weak = ScoredRetriever([(CHUNKS[0], {"rrf": 0.03, "dense": 0.3})])
    agent, chat = make_agent({"route": [route_to("direct")], "reply": ["Hello!"]}, retriever=weak)
    assert agent.ask("hello!").route == "direct" and chat.kinds() == ["route", "reply"]


def test_an_answer_that_copies_the_sources_is_regenerated_without_a_judge_call(make_agent: AgentFactory) -> None:
    dump = f"[1] {CHUNKS[0].title} ({CHUNKS[0].source})\n{CHUNKS[0].text}"
    agent, chat = make_agent(
        {
            "route": [route_to("documents")],
            "answer": [dump, "Fusion adds up reciprocal ranks [1]."],
            "judge": [verdict()],
        }
    )
    result = agent.ask(QUESTION)
    assert chat.kinds() == ["answer", "answer", "judge"]
    assert "copied the sources" in chat.calls[1].messages[-1]["content"]
    # the first answer is greedy; a retry samples, so that it need not repeat the rejected answer
    assert [chat.calls[i].request["temperature"] for i in (0, 1)] == [0.0, 0.5]
    assert result.answer == "Fusion adds up reciprocal ranks [1]." and not result.failed
