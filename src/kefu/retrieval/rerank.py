"""Optional second stage: a cross-encoder reorders the top entries when the first is unsure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from kefu.config import RetrievalSettings
from kefu.errors import BackendUnavailable
from kefu.types import Hit


class PairScorer(Protocol):
    """Scores (question, passage) pairs; higher means more relevant."""

    def score(self, pairs: Sequence[tuple[str, str]]) -> Sequence[float]: ...


class CrossEncoderScorer:
    """A sentence-transformers CrossEncoder, by model name or local path."""

    def __init__(self, model: str) -> None:
        try:
            from sentence_transformers import CrossEncoder
        except ImportError as exc:
            raise BackendUnavailable(
                "the cross-encoder reranker needs extra packages: pip install 'kefu[st]'"
            ) from exc
        self._model = CrossEncoder(model, device="cpu")

    def score(self, pairs: Sequence[tuple[str, str]]) -> Sequence[float]:
        return [float(s) for s in self._model.predict(list(pairs))]


class Reranker:
    """Reorders the top `rerank_top` hits by a PairScorer, only when the best two are close.

    The fused scores stay as they were (the ladder's thresholds act on them); only the
    order changes, so a confident first match costs no extra model call.
    """

    def __init__(self, scorer: PairScorer, cfg: RetrievalSettings) -> None:
        self.scorer = scorer
        self.top = cfg.rerank_top
        self.margin = cfg.rerank_margin

    def __call__(self, question: str, hits: list[Hit]) -> list[Hit]:
        if len(hits) < 2 or hits[0].score - hits[1].score > self.margin:
            return hits
        head = hits[: self.top]
        scores = self.scorer.score([(question, _passage(h)) for h in head])
        order = sorted(range(len(head)), key=lambda i: -scores[i])
        return [head[i] for i in order] + hits[self.top:]


def _passage(hit: Hit) -> str:
    entry = hit.entry
    return f"{entry.question}\n{entry.answer}" if entry.kind == "faq" else entry.answer


def build_reranker(cfg: RetrievalSettings) -> Reranker | None:
    """The configured reranker, or None when `retrieval.reranker` is empty (the default)."""
    return Reranker(CrossEncoderScorer(cfg.reranker), cfg) if cfg.reranker else None
