"""Metrics over per-question records: pure functions, checked by hand in the tests."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from kefu.types import ANSWERED_ROUTES, DECLINED_ROUTES

K_MAX = 10
OUTCOMES = ("correct", "wrong", "declined", "suggested")
AGREES = 0.88  # e5 cosine of an LLM answer and the gold answer at which they say the same


def unstated(facts: Sequence[str], text: str) -> list[str]:
    """The facts text does not contain (case aside): what a reply must state to count as
    stating a question's answer_facts."""
    folded = text.lower()
    return [f for f in facts if f.lower() not in folded]


@dataclass(frozen=True)
class Record:
    """What happened to one question."""

    id: str
    text: str
    lang: str
    kind: str  # in / oos / dialogue
    gold: tuple[str, ...]
    ranked: tuple[tuple[str, float], ...]  # (entry id, fused score), best first
    route: str
    latency_ms: float
    oos_kind: str = ""
    answer: str = ""
    sources: tuple[str, ...] = ()  # the entries the answer rests on (or is offered from)
    rewritten: str = ""  # a follow-up as it was understood
    grounded: float = -1.0  # share of an LLM answer's sentences its sources support; -1: n/a
    agreement: float = -1.0  # how far an LLM answer says what the gold answer says; -1: n/a
    judge: str = ""  # the LLM judge's verdict, when one was asked: correct / wrong
    reason: str = ""  # why the ladder took its route
    facts: tuple[str, ...] = ()  # words or figures a correct answer contains

    def states_facts(self) -> bool:
        """The answer contains every gold fact (case aside)."""
        return not unstated(self.facts, self.answer)

    @property
    def top_score(self) -> float:
        return self.ranked[0][1] if self.ranked else 0.0

    def rank(self) -> int | None:
        """1-based rank of the first gold entry among the retrieved ones, or None."""
        for position, (entry_id, _score) in enumerate(self.ranked, start=1):
            if entry_id in self.gold:
                return position
        return None


def outcome(record: Record) -> str:
    """correct / wrong / declined / suggested: what the customer got.

    wrong ("confidently wrong", the worst outcome for a shop) is an answer to a question
    the knowledge base cannot answer, an answer from an entry that is not a gold one, or an
    LLM answer that its sources do not support, that disagrees with the gold answer, or that
    the judge (when one was asked) calls wrong. A curated FAQ answer is right exactly when
    its entry is a gold one: it is returned word for word.
    """
    if record.route in DECLINED_ROUTES:
        return "declined"
    if record.route == "suggest":
        return "suggested"
    if record.kind == "oos" or not set(record.sources) & set(record.gold):
        return "wrong"
    if record.route == "rag" and record.answer:
        if record.judge:
            return "correct" if record.judge == "correct" else "wrong"
        if 0 <= record.grounded < 1 or 0 <= record.agreement < AGREES:
            return "wrong"
    return "correct"


def answer_metrics(records: Sequence[Record]) -> dict[str, object]:
    """Accuracy over the answerable questions; confidently-wrong, abstention and
    'did you mean' rates over all questions; each route's own counts."""
    answerable = [r for r in records if r.kind != "oos"]
    outcomes = [outcome(r) for r in records]
    n = max(len(records), 1)
    by_route = {}
    for route in (*ANSWERED_ROUTES, "suggest"):
        mine = [o for r, o in zip(records, outcomes, strict=True) if r.route == route]
        by_route[route] = {"n": len(mine), "correct": mine.count("correct"),
                           "wrong": mine.count("wrong")}
    suggested = [r for r in records if r.route == "suggest"]
    with_facts = [r for r in answerable if r.facts and r.answer]
    return {
        "accuracy": sum(outcome(r) == "correct" for r in answerable) / max(len(answerable), 1),
        "confidently_wrong": outcomes.count("wrong") / n,
        "abstained": outcomes.count("declined") / n,
        "suggested": outcomes.count("suggested") / n,
        "coverage": sum(r.route in ANSWERED_ROUTES for r in answerable) / max(len(answerable), 1),
        "suggestion_hit": sum(bool(set(r.sources) & set(r.gold)) for r in suggested)
        / max(len(suggested), 1),
        "by_route": by_route,
        "n": len(records),
    } | ({"gold_facts": sum(r.route in ANSWERED_ROUTES and r.states_facts() for r in with_facts)
          / len(with_facts),
          "answered_without_facts": sum(r.route in ANSWERED_ROUTES and not r.states_facts()
                                        for r in with_facts) / len(with_facts),
          "n_with_facts": len(with_facts)} if with_facts else {})


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 1]); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def retrieval_metrics(records: Sequence[Record]) -> dict[str, float]:
    curve = hit_curve(records, 5)
    n = max(len(records), 1)
    return {
        "hit_at_1": curve[0],
        "hit_at_5": curve[4],
        "mrr": sum(1 / k for k in (r.rank() for r in records) if k is not None) / n,
        "n": len(records),
    }


