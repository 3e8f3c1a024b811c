"""The failure modes of real-documentation answers (issue 12), each on the real graph with scripted models:
the tool route does not capture questions the documents answer, no turn forces a tool call, text that is a
tool call / JSON / a pasted source never comes back as an answer on any route, an abstention is questioned
when the evidence is strong, the judge is skipped only on strong evidence, and the answer, judge and retry
prompts share their longest prefix (the sources block first)."""

from __future__ import annotations

from agent_support import CHUNKS, AgentFactory, route_to, verdict
from test_agent_graph import VAGUE_QUESTION, ScoredRetriever

from agent.judge import JUDGE_MAX_TOKENS
from agent.prompts import ABSTAIN_ANSWER, FAILED_ANSWER
from agent.testing import ScriptedReply
from tools.builtin import builtin_registry

QUESTION = "How does reciprocal rank fusion merge rankings?"
TOOL_CALL_TEXT = '{"name": "calculator", "arguments": {"expression": "(2 + 3) * 4"}}'


def test_a_tool_decision_on_a_question_the_documents_answer_goes_to_the_documents(make_agent: AgentFactory) -> None:
    agent, chat = make_agent(
        {
            "route": [route_to("tool")],
            "answer": ["Fusion sums 1/(60 + rank) over the lists [1]."],
            "judge": [verdict()],
        },
        tools=builtin_registry(),
    )
    result = agent.ask(QUESTION)
    assert result.route == "documents" and chat.kinds() == ["answer", "judge"]
    assert "the documents match it" in next(s.summary for s in result.steps if s.node == "route")


def test_a_tool_question_stays_on_the_tool_route_without_a_forced_call(make_agent: AgentFactory) -> None:
    agent, chat = make_agent(
        {
            "route": [route_to("tool")],
            "tools": [ScriptedReply(tool_calls=[("calculator", {"expression": "17 * 23"})]), "391."],
        },
        tools=builtin_registry(),
    )
    result = agent.ask("What is 17 * 23?")
    assert result.route == "tool" and result.answer == "391."
    assert [c.request["tool_choice"] for c in chat.calls[1:]] == ["auto", "auto"]  # never "required"


def test_a_message_naming_a_tool_forces_the_first_call(make_agent: AgentFactory) -> None:
    agent, chat = make_agent(
        {"route": [route_to("tool")], "tools": [ScriptedReply(tool_calls=[("current_time", {})]), "It is noon."]},
        tools=builtin_registry(),
    )
    agent.ask("Use the calculator, or tell me the current time")
    assert [c.request["tool_choice"] for c in chat.calls[1:]] == ["required", "auto"]


def test_a_call_copying_the_tools_own_example_is_refused(make_agent: AgentFactory) -> None:
    agent, chat = make_agent(
        {
            "route": [route_to("tool")],
            "tools": [
                ScriptedReply(tool_calls=[("calculator", {"expression": "(2 + 3) * 4"})]),
                "It depends on the question.",
            ],
        },
        tools=builtin_registry(),
        retriever=None,
    )
    result = agent.ask("What should I name my branch?")
    [tool_message] = [m for m in chat.calls[-1].messages if m["role"] == "tool"]
    assert str(tool_message["content"]).startswith("Error: the arguments '(2 + 3) * 4' are the example")
    assert result.answer == "It depends on the question."


def test_a_tool_call_written_as_text_is_run_as_the_call(make_agent: AgentFactory) -> None:
    agent, chat = make_agent(
        {
            "route": [route_to("tool")],
            "tools": ['{"name": "calculator", "arguments": {"expression": "17 * 23"}}', "It is 391."],
        },
        tools=builtin_registry(),
    )
    result = agent.ask("What is 17 * 23?")
    assert result.answer == "It is 391." and not result.failed
    assert [m["content"] for m in chat.calls[-1].messages if m["role"] == "tool"] == ["391"]


def test_a_tool_call_text_as_the_last_word_is_replaced_and_marked_failed(make_agent: AgentFactory) -> None:
    agent, _ = make_agent(
        {"route": [route_to("tool")], "tools": [TOOL_CALL_TEXT]}, tools=builtin_registry(), max_tool_steps=1
    )
    result = agent.ask("What is 17 * 23?")
    assert result.failed and result.answer == FAILED_ANSWER


