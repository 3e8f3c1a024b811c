"""`ragloop ask QUESTION`: one question through the agent; the answer streams, then its sources and verdicts."""

from __future__ import annotations

from typing import Annotated

import typer

from agent.cli.app import app
from agent.cli.common import print_json
from agent.cli.options import JsonOpt, ThreadOpt, VerboseOpt, with_settings
from agent.settings import Settings


@app.command("ask")
@with_settings("models", "retrieval", "agent")
def ask(
    settings: Settings,
    question: Annotated[str, typer.Argument(help="The question.", show_default=False)],
    thread: ThreadOpt = None,
    json_output: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Answer one question from a collection, with numbered sources and the judge's verdicts.

    --json prints the answer, citations (source, title, chunk id, quoted text), verdicts with rationales,
    the steps taken, retries, skipped steps, tokens and timings.
    """
    from agent.cli.render import StreamPrinter, print_answer_footer
    from agent.cli.wiring import open_runtime

    if not question.strip():
        raise typer.BadParameter("the question is empty", param_hint="QUESTION")
    printer = StreamPrinter(stream=not json_output, verbose=verbose, progress=json_output)
    with open_runtime(settings) as rt, rt.agent() as agent:
        answer = agent.ask(question, thread_id=thread, on_event=printer)
        runtime = rt.describe()
    if json_output:
        print_json({"collection": settings.retrieval.collection, **answer.to_dict(), "runtime": runtime})
        return
    printer.finish(answer)
    print_answer_footer(answer, verbose=verbose)
