"""Hybrid retrieval: centred cosine over an entry's question and answer, plus a BM25 bonus.

For a question q and an entry e (see docs/retrieval.md for the measurements behind it):

    c(v)      = v minus the mean of the vectors of texts in v's language in this knowledge
                base (of all vectors when that language has none), at unit length
    question  = max over e's question and alternative phrasings of  c(q) · c(v)
    answer    = c(q) · c(e's answer vector)            (a document chunk has one vector;
                a long FAQ answer, the best of its passages' vectors, and its question
                term at least that: it reads as a document, whatever its title),
                moved sentence_weight of the way up to the best c(q) · c(a sentence of
                it) when it has several and that one matches better (a chunk's heading is
                in its whole vector, not in its sentences')
    dense     = (question + answer_weight × answer) / (1 + answer_weight)
    bm25      = BM25(q, e) / the best BM25 score q could reach, in [0, 1]
    named     = 1 when q contains e's title verbatim (a document only; see names.py), else 0
    score     = dense + bm25_weight × bm25 + name_weight × named

Centring removes what every entry shares (e5 puts all texts in a narrow cone), which
spreads unrelated and related questions apart and lets an English question find a Chinese
entry. Centring each language on its own mean also removes the offset between the two
languages' clouds, which one knowledge-base mean leaves when the FAQ mixes Chinese-only and
English-only entries: a question would find some entry in its own language first. The
fused score stays on one scale the ladder's thresholds act on; rank-only fusion (RRF)
throws that scale away.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from kefu.config import RetrievalSettings
from kefu.knowledge_base.chunking import reads_as_document
from kefu.knowledge_base.store import KnowledgeBase, passage_index
from kefu.knowledge_base.text import detect_lang, to_simplified, tokenize
from kefu.knowledge_base.twins import covered_pairs, twin_id
from kefu.retrieval.names import NameIndex
from kefu.retrieval.rerank import Reranker
from kefu.retrieval.spelling import Speller
from kefu.types import Entry, Hit, Lang, Matches


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 1e-9 else vector


class Retriever:
    def __init__(self, kb: KnowledgeBase, cfg: RetrievalSettings,
                 reranker: Reranker | None = None) -> None:
        self.kb = kb
        self.cfg = cfg
        self.reranker = reranker
        self._names: NameIndex | None = None
        self._speller: Speller | None = None

    def search(self, query: str, k: int | None = None, also: Sequence[str] = ()) -> list[Hit]:
        """The top k entries for query, best first, with fused and component scores.

        also: other readings of the same request, for a follow-up ("and for Hong Kong?"
        read with the question before it, or the LLM's standalone rewrite read with the
        customer's own words). Each entry is scored against every reading and the scores
        averaged: the customer's words keep their weight, the context fills in the topic.
        """
        k = k or self.cfg.top_k
        hits = self.scored(query, also)
        hits.sort(key=lambda h: (-h.score, h.entry.id))
        hits = _one_per_origin(hits)
        if self.reranker is not None:
            hits = self.reranker(query, hits)
        return hits[:k]

    def scored(self, query: str, also: Sequence[str] = ()) -> list[Hit]:
        """Every candidate entry (dense or BM25 neighbour of a reading, or named in one)
        with its fused and component scores, unsorted, an entry and its twin apart: what
        search ranks, and what `kefu tune` re-weighs (calibration/fit_retrieval.py)."""
        self.kb.refresh()  # another process (kefu kb, kefu ingest) may have changed it
        entries = self.kb.entries()
        texts = [self._spelled(entries, t) for t in (query, *also)]
        vectors = self.kb.embedder.embed_queries([to_simplified(t) for t in texts])
        means = {lang: self._mean(lang) for lang in ("", "zh", "en")}
        queries = [_unit(v - means[detect_lang(text)])
                   for text, v in zip(texts, vectors, strict=True)]
        candidates: dict[str, None] = {}
        keyword: list[dict[str, float]] = []
        named: set[str] = set()  # named in any reading: the context names, the message asks
        for text, q in zip(texts, queries, strict=True):
            candidates.update(dict.fromkeys(
                entry_id for entry_id, _ in self.kb.nearest(q, self.cfg.candidates)))
            keyword.append(dict(self.kb.keyword_matches(tokenize(text), self.cfg.candidates)))
            if self.cfg.name_weight:
                named |= self._name_index(entries).named_in(text)
            candidates.update(dict.fromkeys(keyword[-1]))
        candidates.update(dict.fromkeys(sorted(named)))
        stored = self.kb.vectors_of(list(candidates))
        said = self.kb.sentence_vectors_of(list(candidates)) if self.cfg.sentence_weight else {}
        hits = []
        for entry_id in candidates:
            entry = entries.get(entry_id)
            if entry is None or entry_id not in stored:  # a write that did not finish
                continue
            parts = [self._hit(entry, stored[entry_id], said.get(entry_id, []), q, means,
                               bm25.get(entry_id, 0.0), entry_id in named)
                     for q, bm25 in zip(queries, keyword, strict=True)]
            hits.append(parts[0] if len(parts) == 1 else _average(parts))
        return hits

    def in_language(self, hits: Sequence[Hit], lang: Lang) -> list[Hit]:
        """Each FAQ hit as its entry in lang, where the shop's entry or its machine-translated
        twin is in lang, or the shop wrote the entry in lang too (a covered pair, twins.py),
        with the same score: the two are one entry. The first of an entry's hits is kept."""
        entries = self.kb.entries()
        covered: dict[str, str] | None = None  # read only when a hit needs it
        out: dict[str, Hit] = {}
        for hit in hits:
            entry = hit.entry
            if entry.kind == "faq" and entry.lang != lang:
                same = entries.get(entry.translated_from or twin_id(entry.id, lang))
                if same is None or same.lang != lang:
                    covered = covered_pairs(self.kb) if covered is None else covered
                    same = entries.get(covered.get(entry.origin, ""))
                if same is not None and same.lang == lang:
                    hit = replace(hit, entry=same)
            out.setdefault(hit.entry.id, hit)
        return list(out.values())

    def _mean(self, lang: str) -> np.ndarray:
        """What is subtracted from a vector of a text in lang before comparing."""
        if not self.cfg.center:
            return np.zeros(self.kb.embedder.dim, dtype=np.float32)
        return self.kb.mean_vector(lang if self.cfg.center_languages else "")

    def names_in(self, texts: Sequence[str]) -> list[list[str]]:
        """The document titles each text mentions (e.g. kefu's last reply), in order."""
        if not self.cfg.name_weight:
            return [[] for _ in texts]
        index = self._name_index(self.kb.entries())  # one fetch for all texts
        return [index.names_in(text) for text in texts]

    def _name_index(self, entries: dict[str, Entry]) -> NameIndex:
        """The names of entries (the knowledge base hands out a new dict after every write,
        so the index is rebuilt then only)."""
        if self._names is None or self._names.source is not entries:
            self._names = NameIndex(entries)
        return self._names

    def _spelled(self, entries: dict[str, Entry], text: str) -> str:
        """text with its English typos read as the shop's words (spelling.py); the speller is
        rebuilt after a write, as the name index is."""
        if not self.cfg.correct_typos:
            return text
        if self._speller is None or self._speller.source is not entries:
            self._speller = Speller(entries)
        return self._speller(text)

    def _hit(self, entry: Entry, vectors: list[tuple[str, np.ndarray]],
             sentences: list[tuple[str, np.ndarray, str]], q: np.ndarray,
             means: dict[str, np.ndarray], bm25: float, named: bool = False) -> Hit:
        """sentences: (field, vector, language) of each sentence of the entry's answer;
        means: what is subtracted from a vector of a text in each language ('' unknown);
        a vector's language counts only when each language has its own mean."""
        per_language = self.cfg.center and self.cfg.center_languages

        def match(vector: np.ndarray, lang: str) -> float:
            return float(q @ _unit(vector - means[lang if per_language else ""]))

        similarity = {field: match(v, self.kb.vector_lang(entry.id, field) if per_language
                                   else "")
                      for field, v in vectors}
        passages = {passage_index(field): s for field, s in similarity.items()
                    if passage_index(field) is not None}
        question = max(s for field, s in similarity.items() if passage_index(field) is None)
        best = max(passages, key=passages.__getitem__, default=None)
        whole = question if best is None else passages[best]
        # the fact asked about, in the whole (no sentences when sentence_weight is 0)
        sentence = max((match(v, lang) for _, v, lang in sentences), default=whole)
        matches = Matches(question, whole, sentence, reads_as_document(entry))
        question, answer, dense, score = (float(x) for x in fuse(
            matches.question, matches.whole, matches.sentence, matches.document, bm25,
            float(named), self.cfg.answer_weight, self.cfg.bm25_weight, self.cfg.name_weight,
            self.cfg.sentence_weight))
        return Hit(entry=entry, score=score, dense=dense, bm25=bm25, question=question,
                   answer=answer, named=named, passage=best or 0, matches=matches)


def fuse(question: Any, whole: Any, sentence: Any, document: Any, bm25: Any, named: Any,
         answer_weight: Any, bm25_weight: Any, name_weight: Any, sentence_weight: Any
         ) -> tuple[Any, Any, Any, Any]:
    """(question, answer, dense, score) of the formula above from an entry's Matches, its
    BM25 and named, for one candidate (floats) or for many candidates under many weightings
    at once (numpy arrays that broadcast; `kefu tune`). The answer moves up towards its best
    sentence, never down: a chunk's heading is in its whole vector, not its sentences'. A
    text that reads as a document answers as a section would, whatever its title (a chunk:
    its question match is its answer's)."""
    answer = whole + sentence_weight * np.maximum(0.0, sentence - whole)
    question = np.where(document, np.maximum(question, answer), question)
    dense = (question + answer_weight * answer) / (1 + answer_weight)
    return question, answer, dense, dense + bm25_weight * bm25 + name_weight * named


def _one_per_origin(hits: list[Hit]) -> list[Hit]:
    """The best-scoring of an entry and its twin (the two say the same)."""
    seen: set[str] = set()
    kept = []
    for hit in hits:
        if hit.entry.origin not in seen:
            seen.add(hit.entry.origin)
            kept.append(hit)
    return kept


def _average(hits: list[Hit]) -> Hit:
    n = len(hits)
    matches = Matches(sum(h.matches.question for h in hits) / n,
                      sum(h.matches.whole for h in hits) / n,
                      sum(h.matches.sentence for h in hits) / n, hits[0].matches.document)
    return Hit(entry=hits[0].entry, score=sum(h.score for h in hits) / n,
               dense=sum(h.dense for h in hits) / n, bm25=sum(h.bm25 for h in hits) / n,
               question=sum(h.question for h in hits) / n,
               answer=sum(h.answer for h in hits) / n, named=hits[0].named,
               passage=max(hits, key=lambda h: h.answer).passage, matches=matches)
