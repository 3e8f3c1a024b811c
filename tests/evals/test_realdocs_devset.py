"""The real-documentation development set: the shipped question files, the validator, the corpus rebuild.

The first tests need nothing installed (they read the committed files and build a corpus from two pages
written here); the last one rebuilds the corpus from Debian's `sqlite3-doc` and checks every gold page and
key fact against it, and is skipped where that package is not installed.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from agent.bench import load_questions
from evals.devset import (
    DevQuestion,
    DevSetError,
    assign_splits,
    balanced_order,
    check_against_corpus,
    check_questions,
    load_devset,
    read_corpus,
)
from evals.realdocs import ANSWERS, DATA, SOURCE, build, check, main, write_beir_questions


def _record(**changes: object) -> dict[str, object]:
    record: dict[str, object] = {
        "id": "q1",
        "question": "How do I make a column auto-increment?",
        "answerable": True,
        "difficulty": "easy",
        "split": "tune",
        "reference": "Declare it INTEGER PRIMARY KEY.",
        "gold_sources": ["autoinc.html"],
        "key_facts": ["INTEGER PRIMARY KEY"],
    }
    record.update(changes)
    return record


def _write(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


# -- the shipped question set ------------------------------------------------------------------------


def test_shipped_set_size_and_mix() -> None:
    questions = load_devset(ANSWERS)
    assert len(questions) >= 64
    assert sum(not q.answerable for q in questions) >= 8
    assert check_questions(questions) == []  # the recorded split is the rule's
    for split in ("tune", "check"):
        half = [q for q in questions if q.split == split]
        assert sum(not q.answerable for q in half) >= 4
        assert {q.difficulty for q in half if q.answerable} == {"easy", "medium", "hard"}
    # balanced: in every (answerable, difficulty) stratum the halves differ by at most one question
    counts = Counter((q.answerable, q.difficulty, q.split) for q in questions)
    for answerable, difficulty, _ in counts:
        assert abs(counts[(answerable, difficulty, "tune")] - counts[(answerable, difficulty, "check")]) <= 1


def test_shipped_set_is_read_by_bench_agent() -> None:
    """`ragloop bench agent --questions` reads the same file; gold pages are page file names."""
    bench = load_questions(ANSWERS)
    ours = load_devset(ANSWERS)
    assert [q.id for q in bench] == [q.id for q in ours]
    assert [q.key_facts for q in bench] == [[list(alts) for alts in q.key_facts] for q in ours]
    for q in ours:
        assert all(g.endswith(".html") and "/" not in g for g in q.gold_sources), q.id
        # a key fact that the question itself contains would be found in any answer that repeats the question
        for alts in q.key_facts:
            assert not all(a.casefold() in q.question.casefold() for a in alts), (q.id, alts)


def test_shipped_beir_files_match_the_answers(tmp_path: Path) -> None:
    write_beir_questions(load_devset(ANSWERS), tmp_path)
    for name in ("queries.jsonl", "qrels/test.tsv", "qrels/tune.tsv", "qrels/check.tsv"):
        assert (DATA / name).read_text(encoding="utf-8") == (tmp_path / name).read_text(encoding="utf-8"), (
            f"{name} is stale: run `python -m evals.realdocs export`"
        )


# -- the validator -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"difficulty": "trivial"}, "difficulty 'trivial'"),
        ({"split": "train"}, "split 'train'"),
        ({"answerable": "yes"}, "answerable must be true or false"),
        ({"key_facts": []}, "needs gold_sources and key_facts"),
        ({"answerable": False}, "unanswerable question has no gold_sources"),
        ({"key_facts": [["a", ""]]}, "is not a non-empty string"),
        ({"reference": " "}, "reference must be a non-empty string"),
    ],
)
def test_malformed_records_are_errors_naming_the_line(tmp_path: Path, changes: dict[str, object], message: str) -> None:
    path = _write(tmp_path / "answers.jsonl", [_record(id="ok"), _record(**changes)])
    with pytest.raises(DevSetError, match=message) as caught:
        load_devset(path)
    assert f"{path}:2:" in str(caught.value)


def test_missing_field_repeated_id_and_bad_json(tmp_path: Path) -> None:
    record = _record()
    del record["difficulty"]
    with pytest.raises(DevSetError, match="missing field"):
        load_devset(_write(tmp_path / "a.jsonl", [record]))
    with pytest.raises(DevSetError, match="repeats an earlier line"):
        load_devset(_write(tmp_path / "b.jsonl", [_record(), _record()]))
    (tmp_path / "c.jsonl").write_text("{not json\n", encoding="utf-8")
    with pytest.raises(DevSetError, match=r"c\.jsonl:1: not valid JSON"):
        load_devset(tmp_path / "c.jsonl")
    with pytest.raises(DevSetError, match="not found"):
        load_devset(tmp_path / "missing.jsonl")


def test_split_rule_alternates_within_each_stratum() -> None:
    def q(qid: str, difficulty: str, answerable: bool = True) -> DevQuestion:
        return DevQuestion(qid, "?", answerable, difficulty, "tune", "r")

    questions = [q("e3", "easy"), q("e1", "easy"), q("e2", "easy"), q("h1", "hard"), q("u1", "hard", False)]
    assert assign_splits(questions) == {"e1": "tune", "e2": "check", "e3": "tune", "h1": "tune", "u1": "tune"}
    problems = check_questions(questions)  # e2 recorded as tune; no unanswerable question in check
    assert "e2: split 'tune', but the split rule assigns 'check'." in problems
    assert "the check half has no unanswerable question." in problems


def test_balanced_order_gives_prefixes_the_mix_of_the_whole() -> None:
    tune = [q for q in load_devset(ANSWERS) if q.split == "tune"]
    ordered = balanced_order(tune)
    assert sorted(q.id for q in ordered) == sorted(q.id for q in tune)
    for n in (10, 20, 30):
        prefix = ordered[:n]
        unanswerable = sum(not q.answerable for q in prefix)
        expected = n * sum(not q.answerable for q in tune) / len(tune)
        assert abs(unanswerable - expected) <= 1.5, (n, unanswerable)
        assert {q.difficulty for q in prefix if q.answerable} == {"easy", "medium", "hard"}


def test_check_against_corpus_finds_missing_pages_and_facts() -> None:
    question = DevQuestion(
        "q1", "?", True, "easy", "tune", "r", ("a.html", "b.html"), (("INTEGER  primary\nKEY",), ("x", "sqlite_seq"))
    )
    pages = {"a.html": "Use integer primary key.", "b.html": "the SQLITE_SEQUENCE table"}
    assert check_against_corpus([question], pages) == []
    assert check_against_corpus([question], {"a.html": pages["a.html"]}) == [
        "q1: gold page 'b.html' is not in the corpus.",
        "q1: key fact 'x | sqlite_seq' appears on none of its gold pages.",
    ]


# -- the corpus rebuild --------------------------------------------------------------------------------

PAGE = """<html><head><title>{title}</title><style>p {{ color: red }}</style></head>
<body><h1>{title}</h1><p>{body}</p><script>var x = 1;</script></body></html>"""


def _manual(directory: Path) -> Path:
    directory.mkdir()
    (directory / "autoinc.html").write_text(
        PAGE.format(title="Autoincrement", body="A column of type INTEGER PRIMARY KEY is an alias for the rowid."),
        encoding="utf-8",
    )
    (directory / "copy.html").write_text(  # the same text as autoinc.html: dropped as a duplicate
        PAGE.format(title="Autoincrement", body="A column of type INTEGER PRIMARY KEY is an alias for the rowid."),
        encoding="utf-8",
    )
    (directory / "sitemap.html").write_text(PAGE.format(title="Map", body="every page"), encoding="utf-8")
    (directory / "sub").mkdir()
    (directory / "sub" / "deep.html").write_text(PAGE.format(title="Deep", body="not top level"), encoding="utf-8")
    return directory


def test_build_from_a_small_manual(tmp_path: Path) -> None:
    source = _manual(tmp_path / "manual")
    answers = _write(tmp_path / "answers.jsonl", [_record(), _record(id="u1", answerable=False, gold_sources=[],
                                                                      key_facts=[], difficulty="hard")])  # fmt: skip
    report = build(tmp_path / "out", source, answers)
    assert report.pages == 1 and report.duplicates == ["copy.html (= autoinc.html)"]
    records = [json.loads(line) for line in (tmp_path / "out" / "corpus.jsonl").read_text().splitlines()]
    assert [r["_id"] for r in records] == ["autoinc.html"]
    assert records[0]["title"] == "Autoincrement"
    assert "INTEGER PRIMARY KEY" in records[0]["text"] and "var x" not in records[0]["text"]
    assert sorted(p.name for p in (tmp_path / "out" / "pages").iterdir()) == ["autoinc.html"]
    assert (tmp_path / "out" / "qrels" / "test.tsv").read_text() == "query-id\tcorpus-id\tscore\nq1\tautoinc.html\t1\n"
    assert len((tmp_path / "out" / "answers-tune.jsonl").read_text().splitlines()) == 2
    assert check_against_corpus(load_devset(answers), read_corpus(tmp_path / "out" / "corpus.jsonl")) == []
    first = (tmp_path / "out" / "corpus.jsonl").read_bytes()
    build(tmp_path / "out", source, answers)
    assert (tmp_path / "out" / "corpus.jsonl").read_bytes() == first  # deterministic


def test_cli_says_what_to_install(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", "--out", str(tmp_path / "out"), "--source", str(tmp_path / "absent")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "apt-get install sqlite3-doc" in err and "Traceback" not in err
    assert main(["check", "--corpus", str(tmp_path)]) == 2
    assert "python -m evals.realdocs build" in capsys.readouterr().err


@pytest.mark.skipif(not SOURCE.is_dir(), reason=f"{SOURCE} missing: `apt-get install sqlite3-doc` to run this test")
def test_installed_manual_holds_every_gold_page_and_fact(tmp_path: Path) -> None:
    report = build(tmp_path, SOURCE)
    assert report.pages > 150
    assert check(tmp_path) == []
