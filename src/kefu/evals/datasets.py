"""Read an evaluation folder in the shared JSONL format (see docs/evaluation.md)."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from kefu.errors import IngestError
from kefu.evals.metrics import unstated
from kefu.knowledge_base.loaders import load_path
from kefu.knowledge_base.text import detect_lang, lang_named
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
    problems += unstated_facts(entries, queries)
    if sample is not None and sample < len(queries):
        queries = random.Random(seed).sample(queries, sample)
    digest = hashlib.sha256()
    for path in kb_files + query_files:
        digest.update(path.name.encode() + path.read_bytes())
    digest.update(f"{sample}:{seed}".encode())
    return Dataset(name or folder.resolve().name, entries, queries, problems,
                   digest.hexdigest()[:16])


def _read_queries(path: Path, problems: list[str]) -> list[Query]:
    """The questions of one file; a line that is not one is named (file:line, why) in
    problems and skipped, the good ones kept."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.append(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); skipped")
        return []
    out = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise BadRow(f"a JSON object per line, not {type(row).__name__}")
            out.append(_query(path.name, row, f"{path.stem}-{line_no}"))
        except json.JSONDecodeError as exc:
            problems.append(f"{path}:{line_no}: not JSON ({exc.msg}); skipped")
        except BadRow as exc:
            problems.append(f"{path}:{line_no}: {exc}; skipped")
    return out


class BadRow(IngestError):
    """A question row that cannot be read; its message says why."""


def _query(file_name: str, row: dict[str, Any], default_id: str) -> Query:
    history: tuple[Message, ...] = ()
    kind: Literal["in", "oos", "dialogue"]
    if file_name == "dialogues.jsonl":
        # The last customer turn is the question; the turns before it (with the dataset's
        # own replies) are its conversation, so a follow-up must be rewritten to be found.
        turns = [_turn(t) for t in _field(row, "turns", list)]
        users = [i for i, (role, _) in enumerate(turns) if role == "user"]
        if not users:
            raise BadRow('"turns" has no turn with role "user"')
        text = turns[users[-1]][1]
        history = tuple(Message(role, said) for role, said in turns[: users[-1]])
        gold, answers = _gold(row.get("gold"))
        kind = "dialogue"
    else:
        text = _field(row, "query", str)
        gold, answers = _gold(row.get("gold"))
        answers += tuple(str(a) for a in _listed(row.get("answers"), "answers"))
        kind = "oos" if file_name == "oos.jsonl" else "in"
    if not text.strip():
        raise BadRow("the question is empty")
    lang = lang_named(row.get("lang")) or detect_lang(text)
    facts = tuple(str(f) for f in _listed(row.get("answer_facts"), "answer_facts"))
    return Query(str(row.get("id") or default_id), text, lang, kind, gold,
                 str(row.get("kind", "")), answers, history, facts)


def _field(row: dict[str, Any], key: str, kind: type) -> Any:
    if key not in row:
        raise BadRow(f'no "{key}" field')
    if not isinstance(row[key], kind):
        raise BadRow(f'"{key}" must be a {kind.__name__}, not {type(row[key]).__name__}')
    return row[key]


def unstated_facts(entries: list[Entry], queries: list[Query]) -> list[str]:
    """A line for each question whose answer facts a gold entry in the question's language
    does not state as written: kefu replies with the entry's own text, and a reply counts
    as stating the facts only when it contains each one (metrics.unstated), so a
    right answer from that entry would count as without them. Entries in the other language
    (kefu translates them) and gold ids that are no entry (a document's chunks) are not
    checked."""
    by_id = {e.id: e for e in entries}
    problems = []
    for query in queries:
        for gold in query.gold:
            entry = by_id.get(gold)
            if entry is None or entry.lang != query.lang:
                continue
            missing = unstated(query.facts, entry.answer)
            if missing:
                problems.append(f"{query.id}: answer facts {missing} are not in the answer of "
                                f"its gold entry {gold}; an answer from it counts as without "
                                "them")
    return problems


def _turn(turn: object) -> tuple[Literal["user", "assistant"], str]:
    """(role, text) of a dialogue turn: {"role", "text"} (or "content"); a role other than
    "user" (system, agent, bot) is kefu's side."""
    if not isinstance(turn, dict):
        raise BadRow(f"a turn must be an object with role and text, not {turn!r:.40}")
    said = turn.get("text", turn.get("content"))
    if not isinstance(said, str):
        raise BadRow(f'a turn without a "text" string: {turn!r:.60}')
    return ("user" if turn.get("role") == "user" else "assistant"), said


def _gold(value: object) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(gold entry ids, gold answer values) of a row's "gold": a list of ids, one id, or an
    object with "ids" / "doc_ids" and "values" (the dialogue form)."""
    if isinstance(value, dict):
        ids = value.get("doc_ids") or value.get("ids") or ()
        return (tuple(str(i) for i in _listed(ids, "gold ids")),
                tuple(str(v) for v in _listed(value.get("values"), "gold values")))
    return tuple(str(i) for i in _listed(value, "gold")), ()


def _listed(value: object, name: str) -> list[object]:
    """A list field, where one string (or number) means a list of that one (not its
    characters); null means none."""
    if value is None:
        return []
    if isinstance(value, (str, int, float)):
        return [value]
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return list(value)
    raise BadRow(f'"{name}" must be a list of strings, not {value!r:.60}')


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
