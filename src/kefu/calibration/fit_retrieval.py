"""`kefu tune`, first step: the fusion weights fitted to one knowledge base, without labels.

Probes come from the knowledge base's own content: the LLM's customer-style questions for
a sample of its FAQ entries and document chunks (tune.rewordings, cached with the knowledge
base), each labelled with the entry it was written from; and questions in the other
language than their entry's (what centring each language on its own mean is for; each
counts for the share of entries left without a twin, probe_worth()): where the LLM has
made twins, each twin's question asked as if that twin were missing, and, in a shop that
writes in both languages, the LLM's questions in the other language about entries that
have no twin (crossing_probes()). Each probe is retrieved
once per centring; every candidate keeps its components (its Matches, BM25, named), so
each weighting on the grid re-ranks the same candidates in numpy with retrieval's own
formula (hybrid.fuse). The weighting with the most probes ranked first, each by its worth
(then the best mean reciprocal rank), among those that beat the current weights by more
than chance (KEEP_Z x the square root of the swapped probes' squared worths) is kept;
else the current weights stay.

Fitted: the BM25 weight, the name weight, the sentence weight (how far an answer's match
moves up to its best sentence's), one mean or a mean per language. Not the answer
weight: questions the LLM writes from an FAQ entry keep its question's details (the same
restaurant, city, hour), so they favour the question over the answer, which customers'
questions do not (clinc150: probes ranked first 0.630 of the time at answer weight 0 and
0.574 at 1; its real questions 0.590 and 0.707).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from tqdm import tqdm

from kefu.agent.factory import RETRIEVAL_TUNABLE as FITTED
from kefu.calibration.rewordings import per_entry_for, rewordings, spread
from kefu.config import RetrievalSettings
from kefu.errors import KefuError
from kefu.knowledge_base.store import KnowledgeBase
from kefu.knowledge_base.twins import bilingual, covered_pairs, other_language, translatable
from kefu.retrieval.hybrid import Retriever, fuse
from kefu.types import ChatModel, Entry, Hit

PROBES = "tune.retrieval_probes"  # knowledge base setting: the LLM's cached questions
CROSSING = "tune.crossing_probes"  # ... and its questions in the other language (cached)
PROMPTS = ("customer_questions", "passage_facts")  # for FAQ entries, document chunks
BM25_GRID = (0.0, 0.02, 0.05, 0.08, 0.12, 0.2, 0.3, 0.5, 0.75, 1.0)
NAME_GRID = (0.0, 0.1, 0.2, 0.4)
SENTENCE_GRID = (0.0, 0.33, 0.67, 1.0)
CHUNKS = 120  # document chunks sampled for probes (a collection has thousands); with 60,
# whether BM25's lead on cmrc2018 showed depended on the LLM's draw (docs/retrieval.md)
PER_CHUNK = 2  # questions the LLM writes per sampled chunk
CROSSED = 40  # entries without a twin the LLM asks about in the other language (a shop
PER_CROSSED = 2  # that writes in both), and its questions per entry
KEEP_Z = 2.0  # the best of a few hundred weightings beats the current one by chance often:
# two standard deviations of a gain that is only chance (each differently ranked probe a coin)
GROUPS = ("faq", "document", "other language")


@dataclass(frozen=True)
class Weights:
    answer_weight: float
    bm25_weight: float
    name_weight: float
    center_languages: bool
    sentence_weight: float

    @classmethod
    def of(cls, cfg: RetrievalSettings) -> Weights:
        return cls(cfg.answer_weight, cfg.bm25_weight, cfg.name_weight, cfg.center_languages,
                   cfg.sentence_weight)

    def applied(self, cfg: RetrievalSettings) -> RetrievalSettings:
        return cfg.model_copy(update={k: getattr(self, k) for k in FITTED})


@dataclass(frozen=True)
class RetrievalProbe:
    text: str
    gold: str  # the origin id of the entry it was written from
    group: str  # one of GROUPS
    hide: str = ""  # an entry left out of its candidates (the twin it was taken from)


@dataclass(frozen=True, eq=False)  # (an array field: compared by identity)
class Score:
    """One weighting on the probes: how many ranked first, per group and overall, and
    what they are worth (an "other language" probe counts for less where twins exist:
    probe_worth())."""

    weights: Weights
    first: dict[str, int]  # group -> probes whose entry ranked first
    reciprocal_rank: float  # mean over all probes, each by its worth
    firsts: np.ndarray  # per probe: ranked first (bool), for comparing two weightings
    worth: np.ndarray  # per probe: what it counts for

    @property
    def hits(self) -> int:
        return sum(self.first.values())

    @property
    def value(self) -> float:
        """The probes ranked first, each by its worth: what the fit maximises."""
        return float(self.worth @ self.firsts)


@dataclass(frozen=True)
class RetrievalFit:
    chosen: Score  # the current score again when no weighting is surely better
    current: Score
    probes: dict[str, int]  # group -> probes

    @property
    def changed(self) -> bool:
        return self.chosen.weights != self.current.weights

    def hit_rate(self, score: Score, group: str) -> float:
        return score.first[group] / max(self.probes[group], 1)

    def to_setting(self) -> dict[str, object]:
        weights = self.chosen.weights
        return {k: getattr(weights, k) for k in FITTED} | {
            "probes": self.probes, "hit1": round(self.chosen.hits / max(
                sum(self.probes.values()), 1), 4)}


@dataclass(frozen=True)
class _Candidates:
    """One probe's candidates under one centring, sorted by origin."""

    question: np.ndarray
    whole: np.ndarray
    sentence: np.ndarray
    document: np.ndarray
    bm25: np.ndarray
    named: np.ndarray
    starts: np.ndarray  # where each origin's candidates start
    gold: int  # the gold origin's position among the origins; -1: not a candidate

    @classmethod
    def of(cls, hits: Sequence[Hit], gold: str, covered: dict[str, str]) -> _Candidates:
        """covered: the shop's entries it wrote in both languages (twins.covered_pairs),
        one entry as an entry and its twin are (retrieval answers in the customer's)."""
        def one(origin: str) -> str:
            return min(origin, covered.get(origin, origin))

        hits = sorted(hits, key=lambda h: one(h.entry.origin))
        origins = [one(h.entry.origin) for h in hits]
        gold = one(gold)
        starts = [i for i, o in enumerate(origins) if i == 0 or o != origins[i - 1]]
        unique = [origins[i] for i in starts]
        matches = [h.matches for h in hits]
        return cls(np.array([m.question for m in matches]), np.array([m.whole for m in matches]),
                   np.array([m.sentence for m in matches]),
                   np.array([m.document for m in matches]),
                   np.array([h.bm25 for h in hits]), np.array([float(h.named) for h in hits]),
                   np.array(starts, dtype=int), unique.index(gold) if gold in unique else -1)

    def ranks(self, grid: dict[str, np.ndarray]) -> np.ndarray:
        """The gold origin's rank under each weighting of grid (weight name -> one value
        per weighting; inf when it is not a candidate)."""
        if self.gold < 0:
            return np.full(len(grid["bm25_weight"]), np.inf)
        *_, score = fuse(self.question[None], self.whole[None], self.sentence[None],
                         self.document[None], self.bm25[None], self.named[None],
                         **{k: v[:, None] for k, v in grid.items()})
        best = np.maximum.reduceat(score, self.starts, axis=1)  # an entry and its twin: one
        gold = best[:, self.gold]
        return 1.0 + (best > gold[:, None] + 1e-12).sum(axis=1)


