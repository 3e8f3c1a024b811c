"""The real-documentation development set: SQLite's manual from Debian's `sqlite3-doc`, rebuilt on demand.

    apt-get install sqlite3-doc
    python -m evals.realdocs build --out DIR    # DIR: corpus.jsonl + queries.jsonl + qrels/test.tsv (BEIR),
                                                # pages/*.html, answers{,-tune,-check}.jsonl, manifest.json
    python -m evals.realdocs check --corpus DIR # every gold page exists, every key fact is on a gold page
    python -m evals.realdocs export             # queries.jsonl and qrels/*.tsv from answers.jsonl
    python -m evals.realdocs score RECORDS      # issue #12's answer metrics of `ragloop bench agent` records

The corpus is every top-level page of the manual (`/usr/share/doc/sqlite3/*.html`, in name order) except the
generated index pages listed in `EXCLUDED`, and except a page whose text repeats an earlier page's. Its text
is what the project's own HTML loader sees (`retrieval.loaders.html.parse_html`: visible text, a paragraph a
block), so the same build on the same package version gives the same bytes. The question set itself
(`evals/data/realdocs/`) is written by hand and committed; the corpus is not (it is 5 MB, and the package
rebuilds it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from evals.devset import (
    SPLITS,
    DevQuestion,
    DevSetError,
    balanced_order,
    check_against_corpus,
    check_questions,
    load_devset,
    read_corpus,
)

PACKAGE = "sqlite3-doc"
SOURCE = Path("/usr/share/doc/sqlite3")
DATA = Path(__file__).resolve().parent / "data" / "realdocs"
ANSWERS = DATA / "answers.jsonl"

# Generated pages that are not documentation prose: cross-reference and keyword indexes, the site map, the
# syntax-diagram gallery (pictures only) and the requirements list (every "shall" sentence of the other pages,
# repeated out of context, 1.8 MB).
EXCLUDED = frozenset(
    {
        "doc_backlink_crossref.html",
        "doc_keyword_crossref.html",
        "doc_pagelink_crossref.html",
        "doc_target_crossref.html",
        "keyword_index.html",
        "sitemap.html",
        "syntaxdiagrams.html",
        "requirements.html",
    }
)


@dataclass
class BuildReport:
    out: Path
    version: str
    pages: int
    duplicates: list[str] = field(default_factory=list)
    corpus_sha256: str = ""

    def summary(self) -> str:
        dropped = f"; dropped as duplicates: {', '.join(self.duplicates)}" if self.duplicates else ""
        return (
            f"{PACKAGE} {self.version}: {self.pages} pages → {self.out / 'corpus.jsonl'} "
            f"(sha256 {self.corpus_sha256[:12]}){dropped}"
        )


def package_version() -> str:
    """The installed version of `sqlite3-doc` (dpkg), or "unknown" off Debian."""
    try:
        done = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", PACKAGE], capture_output=True, text=True, check=False
        )
    except OSError:
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else "unknown"


def page_text(markup: str) -> tuple[str, str]:
    """(title, text) of one page as the project's HTML loader extracts it."""
    from retrieval.loaders.html import parse_html

    title, sections = parse_html(markup)
    return title, "\n\n".join(section.text for section in sections)


def select_pages(source: Path) -> list[Path]:
    if not source.is_dir():
        raise DevSetError(f"{source} not found: install the manual with `apt-get install {PACKAGE}`.")
    pages = sorted(p for p in source.glob("*.html") if p.name not in EXCLUDED)
    if not pages:
        raise DevSetError(f"{source} holds no HTML pages: is `{PACKAGE}` installed completely?")
    return pages


