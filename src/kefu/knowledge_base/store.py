"""KnowledgeBase: entries in SQLite, vectors in Chroma, tokens in the BM25 index, kept in step."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from kefu.config import Settings
from kefu.errors import EmbedderMismatch, KnowledgeBaseError
from kefu.knowledge_base.bm25 import BM25Index
from kefu.knowledge_base.chunking import LONG_ANSWER_CHARS, passages
from kefu.knowledge_base.database import Database, open_database
from kefu.knowledge_base.embedders import build_embedder
from kefu.knowledge_base.text import detect_lang, to_simplified, tokenize
from kefu.knowledge_base.vector_cache import VectorCache
from kefu.knowledge_base.vector_store import VectorStore, build_chroma_client
from kefu.types import Embedder, Entry, IngestReport

_KB_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{1,48}[a-z0-9]$")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS entries (
    id TEXT PRIMARY KEY, kind TEXT, lang TEXT, question TEXT, answer TEXT,
    category TEXT, alt_questions TEXT, source TEXT, hash TEXT);
CREATE TABLE IF NOT EXISTS twins (
    source_id TEXT PRIMARY KEY, source_hash TEXT, status TEXT, covered_by TEXT);
"""


# Bumped when what is indexed for the same entry changes, so the next ingest redoes it all.
EMBED_BATCH = 32  # entries embedded per call (the embedder is the limit)
INDEX_VERSION = 2  # 2: traditional Chinese folded to simplified before embedding


def content_hash(entry: Entry) -> str:
    fields = [INDEX_VERSION, entry.kind, entry.lang, entry.question, entry.answer,
              entry.category, list(entry.alt_questions), entry.source]
    if entry.translated_from:
        fields.append(entry.translated_from)
    if entry.kind == "faq" and len(entry.answer) > LONG_ANSWER_CHARS:
        fields.append("passages")  # indexed passage by passage since 0.3
    return hashlib.sha256(json.dumps(fields, ensure_ascii=False).encode()).hexdigest()


def _add_twin_column(db: Database) -> None:
    """Knowledge bases made before twins existed get the entries.translated_from column."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(entries)")}
    if "translated_from" not in columns:
        db.execute("ALTER TABLE entries ADD COLUMN translated_from TEXT NOT NULL DEFAULT ''")


def _fields(entry: Entry) -> tuple[list[str], list[str]]:
    """Texts embedded for an entry, one vector each: question, alternatives, answer (a long
    one passage by passage: answer, answer.1, ...)."""
    if entry.kind == "doc":
        return [f"{entry.question}\n{entry.answer}"], ["chunk"]
    parts = passages(entry.answer)
    texts = [entry.question, *entry.alt_questions, *parts]
    names = ["question", *(f"alt{i}" for i in range(len(entry.alt_questions))),
             *(passage_field(i) for i in range(len(parts)))]
    return texts, names


def passage_field(index: int) -> str:
    """The vector field of an FAQ answer's passage (the first is the answer's own)."""
    return "answer" if index == 0 else f"answer.{index}"


def passage_index(field: str) -> int | None:
    """Which passage of the answer a vector field holds; None for a question's field."""
    name, _, index = field.partition(".")
    return (int(index) if index else 0) if name == "answer" else None


