"""Every vector of a knowledge base in memory, for exact rescoring and the mean vector.

Chroma finds the candidates; rescoring them needs their stored vectors, and fetching those
from Chroma per question cost more than the search itself on 10k entries. The cache is
filled once from Chroma and then kept in step by the writes of this process.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

FieldVectors = list[tuple[str, np.ndarray]]


class VectorCache:
    def __init__(self, dim: int) -> None:
        self._rows: dict[str, FieldVectors] = {}
        self._sum = np.zeros(dim, dtype=np.float64)
        self._count = 0

    def put(self, owners: Sequence[tuple[str, str]], vectors: Iterable[np.ndarray]) -> None:
        """Replace the vectors of every entry named in owners ((entry id, field) per vector)."""
        fresh: dict[str, FieldVectors] = {}
        for (entry_id, field), vector in zip(owners, vectors, strict=True):
            fresh.setdefault(entry_id, []).append((field, np.asarray(vector, np.float32)))
        self.remove(fresh)
        for entry_id, rows in fresh.items():
            self._rows[entry_id] = rows
            self._sum += np.sum([v for _, v in rows], axis=0, dtype=np.float64)
            self._count += len(rows)

    def remove(self, entry_ids: Iterable[str]) -> None:
        for entry_id in entry_ids:
            rows = self._rows.pop(entry_id, None)
            if rows:
                self._sum -= np.sum([v for _, v in rows], axis=0, dtype=np.float64)
                self._count -= len(rows)

    def of(self, entry_ids: Iterable[str]) -> dict[str, FieldVectors]:
        return {i: self._rows[i] for i in entry_ids if i in self._rows}

    def mean(self) -> np.ndarray:
        """The mean of all vectors (zeros when there are none)."""
        if not self._count:
            return np.zeros_like(self._sum, dtype=np.float32)
        return (self._sum / self._count).astype(np.float32)
