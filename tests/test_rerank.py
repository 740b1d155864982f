import sys
from collections.abc import Sequence

import pytest

from kefu.config import RetrievalSettings
from kefu.errors import BackendUnavailable
from kefu.retrieval.hybrid import Retriever
from kefu.retrieval.rerank import Reranker, build_reranker


class ScriptedScorer:
    """A cross-encoder at the process boundary: scores pairs by a keyword, records calls."""

    def __init__(self, keyword: str) -> None:
        self.keyword = keyword
        self.calls: list[list[tuple[str, str]]] = []

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        self.calls.append(list(pairs))
        return [float(self.keyword in passage) for _question, passage in pairs]


def test_close_top_scores_are_reordered_by_the_scorer(tiny_kb):
    plain = Retriever(tiny_kb, RetrievalSettings()).search("payment or shipping?", 5)
    assert plain[0].entry.id == "t-en-pay" and plain[0].score - plain[1].score < 0.1
    scorer = ScriptedScorer("3-5 working days")
    cfg = RetrievalSettings(rerank_margin=0.1)
    reranked = Retriever(tiny_kb, cfg, Reranker(scorer, cfg)).search("payment or shipping?", 5)
    assert reranked[0].entry.id == "t-en-ship"
    assert len(scorer.calls) == 1 and len(scorer.calls[0]) == 5
    assert sorted(h.entry.id for h in reranked) == sorted(h.entry.id for h in plain)
    assert {h.entry.id: h.score for h in reranked} == {h.entry.id: h.score for h in plain}


def test_a_clear_first_match_skips_the_scorer(tiny_kb):
    scorer = ScriptedScorer("PayPal")
    cfg = RetrievalSettings(rerank_margin=0.0)
    hits = Retriever(tiny_kb, cfg, Reranker(scorer, cfg)).search("How long does shipping take?")
    assert hits[0].entry.id == "t-en-ship" and scorer.calls == []


def test_reranker_is_off_by_default_and_names_its_extra(monkeypatch):
    assert build_reranker(RetrievalSettings()) is None
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(BackendUnavailable, match=r"pip install 'kefu\[st\]'"):
        build_reranker(RetrievalSettings(reranker="cross-encoder/ms-marco-MiniLM-L6-v2"))
