"""Read an evaluation folder in the shared JSONL format (see docs/evaluation.md)."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from kefu.errors import IngestError
from kefu.knowledge_base.loaders import load_path
from kefu.knowledge_base.text import detect_lang
from kefu.types import Entry, Lang, Message

KB_FILES = ("faq.jsonl", "docs.jsonl")
QUERY_FILES = ("queries.jsonl", "oos.jsonl", "dialogues.jsonl")


@dataclass(frozen=True)
class Query:
    id: str
    text: str
    lang: Lang
    kind: Literal["in", "oos", "dialogue"]
    gold: tuple[str, ...] = ()
    oos_kind: str = ""  # near / far where the data marks it
    answers: tuple[str, ...] = ()  # gold answer texts, where the data has them
    history: tuple[Message, ...] = ()  # a dialogue's turns before this question
    facts: tuple[str, ...] = ()  # words or figures a correct answer contains (answer_facts)


@dataclass
class Dataset:
    name: str
    entries: list[Entry]
    queries: list[Query]
    problems: list[str] = field(default_factory=list)
    fingerprint: str = ""
    learned: int = 0  # in-scope questions moved into the entries as similar phrasings


def load_dataset(folder: Path, sample: int | None = None, seed: int = 20240531,
                 kb_files: list[Path] | None = None, name: str = "") -> Dataset:
    """The knowledge base entries and the questions of one folder; a seeded sample if asked.

    kb_files: import these (any format `kefu ingest` reads) instead of the folder's
    faq.jsonl / docs.jsonl (the demo shop's questions are asked of its own files)."""
    if not folder.is_dir():
        raise IngestError(f"{folder}: not a folder; kefu eval needs a folder with faq.jsonl "
                          "or docs.jsonl, and queries.jsonl, oos.jsonl or dialogues.jsonl")
    if kb_files is None:
        kb_files = [folder / name for name in KB_FILES if (folder / name).exists()]
    query_files = [folder / name for name in QUERY_FILES if (folder / name).exists()]
    if not kb_files or not query_files:
        raise IngestError(f"{folder}: needs faq.jsonl or docs.jsonl, and at least one of "
                          "queries.jsonl, oos.jsonl, dialogues.jsonl")
    entries, problems = [], []
    for path in kb_files:
        loaded = load_path(path)
        entries += loaded.entries
        problems += loaded.problems
    queries: list[Query] = []
    for path in query_files:
        queries += _read_queries(path, problems)
    if sample is not None and sample < len(queries):
        queries = random.Random(seed).sample(queries, sample)
    digest = hashlib.sha256()
    for path in kb_files + query_files:
        digest.update(path.name.encode() + path.read_bytes())
    digest.update(f"{sample}:{seed}".encode())
    return Dataset(name or folder.resolve().name, entries, queries, problems,
                   digest.hexdigest()[:16])


def _read_queries(path: Path, problems: list[str]) -> list[Query]:
    out = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            out.append(_query(path.name, row))
        except (json.JSONDecodeError, KeyError, TypeError, IndexError) as exc:
            problems.append(f"{path}:{line_no}: unreadable question ({exc!r}); skipped")
    return out


def _query(file_name: str, row: dict) -> Query:  # type: ignore[type-arg]
    history: tuple[Message, ...] = ()
    if file_name == "dialogues.jsonl":
        # The last customer turn is the question; the turns before it (with the dataset's
        # own replies) are its conversation, so a follow-up must be rewritten to be found.
        turns = row["turns"]
        last = max(i for i, t in enumerate(turns) if t["role"] == "user")
        text = turns[last]["text"]
        history = tuple(Message("user" if t["role"] == "user" else "assistant", t["text"])
                        for t in turns[:last])
        gold = tuple(row["gold"].get("doc_ids") or row["gold"].get("ids") or ())
        answers = tuple(str(v) for v in row["gold"].get("values", ()))
        kind = "dialogue"
    else:
        text, gold = row["query"], tuple(row.get("gold", ()))
        answers = tuple(str(a) for a in row.get("answers", ()))
        kind = "oos" if file_name == "oos.jsonl" else "in"
    lang = row.get("lang") if row.get("lang") in ("zh", "en") else detect_lang(text)
    facts = _facts(row.get("answer_facts"))
    return Query(str(row["id"]), text, lang, kind, gold, str(row.get("kind", "")),  # type: ignore[arg-type]
                 answers, history, facts)


def _facts(value: object) -> tuple[str, ...]:
    """answer_facts: a list of strings, or one string (one fact, not its characters)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(str(f) for f in value)
    raise TypeError(f"answer_facts must be a list of strings, not {type(value).__name__}")


def learn_phrasings(dataset: Dataset, share: float, seed: int = 20240531) -> Dataset:
    """Move a seeded share of the in-scope questions into their gold entries as alternatives.

    This is what a shop owner does with the chat log (a "similar questions" column, 相似问法);
    the moved questions are no longer asked, so every figure is measured on the rest.
    """
    if not 0 < share < 1:
        raise IngestError(f"--learn-share must be between 0 and 1, not {share}")
    by_id = {e.id: e for e in dataset.entries}
    answerable = [q for q in dataset.queries if q.kind == "in" and q.gold and q.gold[0] in by_id]
    moved = random.Random(seed).sample(answerable, round(share * len(answerable)))
    extra: dict[str, list[str]] = {}
    for query in moved:
        extra.setdefault(query.gold[0], []).append(query.text)
    entries = [replace(e, alt_questions=(*e.alt_questions, *extra[e.id])) if e.id in extra
               else e for e in dataset.entries]
    moved_ids = {q.id for q in moved}
    return replace(dataset, name=f"{dataset.name}-learn{round(share * 100)}",
                   entries=entries, queries=[q for q in dataset.queries if q.id not in moved_ids],
                   fingerprint=f"{dataset.fingerprint}-learn{share}:{seed}", learned=len(moved))
