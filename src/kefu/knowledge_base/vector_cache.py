"""Every vector of a knowledge base in memory, for exact rescoring and the mean vectors.

Chroma finds the candidates; rescoring them needs their stored vectors, and fetching those
from Chroma per question cost more than the search itself on 10k entries. The cache is
filled once from Chroma and then kept in step by the writes of this process. It keeps the
mean of all vectors and the mean of each language's: the language of the text a vector was
made from (an entry's question may be Chinese and its answer English).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

FieldVectors = list[tuple[str, np.ndarray]]


class VectorCache:
    def __init__(self, dim: int) -> None:
        self._rows: dict[str, FieldVectors] = {}
        self._lang: dict[tuple[str, str], str] = {}  # (entry id, field): its text's language
        self._sum: dict[str, np.ndarray] = {}  # "" for all vectors, else per language
        self._count: dict[str, int] = {}
        self._dim = dim

    def put(self, owners: Sequence[tuple[str, str]], vectors: Iterable[np.ndarray],
            langs: Sequence[str]) -> None:
        """Replace the vectors of every entry named in owners ((entry id, field) per vector);
        langs: the language of each vector's text."""
        fresh: dict[str, FieldVectors] = {}
        fresh_langs = {}
        for owner, vector, lang in zip(owners, vectors, langs, strict=True):
            fresh.setdefault(owner[0], []).append((owner[1], np.asarray(vector, np.float32)))
            fresh_langs[owner] = lang
        self.remove(fresh)
        self._lang.update(fresh_langs)
        for entry_id, rows in fresh.items():
            self._rows[entry_id] = rows
            self._add(entry_id, rows, +1)

    def remove(self, entry_ids: Iterable[str]) -> None:
        for entry_id in entry_ids:
            rows = self._rows.pop(entry_id, None)
            if rows:
                self._add(entry_id, rows, -1)
                for field, _ in rows:
                    self._lang.pop((entry_id, field), None)

    def _add(self, entry_id: str, rows: FieldVectors, sign: int) -> None:
        for field, vector in rows:
            for key in {"", self.lang(entry_id, field)}:
                self._sum[key] = self._sum.get(key, np.zeros(self._dim)) + sign * vector
                self._count[key] = self._count.get(key, 0) + sign

    def lang(self, entry_id: str, field: str) -> str:
        """The language of the text the vector of that entry's field was made from."""
        return self._lang.get((entry_id, field), "")

    def of(self, entry_ids: Iterable[str]) -> dict[str, FieldVectors]:
        return {i: self._rows[i] for i in entry_ids if i in self._rows}

    def mean(self, lang: str = "") -> np.ndarray:
        """The mean of lang's vectors; of all of them when lang is '' or has none (zeros when
        there are no vectors at all)."""
        key = lang if self._count.get(lang, 0) > 0 else ""
        if not self._count.get(key, 0):
            return np.zeros(self._dim, dtype=np.float32)
        return (self._sum[key] / self._count[key]).astype(np.float32)