class KnowledgeBase:
    """One named knowledge base; every write goes to SQLite, Chroma and BM25 together."""

    def __init__(self, name: str, directory: Path, embedder: Embedder, chroma_client: Any):
        if not _KB_NAME.match(name):
            raise KnowledgeBaseError(
                f"invalid knowledge base name {name!r}: use 3-50 lower-case letters, digits, "
                "'-' or '_'"
            )
        self.name = name
        self.embedder = embedder
        directory.mkdir(parents=True, exist_ok=True)
        self._db = open_database(directory / "kb.sqlite")
        self._db.executescript(_SCHEMA)
        _add_twin_column(self._db)
        self._lock = threading.RLock()
        self._check_embedder()
        self.vectors = VectorStore(chroma_client, name, embedder.model_id, embedder.dim)
        self.bm25 = BM25Index(self._db)
        self._db.commit()
        self._cache: dict[str, Entry] | None = None
        self._vector_cache: VectorCache | None = None
        self._generation = self._stored_generation()

    def _check_embedder(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'embedder'").fetchone()
        current = {"id": self.embedder.model_id, "dim": self.embedder.dim}
        if row is None:
            self._db.execute(
                "INSERT INTO meta VALUES ('embedder', ?)", (json.dumps(current),))
            return
        stored = json.loads(row[0])
        if stored != current:
            raise EmbedderMismatch(
                f"knowledge base {self.name!r} was built with embedder {stored['id']!r} "
                f"(dim {stored['dim']}), but the configured embedder is {current['id']!r} "
                f"(dim {current['dim']}); use the same embedder, or re-import into a new "
                "knowledge base with --kb"
            )

    # -- writes -------------------------------------------------------------------------
    def ingest(self, entries: Sequence[Entry], progress: bool = False) -> IngestReport:
        """Add new entries, re-embed changed ones, skip unchanged ones (by content hash)."""
        report = IngestReport()
        stored = dict(self._db.execute("SELECT id, hash FROM entries"))
        todo = []
        for entry in {e.id: e for e in entries}.values():  # the last of a repeated id wins
            digest = content_hash(entry)
            if stored.get(entry.id) == digest:
                report.unchanged += 1
            else:
                todo.append((entry, digest, entry.id in stored))
        with tqdm(total=len(todo), desc=f"embedding into {self.name}", unit="entry",
                  disable=not progress or not todo) as bar:
            for start in range(0, len(todo), EMBED_BATCH):
                batch = todo[start:start + EMBED_BATCH]
                self._write([(entry, digest) for entry, digest, _ in batch])
                report.updated += sum(existed for _, _, existed in batch)
                report.added += sum(not existed for _, _, existed in batch)
                bar.update(len(batch))
        return report

    def _write(self, batch: Sequence[tuple[Entry, str]]) -> None:
        """Embed a batch in one call, then write vectors, tokens and rows for each entry."""
        fields = [_fields(entry) for entry, _ in batch]
        texts = [to_simplified(t) for entry_texts, _ in fields for t in entry_texts]
        vectors = np.asarray(self.embedder.embed_passages(texts))
        with self._lock:
            # Vectors first, rows last: a crash in between leaves no row, so a re-run redoes it.
            owners = [(entry.id, name) for (entry, _), (_, names)
                      in zip(batch, fields, strict=True) for name in names]
            self.vectors.delete([entry.id for entry, _ in batch])
            self.vectors.add(vectors, owners)
            if self._vector_cache is not None:
                langs = [detect_lang(text) for entry_texts, _ in fields for text in entry_texts]
                self._vector_cache.put(owners, vectors, langs)
            for (entry, digest), (entry_texts, _) in zip(batch, fields, strict=True):
                self.bm25.put(entry.id, tokenize(" ".join(entry_texts)))
                self._db.execute(
                    "INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (entry.id, entry.kind, entry.lang, entry.question, entry.answer,
                     entry.category, json.dumps(list(entry.alt_questions), ensure_ascii=False),
                     entry.source, digest, entry.translated_from),
                )
            self._committed()

    def delete(self, entry_ids: Iterable[str]) -> int:
        """Remove entries, and the machine-translated twins of those that had one."""
        ids = list(entry_ids)
        with self._lock:
            wanted = set(ids)
            twins = [e.id for e in self.entries().values() if e.translated_from in wanted]
            self.vectors.delete(ids + twins)
            if self._vector_cache is not None:
                self._vector_cache.remove(ids + twins)
            for entry_id in ids + twins:
                self.bm25.delete(entry_id)
            removed = sum(
                self._db.execute("DELETE FROM entries WHERE id = ?", (i,)).rowcount for i in ids)
            self._db.executemany("DELETE FROM entries WHERE id = ?", [(i,) for i in twins])
            self._db.executemany("DELETE FROM twins WHERE source_id = ?", [(i,) for i in ids])
            self._committed()
        return removed

    def _committed(self) -> None:
        """Commit with a new generation mark, so other processes' caches know to reload."""
        self._generation = uuid.uuid4().hex
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('generation', ?)",
                         (self._generation,))
        self._db.commit()
        self._forget()

    def _forget(self, vectors: bool = False) -> None:
        self._cache = None
        self.bm25.mark_stale()
        if vectors:  # this process's own writes keep the vector cache in step
            self._vector_cache = None

    def _stored_generation(self) -> str:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return row[0] if row else ""

    def generation(self) -> str:
        """A mark that changes with every write, by any process."""
        with self._lock:
            return self._stored_generation()

    def refresh(self) -> None:
        """Drop cached entries, mean vector and BM25 statistics if another process wrote."""
        with self._lock:
            generation = self._stored_generation()
            if generation != self._generation:
                self._generation = generation
                self._forget(vectors=True)

    # -- reads --------------------------------------------------------------------------
    def entries(self) -> dict[str, Entry]:
        with self._lock:
            self.refresh()
            if self._cache is None:
                rows = self._db.execute(
                    "SELECT id, kind, lang, question, answer, category, alt_questions, source, "
                    "translated_from FROM entries ORDER BY rowid")
                self._cache = {
                    r[0]: Entry(id=r[0], kind=r[1], lang=r[2], question=r[3], answer=r[4],
                                category=r[5], alt_questions=tuple(json.loads(r[6])), source=r[7],
                                translated_from=r[8])
                    for r in rows
                }
            return self._cache

    def _vectors(self) -> VectorCache:
        with self._lock:
            if self._vector_cache is None:
                owners, vectors = [], []
                for page_owners, page_vectors in self.vectors.iter_all():
                    owners += page_owners  # an entry's vectors may span two pages
                    vectors += page_vectors
                cache = VectorCache(self.embedder.dim)
                texts = {entry.id: dict(zip(names, entry_texts, strict=True))
                         for entry in self.entries().values()
                         for entry_texts, names in [_fields(entry)]}
                cache.put(owners, vectors, [detect_lang(texts.get(i, {}).get(field, ""))
                                            for i, field in owners])
                self._vector_cache = cache
            return self._vector_cache

    def mean_vector(self, lang: str = "") -> np.ndarray:
        """The mean of the stored vectors of texts in lang; of all when lang is '' or has
        none (zeros when empty)."""
        return self._vectors().mean(lang)

    def vector_lang(self, entry_id: str, field: str) -> str:
        """The language of the text that entry's field vector was made from."""
        return self._vectors().lang(entry_id, field)

    def nearest(self, vector: np.ndarray, n: int) -> list[tuple[str, float]]:
        """(entry id, similarity) of the n entries with a vector nearest to vector."""
        return self.vectors.query(vector, n)

    def keyword_matches(self, tokens: list[str], n: int) -> list[tuple[str, float]]:
        """(entry id, BM25 score) of the n entries that match tokens best."""
        return self.bm25.search(tokens, n)

    def vectors_of(self, entry_ids: Sequence[str]) -> dict[str, list[tuple[str, np.ndarray]]]:
        """Every stored (field, vector) of the given entries."""
        return self._vectors().of(entry_ids)

    def get(self, entry_id: str) -> Entry | None:
        return self.entries().get(entry_id)

    def setting(self, key: str) -> Any:
        """A value stored with this knowledge base (e.g. the thresholds `kefu tune` chose)."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?",
                                   (f"setting:{key}",)).fetchone()
        return json.loads(row[0]) if row else None

    def set_setting(self, key: str, value: Any) -> None:
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                             (f"setting:{key}", json.dumps(value, ensure_ascii=False)))

    def twin_states(self) -> dict[str, tuple[str, str, str]]:
        """source id -> (the content hash of the source its twin was made from, status, the
        entry that covers it), for every FAQ entry a twin was made (or tried) for; twins.py."""
        with self._lock:
            rows = self._db.execute("SELECT source_id, source_hash, status, covered_by "
                                    "FROM twins")
            return {source: (digest, status, by) for source, digest, status, by in rows}

    def set_twin_state(self, source_id: str, source_hash: str, status: str,
                       covered_by: str = "") -> None:
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO twins VALUES (?, ?, ?, ?)",
                             (source_id, source_hash, status, covered_by))

    def __len__(self) -> int:
        return len(self.entries())

    def close(self) -> None:
        self._db.close()


def open_knowledge_base(
    settings: Settings, name: str, embedder: Embedder | None = None, chroma_client: Any = None
) -> KnowledgeBase:
    """Open (or create) the knowledge base `name` under KEFU_HOME with the configured backends."""
    embedder = embedder or build_embedder(settings.embedder)
    client = chroma_client or build_chroma_client(settings.store, settings.kb_dir / "chroma")
    return KnowledgeBase(name, settings.kb_dir / name, embedder, client)


def knowledge_base_exists(settings: Settings, name: str) -> bool:
    return (settings.kb_dir / name / "kb.sqlite").exists()