def probes_for(retriever: Retriever, model: ChatModel, model_id: str,
               limit: int | None = None, progress: bool = True) -> list[RetrievalProbe]:
    """The LLM's questions for a spread of the FAQ entries the shop wrote (limit: at most
    that many) and of CHUNKS document chunks, cached; every twin's question; and, in a
    shop that writes in both languages, the LLM's questions in the other language about a
    spread of CROSSED entries that have no twin (crossing_probes())."""
    kb = retriever.kb
    entries = list(kb.entries().values())
    written = [e for e in entries if not e.translated_from]
    faqs = spread([e for e in written if e.kind == "faq"], limit)
    chunks = spread([e for e in written if e.kind != "faq"], CHUNKS)
    texts: dict[str, list[str]] = {}
    for sample, n in ((faqs, per_entry_for(len(faqs))), (chunks, PER_CHUNK)):
        if sample:
            texts |= rewordings(sample, kb.setting, kb.set_setting, model, model_id, n,
                                progress, PROMPTS, PROBES)
    probes = [RetrievalProbe(t, e.id, "faq" if e.kind == "faq" else "document")
              for e in (*faqs, *chunks) for t in texts.get(e.id, ())]
    probes += [RetrievalProbe(e.question, e.origin, "other language", hide=e.id)
               for e in entries if e.translated_from]
    return probes + crossing_probes(kb, model, model_id, progress)


