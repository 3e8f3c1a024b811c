"""The terminal rendering of answers: streaming, retry marker, final answer, sources, verdicts (no model)."""

from __future__ import annotations

import pytest

from agent.cli.render import StreamPrinter, citation_line, final_verdicts, print_answer_footer, step_line
from agent.types import AgentAnswer, AgentEvent, Citation, Step, Verdict


def answer(text: str, **fields: object) -> AgentAnswer:
    return AgentAnswer(thread_id="t1", question="q", answer=text, route="documents", **fields)  # type: ignore[arg-type]


def stream(printer: StreamPrinter, *events: AgentEvent) -> None:
    for event in events:
        printer(event)


def tokens(*parts: str) -> list[AgentEvent]:
    return [AgentEvent(kind="token", text=p) for p in parts]


def test_streamed_answer_is_not_printed_twice(capsys: pytest.CaptureFixture[str]) -> None:
    printer = StreamPrinter()
    stream(printer, *tokens("RRF uses ", "ranks [1]."))
    printer.finish(answer("RRF uses ranks [1]."))
    assert capsys.readouterr().out == "RRF uses ranks [1].\n"


@pytest.mark.parametrize(
    ("final", "label"),
    [("RRF uses ranks [2].", "With its sources marked:"), ("I couldn't find this in the documents.", "Final answer:")],
)
def test_final_answer_that_differs_from_the_stream(capsys: pytest.CaptureFixture[str], final: str, label: str) -> None:
    printer = StreamPrinter()
    stream(printer, *tokens("RRF uses ranks."))
    printer.finish(answer(final))
    assert capsys.readouterr().out == f"RRF uses ranks.\n\n{label}\n{final}\n"


def test_answer_decided_without_the_model_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    printer = StreamPrinter()
    printer.finish(answer("I couldn't find this in the documents."))
    assert capsys.readouterr().out == "I couldn't find this in the documents.\n"


def test_retry_marker_and_verbose_trace(capsys: pytest.CaptureFixture[str]) -> None:
    printer = StreamPrinter(verbose=True)
    reflect = Step(node="reflect", summary="failed groundedness: regenerate", seconds=1.5, prompt_tokens=90)
    stream(printer, *tokens("first"), AgentEvent(kind="step", step=reflect), *tokens("second [1]"))
    printer.finish(answer("second [1]"))
    captured = capsys.readouterr()
    assert captured.out == "first\n\n\n--- the judge failed this answer; answering again ---\n\nsecond [1]\n"
    assert captured.err.strip() == "· reflect (1.50 s, 90 tok): failed groundedness: regenerate"


def test_json_mode_streams_nothing_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    printer = StreamPrinter(stream=False, progress=True)
    stream(printer, *tokens("hidden"), AgentEvent(kind="step", step=Step(node="retrieve", summary="", seconds=0.25)))
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == "· retrieve (0.2 s)\n"


def test_citation_lines_and_footer(capsys: pytest.CaptureFixture[str]) -> None:
    md = Citation(n=1, chunk_id="c1", source="/d/rag.md", title="RAG", quote="…", heading_path=["RAG", "Origins"])
    pdf = Citation(n=2, chunk_id="c2", source="/d/paper.pdf", title="", quote="…", page=3)
    assert citation_line(md) == "[1] RAG — /d/rag.md › RAG > Origins"
    assert citation_line(pdf) == "[2] /d/paper.pdf, p. 3"
    verdicts = [
        Verdict("groundedness", False, "claim 2 unsupported", attempt=0),
        Verdict("groundedness", True, "every claim cited", attempt=1),
        Verdict("relevance", True, "answers it", attempt=1),
    ]
    result = answer("x [1][2]", citations=[md, pdf], verdicts=verdicts, retries=1, timings={"total": 2.0})
    assert [v.attempt for v in final_verdicts(result)] == [1, 1]
    print_answer_footer(result)
    captured = capsys.readouterr()
    assert captured.out == (
        "\nSources:\n  [1] RAG — /d/rag.md › RAG > Origins\n  [2] /d/paper.pdf, p. 3\n"
        "\nJudge (after 1 retry):\n  groundedness: pass — every claim cited\n  relevance: pass — answers it\n"
    )
    assert captured.err.strip() == "thread t1 · 2.0 s · 1 retry"


def test_step_line_shows_model_errors() -> None:
    line = step_line(Step(node="route", summary="fallback route: documents", error="route: bad JSON", seconds=0.5))
    assert line == "· route (0.50 s): fallback route: documents  [model error: route: bad JSON]"
