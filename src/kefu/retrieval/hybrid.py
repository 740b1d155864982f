"""Hybrid retrieval: centred cosine over an entry's question and answer, plus a BM25 bonus.

For a question q and an entry e (see docs/retrieval.md for the measurements behind it):

    c(v)      = v minus the mean of all vectors in this knowledge base, at unit length
    question  = max over e's question and alternative phrasings of  c(q) · c(v)
    answer    = c(q) · c(e's answer vector)            (a document chunk has one vector)
    dense     = (question + answer_weight × answer) / (1 + answer_weight)
    bm25      = BM25(q, e) / the best BM25 score q could reach, in [0, 1]
    score     = dense + bm25_weight × bm25

Centring removes what every entry shares (e5 puts all texts in a narrow cone), which
spreads unrelated and related questions apart and lets an English question find a Chinese
entry. The fused score stays on one scale the ladder's thresholds act on; rank-only fusion
(RRF) throws that scale away.
"""

from __future__ import annotations

import numpy as np

from kefu.config import RetrievalSettings
from kefu.knowledge_base.store import KnowledgeBase
from kefu.knowledge_base.text import to_simplified, tokenize
from kefu.retrieval.rerank import Reranker
from kefu.types import Hit


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 1e-9 else vector


class Retriever:
    def __init__(self, kb: KnowledgeBase, cfg: RetrievalSettings,
                 reranker: Reranker | None = None) -> None:
        self.kb = kb
        self.cfg = cfg
        self.reranker = reranker

    def search(self, query: str, k: int | None = None) -> list[Hit]:
        """The top k entries for query, best first, with fused and component scores."""
        k = k or self.cfg.top_k
        self.kb.refresh()  # another process (kefu kb, kefu ingest) may have changed it
        mean = (self.kb.mean_vector() if self.cfg.center
                else np.zeros(self.kb.embedder.dim, dtype=np.float32))
        q = _unit(self.kb.embedder.embed_queries([to_simplified(query)])[0] - mean)
        candidates = dict.fromkeys(
            entry_id for entry_id, _ in self.kb.vectors.query(q, self.cfg.candidates))
        keyword = dict(self.kb.bm25.search(tokenize(query), self.cfg.candidates))
        candidates.update(dict.fromkeys(keyword))
        vectors = self.kb.vectors_of(list(candidates))
        entries = self.kb.entries()
        weight = self.cfg.answer_weight
        hits = []
        for entry_id in candidates:
            entry = entries.get(entry_id)
            if entry is None or entry_id not in vectors:  # a write that did not finish
                continue
            similarity = {field: float(q @ _unit(v - mean)) for field, v in vectors[entry_id]}
            question = max(s for field, s in similarity.items() if field != "answer")
            dense = (question + weight * similarity.get("answer", question)) / (1 + weight)
            b = keyword.get(entry_id, 0.0)
            score = dense + self.cfg.bm25_weight * b
            hits.append(Hit(entry=entry, score=score, dense=dense, bm25=b, question=question))
        hits.sort(key=lambda h: (-h.score, h.entry.id))
        if self.reranker is not None:
            hits = self.reranker(query, hits)
        return hits[:k]
