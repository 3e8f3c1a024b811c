"""`ragloop ask QUESTION`: one question through the agent; the answer streams, then its sources and verdicts."""

from __future__ import annotations

from typing import Annotated

import typer

from agent.cli.app import app
from agent.cli.common import print_json, settings_from
from agent.cli.wiring import (
    ApiKeyOpt,
    BudgetOpt,
    ChromaUrlOpt,
    CollectionOpt,
    JsonOpt,
    JudgeModelOpt,
    JudgeUrlOpt,
    ModelOpt,
    ModelUrlOpt,
    ThreadOpt,
    VerboseOpt,
)


@app.command("ask")
def ask(
    question: Annotated[str, typer.Argument(help="The question.", show_default=False)],
    collection: CollectionOpt = None,
    thread: ThreadOpt = None,
    json_output: JsonOpt = False,
    model: ModelOpt = None,
    model_url: ModelUrlOpt = None,
    api_key: ApiKeyOpt = None,
    judge_model: JudgeModelOpt = None,
    judge_url: JudgeUrlOpt = None,
    budget_seconds: BudgetOpt = None,
    verbose: VerboseOpt = False,
    chroma_url: ChromaUrlOpt = None,
) -> None:
    """Answer one question from a collection, with numbered sources and the judge's verdicts.

    --json prints the answer, citations (source, title, chunk id, quoted text), verdicts with rationales,
    the steps taken, retries, skipped steps, tokens and timings.
    """
    from agent.cli.render import StreamPrinter, print_answer_footer
    from agent.cli.wiring import open_agent

    if not question.strip():
        raise typer.BadParameter("the question is empty", param_hint="QUESTION")
    settings = settings_from(
        collection=collection,
        chroma_url=chroma_url,
        model=model,
        model_url=model_url,
        api_key=api_key,
        judge_model=judge_model,
        judge_url=judge_url,
        budget_seconds=budget_seconds,
    )
    printer = StreamPrinter(stream=not json_output, verbose=verbose, progress=json_output)
    with open_agent(settings) as agent:
        answer = agent.ask(question, thread_id=thread, on_event=printer)
    if json_output:
        print_json({"collection": settings.collection, **answer.to_dict()})
        return
    printer.finish(answer)
    print_answer_footer(answer, verbose=verbose)
