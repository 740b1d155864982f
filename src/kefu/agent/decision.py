"""How sure kefu is before and after the LLM: the rung a question lands on from retrieval
alone (decide(), under the ladder's thresholds: what `kefu tune` sweeps), the LLM's choice
among the candidates with its lead over the rival, and how likely that choice is right
(certainty(): retrieval's confidence and the choice in one calibrated probability)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from kefu.config import LadderSettings
from kefu.knowledge_base.chunking import reads_as_document
from kefu.types import (
    Hit,
    Lang,
    Route,
)


@dataclass(frozen=True)
class Choice:
    """The LLM's choice among entries: their indices by weighted probability (order[0] is
    the one chosen), how far it leads its strongest rival, the raw probabilities, and a
    line for logs and reasons; beats_none: the choice's weighted probability exceeds that
    of "none of these" (the LLM thinks some entry answers more than that none does)."""

    order: list[int]
    lead: float
    chances: list[float]
    odds: str
    beats_none: bool

    @property
    def best(self) -> int:
        return self.order[0]


@dataclass(frozen=True)
class Decision:
    """The rung a question lands on before any LLM call, the hits it uses, and why."""

    route: Route
    hits: tuple[Hit, ...] = ()
    translate: bool = False  # a curated answer in the other language, to be translated
    reason: str = ""


def decide(cfg: LadderSettings, lang: Lang, hits: Sequence[Hit]) -> Decision:
    """The rung a question lands on before any LLM call, under thresholds cfg. 'rag' means
    "let the LLM choose among these"; without an LLM it declines."""
    faqs = [h for h in hits if not reads_as_document(h.entry)]  # curated answers, given whole
    same = [h for h in faqs if h.entry.lang == lang]
    if same and same[0].question >= cfg.faq_threshold:
        return Decision("faq", (same[0],), reason=f"curated match {same[0].question:.2f} >= "
                        f"faq_threshold {cfg.faq_threshold:.2f}")
    other = next((h for h in faqs if h.entry.lang != lang), None)
    if (cfg.translate and other is not None and other.question >= cfg.faq_threshold
            and not any(h.question >= cfg.suggest_threshold for h in same)):
        return Decision("faq", (other,), translate=True, reason=(
            f"curated match in the other language {other.question:.2f} >= faq_threshold "
            f"{cfg.faq_threshold:.2f}"))
    close = sorted((h for h in same if h.question >= cfg.suggest_threshold),
                   key=lambda h: -h.question)
    close = [h for h in close if h.question >= close[0].question - cfg.suggest_margin] \
        if close else []
    if not hits:
        return Decision("abstain", reason="nothing retrieved")
    sure = confidence(cfg, hits)
    if len(close) >= 2 and hits[0] in close:
        return Decision("suggest", tuple(close[: cfg.max_suggestions]),
                        reason=f"{len(close)} FAQ questions within {cfg.suggest_margin} of "
                        f"each other")
    if sure < cfg.rag_threshold:
        return Decision("abstain", reason=f"confidence {sure:.2f} < rag_threshold "
                        f"{cfg.rag_threshold:.2f}")
    first = hits[0]
    told = retrieval_certainty(cfg.retrieval_certainty_weights, retrieval_features(hits))
    if answers_alone(cfg, lang, first) and told >= cfg.choose_certainty:
        return Decision("faq", (first,), translate=first.entry.lang != lang, reason=(
            f"retrieval is sure of {first.entry.id} (certainty {told:.2f} >= "
            f"choose_certainty {cfg.choose_certainty:.2f})"))
    return Decision("rag", tuple(hits[: cfg.choose_among]),
                    reason=f"confidence {sure:.2f} >= rag_threshold {cfg.rag_threshold:.2f}")


def confidence(cfg: LadderSettings, hits: Sequence[Hit]) -> float:
    """The best fused score plus margin_weight times its lead over the next entry: a clear
    winner is surer than one of several entries that score alike."""
    lead = hits[0].score - hits[1].score if len(hits) > 1 else hits[0].score
    return hits[0].score + cfg.margin_weight * lead


# What retrieval_certainty() weighs, in the order of ladder.retrieval_certainty_weights
# (after the intercept).
RETRIEVAL_FEATURES = ("the first entry's score", "its lead over the second")
NEVER_SURE = (-60.0, 0.0, 0.0)  # retrieval certainty weights under which it is never sure


def answers_alone(cfg: LadderSettings, lang: Lang, hit: Hit) -> bool:
    """Whether retrieval's first hit may answer on retrieval's word alone, when it is sure:
    an FAQ entry (a curated answer to give as written, not one that reads as a document),
    in the customer's language or, with translation on, in the other."""
    return not reads_as_document(hit.entry) and (hit.entry.lang == lang or cfg.translate)


