"""`ragloop demo`: the README's main command. Ingest the bundled demo corpus, then answer a question with citations.

Safe to re-run: the ingest is incremental (the second run embeds nothing), and each run asks in a new thread.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from agent.cli.app import app
from agent.cli.common import print_json
from agent.cli.options import JsonOpt, VerboseOpt, with_settings
from agent.settings import Settings

DEMO_COLLECTION = "demo"
DEMO_QUESTION = "How does reciprocal rank fusion combine the BM25 and dense search results?"


@app.command("demo")
@with_settings("models", "retrieval", "agent", exclude=("collection",))
def demo(
    settings: Settings,
    question: Annotated[str, typer.Option("--question", "-q", help="The question to answer.")] = DEMO_QUESTION,
    collection: Annotated[
        str, typer.Option("--collection", "-c", help="Collection the demo corpus goes into.")
    ] = DEMO_COLLECTION,
    json_output: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Ingest the bundled demo corpus (ragloop's docs and a primer on transformers and LLMs), then answer a
    question from it with the full agent: the answer, its numbered sources and the judge's verdicts."""
    from agent.cli.render import StreamPrinter, print_answer_footer
    from agent.cli.wiring import ingest_demo_corpus, open_runtime
    from retrieval.ingest import DEMO_CORPUS

    settings = settings.model_copy(
        update={"retrieval": settings.retrieval.model_copy(update={"collection": collection})}
    )
    typer.echo(f"ingesting the demo corpus ({DEMO_CORPUS}) into collection {collection!r}…", err=True)
    with open_runtime(settings) as rt:
        report = ingest_demo_corpus(settings, progress=sys.stderr.isatty() and not json_output, store=rt.store)
        for warning in report.warnings:
            typer.secho(f"warning: {warning}", err=True, fg=typer.colors.YELLOW)
        typer.echo(report.summary(), err=True)

        printer = StreamPrinter(stream=not json_output, verbose=verbose, progress=json_output)
        with rt.agent() as agent:
            if not json_output:
                typer.secho(f"\nQuestion: {question}\n", bold=True)
            answer = agent.ask(question, on_event=printer)
    if json_output:
        print_json({"collection": collection, "ingest": report.as_dict(), **answer.to_dict()})
        return
    printer.finish(answer)
    print_answer_footer(answer, verbose=verbose)
    typer.echo(
        f"\nAsk your own: ragloop ask 'QUESTION' --collection {collection}   "
        f"or chat: ragloop chat --collection {collection}",
        err=True,
    )