def crossing_probes(kb: KnowledgeBase, model: ChatModel, model_id: str,
                    progress: bool = True) -> list[RetrievalProbe]:
    """Questions in the other language about entries without a twin (PER_CROSSED for each
    of a spread of CROSSED), written by the LLM from the entry as the probes are, in a shop
    that writes in both languages; none in a one-language shop, where one mean is every
    language's. Without them a shop whose twins are not made yet has no probe that crosses
    languages, and the fit cannot see what a mean per language is for: on xsid mixed
    without twins it kept one mean, other-language questions 0.618 where a mean per
    language finds 0.809 (docs/retrieval.md)."""
    written = [e for e in kb.entries().values() if not e.translated_from]
    if not bilingual(written):
        return []
    crossed = spread(twinless(kb)[0], CROSSED)
    asked = [replace(e, lang=other_language(e.lang)) for e in crossed]
    texts = rewordings(asked, kb.setting, kb.set_setting, model, model_id, PER_CROSSED,
                       progress, PROMPTS, CROSSING, "asking about entries in the other language")
    return [RetrievalProbe(t, e.id, "other language") for e in crossed
            for t in texts.get(e.id, ())]


def twinless(kb: KnowledgeBase) -> tuple[list[Entry], int]:
    """(the entries the shop wrote that twins are made for and that have none, neither a
    twin nor an entry the shop wrote in the other language too; how many twins are made
    for)."""
    entries = kb.entries()
    eligible = translatable([e for e in entries.values() if not e.translated_from])
    twinned = {e.translated_from for e in entries.values() if e.translated_from}
    covered = covered_pairs(kb)
    return [e for e in eligible if e.id not in twinned and e.id not in covered], len(eligible)


def probe_worth(kb: KnowledgeBase, probes: Sequence[RetrievalProbe]) -> np.ndarray:
    """What each probe counts for: 1, but an "other language" probe (a twin's question
    asked as if the twin were missing, or the LLM's question in the other language than
    its entry's) the share of the entries twins are made for that have none (twinless()).
    A customer asking in the other language than an entry's finds its twin where there is
    one, a match in their own language; only for the entries without one is the question's
    match across languages what counts. Counted whole, those probes chose a mean per
    language for shops whose twins were all there, which lost their real questions
    (docs/retrieval.md)."""
    missing, eligible = twinless(kb)
    share = len(missing) / max(eligible, 1)
    return np.array([share if p.group == "other language" else 1.0 for p in probes])


def _weights_grid(answer_weight: float, center_languages: bool) -> list[Weights]:
    return [Weights(answer_weight, b, n, center_languages, s)
            for b, n, s in itertools.product(BM25_GRID, NAME_GRID, SENTENCE_GRID)]