def test_a_documents_answer_that_is_a_tool_call_is_regenerated(make_agent: AgentFactory) -> None:
    agent, chat = make_agent(
        {
            "route": [route_to("documents")],
            "answer": [TOOL_CALL_TEXT, "Fusion sums reciprocal ranks [1]."],
            "judge": [verdict()],
        },
        tools=builtin_registry(),
    )
    result = agent.ask(QUESTION)
    assert result.answer == "Fusion sums reciprocal ranks [1]." and not result.failed
    assert chat.kinds() == ["answer", "answer", "judge"]
    assert "tool call written as text" in str(chat.calls[1].messages[-1]["content"])


def test_without_reflection_an_unusable_answer_is_replaced_and_marked_failed(make_agent: AgentFactory) -> None:
    # the plain retrieve-and-answer baseline: no judge, no retries; the output checks still apply
    for unusable in (
        TOOL_CALL_TEXT,
        '{"answer": "fusion"}',
        f"[1] {CHUNKS[0].title} ({CHUNKS[0].source})\n{CHUNKS[0].text}",
    ):
        agent, chat = make_agent(
            {"answer": [unusable]}, route=False, rewrite=False, llm_grading=False, reflect=False, max_retries=0
        )
        result = agent.ask(QUESTION)
        assert result.failed and result.answer == FAILED_ANSWER and chat.kinds() == ["answer"]


def test_a_pasted_manual_page_is_regenerated_with_the_reason(make_agent: AgentFactory) -> None:
    pasted = "reciprocal rank fusion(1) Manual Page\nNAME\nrrf - merge rankings [1]\nSYNOPSIS\nrrf [-k 60] lists..."
    agent, chat = make_agent(
        {"route": [route_to("documents")], "answer": [pasted, "Fusion sums 1/(60 + rank) [1]."], "judge": [verdict()]}
    )
    result = agent.ask(QUESTION)
    assert result.answer == "Fusion sums 1/(60 + rank) [1]." and not result.failed
    assert "pasted a manual page" in str(chat.calls[1].messages[-1]["content"])  # the reason reaches the retry
    assert [v.passed for v in result.verdicts][:1] == [False]


def test_a_direct_reply_that_is_json_is_regenerated_then_failed(make_agent: AgentFactory) -> None:
    agent, chat = make_agent({"route": [route_to("direct")], "reply": ['{"reply": "hi"}', "Hello!"]}, retriever=None)
    result = agent.ask("hello")
    assert result.answer == "Hello!" and not result.failed and chat.kinds() == ["route", "reply", "reply"]
    agent, chat = make_agent({"route": [route_to("direct")], "reply": ['{"reply": "hi"}'] * 2}, retriever=None)
    result = agent.ask("hello")
    assert result.failed and result.answer == FAILED_ANSWER


def test_an_abstention_despite_strong_evidence_is_questioned_once(make_agent: AgentFactory) -> None:
    agent, chat = make_agent(
        {
            "route": [route_to("documents")],
            "answer": [
                "I couldn't find this in the documents.",
                "Fusion merges rankings by summing 1/(60 + rank) [1].",
            ],
            "judge": [verdict()],
        }
    )
    result = agent.ask(QUESTION)
    assert result.answer.startswith("Fusion merges") and not result.abstained and not result.failed
    assert "source [1] is about exactly this question" in str(chat.calls[1].messages[-1]["content"])


def test_the_judge_is_skipped_only_on_strong_evidence(make_agent: AgentFactory) -> None:
    supported = "Reciprocal rank fusion merges rankings by the sum of 1/(60 + rank) over the lists [1]."
    agent, chat = make_agent({"route": [route_to("documents")], "answer": [supported]}, judge_skip=True)
    result = agent.ask(QUESTION)
    assert chat.kinds() == ["answer"] and not result.failed
    assert "judge skipped (strong evidence" in next(s.summary for s in result.steps if s.node == "reflect")
    # a claim the cited chunk does not hold: judged
    invented = "Reciprocal rank fusion was invented at Google in 2015 and needs GPUs [1]."
    agent, chat = make_agent(
        {"route": [route_to("documents")], "answer": [invented], "judge": [verdict()]}, judge_skip=True
    )
    agent.ask(QUESTION)
    assert chat.kinds() == ["answer", "judge"]


