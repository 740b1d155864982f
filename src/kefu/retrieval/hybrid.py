"""Hybrid retrieval: cosine similarity plus a small, bounded BM25 bonus.

The fused score of an entry is ``dense + bm25_weight * bm25`` where ``dense`` is the best
cosine similarity over the entry's vectors (question, alternatives, answer) and ``bm25`` is
the entry's BM25 score divided by the best score the query could reach (so it lies in
[0, 1]: the share of the query's information the entry contains). The fused score therefore
stays on the cosine scale, and the ladder's thresholds keep their meaning across knowledge
bases of any size; rank-only fusion (RRF) throws that scale away and, with a weak BM25 on
short questions, loses to dense alone.
"""

from __future__ import annotations

from kefu.config import RetrievalSettings
from kefu.knowledge_base.store import KnowledgeBase
from kefu.knowledge_base.text import tokenize
from kefu.types import Hit


class Retriever:
    def __init__(self, kb: KnowledgeBase, cfg: RetrievalSettings) -> None:
        self.kb = kb
        self.cfg = cfg

    def search(self, query: str, k: int | None = None) -> list[Hit]:
        """The top k entries for query, best first, with fused and component scores."""
        k = k or self.cfg.top_k
        vector = self.kb.embedder.embed_queries([query])[0]
        dense: dict[str, float] = {}
        for entry_id, similarity in self.kb.vectors.query(vector, self.cfg.candidates):
            dense[entry_id] = max(similarity, dense.get(entry_id, -1.0))
        keyword = dict(self.kb.bm25.search(tokenize(query), self.cfg.candidates))
        floor = min(dense.values(), default=0.0)
        entries = self.kb.entries()
        hits = []
        for entry_id in dense.keys() | keyword.keys():
            entry = entries.get(entry_id)
            if entry is None:  # vectors of an entry whose write did not finish
                continue
            d, b = dense.get(entry_id, floor), keyword.get(entry_id, 0.0)
            hits.append(Hit(entry=entry, score=d + self.cfg.bm25_weight * b, dense=d, bm25=b))
        hits.sort(key=lambda h: (-h.score, h.entry.id))
        return hits[:k]