def score_grid(retriever: Retriever, probes: Sequence[RetrievalProbe],
               extra: Sequence[Weights] = (), progress: bool = True) -> list[Score]:
    """Every weighting on the grid (and extra ones, e.g. the current) on every probe."""
    scores = []
    covered = covered_pairs(retriever.kb)
    worth = probe_worth(retriever.kb, probes)
    for center_languages in (False, True):
        cfg = retriever.cfg.model_copy(update={  # any sentence weight: their matches are read
            "center_languages": center_languages, "sentence_weight": max(SENTENCE_GRID)})
        centred = Retriever(retriever.kb, cfg)
        grid = list(dict.fromkeys(
            _weights_grid(retriever.cfg.answer_weight, center_languages)
            + [w for w in extra if w.center_languages == center_languages]))
        columns = {k: np.array([getattr(w, k) for w in grid]) for k in (
            "answer_weight", "bm25_weight", "name_weight", "sentence_weight")}
        ranks = np.empty((len(probes), len(grid)))
        for i, probe in enumerate(tqdm(probes, desc="re-ranking the probes", unit="q",
                                       disable=not progress)):
            hits = [h for h in centred.scored(probe.text) if h.entry.id != probe.hide]
            ranks[i] = _Candidates.of(hits, probe.gold, covered).ranks(columns)
        groups = np.array([p.group for p in probes])
        for j, weights in enumerate(grid):
            first = ranks[:, j] == 1
            scores.append(Score(weights, {g: int(first[groups == g].sum()) for g in GROUPS},
                                float(worth @ (1 / ranks[:, j]) / max(worth.sum(), 1e-9)),
                                first, worth))
    return scores


def choose(scores: Sequence[Score], current: Score) -> Score:
    """The weighting that ranks the most probes first (then the best reciprocal rank, then
    the nearest to the current) among those that beat the current one by more than chance;
    the current one when none does."""
    def surely_better(score: Score) -> bool:
        swapped = score.firsts != current.firsts
        chance = math.sqrt(float((score.worth[swapped] ** 2).sum()))  # each swap a coin
        return score.value - current.value > KEEP_Z * chance

    def nearness(score: Score) -> float:
        a, b = score.weights, current.weights
        return abs(a.bm25_weight - b.bm25_weight) + abs(a.name_weight - b.name_weight) \
            + abs(a.sentence_weight - b.sentence_weight) \
            + (a.center_languages != b.center_languages)

    better = [s for s in scores if surely_better(s)]
    return min(better, key=lambda s: (-round(s.value, 6), -round(s.reciprocal_rank, 6),
                                      nearness(s)), default=current)


def fit(retriever: Retriever, model: ChatModel | None, model_id: str,
        limit: int | None = None, progress: bool = True,
        probes: Sequence[RetrievalProbe] | None = None) -> RetrievalFit:
    """The fusion weights for retriever's knowledge base (see the module's docstring);
    probes: given, or written by model."""
    if probes is None:
        if model is None:
            raise KefuError("kefu tune needs the LLM to write questions about the knowledge "
                            "base; set llm.backend (or use --llm small)")
        probes = probes_for(retriever, model, model_id, limit, progress)
    if not probes:
        raise KefuError("the LLM wrote no usable questions about the knowledge base; try "
                        "another --llm")
    now = Weights.of(retriever.cfg)
    scores = score_grid(retriever, probes, [now], progress)
    current = next(s for s in scores if s.weights == now)
    counts = {g: sum(p.group == g for p in probes) for g in GROUPS}
    return RetrievalFit(choose(scores, current), current, counts)


def describe(fit_: RetrievalFit, line: Callable[[str], None] = print) -> None:
    """The fit as a few lines: the probes, then hit@1 per group now and fitted."""
    line(f"{'':>6} {'bm25 w.':>8} {'name w.':>8} {'sentence w.':>11} {'per-lang':>8} "
         + " ".join(f"{g + ' hit@1':>20}" for g in GROUPS if fit_.probes[g]))
    for name, score in (("now", fit_.current), ("fitted", fit_.chosen)):
        w = score.weights
        line(f"{name:>6} {w.bm25_weight:8g} {w.name_weight:8g} {w.sentence_weight:11g} "
             f"{'yes' if w.center_languages else 'no':>8} "
             + " ".join(f"{fit_.hit_rate(score, g):20.3f}" for g in GROUPS if fit_.probes[g]))
    other = fit_.current.worth[fit_.current.worth < 1]  # "other language" probes, by worth
    counted = (f", each counting for {other[0]:.2g}: the share of entries without a twin"
               if len(other) else "")
    line("probes: " + ", ".join(f"{n} {g}" for g, n in fit_.probes.items() if n)
         + " (the LLM's questions about sampled entries; other language: each twin's "
         "question, asked as if the twin were missing, and the LLM's questions in the other "
         f"language about entries without a twin{counted})")
