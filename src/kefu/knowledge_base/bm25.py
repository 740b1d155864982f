"""A persistent jieba BM25 index: tokens live in the knowledge base's database (SQLite or
PostgreSQL), statistics are rebuilt in memory."""

from __future__ import annotations

import math
from collections import Counter, defaultdict

from sqlalchemy import Connection, delete, select

from kefu.storage.database import Database
from kefu.storage.tables import kb_tokens

K1 = 1.2
B = 0.75


class BM25Index:
    """BM25 over one token list per entry (question, alternatives and answer together)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._stale = True
        self._postings: dict[str, list[tuple[str, int]]] = {}
        self._lengths: dict[str, int] = {}
        self._avg_len = 1.0

    def put(self, connection: Connection, tokens: dict[str, list[str]]) -> None:
        """Insert or replace each entry's tokens, in the caller's transaction."""
        self._db.upsert(connection, kb_tokens, [
            {"entry_id": entry_id, "tokens": " ".join(t.replace(" ", "_") for t in entry)}
            for entry_id, entry in tokens.items()])
        self._stale = True

    def mark_stale(self) -> None:
        """Rebuild the statistics from the database before the next search."""
        self._stale = True

    def delete(self, connection: Connection, entry_ids: list[str]) -> None:
        connection.execute(delete(kb_tokens).where(kb_tokens.c.entry_id.in_(entry_ids)))
        self._stale = True

    def _rebuild(self) -> None:
        postings: dict[str, list[tuple[str, int]]] = defaultdict(list)
        lengths: dict[str, int] = {}
        with self._db.read() as connection:
            rows = connection.execute(select(kb_tokens.c.entry_id, kb_tokens.c.tokens)).all()
        for entry_id, text in rows:
            tokens = text.split()
            lengths[entry_id] = len(tokens)
            for token, tf in Counter(tokens).items():
                postings[token].append((entry_id, tf))
        self._postings, self._lengths = dict(postings), lengths
        self._avg_len = (sum(lengths.values()) / len(lengths)) if lengths else 1.0
        self._stale = False

    def _idf(self, token: str) -> float:
        n, df = len(self._lengths), len(self._postings.get(token, ()))
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))

    def search(self, tokens: list[str], n: int) -> list[tuple[str, float]]:
        """(entry_id, score in [0, 1]) best first: BM25 divided by the query's best possible."""
        if self._stale:
            self._rebuild()
        query = Counter(t.replace(" ", "_") for t in tokens)
        ceiling = sum(self._idf(t) * (K1 + 1) * c for t, c in query.items())
        if not ceiling:
            return []
        scores: dict[str, float] = defaultdict(float)
        for token, count in query.items():
            idf = self._idf(token)
            for entry_id, tf in self._postings.get(token, ()):
                norm = tf + K1 * (1 - B + B * self._lengths[entry_id] / self._avg_len)
                scores[entry_id] += count * idf * tf * (K1 + 1) / norm
        best = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
        return [(entry_id, score / ceiling) for entry_id, score in best]