def test_answer_judge_and_retry_share_the_sources_prefix(make_agent: AgentFactory) -> None:
    agent, chat = make_agent(
        {
            "route": [route_to("documents")],
            "answer": ["Fusion is fast [1].", "Fusion sums reciprocal ranks [1]."],
            "judge": [verdict(grounded=False), verdict()],
        }
    )
    agent.ask(QUESTION)
    answer, judge, retry = (c for c in chat.calls if c.kind in ("answer", "judge") and c is not chat.calls[-1])
    assert answer.messages[0] == judge.messages[0] == retry.messages[0]  # the sources block, first
    assert "Sources:\n[1] Reciprocal rank fusion" in str(answer.messages[0]["content"])
    # a retry repeats the first attempt's prompt and adds the feedback at the end
    assert str(retry.messages[-1]["content"]).startswith(str(answer.messages[-1]["content"]))
    assert judge.request["max_tokens"] == JUDGE_MAX_TOKENS <= 150
    schema = judge.request["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["groundedness_rationale"]["maxLength"] <= 100


def test_the_answer_rules_come_before_the_sources_and_the_question_comes_last(make_agent: AgentFactory) -> None:
    """Placed after the question, right before the answer, the abstain rule won: qwen2.5-0.5b abstained on 11 of
    14 answerable real-manual questions with that layout, 4 of 14 with the rules ahead of the sources."""
    agent, chat = make_agent(
        {"route": [route_to("documents")], "answer": ["Fusion sums reciprocal ranks [1]."], "judge": [verdict()]}
    )
    agent.ask(QUESTION)
    answer = next(c for c in chat.calls if c.kind == "answer")
    system, user = str(answer.messages[0]["content"]), str(answer.messages[-1]["content"])
    assert system.index(ABSTAIN_ANSWER) < system.index("Sources:\n[1]")  # the rules, then the sources
    assert ABSTAIN_ANSWER not in user and user.startswith(f"Question: {QUESTION}")


def test_an_abstention_followed_by_source_headers_is_an_abstention(make_agent: AgentFactory) -> None:
    rambling = "I couldn't find this in the documents. [1] Reciprocal rank fusion > Summary [2] BM25 > Scoring"
    weak = ScoredRetriever([(CHUNKS[0], {"dense": 0.35})])
    agent, _ = make_agent({"route": [route_to("documents")], "answer": [rambling]}, retriever=weak, llm_grading=False)
    result = agent.ask(QUESTION)
    assert result.abstained and result.answer == ABSTAIN_ANSWER and result.citations == []
    # with strong evidence the abstention is questioned, as any abstention
    agent, chat = make_agent(
        {
            "route": [route_to("documents")],
            "answer": [rambling, "Fusion sums reciprocal ranks [1]."],
            "judge": [verdict()],
        }
    )
    assert agent.ask(QUESTION).answer == "Fusion sums reciprocal ranks [1]." and chat.kinds().count("answer") == 2


def test_a_direct_decision_is_overturned_by_an_uncertain_chunk_holding_the_questions_words(
    make_agent: AgentFactory,
) -> None:
    uncertain = ScoredRetriever([(CHUNKS[0], {"dense": 0.35})])  # below "relevant", above "irrelevant"
    agent, _ = make_agent(
        {"route": [route_to("direct")], "answer": ["Fusion sums reciprocal ranks [1]."], "judge": [verdict()]},
        retriever=uncertain,
        llm_grading=False,
    )
    result = agent.ask("How does reciprocal rank fusion merge rankings?")
    assert result.route == "documents"
    # a greeting scored the same stays direct: its words are not in the chunk
    agent, _ = make_agent({"route": [route_to("direct")], "reply": ["Hello!"]}, retriever=uncertain)
    assert agent.ask("hello there!").route == "direct"


def test_a_tool_decision_is_overturned_by_an_uncertain_chunk_holding_the_questions_words(
    make_agent: AgentFactory,
) -> None:
    uncertain = ScoredRetriever([(CHUNKS[0], {"dense": 0.35})])
    agent, _ = make_agent(
        {"route": [route_to("tool")], "answer": ["Fusion sums reciprocal ranks [1]."], "judge": [verdict()]},
        retriever=uncertain,
        tools=builtin_registry(),
        llm_grading=False,
    )
    assert agent.ask("How does reciprocal rank fusion merge rankings?").route == "documents"
    # a message that names a tool keeps the tool route, whatever the documents hold
    agent, _ = make_agent(
        {"route": [route_to("tool")], "tools": ["Use it on numbers only."]},
        retriever=uncertain,
        tools=builtin_registry(),
    )
    assert agent.ask("Use the calculator on reciprocal rank fusion rankings").route == "tool"


def test_an_answer_replaced_for_being_unusable_cites_nothing(make_agent: AgentFactory) -> None:
    pasted = "rrf(1) Manual Page\nNAME\nrrf - merge rankings [1]\nSYNOPSIS\nrrf [-k 60] lists [1]"
    agent, _ = make_agent({"route": [route_to("documents")], "answer": [pasted] * 3}, max_retries=2)
    result = agent.ask(QUESTION)
    assert result.failed and result.answer == FAILED_ANSWER
    assert result.citations == []  # the sources of a text that is not shown are not the answer's sources


def test_a_tool_route_that_calls_no_tool_hands_the_question_to_the_documents(make_agent: AgentFactory) -> None:
    # the router guessed "tool" and nothing in the top 3 is a confident match, so the tool loop runs; the model
    # writes prose instead of a call: that answer would come from its own knowledge, so the documents answer
    agent, chat = make_agent(
        {
            "route": [route_to("tool")],
            "tools": ["To merge rankings, install the RankFusion package from PyPI and run it."],
            "answer": ["Fusion sums 1/(60 + rank) over the lists [1]."],
            "judge": [verdict()],
        },
        tools=builtin_registry(),
        # confidently relevant by score, but sharing too few of the question's words to overturn a tool decision
        retriever=ScoredRetriever([(CHUNKS[0], {"dense": 0.6})]),
    )
    result = agent.ask("Which method should I pick for combining result lists?")
    assert result.route == "documents" and result.answer == "Fusion sums 1/(60 + rank) over the lists [1]."
    assert chat.kinds()[:2] == ["route", "tools"] and chat.kinds()[-2:] == ["answer", "judge"]
    tools_call = chat.calls[1]
    assert tools_call.request["max_tokens"] == 64  # the prose was cut short: it is never shown
    assert "called no tool: the documents route answers instead" in next(
        s.summary for s in result.steps if s.node == "tools"
    )


def test_without_documents_a_tool_route_answer_in_prose_stands(make_agent: AgentFactory) -> None:
    agent, chat = make_agent(
        {"route": [route_to("tool")], "tools": ["Hello! I can do arithmetic and tell the time."]},
        tools=builtin_registry(),
        retriever=None,
    )
    result = agent.ask("What can you do?")
    assert result.route == "tool" and result.answer.startswith("Hello!") and not result.failed
    assert chat.calls[1].request["max_tokens"] == 400


def test_an_answer_echoing_the_rules_is_regenerated_and_rule_labels_are_dropped(make_agent: AgentFactory) -> None:
    echo = "The direct answer first, then the command or option, with [1] citations: [1] [1] [1] [1]"
    agent, chat = make_agent(
        {
            "route": [route_to("documents")],
            "answer": [echo, "The direct answer is: fusion sums reciprocal ranks [1]."],
            "judge": [verdict()],
        },
    )
    result = agent.ask(QUESTION)
    assert result.answer == "fusion sums reciprocal ranks [1]." and not result.failed
    assert "repeated my instructions back" in str(chat.calls[1].messages[-1]["content"])
    reflect_notes = [s.summary for s in result.steps if s.node == "reflect"]
    assert "unusable answer (echo: a loop" in reflect_notes[0] and "lexical support" in reflect_notes[1]


OUTSIDE_KNOWLEDGE = "Install the RankFusion package with Homebrew on macOS, then call merge() on your lists [1]."


def test_an_answer_from_outside_knowledge_is_replaced_by_the_abstention(make_agent: AgentFactory) -> None:
    agent, chat = make_agent(
        {"route": [route_to("documents")], "answer": [OUTSIDE_KNOWLEDGE], "judge": [verdict()]},
        min_support=0.5,
    )
    result = agent.ask(QUESTION)
    # the judge would pass it: it is never asked, and no retry is spent on it
    assert result.answer == ABSTAIN_ANSWER and result.abstained and not result.failed
    assert chat.kinds() == ["answer"]
    [groundedness] = result.verdicts
    assert not groundedness.passed and "homebrew" in groundedness.rationale
    assert "unsupported by the sources: abstaining" in next(s.summary for s in result.steps if s.node == "reflect")


def test_an_unsupported_retry_leaves_the_earlier_supported_attempt(make_agent: AgentFactory) -> None:
    supported = "Each document scores the sum of 1/(60 + rank) over the lists [1]."
    agent, chat = make_agent(
        {
            "route": [route_to("documents")],
            "answer": [supported, OUTSIDE_KNOWLEDGE],
            "judge": [verdict(grounded=False)],
        },
        min_support=0.5,
        max_retries=1,
    )
    result = agent.ask(QUESTION)
    assert result.answer == supported and result.failed and not result.abstained
    assert chat.kinds() == ["answer", "judge", "answer"]


def test_a_well_supported_answer_citing_a_relevant_source_skips_the_judge(make_agent: AgentFactory) -> None:
    agent, chat = make_agent(
        {"route": [route_to("documents")], "answer": ["Each document scores the sum of 1/(60 + rank) [1]."]},
        retriever=ScoredRetriever([(CHUNKS[0], {"dense": 0.8})]),
        min_support=0.5,
        judge_skip=True,
    )
    result = agent.ask(VAGUE_QUESTION)  # few of the question's words: not "strong evidence", yet well supported
    assert chat.kinds() == ["route", "answer"] and not result.failed
    assert "judge skipped (well supported: 100%" in next(s.summary for s in result.steps if s.node == "reflect")


def test_an_answer_going_on_into_the_sources_block_keeps_its_sentences_with_a_citation(
    make_agent: AgentFactory,
) -> None:
    # the 0.5B quotes a source without a marker, then writes the next source's header line (mid-sentence)
    pasted = (
        "Reciprocal rank fusion merges rankings: each document scores the sum of 1/(60 + rank) over the lists.\n"
        "It was proposed by\n"
        "[1] Reciprocal rank fusion (docs/rrf.md)\n"
        "Reciprocal rank fusion merges rankings"
    )
    agent, chat = make_agent({"route": [route_to("documents")], "answer": [pasted], "judge": [verdict()]})
    result = agent.ask(QUESTION)
    assert result.answer.startswith("Reciprocal rank fusion merges rankings: each document scores")
    assert "proposed" not in result.answer and "docs/rrf.md" not in result.answer and not result.failed
    assert [c.source for c in result.citations] == ["docs/rrf.md"] and result.citations[0].attributed
    assert chat.kinds() == ["answer", "judge"]  # the cut answer was judged, not regenerated
    notes = [s.summary for s in result.steps if s.node == "generate"]
    assert "went on into the sources block" in notes[0]


def test_a_question_naming_something_the_documents_never_mention_abstains_without_a_model_call(
    make_agent: AgentFactory,
) -> None:
    # the real-docs failure: "How do I use X with SQLite?" for a product X the manual never names was answered
    # from the model's own knowledge (and the judge passed it)
    agent, chat = make_agent({"route": [route_to("documents")], "answer": ["Add Litestream to your rankings [1]."]})
    result = agent.ask("How does Litestream merge rankings with reciprocal rank fusion?")
    assert result.answer == ABSTAIN_ANSWER and result.abstained and not result.failed
    assert chat.kinds() == []  # no route, answer or judge call: the route pre-check and the grade decide
    grade = next(s.summary for s in result.steps if s.node == "grade")
    assert grade.startswith("kept 0/") and "never mention Litestream" in grade


def test_a_name_the_documents_contain_or_the_check_turned_off_changes_nothing(make_agent: AgentFactory) -> None:
    script = {"route": [route_to("documents")], "answer": ["Fusion sums 1/(60 + rank) [1]."], "judge": [verdict()]}
    agent, _ = make_agent(script)
    named = agent.ask("How does Reciprocal Rank Fusion merge rankings?")  # capitalised, but in the chunks
    assert not named.abstained and named.citations
    agent, _ = make_agent(script, unknown_names=False, llm_grading=False)
    unchecked = agent.ask("How does Litestream merge rankings with reciprocal rank fusion?")
    assert not unchecked.abstained and unchecked.citations
