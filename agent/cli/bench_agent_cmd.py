"""`ragloop bench agent`: plain retrieve-and-answer vs the full agent graph on the demo question set."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from agent.cli.app import bench_app
from agent.cli.common import print_json
from agent.cli.options import JsonOpt, with_settings
from agent.settings import Settings


@bench_app.command("agent")
@with_settings("models", "retrieval", "agent", exclude=("collection",))
def bench_agent(
    settings: Settings,
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", min=1, help="Only the first N questions of the set.")
    ] = None,
    questions: Annotated[
        Path | None,
        typer.Option("--questions", help="Question set (JSONL) (default: evals/data/demo/questions.jsonl)."),
    ] = None,
    collection: Annotated[
        str,
        typer.Option(
            "--collection",
            "-c",
            help="Collection the questions are about. 'demo' is brought up to date with the bundled demo corpus; "
            "any other must be ingested first.",
        ),
    ] = "demo",
    configs: Annotated[
        str, typer.Option("--configs", help="Comma-separated configurations to run: plain, full.")
    ] = "plain,full",
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Per-question records (JSONL), written as they come (default: HOME/runs/)."),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Keep the records already in --out and ask only the questions they lack."),
    ] = False,
    eval_judge: Annotated[
        bool,
        typer.Option(
            "--eval-judge/--no-eval-judge",
            help="Judge each answer's groundedness once more after the run (one judge call per answer).",
        ),
    ] = True,
    from_records: Annotated[
        Path | None,
        typer.Option("--report", help="Print the table of an earlier (maybe unfinished) run from its --out records."),
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Answer the demo question set with (a) plain retrieve-top-5-and-answer and (b) the full graph, side by side:
    key-fact accuracy, citation precision, judge groundedness, abstention, p50/p95 seconds and their split."""
    import tempfile

    from agent.bench import DEFAULT_QUESTIONS, load_questions, read_records, report_from_records, run_agent_bench
    from agent.cli.wiring import ingest_demo_corpus, open_runtime, plain_config
    from agent.errors import AgentError

    chosen = [c.strip() for c in configs.split(",") if c.strip()]
    unknown = sorted(set(chosen) - {"plain", "full"})
    if unknown or not chosen:
        raise typer.BadParameter(f"unknown configuration(s) {', '.join(unknown) or '(none)'}", param_hint="--configs")
    questions_path = questions or DEFAULT_QUESTIONS
    question_set = load_questions(questions_path)[:limit]
    if from_records is not None:
        earlier = report_from_records(from_records, question_set)
        if json_output:
            print_json(earlier.as_dict())
        else:
            typer.echo(earlier.table())
        return
    settings = settings.model_copy(
        update={"retrieval": settings.retrieval.model_copy(update={"collection": collection})}
    )
    if collection == "demo":
        typer.echo(ingest_demo_corpus(settings).summary(), err=True)
    if resume and out is None:
        raise typer.BadParameter("--resume needs the --out of the run to continue", param_hint="--resume")
    out = out or settings.home / "runs" / f"bench-agent-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    done = read_records(out, question_set) if resume and out.is_file() else []
    typer.echo(f"per-question records: {out}" + (f" ({len(done)} kept)" if done else ""), err=True)
    config_for = {"plain": plain_config(settings), "full": settings.agent}

    with open_runtime(settings) as runtime, tempfile.TemporaryDirectory(prefix="ragloop-bench-") as tmp:
        collection_ = runtime.searcher().collection
        if collection_.count() == 0:
            raise AgentError(
                f"Collection {collection!r} is empty. Ingest it first: ragloop ingest PATH -c {collection}"
            )

        def chunk_texts(ids: list[str]) -> dict[str, str]:
            return {chunk.id: chunk.text for chunk in collection_.get(ids)} if ids else {}

        agents = {name: runtime.agent(config_for[name], threads_path=Path(tmp) / f"{name}.sqlite") for name in chosen}
        try:
            with out.open("w", encoding="utf-8") as records:

                def record(result: object) -> None:
                    records.write(json.dumps(result.as_dict(), ensure_ascii=False) + "\n")  # type: ignore[attr-defined]
                    records.flush()

                for result in done:  # the kept records first: the file stays the whole run
                    record(result)

                report = run_agent_bench(
                    agents,
                    question_set,
                    judge=runtime.judge or runtime.chat,
                    chunk_texts=chunk_texts,
                    model=settings.models.model,
                    questions_file=str(questions_path),
                    on_result=record,
                    done=done,
                    eval_judge=eval_judge,
                )
        finally:
            for agent in agents.values():
                agent.close()
    if json_output:
        print_json(report.as_dict())
    else:
        typer.echo(report.table())
