"""Every tool call is bounded: the calculator refuses huge intermediate results at once, a tool that overruns its
timeout comes back as an error result (the cooperative ones stop), and cancellation reaches the tool."""

from __future__ import annotations

import threading
import time

import pytest

from tools.builtin import calculator
from tools.call import CallContext
from tools.registry import Tool, ToolArgumentsError, ToolRegistry, tool


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("((10**1000)**1000)**1000", "digits"),
        ("((9**999)**999)**999", "digits"),
        ("round(1, -10**9)", "out of range"),
        ("(10**999) * (10**999) * (10**999)", "digits"),
        ("2 ** 100000", "exponent"),
        ("1" + " + 1" * 400, "too long"),
        ("-" * 900 + "1", None),  # deep but small: fine
    ],
)
def test_calculator_refuses_huge_work_with_a_clear_error(expression: str, message: str | None) -> None:
    # each case took > 20 s before the bounds; the registry's 5 s timeout would also catch a regression
    outcome = ToolRegistry([calculator]).execute("calculator", f'{{"expression": "{expression}"}}')
    if message is None:
        assert outcome.error is None and outcome.content in ("1", "-1")
    else:
        assert outcome.error is not None and message in outcome.error, outcome.content


def test_calculator_still_computes_big_but_bounded_numbers() -> None:
    assert calculator("10**1000 // 10**998") == "100"
    assert len(calculator("9**999")) == 954
    assert calculator("round(3.14159, 2)") == "3.14"


def test_a_tool_that_overruns_its_timeout_returns_an_error_and_stops() -> None:
    stopped = threading.Event()

    @tool(timeout=0.3)
    def slow(steps: int, context: CallContext) -> str:
        """Work in small steps, checking for cancellation.

        Args:
            steps: How many 50 ms steps.
        """
        try:
            for _ in range(steps):
                context.check()
                time.sleep(0.05)
        finally:
            stopped.set()
        return "done"

    registry = ToolRegistry([slow])
    assert "context" not in registry.get("slow").parameters["properties"]  # type: ignore[union-attr]
    assert registry.execute("slow", '{"steps": 1}').content == "done"
    stopped.clear()
    outcome = registry.execute("slow", '{"steps": 1000}')
    assert outcome.error is not None and "did not finish within 0.3 s" in outcome.error
    assert stopped.wait(5), "the cooperative tool kept running after its timeout"


def test_registry_default_timeout_applies_to_plain_functions() -> None:
    def sleepy(seconds: float) -> str:
        """Sleep.

        Args:
            seconds: How long.
        """
        time.sleep(seconds)
        return "awake"

    registry = ToolRegistry([sleepy], timeout=0.2)
    assert registry.execute("sleepy", '{"seconds": 0}').content == "awake"
    assert "did not finish" in (registry.execute("sleepy", '{"seconds": 3}').error or "")


def test_progress_and_cancellation_reach_the_tool() -> None:
    seen: list[tuple[float, float | None, str | None]] = []
    context = CallContext(on_progress=lambda done, total, message: seen.append((done, total, message)))
    context.progress(1, 2, "half")
    assert seen == [(1, 2, "half")]
    context.cancel()
    with pytest.raises(Exception, match="cancelled"):
        context.check()


def test_tools_of_other_servers_are_checked_against_their_schema() -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}, "unit": {"enum": ["c", "f"]}},
        "required": ["city"],
    }
    external = Tool(name="weather", description="Forecast.", parameters=schema, fn=lambda **kw: kw, arguments=None)
    assert external.validate({"city": "Oslo", "days": 2}) == {"city": "Oslo", "days": 2}
    # a small model writing the schema itself as the arguments: refused, naming the fields
    with pytest.raises(ToolArgumentsError) as caught:
        external.validate({"type": "object"})
    assert set(caught.value.fields) == {"type", "city"}
    with pytest.raises(ToolArgumentsError, match="days: expected integer"):
        external.validate({"city": "Oslo", "days": "two"})
    with pytest.raises(ToolArgumentsError, match="unit: must be one of"):
        external.validate({"city": "Oslo", "unit": "k"})
    with pytest.raises(ToolArgumentsError, match="days: expected integer"):
        external.validate({"city": "Oslo", "days": True})