def retrieval_features(hits: Sequence[Hit]) -> tuple[float, float]:
    """What retrieval_certainty() weighs of hits (best first): the first one's fused score
    and how far it leads the second."""
    return hits[0].score, hits[0].score - (hits[1].score if len(hits) > 1 else 0.0)


def retrieval_certainty(weights: Sequence[float], features: Sequence[float]) -> float:
    """The probability that the first of the hits answers, from retrieval alone: a
    logistic function of their retrieval_features(), weights[0] its intercept, fitted per
    knowledge base by `kefu tune` like certainty(). When it reaches choose_certainty, the
    first FAQ entry answers without the LLM's choice: on the Pinecone shop's own questions
    the 1.5B model chose the right entry no more often than retrieval's order did, and
    retrieval's score and lead told right from wrong better than its probabilities
    (docs/evaluation.md)."""
    return _logistic(weights, features)


def _logistic(weights: Sequence[float], features: Sequence[float]) -> float:
    z = weights[0] + sum(w * x for w, x in zip(weights[1:], features, strict=True))
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


def lead_share(best: float, rival: float) -> float:
    """How far the LLM's choice leads its strongest rival (the next entry, or "none"): its
    share of the two probabilities; 0.5 is a tie, 0.6 one and a half times as likely. A
    share, not the probability itself: a small model spreads its mass more thinly in one
    language than in the other, but ranks alike in both."""
    return best / (best + rival) if best + rival > 0 else 0.0


# What certainty() weighs, in the order of ladder.certainty_weights (after the intercept).
CERTAINTY_FEATURES = ("retrieval confidence", "the LLM's lead", "its probability",
                      "retrieval's first")
_LEAD = CERTAINTY_FEATURES.index("the LLM's lead")


def choice_features(cfg: LadderSettings, hits: Sequence[Hit], choice: Choice
                    ) -> tuple[float, ...]:
    """What certainty() weighs of a choice among hits (best retrieved first): retrieval's
    confidence (confidence()), how far the LLM's choice leads its rival, the probability it
    gave it, and 1 when it chose retrieval's first entry (0 otherwise)."""
    return (confidence(cfg, hits), choice.lead, choice.chances[choice.best],
            float(choice.best == 0))


def certainty(weights: Sequence[float], features: Sequence[float]) -> float:
    """The probability that the chosen entry answers the question: a logistic function of
    the features (choice_features()), weights[0] its intercept. `kefu tune` fits the weights
    per knowledge base from the LLM's choices on its probes; retrieval and the LLM each
    miss cases the other catches, so one probability ranks answers better than a cut-off
    on each (on the Pinecone shop's own questions: a fifth fewer wrong answers at about as
    many right ones as the lead alone; docs/evaluation.md). 0 when the LLM itself prefers
    "none of these" or the next entry (a lead of 0.5 or less): retrieval's confidence never
    overrules the LLM's no."""
    if features[_LEAD] <= 0.5:
        return 0.0
    return _logistic(weights, features)
