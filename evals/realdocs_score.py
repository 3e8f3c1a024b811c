"""Issue #12's answer metrics from `ragloop bench agent` records, per configuration and per half of the set.

    python -m evals.realdocs score RECORDS.jsonl [--answers evals/data/realdocs/answers.jsonl]

For each configuration (`plain`, `full`) and each split present (`tune`, `check`):

- fact+gold: answerable questions whose answer holds every key fact AND cites at least one gold page;
- wrong abstention: answerable questions answered with an abstention;
- abstention on unanswerable: unanswerable questions answered with an abstention;
- malformed: answers that are a tool call or JSON, a pasted source, or the prompt echoed back (see
  `malformed_reason`);
- marked failed, errors, p50 / p95 seconds.

Key facts are scored again from the answer text with the bench's own matcher (`agent.bench.fact_found`), so a
changed key fact in `answers.jsonl` applies to old records too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.devset import DevQuestion, DevSetError

TOOL_CALL = re.compile(r"<tool_call>|\"name\"\s*:\s*\"[^\"]+\"\s*,\s*\"arguments\"", re.IGNORECASE)
# what a pasted page looks like: the SQLite site's navigation block, a man page's section headings, a
# numbered-source header at the very start ("[1] Title | ..." or "[1] SQLite ...: ...")
PASTED = re.compile(r"Choose any three|Small\. Fast\. Reliable|\bSYNOPSIS\b|^\s*\[\d+\]\s*[^\n]{0,80}(\||\n)")
# the prompt echoed back (written independently of the agent's own echo check, which this scorer measures): the
# answer rules or the reviewer's feedback as the answer, or a loop of one citation marker
ECHOED = re.compile(
    r"direct answer first|reviewer rejected|answer the question again|with \[n\] citations|"
    r"the (?:direct answer|command or option|supporting source)s?(?: is| first)?\s*:|(\[\d+\])(?:\s*\1){3,}",
    re.IGNORECASE,
)


def malformed_reason(answer: str) -> str | None:
    """Why `answer` is not an answer (a tool call, JSON, a pasted source, an echo of the prompt), or None."""
    text = answer.strip()
    if TOOL_CALL.search(text):
        return "tool call"
    if text[:1] in "{[" and text[-1:] in "}]":
        try:
            json.loads(text)
        except json.JSONDecodeError:
            pass
        else:
            return "JSON"
    if PASTED.search(text):
        return "pasted source"
    if ECHOED.search(text):
        return "echoed prompt"
    return None


@dataclass
class Scored:
    config: str
    question: DevQuestion
    answer: str
    abstained: bool
    failed: bool
    error: bool
    all_facts: bool
    gold_cited: bool
    malformed: str | None
    seconds: float


def read_records(path: Path, questions: Sequence[DevQuestion]) -> list[Scored]:
    """Bench records joined with their questions; records of questions not in the set are an error."""
    from agent.bench import fact_found

    if not path.is_file():
        raise DevSetError(f"{path} not found: `ragloop bench agent --out FILE` writes the records.")
    by_id = {q.id: q for q in questions}
    scored = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record: dict[str, Any] = json.loads(line)
            q = by_id[record["id"]]
            answer = str(record.get("answer", ""))
            scored.append(
                Scored(
                    config=str(record["config"]),
                    question=q,
                    answer=answer,
                    abstained=bool(record.get("abstained")),
                    failed=bool(record.get("failed")),
                    error=record.get("error") is not None,
                    all_facts=bool(q.key_facts) and all(fact_found(answer, alts) for alts in q.key_facts),
                    gold_cited=int(record.get("cited_gold", 0)) > 0,
                    malformed=malformed_reason(answer) if answer.strip() else None,
                    seconds=float(record.get("seconds", 0.0)),
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise DevSetError(f"{path}:{number}: not a bench record of this question set ({exc!r}).") from exc
    return scored


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summarize(rows: Sequence[Scored]) -> dict[str, Any]:
    answerable = [r for r in rows if r.question.answerable]
    unanswerable = [r for r in rows if not r.question.answerable]
    seconds = [r.seconds for r in rows]
    return {
        "questions": len(rows),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "fact_and_gold_citation": sum(r.all_facts and r.gold_cited for r in answerable),
        "all_facts": sum(r.all_facts for r in answerable),
        "wrong_abstention": sum(r.abstained for r in answerable),
        "abstained_unanswerable": sum(r.abstained for r in unanswerable),
        "malformed": sum(r.malformed is not None for r in rows),
        "failed": sum(r.failed for r in rows),
        "errors": sum(r.error for r in rows),
        "p50_seconds": round(_percentile(seconds, 0.5), 1),
        "p95_seconds": round(_percentile(seconds, 0.95), 1),
    }


def report(rows: Sequence[Scored]) -> dict[str, dict[str, dict[str, Any]]]:
    """{config: {split or "all": summary}} over the questions every configuration answered."""
    configs = list(dict.fromkeys(r.config for r in rows))
    common = set.intersection(*({r.question.id for r in rows if r.config == c} for c in configs)) if configs else set()
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for config in configs:
        mine = [r for r in rows if r.config == config and r.question.id in common]
        out[config] = {"all": summarize(mine)}
        for split in sorted({r.question.split for r in mine}):
            out[config][split] = summarize([r for r in mine if r.question.split == split])
    return out


def _cell(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100 * part / whole:.0f}%)" if whole else "-"


def table(summary: dict[str, dict[str, dict[str, Any]]]) -> str:
    lines = []
    rows = [
        ("fact + gold citation", lambda s: _cell(s["fact_and_gold_citation"], s["answerable"])),
        ("all key facts", lambda s: _cell(s["all_facts"], s["answerable"])),
        ("wrong abstention", lambda s: _cell(s["wrong_abstention"], s["answerable"])),
        ("abstention on unanswerable", lambda s: _cell(s["abstained_unanswerable"], s["unanswerable"])),
        ("malformed (tool call/JSON/pasted/echo)", lambda s: _cell(s["malformed"], s["questions"])),
        ("marked failed / errors", lambda s: f"{s['failed']} / {s['errors']}"),
        ("p50 / p95 s", lambda s: f"{s['p50_seconds']} / {s['p95_seconds']}"),
    ]
    for config, parts in summary.items():
        names = list(parts)
        lines.append(f"{config}: " + ", ".join(f"{n} {parts[n]['questions']} q" for n in names))
        width = max(len(label) for label, _ in rows)
        for label, fmt in rows:
            lines.append(f"  {label:<{width}}  " + "  ".join(f"{fmt(parts[n]):>16}" for n in names))
    return "\n".join(lines)