def build(out: Path, source: Path = SOURCE, answers: Path = ANSWERS) -> BuildReport:
    """Write the corpus (BEIR JSONL and the kept HTML pages) and the question files into `out`."""
    questions = load_devset(answers)
    pages_dir = out / "pages"
    if pages_dir.exists():
        shutil.rmtree(pages_dir)  # a page dropped by a newer package version must not linger
    pages_dir.mkdir(parents=True)
    report = BuildReport(out=out, version=package_version(), pages=0)
    seen: dict[str, str] = {}
    digest = hashlib.sha256()
    with (out / "corpus.jsonl").open("w", encoding="utf-8") as corpus:
        for path in select_pages(source):
            title, text = page_text(path.read_text(encoding="utf-8", errors="replace"))
            if not text.strip():
                continue
            key = hashlib.sha256(text.encode()).hexdigest()
            if key in seen:
                report.duplicates.append(f"{path.name} (= {seen[key]})")
                continue
            seen[key] = path.name
            line = json.dumps({"_id": path.name, "title": title, "text": text}, ensure_ascii=False) + "\n"
            corpus.write(line)
            digest.update(line.encode())
            shutil.copyfile(path, pages_dir / path.name)
            report.pages += 1
    report.corpus_sha256 = digest.hexdigest()
    write_beir_questions(questions, out)
    write_answers(questions, out)
    manifest = {
        "package": PACKAGE,
        "version": report.version,
        "source": str(source),
        "pages": report.pages,
        "excluded": sorted(EXCLUDED),
        "duplicates": report.duplicates,
        "corpus_sha256": report.corpus_sha256,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return report


def write_beir_questions(questions: Sequence[DevQuestion], out: Path) -> None:
    """queries.jsonl (every question, with its split) and qrels/test.tsv (each gold page, grade 1), and the
    qrels of each half (qrels/tune.tsv, qrels/check.tsv: `ragloop eval retrieval --split tune`)."""
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    with (out / "queries.jsonl").open("w", encoding="utf-8") as handle:
        for q in questions:
            record = {"_id": q.id, "text": q.question, "split": q.split, "answerable": q.answerable}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    for name, subset in (("test", questions), *((s, [q for q in questions if q.split == s]) for s in SPLITS)):
        with (out / "qrels" / f"{name}.tsv").open("w", encoding="utf-8") as handle:
            handle.write("query-id\tcorpus-id\tscore\n")
            for q in subset:
                for gold in q.gold_sources:
                    handle.write(f"{q.id}\t{gold}\t1\n")


def write_answers(questions: Sequence[DevQuestion], out: Path) -> None:
    """answers.jsonl and one file per half, for `ragloop bench agent --questions`; a half's questions are
    interleaved by stratum, so its first N (`--limit N`) have the half's mix of difficulties and unanswerables."""
    for name, subset in (
        ("answers.jsonl", questions),
        ("answers-tune.jsonl", balanced_order([q for q in questions if q.split == "tune"])),
        ("answers-check.jsonl", balanced_order([q for q in questions if q.split == "check"])),
    ):
        text = "".join(json.dumps(q.as_record(), ensure_ascii=False) + "\n" for q in subset)
        (out / name).write_text(text, encoding="utf-8")


def check(corpus_dir: Path, answers: Path = ANSWERS) -> list[str]:
    questions = load_devset(answers)
    return check_questions(questions) + check_against_corpus(questions, read_corpus(corpus_dir / "corpus.jsonl"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.realdocs", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build_cmd = commands.add_parser("build", help="Rebuild the corpus and the question files into --out.")
    build_cmd.add_argument("--out", type=Path, required=True, help="Output directory (created).")
    build_cmd.add_argument("--source", type=Path, default=SOURCE, help=f"The manual's pages (default {SOURCE}).")
    check_cmd = commands.add_parser("check", help="Check the question set against a rebuilt corpus.")
    check_cmd.add_argument("--corpus", type=Path, required=True, help="A directory written by `build`.")
    commands.add_parser("export", help=f"Rewrite queries.jsonl and qrels/*.tsv in {DATA} from answers.jsonl.")
    score_cmd = commands.add_parser("score", help="Issue #12's answer metrics of `ragloop bench agent` records.")
    score_cmd.add_argument("records", type=Path, help="The JSONL records `ragloop bench agent --out` wrote.")
    score_cmd.add_argument("--json", action="store_true", help="Print JSON instead of the table.")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            args.out.mkdir(parents=True, exist_ok=True)
            report = build(args.out, args.source)
            print(report.summary())
            problems = check(args.out)
        elif args.command == "check":
            problems = check(args.corpus)
        elif args.command == "score":
            from evals.realdocs_score import read_records, table
            from evals.realdocs_score import report as score_report

            summary = score_report(read_records(args.records, load_devset(ANSWERS)))
            print(json.dumps(summary, indent=2) if args.json else table(summary))
            return 0
        else:
            questions = load_devset(ANSWERS)
            problems = check_questions(questions)
            write_beir_questions(questions, DATA)
            print(f"wrote {DATA}/queries.jsonl and qrels/{{test,tune,check}}.tsv ({len(questions)} questions)")
    except (DevSetError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    if problems:
        print(f"error: {len(problems)} problem(s) in the question set.", file=sys.stderr)
        return 1
    if args.command != "export":
        print("question set OK: every gold page exists and every key fact is on a gold page.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
