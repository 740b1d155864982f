"""KnowledgeBase: entries and BM25 tokens in its database (its own SQLite file, or its own
schema in PostgreSQL), vectors in Chroma, kept in step."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, delete, func, select
from tqdm import tqdm

from kefu.config import Settings
from kefu.errors import EmbedderMismatch, KnowledgeBaseError
from kefu.knowledge_base.bm25 import BM25Index
from kefu.knowledge_base.chunking import LONG_ANSWER_CHARS, passages
from kefu.knowledge_base.embedders import build_embedder
from kefu.knowledge_base.text import (
    detect_lang,
    nonempty_lines,
    sentences,
    to_simplified,
    tokenize,
)
from kefu.knowledge_base.vector_cache import VectorCache
from kefu.knowledge_base.vector_store import VectorStore, build_chroma_client
from kefu.storage.database import has_schema, open_database
from kefu.storage.tables import kb_entries, kb_meta, kb_twins
from kefu.types import Embedder, Entry, IngestReport

_KB_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{1,48}[a-z0-9]$")


# Bumped when what is indexed for the same entry changes, so the next ingest redoes it all.
EMBED_BATCH = 32  # entries embedded per call (the embedder is the limit)
INDEX_VERSION = 2  # 2: traditional Chinese folded to simplified before embedding
# Bumped when what is indexed of an answer's sentences changes: the next ingest embeds every
# stored entry's sentences anew (not in INDEX_VERSION: the content hash also marks which
# version of an entry its machine-translated twin was made from).
SENTENCE_INDEX = 1
MIN_SENTENCE_CHARS = 4  # "是。" or "OK." says nothing a question could be about


def content_hash(entry: Entry) -> str:
    fields = [INDEX_VERSION, entry.kind, entry.lang, entry.question, entry.answer,
              entry.category, list(entry.alt_questions), entry.source]
    if entry.translated_from:
        fields.append(entry.translated_from)
    if entry.kind == "faq" and len(entry.answer) > LONG_ANSWER_CHARS:
        fields.append("passages")  # indexed passage by passage since 0.3
    return hashlib.sha256(json.dumps(fields, ensure_ascii=False).encode()).hexdigest()


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


def _sentence_fields(entry: Entry) -> tuple[list[str], list[str]]:
    """The sentences of an entry's answer (a document chunk's text), one vector each,
    rescored beside the whole: a question about one fact of an answer that states several
    matches that fact's sentence better than the whole text (docs/retrieval.md). None for an
    answer of one sentence: the whole is that sentence."""
    said = [s for s in sentences(entry.answer) if len(s) >= MIN_SENTENCE_CHARS]
    if len(said) < 2 or _is_record(entry.answer):
        return [], []
    return said, [f"sentence.{i}" for i in range(len(said))]


_FIELD_LINE = re.compile(r"^[^\s:：]{1,12}\s*[:：]\s*\S")  # "地址：府前街31号", "Weight: 1.2 kg"


def _is_record(text: str) -> bool:
    """Whether text is a record of labelled fields, one per line (a place's 名称 / 地址 / 电话
    / 周边餐馆, a product's specifications), not prose. Its lines are fields every such
    record has: a question about a field ("周边有哪些餐馆") matches that line of every record
    alike, and the other places it lists are named there, so a record is matched whole
    (crosswoz: hit@1 of its follow-ups fell by 6 points when they were read by line)."""
    lines = nonempty_lines(text)
    fields = sum(bool(_FIELD_LINE.match(line)) for line in lines)
    return fields >= 3 and 2 * fields >= len(lines)


def indexed_texts(entry: Entry) -> list[str]:
    """Every text embedded for an entry: its whole texts, then its answer's sentences."""
    return _fields(entry)[0] + _sentence_fields(entry)[0]


def passage_field(index: int) -> str:
    """The vector field of an FAQ answer's passage (the first is the answer's own)."""
    return "answer" if index == 0 else f"answer.{index}"


def passage_index(field: str) -> int | None:
    """Which passage of the answer a vector field holds; None for a question's field."""
    name, _, index = field.partition(".")
    return (int(index) if index else 0) if name == "answer" else None


def check_name(name: str) -> str:
    if not _KB_NAME.match(name):
        raise KnowledgeBaseError(
            f"invalid knowledge base name {name!r}: use 3-50 lower-case letters, digits, "
            "'-' or '_'"
        )
    return name


class KnowledgeBase:
    """One named knowledge base; every write goes to its database, Chroma and BM25 together.
    database: an SQLite file (the default, one per knowledge base) or a store.database_url
    (its tables then live in the schema named after the knowledge base)."""

    def __init__(self, name: str, database: Path | str, embedder: Embedder, chroma_client: Any):
        self.name = check_name(name)
        self.embedder = embedder
        self._db = open_database(database, "knowledge_base", schema=_schema(name))
        self._lock = threading.RLock()
        self._check_embedder()
        self.vectors = VectorStore(chroma_client, name, embedder.model_id, embedder.dim)
        self.sentence_vectors = VectorStore(chroma_client, name, embedder.model_id,
                                            embedder.dim, part="sentences")
        self.bm25 = BM25Index(self._db)
        self._cache: dict[str, Entry] | None = None
        self._vector_cache: VectorCache | None = None
        self._sentence_cache: VectorCache | None = None
        self._generation = self._stored_generation()

    def _meta(self, connection: Connection, key: str) -> str | None:
        return connection.execute(
            select(kb_meta.c.value).where(kb_meta.c.key == key)).scalar_one_or_none()

    def _set_meta(self, connection: Connection, key: str, value: str) -> None:
        self._db.upsert(connection, kb_meta, [{"key": key, "value": value}])

    def _check_embedder(self) -> None:
        current = {"id": self.embedder.model_id, "dim": self.embedder.dim}
        with self._db.read() as connection:
            row = self._meta(connection, "embedder")
        if row is None:  # a new knowledge base
            with self._db.begin() as connection:
                self._set_meta(connection, "embedder", json.dumps(current))
            return
        stored = json.loads(row)
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
        self._index_sentences(progress)
        report = IngestReport()
        with self._db.read() as connection:
            stored = dict(connection.execute(select(kb_entries.c.id, kb_entries.c.hash)).all())
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

    def _index_sentences(self, progress: bool) -> None:
        """A knowledge base indexed before its answers' sentences were (or under an older
        SENTENCE_INDEX) gets them at its next import: every stored entry, twins too, is
        embedded anew, in its order, its content hash kept. A crash part-way leaves the
        mark unset, so the next import starts again."""
        with self._db.read() as connection:
            if self._meta(connection, "sentences") == str(SENTENCE_INDEX):
                return
            digests = dict(connection.execute(select(kb_entries.c.id, kb_entries.c.hash)).all())
        stored = list(self.entries().values())
        with tqdm(total=len(stored), desc=f"indexing the sentences of {self.name}",
                  unit="entry", disable=not progress or not stored) as bar:
            for start in range(0, len(stored), EMBED_BATCH):
                batch = stored[start:start + EMBED_BATCH]
                self._write([(entry, digests[entry.id]) for entry in batch])
                bar.update(len(batch))
        with self._lock, self._db.begin() as connection:
            self._set_meta(connection, "sentences", str(SENTENCE_INDEX))

    def _write(self, batch: Sequence[tuple[Entry, str]]) -> None:
        """Embed a batch in one call (whole texts, then sentences), then write vectors, tokens
        and rows for each entry."""
        fields = [_fields(entry) for entry, _ in batch]
        said = [_sentence_fields(entry) for entry, _ in batch]
        texts = [t for entry_texts, _ in fields + said for t in entry_texts]
        vectors = np.asarray(self.embedder.embed_passages([to_simplified(t) for t in texts]))
        whole = sum(len(entry_texts) for entry_texts, _ in fields)
        langs = [detect_lang(text) for text in texts]
        ids = [entry.id for entry, _ in batch]
        with self._lock:
            # Vectors first, rows last: a crash in between leaves no row, so a re-run redoes it.
            owners = [(entry.id, name) for (entry, _), (_, names)
                      in zip(batch, fields, strict=True) for name in names]
            sentence_owners = [(entry.id, name) for (entry, _), (_, names)
                               in zip(batch, said, strict=True) for name in names]
            for store, cache, rows, part, part_langs in (
                    (self.vectors, self._vector_cache, owners, vectors[:whole],
                     langs[:whole]),
                    (self.sentence_vectors, self._sentence_cache, sentence_owners,
                     vectors[whole:], langs[whole:])):
                store.delete(ids)
                store.add(part, rows)
                if cache is not None:
                    cache.remove(ids)
                    cache.put(rows, part, part_langs)
            with self._db.begin() as connection:
                last = connection.execute(select(func.max(kb_entries.c.position))).scalar()
                self.bm25.put(connection, {
                    entry.id: tokenize(" ".join(entry_texts))
                    for (entry, _), (entry_texts, _) in zip(batch, fields, strict=True)})
                self._db.upsert(connection, kb_entries, [
                    {"id": entry.id, "kind": entry.kind, "lang": entry.lang,
                     "question": entry.question, "answer": entry.answer,
                     "category": entry.category,
                     "alt_questions": json.dumps(list(entry.alt_questions), ensure_ascii=False),
                     "source": entry.source, "hash": digest,
                     "translated_from": entry.translated_from, "position": (last or 0) + i}
                    for i, (entry, digest) in enumerate(batch, start=1)])
                self._committed(connection)

    def delete(self, entry_ids: Iterable[str]) -> int:
        """Remove entries, and the machine-translated twins of those that had one."""
        ids = list(entry_ids)
        with self._lock:
            wanted = set(ids)
            twins = [e.id for e in self.entries().values() if e.translated_from in wanted]
            for store, cache in ((self.vectors, self._vector_cache),
                                 (self.sentence_vectors, self._sentence_cache)):
                store.delete(ids + twins)
                if cache is not None:
                    cache.remove(ids + twins)
            with self._db.begin() as connection:
                self.bm25.delete(connection, ids + twins)
                removed = connection.execute(
                    delete(kb_entries).where(kb_entries.c.id.in_(ids))).rowcount
                connection.execute(delete(kb_entries).where(kb_entries.c.id.in_(twins)))
                connection.execute(delete(kb_twins).where(kb_twins.c.source_id.in_(ids)))
                self._committed(connection)
        return removed

    def _committed(self, connection: Connection) -> None:
        """A new generation mark in the write's transaction, so other processes' caches know
        to reload."""
        self._generation = uuid.uuid4().hex
        self._set_meta(connection, "generation", self._generation)
        self._forget()

    def _forget(self, vectors: bool = False) -> None:
        self._cache = None
        self.bm25.mark_stale()
        if vectors:  # this process's own writes keep the vector caches in step
            self._vector_cache = self._sentence_cache = None

    def _stored_generation(self) -> str:
        with self._db.read() as connection:
            return self._meta(connection, "generation") or ""

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
                with self._db.read() as connection:
                    rows = connection.execute(select(
                        kb_entries.c.id, kb_entries.c.kind, kb_entries.c.lang,
                        kb_entries.c.question, kb_entries.c.answer, kb_entries.c.category,
                        kb_entries.c.alt_questions, kb_entries.c.source,
                        kb_entries.c.translated_from,
                    ).order_by(kb_entries.c.position, kb_entries.c.id)).all()
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
                self._vector_cache = self._loaded(self.vectors, _fields)
            return self._vector_cache

    def _sentences(self) -> VectorCache:
        with self._lock:
            if self._sentence_cache is None:
                self._sentence_cache = self._loaded(self.sentence_vectors, _sentence_fields)
            return self._sentence_cache

    def _loaded(self, store: VectorStore,
                fields_of: Callable[[Entry], tuple[list[str], list[str]]]) -> VectorCache:
        """Every vector of store in memory, with the language of the text each was made
        from (fields_of: an entry's texts and their field names, as _write embedded them)."""
        owners, vectors = [], []
        for page_owners, page_vectors in store.iter_all():
            owners += page_owners  # an entry's vectors may span two pages
            vectors += page_vectors
        cache = VectorCache(self.embedder.dim)
        texts = {entry.id: dict(zip(names, entry_texts, strict=True))
                 for entry in self.entries().values()
                 for entry_texts, names in [fields_of(entry)]}
        cache.put(owners, vectors, [detect_lang(texts.get(i, {}).get(field, ""))
                                    for i, field in owners])
        return cache

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
        """Every stored (field, vector) of the given entries' whole texts."""
        return self._vectors().of(entry_ids)

    def sentence_vectors_of(self, entry_ids: Sequence[str]
                            ) -> dict[str, list[tuple[str, np.ndarray, str]]]:
        """(field, vector, the language of its sentence) of each sentence of the given
        entries' answers (none for an answer of one sentence)."""
        cache = self._sentences()
        return {entry_id: [(field, vector, cache.lang(entry_id, field))
                           for field, vector in rows]
                for entry_id, rows in cache.of(entry_ids).items()}

    def get(self, entry_id: str) -> Entry | None:
        return self.entries().get(entry_id)

    def setting(self, key: str) -> Any:
        """A value stored with this knowledge base (e.g. the thresholds `kefu tune` chose)."""
        with self._lock, self._db.read() as connection:
            row = self._meta(connection, f"setting:{key}")
        return json.loads(row) if row is not None else None

    def set_setting(self, key: str, value: Any) -> None:
        with self._lock, self._db.begin() as connection:
            self._set_meta(connection, f"setting:{key}", json.dumps(value, ensure_ascii=False))

    def twin_states(self) -> dict[str, tuple[str, str, str]]:
        """source id -> (the content hash of the source its twin was made from, status, the
        entry that covers it), for every FAQ entry a twin was made (or tried) for; twins.py."""
        with self._lock, self._db.read() as connection:
            rows = connection.execute(select(kb_twins)).all()
        return {source: (digest, status, by) for source, digest, status, by in rows}

    def set_twin_state(self, source_id: str, source_hash: str, status: str,
                       covered_by: str = "") -> None:
        with self._lock, self._db.begin() as connection:
            self._db.upsert(connection, kb_twins, [
                {"source_id": source_id, "source_hash": source_hash, "status": status,
                 "covered_by": covered_by}])

    def __len__(self) -> int:
        return len(self.entries())

    def close(self) -> None:
        """Let go of the database's connections (they reopen if used again)."""
        self._db.engine.dispose()


def knowledge_base_database(settings: Settings, name: str) -> Path | str:
    """Where the knowledge base's bookkeeping lives: store.database_url, else its own
    SQLite file under KEFU_HOME."""
    return settings.store.database_url or settings.kb_dir / check_name(name) / "kb.sqlite"


def open_knowledge_base(
    settings: Settings, name: str, embedder: Embedder | None = None, chroma_client: Any = None
) -> KnowledgeBase:
    """Open (or create) the knowledge base `name` with the configured backends."""
    embedder = embedder or build_embedder(settings.embedder)
    client = chroma_client or build_chroma_client(settings.store, settings.kb_dir / "chroma")
    return KnowledgeBase(name, knowledge_base_database(settings, name), embedder, client)


def knowledge_base_exists(settings: Settings, name: str) -> bool:
    """True once the knowledge base has been created (even if it is empty)."""
    database = knowledge_base_database(settings, name)
    if isinstance(database, Path):
        return database.exists()
    return has_schema(database, _schema(name))


def _schema(name: str) -> str:
    """The knowledge base's PostgreSQL schema: prefixed, so that no name ('public', the
    user's, 'pg_…') meets a schema PostgreSQL or the conversation tables use."""
    return f"kb_{name}"