def hit_curve(records: Sequence[Record], k_max: int = K_MAX) -> list[float]:
    """hit@k for k = 1..k_max."""
    ranks = [r.rank() for r in records]
    n = max(len(records), 1)
    return [sum(1 for r in ranks if r is not None and r <= k) / n for k in range(1, k_max + 1)]


def abstention_metrics(in_scope: Sequence[Record], oos: Sequence[Record]) -> dict[str, float]:
    """Abstaining is the positive class: precision over abstentions, recall over OOS questions."""
    true_pos = sum(r.route in DECLINED_ROUTES for r in oos)
    false_pos = sum(r.route in DECLINED_ROUTES for r in in_scope)
    return {
        "precision": true_pos / (true_pos + false_pos) if true_pos + false_pos else 0.0,
        "recall": true_pos / len(oos) if oos else 0.0,
        "in_scope_abstain_rate": false_pos / len(in_scope) if in_scope else 0.0,
        "n_oos": len(oos),
    }


def route_shares(records: Sequence[Record]) -> dict[str, float]:
    """Share of questions per rung; 'abstain' counts every declining route."""
    n = max(len(records), 1)
    shares = {route: sum(r.route == route for r in records) / n
              for route in ("faq", "suggest", "rag")}
    return shares | {"abstain": sum(r.route in DECLINED_ROUTES for r in records) / n}


def latency_metrics(records: Sequence[Record]) -> dict[str, float]:
    values = [r.latency_ms for r in records]
    return {"p50_ms": percentile(values, 0.5), "p95_ms": percentile(values, 0.95)}


def block(records: Sequence[Record]) -> dict[str, object]:
    """The metrics of one slice of the questions (all, or one language)."""
    in_scope = [r for r in records if r.kind == "in"]
    oos = [r for r in records if r.kind == "oos"]
    out: dict[str, object] = {
        "retrieval": retrieval_metrics(in_scope),
        "answers": answer_metrics(records),
        "abstention": abstention_metrics(in_scope, oos),
        "routes": route_shares(in_scope),
        "routes_oos": route_shares(oos),
        "latency": latency_metrics(records),
    }
    kinds = sorted({r.oos_kind for r in oos if r.oos_kind})
    if kinds:
        out["abstention_by_kind"] = {
            kind: abstention_metrics(in_scope, [r for r in oos if r.oos_kind == kind])
            for kind in kinds}
    dialogues = [r for r in records if r.kind == "dialogue"]
    if dialogues:
        out["dialogues"] = retrieval_metrics(dialogues) | {
            "answers": answer_metrics(dialogues)}
    return out


def summarize(records: Sequence[Record]) -> dict[str, object]:
    """Overall metrics plus the same per language under by_lang."""
    result = block(records)
    result["by_lang"] = {
        lang: block([r for r in records if r.lang == lang])
        for lang in ("zh", "en") if any(r.lang == lang for r in records)}
    return result


def calibrate(records: Sequence[Record], max_in_scope_abstain: float = 0.10,
              fit_share: float = 0.3, seed: int = 20240531) -> dict[str, object] | None:
    """Choose this knowledge base's abstain threshold on a seeded split, report on the rest.

    On the fitting share of the questions, take the highest threshold on the best match score
    that abstains on at most `max_in_scope_abstain` of the answerable questions; then measure
    it on the held-out rest, so the figure is not fitted to the questions it is reported on.
    """
    in_scope = [r for r in records if r.kind == "in"]
    oos = [r for r in records if r.kind == "oos"]
    if not in_scope or not oos:
        return None
    rng = random.Random(seed)
    fit_ids = {r.id for r in rng.sample(list(records), round(fit_share * len(records)))}
    fit_in = sorted(r.top_score for r in in_scope if r.id in fit_ids)
    if not fit_in:
        return None
    threshold = fit_in[math.floor(max_in_scope_abstain * len(fit_in))]
    test_in = [r for r in in_scope if r.id not in fit_ids]
    test_oos = [r for r in oos if r.id not in fit_ids]
    return {
        "rag_threshold": round(threshold, 4),
        "max_in_scope_abstain": max_in_scope_abstain,
        "fit_questions": len(fit_ids),
        "test": {
            "recall": sum(r.top_score < threshold for r in test_oos) / max(len(test_oos), 1),
            "in_scope_abstain_rate": sum(r.top_score < threshold for r in test_in)
            / max(len(test_in), 1),
            "n_in_scope": len(test_in), "n_oos": len(test_oos),
        },
    }
