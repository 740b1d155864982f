"""Edit single entries: the same operations in this process or through a running server."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Protocol

from kefu.errors import IngestError, KnowledgeBaseError
from kefu.knowledge_base.store import KnowledgeBase
from kefu.knowledge_base.sync import FileReport, SyncReport, sync
from kefu.knowledge_base.text import detect_lang, lang_named, normalize
from kefu.types import Entry

EDITABLE = ("question", "answer", "lang", "category", "alt_questions")


class EntryEditor(Protocol):
    def list(self, search: str = "") -> list[Entry]: ...
    def show(self, entry_id: str) -> Entry: ...
    def put(self, entry: Entry) -> str: ...  # "added" | "updated" | "unchanged"
    def delete(self, entry_id: str) -> None: ...
    def put_file(self, path: Path) -> SyncReport: ...  # of one file
    def delete_file(self, name: str) -> int: ...


def new_entry(question: str, answer: str, lang: str = "", category: str = "",
              alt_questions: tuple[str, ...] = (), entry_id: str = "") -> Entry:
    """An FAQ entry typed in by hand (no source file, so `kefu ingest --prune` keeps it)."""
    question, answer = question.strip(), answer.strip()
    if not question or not answer:
        raise KnowledgeBaseError("an FAQ entry needs a non-empty question and answer")
    named = lang_named(lang or detect_lang(question))
    if named is None:
        raise KnowledgeBaseError(f"unknown lang {lang!r}; use zh or en")
    entry_id = entry_id or "manual-" + hashlib.sha1(question.encode()).hexdigest()[:8]
    return Entry(id=entry_id, question=question, answer=answer, lang=named,
                 category=category, alt_questions=tuple(alt_questions))


def edited(entry: Entry, changes: dict[str, Any]) -> Entry:
    """entry with the given fields replaced (None means unchanged)."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise KnowledgeBaseError(f"cannot edit {sorted(unknown)}; editable: {list(EDITABLE)}")
    update: dict[str, Any] = {k: (tuple(v) if k == "alt_questions" else v)
              for k, v in changes.items() if v is not None}
    result = replace(entry, **update)
    new_entry(result.question, result.answer, result.lang)  # same checks as for a new entry
    return result


class LocalEditor:
    """Edits the knowledge base files directly (no server holds them)."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb

    def list(self, search: str = "") -> list[Entry]:
        needle = normalize(search)
        return [e for e in self.kb.entries().values()
                if not needle or needle in normalize(f"{e.id} {e.question} {e.answer}")]

    def show(self, entry_id: str) -> Entry:
        entry = self.kb.get(entry_id)
        if entry is None:
            raise KnowledgeBaseError(f"no entry {entry_id!r} in knowledge base {self.kb.name!r}")
        return entry

    def put(self, entry: Entry) -> str:
        report = self.kb.ingest([entry])
        return "added" if report.added else "updated" if report.updated else "unchanged"

    def delete(self, entry_id: str) -> None:
        if not self.kb.delete([entry_id]):
            raise KnowledgeBaseError(f"no entry {entry_id!r} in knowledge base {self.kb.name!r}")

    def put_file(self, path: Path) -> SyncReport:
        """Import one file (FAQ or document); its entries that are gone are removed."""
        report = sync(self.kb, [path], prune=True, progress=False)
        [file] = report.files
        if file.error:
            raise IngestError(file.error)
        return report

    def delete_file(self, name: str) -> int:
        """Remove every entry imported from the file called name."""
        ids = [e.id for e in self.kb.entries().values() if e.source == name]
        if not ids:
            raise KnowledgeBaseError(f"no entries from a file {name!r} in knowledge base "
                                     f"{self.kb.name!r}")
        return self.kb.delete(ids)


def entry_json(entry: Entry) -> dict[str, Any]:
    return asdict(entry) | {"alt_questions": list(entry.alt_questions)}


def file_import_json(report: SyncReport) -> dict[str, Any]:
    """One file's import as the admin API sends it."""
    [file] = report.files
    return {"file": file.name, "added": file.added, "updated": file.updated,
            "unchanged": file.unchanged, "removed": report.removed, "problems": report.problems}


def file_import(row: dict[str, Any]) -> SyncReport:
    """A file's import read back from the admin API's reply."""
    problems = [str(p) for p in row.get("problems", [])]
    file = FileReport(str(row["file"]), int(row["added"]), int(row["updated"]),
                      int(row["unchanged"]), len(problems))
    return SyncReport([file], problems, removed=int(row["removed"]))


# -- which process owns a knowledge base --------------------------------------------------
# Chroma's embedded store must not be written by two processes; while `kefu serve` runs on
# a knowledge base it leaves this note, and `kefu kb` sends its edits to that server.

def serving_note(kb_dir: Path) -> Path:
    return kb_dir / "serving.json"


def write_serving_note(kb_dir: Path, url: str) -> Path:
    path = serving_note(kb_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": os.getpid(), "url": url}), encoding="utf-8")
    return path


def serving_url(kb_dir: Path) -> str | None:
    """The URL of the live server that holds this knowledge base, if one does."""
    try:
        note = json.loads(serving_note(kb_dir).read_text(encoding="utf-8"))
        os.kill(int(note["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no note, or its server died (a kill -9 leaves the note behind)
    return str(note["url"])
