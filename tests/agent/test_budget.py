"""The per-question budget: speeds measured from calls, estimates, optional steps skipped and reported."""

from __future__ import annotations

import pytest
from agent_support import CHUNKS, AgentFactory, route_to, verdict

from agent.budget import Budget, Call, SpeedMeter
from agent.chat_client import ChatResult, ChatTimings, ChatUsage
from retrieval.types import SearchHit


def result(prompt: int, completion: int, total: float, split: tuple[float, float] | None = None) -> ChatResult:
    timings = ChatTimings(total_seconds=total)
    if split is not None:
        timings.prompt_seconds, timings.generation_seconds = split
    return ChatResult(text="x", usage=ChatUsage(prompt, completion), timings=timings)


def test_speed_meter_learns_from_measured_timings() -> None:
    meter = SpeedMeter()
    assert meter.estimate(100, 10) is None
    meter.observe(result(400, 41, 3.0, split=(2.0, 1.0)))
    assert meter.prompt_tps == pytest.approx(200.0)
    assert meter.generation_tps == pytest.approx(40.0)
    assert meter.estimate(200, 40) == pytest.approx(2.0)
    meter.observe(result(400, 41, 1.5, split=(1.0, 0.5)))  # twice as fast: blended
    assert meter.prompt_tps == pytest.approx(300.0)


def test_speed_meter_splits_a_total_with_the_cost_ratio() -> None:
    meter = SpeedMeter()
    meter.observe(result(600, 100, 6.0))  # default ratio 6: 600 + 6 * 100 = 1200 prompt-token units in 6 s
    assert meter.prompt_tps == pytest.approx(200.0)
    assert meter.generation_tps == pytest.approx(200.0 / 6)
    prompt, generation = meter.split(result(600, 100, 6.0))
    assert (prompt, generation) == pytest.approx((3.0, 3.0))


def test_budget_in_tokens_skips_and_reports() -> None:
    budget = Budget(tokens=1000)
    budget.record("chat", result(700, 100, 1.0, split=(0.5, 0.5)))
    assert budget.tokens_used() == 800
    assert budget.check("reflect", Call("judge", 100, 50))
    assert budget.check("grade (LLM)", Call("chat", 150, 50))  # exactly the 200 left
    assert not budget.check("grade (LLM)", Call("chat", 150, 60))
    assert budget.skipped == [{"step": "grade (LLM)", "reason": "needs about 210 tokens, 200 left of 1000"}]
    assert budget.tokens_report() == {
        "prompt": 700,
        "completion": 100,
        "total": 800,
        "chat_prompt": 700,
        "chat_completion": 100,
    }


def test_budget_in_seconds_reserves_the_mandatory_answer() -> None:
    ticks = iter([0.0, 2.0, 2.0, 2.0])
    budget = Budget(seconds=10.0, clock=lambda: next(ticks))
    budget.record("chat", result(100, 11, 1.5, split=(1.0, 0.5)))  # 100 tok/s prompt, 20 tok/s generation
    # the grade alone (1 s) fits the 8 s left, but not with the answer it must leave room for (100 + 200 -> 11 s)
    assert budget.allows(Call("chat", 100, 0)) is None
    reason = budget.allows(Call("chat", 100, 0), reserve=[Call("chat", 100, 200)])
    assert reason == "needs about 12.0 s, 8.0 s left of 10 s"


def test_unmeasured_judge_is_estimated_from_the_chat_speed() -> None:
    budget = Budget(seconds=5.0)
    assert budget.allows(Call("judge", 10_000, 1000)) is None  # nothing measured yet: no basis to skip
    budget.record("chat", result(100, 11, 1.5, split=(1.0, 0.5)))
    assert budget.allows(Call("judge", 10_000, 1000)) is not None


class UncertainRetriever:
    def search(self, query: str, k: int = 5) -> list[SearchHit]:
        return [SearchHit(chunk=c, score=0.3, scores={"dense": 0.3}, rank=i) for i, c in enumerate(CHUNKS, 1)]


def test_agent_skips_optional_steps_over_budget_and_reports_them(make_agent: AgentFactory) -> None:
    # the scripted model runs at 50 prompt / 5 completion tokens per second: a 400-token answer alone needs ~80 s
    agent, chat = make_agent(
        {"route": [route_to("documents")], "answer": ["Fusion [1]."]},
        retriever=UncertainRetriever(),
        budget_seconds=30,
    )
    chat.prompt_tps, chat.generation_tps = 50.0, 5.0
    result = agent.ask("Which method should I pick for combining result lists?")  # not matched: the route asks
    assert chat.kinds() == ["route", "answer"]  # no grading calls, no judge
    assert {s["step"] for s in result.skipped} == {"grade (LLM)", "reflect"}
    assert all("left of 30 s" in s["reason"] for s in result.skipped)
    assert len(result.citations) == 1 and not result.failed and result.verdicts == []


def test_retry_over_budget_marks_the_answer_failed(make_agent: AgentFactory) -> None:
    agent, chat = make_agent(
        {"route": [route_to("documents")], "answer": ["Wrong [1]."], "judge": [verdict(grounded=False)]},
        budget_tokens=1500,
    )
    result = agent.ask("How does reciprocal rank fusion merge rankings?")
    assert [s["step"] for s in result.skipped] == ["retry"]
    assert result.failed and result.retries == 0 and chat.kinds() == ["answer", "judge"]


def test_no_budget_skips_nothing(make_agent: AgentFactory) -> None:
    agent, chat = make_agent(
        {
            "route": [route_to("documents")],
            "grade": [{"relevant": True}] * 3,
            "answer": ["Fusion [1]."],
            "judge": [verdict()],
        },
        retriever=UncertainRetriever(),
    )
    result = agent.ask("How does reciprocal rank fusion work?")
    assert result.skipped == [] and chat.kinds().count("grade") == 3


@pytest.mark.parametrize(
    ("field", "value"),
    [("context_tokens", 0), ("k", 0), ("max_retries", -1), ("max_tool_steps", 0), ("budget_seconds", 0)],
)
def test_config_rejects_impossible_values(field: str, value: float) -> None:
    from agent.types import AgentConfig

    with pytest.raises(ValueError, match=f"AgentConfig\\n{field}"):
        AgentConfig(**{field: value})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"low 0\.6 is above high 0\.5"):
        AgentConfig(grade_thresholds={"dense": (0.6, 0.5)})
