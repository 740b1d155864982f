"""A persistent jieba BM25 index: tokens live in SQLite, statistics are rebuilt in memory."""

from __future__ import annotations

import math
from collections import Counter, defaultdict

from kefu.knowledge_base.database import Database

K1 = 1.2
B = 0.75


class BM25Index:
    """BM25 over one token list per entry (question, alternatives and answer together)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        db.execute("CREATE TABLE IF NOT EXISTS bm25 (entry_id TEXT PRIMARY KEY, tokens TEXT)")
        self._stale = True
        self._postings: dict[str, list[tuple[str, int]]] = {}
        self._lengths: dict[str, int] = {}
        self._avg_len = 1.0

    def put(self, entry_id: str, tokens: list[str]) -> None:
        """Insert or replace; the caller commits with the entry row."""
        self._db.execute(
            "INSERT OR REPLACE INTO bm25 (entry_id, tokens) VALUES (?, ?)",
            (entry_id, " ".join(t.replace(" ", "_") for t in tokens)),
        )
        self._stale = True

    def mark_stale(self) -> None:
        """Rebuild the statistics from SQLite before the next search."""
        self._stale = True

    def delete(self, entry_id: str) -> None:
        self._db.execute("DELETE FROM bm25 WHERE entry_id = ?", (entry_id,))
        self._stale = True

    def _rebuild(self) -> None:
        postings: dict[str, list[tuple[str, int]]] = defaultdict(list)
        lengths: dict[str, int] = {}
        for entry_id, text in self._db.execute("SELECT entry_id, tokens FROM bm25"):
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
