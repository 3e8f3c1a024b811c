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
import statistics
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

ABSTAINS = re.compile(
    r"\b(haven't|have not|hasn't|didn't|did not|don't|do not|never)\b.{0,30}\b(told|mention|mentioned|share|shared|"
    r"said|say|know|provided|given|specified)\b|\bno (information|record|idea)\b|\bnot (sure|mentioned|told)\b|"
    r"\bunknown\b|\bcan't (know|tell)\b|\bcannot (know|tell)\b",
    re.IGNORECASE | re.DOTALL,
)


def load_set() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(resources.files("memory").joinpath("data/eval_sessions.json").read_text())
    return data


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


def run(chat: Any, home: Path, data: dict[str, Any], *, answer_tokens: int = 40, log: Any = None) -> dict[str, Any]:
    from agent.config import AgentConfig
    from agent.run import Agent, AgentDeps
    from memory.episodes import Episode
    from memory.service import open_memory
    from memory.settings import MemorySettings
    from retrieval.store import open_store

    def say(text: str) -> None:
        if log is not None:
            print(text, file=log, flush=True)

    config = AgentConfig(route=False, answer_max_tokens=answer_tokens)
    recall_s: list[float] = []
    extract_s: list[float] = []
    answer_s: list[float] = []  # whole turns of the questions (recall + answer)
    stored: list[str] = []
    rows: list[dict[str, Any]] = []
    with open_store(home) as store:
        memory = open_memory(store, chat, MemorySettings(user="eval"))
        # session turns take the memory's own path: recall before the answer, extraction after it. The reply
        # itself is not generated: extraction reads only the user's message, so it cannot change what is stored
        for number, session in enumerate(data["sessions"], start=1):
            for message in session:
                recall_s.append(memory.recall(message).seconds)
                turn = memory.after_turn(Episode(question=message, answer="", route="direct"))
                extract_s.append(turn.seconds)
                stored += turn.remembered
                say(f"session {number}: {message!r} → {turn.remembered or '-'} ({turn.seconds:.1f} s)")
        with Agent(AgentDeps(chat=chat, memory=memory, config=config), home=home) as agent:
            for with_memory in (True, False):
                agent.deps.memory = memory if with_memory else None
                for question in data["questions"]:
                    result = agent.ask(question["q"])
                    agent.wait_memory()
                    answer_s.append(result.timings.get("total", 0.0))
                    if with_memory:
                        recall_s.append(next(s.seconds for s in result.steps if s.node == "load_context"))
                    row = {"question": question["q"], "memory": with_memory, "answer": result.answer}
                    row |= score(question, result.answer)
                    rows.append(row)
                    say(f"{'with' if with_memory else 'without'} memory: {question['q']} → {result.answer[:100]!r}")
        final = [r.text for r in memory.list()]
    return summarize(data, rows, recall_s, extract_s, answer_s, stored, final)


def summarize(
    data: dict[str, Any],
    rows: list[dict[str, Any]],
    recall_s: list[float],
    extract_s: list[float],
    answer_s: list[float],
    stored: list[str],
    final: list[str],
) -> dict[str, Any]:
    kinds = {q["q"]: "never" if q.get("never") else ("updated" if q.get("old") else "fact") for q in data["questions"]}

    def rate(memory: bool, kind: set[str], key: str) -> dict[str, Any]:
        chosen = [r for r in rows if r["memory"] == memory and kinds[r["question"]] in kind]
        hits = sum(1 for r in chosen if r.get(key))
        return {"rate": round(hits / len(chosen), 3) if chosen else 0.0, "n": len(chosen), "hits": hits}

    both = {"fact", "updated"}
    return {
        "questions": len(data["questions"]),
        "turns": sum(len(s) for s in data["sessions"]),
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
            "answer_turn_median": pct(answer_s, 0.5),
            "recall_samples": len(recall_s),
            "extraction_samples": len(extract_s),
            "extraction_mean": round(statistics.fmean(extract_s), 3) if extract_s else 0.0,
        },
        "stored_decisions": stored,
        "final_memories": final,
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="chat model (default: the settings' default model)")
    parser.add_argument("--model-url", default=None, help="an OpenAI-compatible endpoint (default: start locally)")
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads for the local server")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON report here")
    parser.add_argument("--answer-tokens", type=int, default=40)
    args = parser.parse_args(argv)

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
        start = time.perf_counter()
        report = run(chat, home, load_set(), answer_tokens=args.answer_tokens, log=sys.stderr)
        report["model"] = model
        report["seconds"] = round(time.perf_counter() - start, 1)
    text = json.dumps(report, indent=2, ensure_ascii=False)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in report.items() if k not in ("rows", "stored_decisions")}, indent=2))


if __name__ == "__main__":
    main()
