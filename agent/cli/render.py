"""Terminal output of the agent commands (`ask`, `chat`, `demo`): the streamed answer, sources, verdicts, trace.

Answers stream to stdout; everything about the run (trace, thread id, timings) goes to stderr, so
`ragloop ask Q > answer.txt` keeps only the answer and its sources.
"""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING, TextIO

import typer

if TYPE_CHECKING:
    from agent.types import AgentAnswer, AgentEvent, Citation, Step, Verdict

RATIONALE_CHARS = 160
_CITATION_MARKS = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")


def citation_line(citation: Citation) -> str:
    """`[1] Title — source › Heading > Sub, p. 3` (the parts that exist)."""
    where = citation.source
    if citation.heading_path:
        where += " › " + " > ".join(citation.heading_path)
    if citation.page is not None:
        where += f", p. {citation.page}"
    title = citation.title.strip()
    return f"[{citation.n}] {title} — {where}" if title and title != citation.source else f"[{citation.n}] {where}"


def verdict_line(verdict: Verdict) -> str:
    mark = {"pass": "pass", "fail": "FAIL", "unjudged": "unjudged"}[verdict.status]
    rationale = " ".join(verdict.rationale.split())
    if len(rationale) > RATIONALE_CHARS:
        rationale = rationale[: RATIONALE_CHARS - 1] + "…"
    return f"{verdict.criterion}: {mark}" + (f" — {rationale}" if rationale else "")


def final_verdicts(answer: AgentAnswer) -> list[Verdict]:
    """The verdicts on the answer returned (which may be an earlier, better-rated attempt than the last)."""
    return [v for v in answer.verdicts if v.attempt == answer.attempt]


def step_line(step: Step) -> str:
    tokens = step.prompt_tokens + step.completion_tokens
    cost = f"{step.seconds:.2f} s" + (f", {tokens} tok" if tokens else "")
    line = f"· {step.node} ({cost})" + (f": {step.summary}" if step.summary else "")
    if step.error:
        line += f"  [model error: {step.error}]"
    return line


def print_sources(answer: AgentAnswer, out: TextIO | None = None, *, quotes: bool = False) -> None:
    out = out or sys.stdout
    if not answer.citations:
        return
    print("\nSources:", file=out)
    for citation in answer.citations:
        print(f"  {citation_line(citation)}", file=out)
        if quotes:
            print(f"      “{citation.quote}”", file=out)
            print(f"      chunk {citation.chunk_id}", file=out)


def print_verdicts(answer: AgentAnswer, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    verdicts = final_verdicts(answer)
    if not verdicts:
        return
    retried = f" (after {answer.retries} retr{'y' if answer.retries == 1 else 'ies'})" if answer.retries else ""
    print(f"\nJudge{retried}:", file=out)
    for verdict in verdicts:
        print(f"  {verdict_line(verdict)}", file=out)


def run_summary(answer: AgentAnswer) -> str:
    """One stderr line: thread, time, tokens, retries, skipped steps, failure."""
    parts = [f"thread {answer.thread_id}", f"{answer.timings.get('total', 0.0):.1f} s"]
    if answer.tokens.get("total"):
        parts.append(f"{answer.tokens['total']} tokens")
    if answer.retries:
        parts.append(f"{answer.retries} retr{'y' if answer.retries == 1 else 'ies'}")
    if answer.skipped:
        parts.append("skipped: " + ", ".join(s["step"] for s in answer.skipped))
    if answer.failed:
        parts.append("the answer did not pass the judge")
    elif any(v.passed is None for v in final_verdicts(answer)):
        parts.append("unjudged: the judge's output could not be parsed")
    return " · ".join(parts)


class StreamPrinter:
    """`on_event` for `Agent.ask`: streams answer tokens to stdout, the node trace to stderr when verbose.

    When the judge fails an answer and it is regenerated, a marker line separates the attempts.
    `finish(answer)` prints the final answer if it was not (or not entirely) what streamed.
    """

    def __init__(self, *, stream: bool = True, verbose: bool = False, progress: bool = False) -> None:
        self.stream = stream
        self.verbose = verbose
        self.progress = progress
        self.current: list[str] = []  # text streamed for the current attempt
        self.retry_pending = False

    def __call__(self, event: AgentEvent) -> None:
        if event.kind == "token":
            if not self.stream:
                return
            if self.retry_pending and self.current:
                sys.stdout.write("\n\n--- the judge failed this answer; answering again ---\n\n")
                self.current = []
            self.retry_pending = False
            self.current.append(event.text)
            sys.stdout.write(event.text)
            sys.stdout.flush()
            return
        step = event.step
        if step is None:
            return
        if step.node == "reflect":
            self.retry_pending = True
        if self.verbose:
            self._to_stderr(step_line(step))
        elif self.progress:
            typer.echo(f"· {step.node} ({step.seconds:.1f} s)", err=True)

    def _to_stderr(self, line: str) -> None:
        if self.current and not "".join(self.current).endswith("\n"):
            sys.stdout.write("\n")  # keep the trace off the answer's line
            sys.stdout.flush()
            self.current.append("\n")
        typer.secho(line, err=True, dim=True)

    def finish(self, answer: AgentAnswer) -> None:
        """Print the final answer if it is not what streamed (citations attributed afterwards, an abstention
        decided without the model, a retry that did not stream); end its line."""
        streamed = "".join(self.current).strip()
        final = answer.answer.strip()
        if streamed != final:
            if streamed:
                same_text = _CITATION_MARKS.sub("", streamed).split() == _CITATION_MARKS.sub("", final).split()
                sys.stdout.write("\n\nWith its sources marked:\n" if same_text else "\n\nFinal answer:\n")
            sys.stdout.write(final or "(no answer)")
        sys.stdout.write("\n")
        sys.stdout.flush()
        self.current = []
        self.retry_pending = False


def print_answer_footer(answer: AgentAnswer, *, verbose: bool = False) -> None:
    """Sources and verdicts on stdout; the run summary on stderr."""
    print_sources(answer)
    print_verdicts(answer)
    sys.stdout.flush()
    for step in answer.steps:  # the tool loop's calls and results, also without --verbose
        if step.node == "tools" and step.summary:
            typer.secho(f"tools: {step.summary}", err=True, dim=True)
    typer.secho(run_summary(answer), err=True, dim=True)
    if verbose and answer.skipped:
        for skipped in answer.skipped:
            typer.secho(f"skipped {skipped['step']}: {skipped['reason']}", err=True, dim=True)
