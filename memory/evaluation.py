"""The memory evaluation: a scripted multi-session set (`memory/data/eval_sessions.json`) through the real
agent, memory, Chroma and a real model.

    python -m memory.evaluation [--model qwen2.5-coder-0.5b] [--model-url URL] [--out report.json]

Sessions 1 and 2 are chats: facts among distractor turns, then contradicting updates; every turn runs recall
and fact extraction as `ragloop chat` does (the reply itself is skipped: extraction reads only the user's
message). Then each question is asked in a new thread (a later
session), once with long-term memory and once without. Reported: recall accuracy with and without memory,
accuracy on updated facts (the new value, not the old one), false recall on never-said facts (anything but "you
have not told me"), and the latency memory adds per turn: recall (in the turn, before the answer) and
extraction (after the answer), median and p95.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

ABSTAINS = re.compile(
    r"\b(haven't|have not|hasn't|didn't|did not|don't|do not|never)\b.{0,30}\b(told|mention|mentioned|share|shared|"
    r"said|say|know|provided|given|specified)\b|\bno (information|record|idea)\b|"
    r"\b(don't|do not) have\b.{0,20}\b(information|record|details|your)\b|\bnot (sure|mentioned|told)\b|"
    r"\bunknown\b|\bcan't (know|tell)\b|\bcannot (know|tell)\b|\bnot (specified|here|provided|available|known)\b",
    re.IGNORECASE | re.DOTALL,
)


def load_set() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(resources.files("memory").joinpath("data/eval_sessions.json").read_text())
    return data


def subset(data: dict[str, Any], facts: int, never: int) -> dict[str, Any]:
    """The first `facts` fact questions and `never` never-said ones, with the session messages that mention
    their expected or old values (a quick run for a loaded machine; the full set is the reference)."""
    chosen = [q for q in data["questions"] if not q.get("never")][:facts]
    chosen += [q for q in data["questions"] if q.get("never")][:never]
    keys = [k.strip() for q in chosen for k in [*q.get("expect", []), *q.get("old", [])]]
    sessions = [[m for m in session if any(k in m.lower() for k in keys)] for session in data["sessions"]]
    return {**data, "sessions": sessions, "questions": chosen}


def score(question: dict[str, Any], answer: str) -> dict[str, Any]:
    text = answer.lower()
    if question.get("never"):
        abstained = bool(ABSTAINS.search(answer))
        return {"correct": abstained, "false_recall": not abstained}
    found = any(e in text for e in question["expect"])
    stale = any(o in text for o in question.get("old", []))
    return {"correct": found and not stale, "stale": stale}


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 3)


def run(
    chat: Any, home: Path, data: dict[str, Any], *, answer_tokens: int = 40, emit: Any = None
) -> list[dict[str, Any]]:
    """Run the set; every turn and answered question is passed to `emit` as it completes (so a partial run
    can still be summarized) and returned. Each question is asked with memory, then without, in turn."""
    from agent.config import AgentConfig
    from agent.run import Agent, AgentDeps
    from memory.episodes import Episode
    from memory.service import open_memory
    from memory.settings import MemorySettings
    from retrieval.store import open_store

    events: list[dict[str, Any]] = []

    def record(event: dict[str, Any]) -> None:
        events.append(event)
        if emit is not None:
            emit(event)

    config = AgentConfig(route=False, answer_max_tokens=answer_tokens)
    with open_store(home) as store:
        memory = open_memory(store, chat, MemorySettings(user="eval"))
        # session turns take the memory's own path: recall before the answer, extraction after it. The reply
        # itself is not generated: extraction reads only the user's message, so it cannot change what is stored
        for number, session in enumerate(data["sessions"], start=1):
            for message in session:
                recall = memory.recall(message).seconds
                turn = memory.after_turn(Episode(question=message, answer="", route="direct"))
                record(
                    {"type": "turn", "session": number, "message": message, "remembered": turn.remembered}
                    | {"recall_s": recall, "extract_s": turn.seconds, "error": turn.error}
                )
        record({"type": "memories", "memories": [r.text for r in memory.list()]})
        with Agent(AgentDeps(chat=chat, memory=memory, config=config), home=home) as agent:
            for question in data["questions"]:
                for with_memory in (True, False):
                    agent.deps.memory = memory if with_memory else None
                    result = agent.ask(question["q"])
                    agent.wait_memory()
                    recall = next(s.seconds for s in result.steps if s.node == "load_context")
                    row = {"type": "question", "question": question["q"], "memory": with_memory}
                    row |= {"answer": result.answer, "recall_s": recall, "turn_s": result.timings.get("total", 0.0)}
                    record(row | score(question, result.answer))
    return events


def summarize(data: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    """The report from the events of a (possibly partial) run."""
    kinds = {q["q"]: "never" if q.get("never") else ("updated" if q.get("old") else "fact") for q in data["questions"]}
    by_text = {q["q"]: q for q in data["questions"]}
    rows = [e | score(by_text[e["question"]], e["answer"]) for e in events if e["type"] == "question"]  # rescored
    turns = [e for e in events if e["type"] == "turn"]
    recall_s = [e["recall_s"] for e in turns] + [r["recall_s"] for r in rows if r["memory"]]
    extract_s = [e["extract_s"] for e in turns]
    memories: list[str] = next((e["memories"] for e in events if e["type"] == "memories"), [])

    def rate(memory: bool, kind: set[str], key: str) -> dict[str, Any]:
        chosen = [r for r in rows if r["memory"] == memory and kinds[r["question"]] in kind]
        hits = sum(1 for r in chosen if r.get(key))
        return {"rate": round(hits / len(chosen), 3) if chosen else None, "n": len(chosen), "hits": hits}

    both = {"fact", "updated"}
    return {
        "complete": len(rows) == 2 * len(data["questions"]),
        "questions_answered": len({r["question"] for r in rows}),
        "turns": len(turns),
        "recall_accuracy": {"with_memory": rate(True, both, "correct"), "without_memory": rate(False, both, "correct")},
        "updated_accuracy": {
            "with_memory": rate(True, {"updated"}, "correct"),
            "without_memory": rate(False, {"updated"}, "correct"),
            "stale_with_memory": rate(True, {"updated"}, "stale"),
        },
        "false_recall_never_said": {
            "with_memory": rate(True, {"never"}, "false_recall"),
            "without_memory": rate(False, {"never"}, "false_recall"),
        },
        "latency_s": {
            "recall_median": pct(recall_s, 0.5),
            "recall_p95": pct(recall_s, 0.95),
            "extraction_median": pct(extract_s, 0.5),
            "extraction_p95": pct(extract_s, 0.95),
            "extraction_with_model_call_median": pct([s for s in extract_s if s > 0.05], 0.5),
            "question_turn_median_with_memory": pct([r["turn_s"] for r in rows if r["memory"]], 0.5),
            "question_turn_median_without_memory": pct([r["turn_s"] for r in rows if not r["memory"]], 0.5),
            "recall_samples": len(recall_s),
            "extraction_samples": len(extract_s),
        },
        "stored": [line for e in turns for line in e["remembered"]],
        "memories_after_sessions": memories,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="chat model (default: the settings' default model)")
    parser.add_argument("--model-url", default=None, help="an OpenAI-compatible endpoint (default: start locally)")
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads for the local server")
    parser.add_argument("--events", type=Path, default=Path("memory-eval-events.jsonl"), help="JSONL, appended live")
    parser.add_argument("--summarize", type=Path, default=None, help="only summarize an events file (partial ok)")
    parser.add_argument("--answer-tokens", type=int, default=40)
    parser.add_argument("--subset", type=int, nargs=2, metavar=("FACTS", "NEVER"), help="a quick partial set")
    args = parser.parse_args(argv)
    data = load_set()
    if args.subset:
        data = subset(data, *args.subset)
    if args.summarize:
        events = [json.loads(line) for line in args.summarize.read_text().splitlines() if line.strip()]
        print(json.dumps(summarize(data, events), indent=2, ensure_ascii=False))
        return

    import contextlib

    from agent.chat_client import ChatClient
    from agent.settings import load_settings

    settings = load_settings({})
    model = args.model or settings.models.model
    with contextlib.ExitStack() as stack:
        url = args.model_url
        if url is None:
            from local_models.serve import serve

            url = stack.enter_context(
                serve(model=model, n_ctx=settings.models.n_ctx, threads=args.threads, cache_dir=settings.models_dir)
            )
        chat = ChatClient(url, model)
        stack.callback(chat.close)
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ragloop-memory-eval-")))
        sink = stack.enter_context(args.events.open("w", encoding="utf-8"))

        def emit(event: dict[str, Any]) -> None:
            sink.write(json.dumps(event, ensure_ascii=False) + "\n")
            sink.flush()
            print(json.dumps(event, ensure_ascii=False)[:200], file=sys.stderr, flush=True)

        start = time.perf_counter()
        emit({"type": "start", "model": model})
        events = run(chat, home, data, answer_tokens=args.answer_tokens, emit=emit)
        emit({"type": "end", "seconds": round(time.perf_counter() - start, 1)})
    report = summarize(data, events) | {"model": model}
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
