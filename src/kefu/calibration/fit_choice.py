"""`kefu tune`'s last step: how likely the LLM's choice is right (ladder.certainty_weights),
how likely retrieval's first entry is right on retrieval's word alone
(ladder.retrieval_certainty_weights), and how sure kefu must be before an entry answers
(ladder.choose_certainty), fitted per knowledge base from the LLM's own choices and
retrieval's first entries for the same probes. Retrieval's certainty is asked first: when
it is sure, the first FAQ entry answers and the LLM is not asked (decision.decide).

Past a curated match the LLM chooses among the retrieved entries; certainty() turns
retrieval's confidence and the choice (its lead over the strongest rival, the probability
it gave, whether it is retrieval's first) into the probability that the chosen entry
answers. At or above choose_certainty the entry answers; below it kefu offers "did you
mean" or declines. How these signals relate to being right depends on the model and on how
alike the shop's entries are, so one set of weights fits no shop.

Probes: the questions the LLM wrote for `kefu tune`'s first step (calibration/fit_retrieval.py:
what other customers would ask of a spread of the FAQ entries, and facts asked of document
chunks; each labelled by its entry), each asked twice as the ladder would ask the LLM: once
as it is (right: its entry answers) and once with its entry and the entry's twin left out
of the candidates (right: nothing answers; the near out-of-scope case, a question in the
shop's own words that no entry answers). Not the second step's rewordings: they keep the
FAQ question's words, so the LLM chooses their entry with more assurance than customers'
questions earn. A probe that retrieval answers with a sure curated match or declines
before the LLM is left out, as it would never reach the choice. The LLM chooses once per
probe; a logistic regression (L2-regularised, on standardised features) fits the weights to
whether each choice was right, and every cut-off on CUT_GRID is scored on the same choices.
The fitted certainty replaces the current one only when it is surely better: it answers
more probes rightly minus WRONG_COST per wrong answer, by more than KEEP_Z x sqrt(probes
whose outcome changes). `kefu tune` shows the result and writes it only with --choice: with
one probe left without its entry for every probe with it, near out-of-scope questions are
as common at the choice as answerable ones, far more than among a shop's real questions
(docs/evaluation.md), so the fitted cut-off comes out strict.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from kefu.agent.decision import (
    CERTAINTY_FEATURES,
    NEVER_SURE,
    RETRIEVAL_FEATURES,
    answers_alone,
    certainty,
    choice_features,
    decide,
    retrieval_certainty,
    retrieval_features,
)
from kefu.agent.ladder import Agent
from kefu.calibration.fit_retrieval import RetrievalProbe
from kefu.calibration.rewordings import spread
from kefu.calibration.tune import Probe
from kefu.knowledge_base.text import detect_lang

CUT_GRID = tuple(round(0.2 + 0.05 * i, 2) for i in range(14))  # 0.20 .. 0.85
WRONG_COST = 3.0  # a wrong answer costs a customer more than an honest "I don't know"
KEEP_Z = 2.0
MAX_PROBES = 120  # questions (an even spread) asked as they are and with the entry left out
L2 = 1.0  # the regularisation of the standardised weights: a few probes cannot make them huge
NEWTON_STEPS = 30
MIN_EACH = 5  # right and not-right choices the fit needs; with fewer the weights stay


@dataclass(frozen=True)
class Chosen:
    """One probe through the choice: the origin the LLM chose, what certainty() weighs of
    it (choice_features()), the entry that answers ("" when the probe's entry was left
    out: none does), and retrieval's first candidate (its origin; "" when it may not answer
    without the LLM: decision.answers_alone()) with what retrieval_certainty() weighs."""

    chosen: str
    features: tuple[float, ...]
    gold: str
    first: str = ""
    told: tuple[float, ...] = (0.0, 0.0)

    @property
    def right(self) -> bool:
        return bool(self.gold) and self.chosen == self.gold

    @property
    def first_right(self) -> bool:
        return bool(self.gold) and self.first == self.gold

    def outcome(self, sure: Certainty) -> str:
        """right / wrong / declined under this certainty: retrieval's first entry when
        retrieval alone is sure, else the LLM's choice when it is sure."""
        if self.first and retrieval_certainty(sure.retrieval_weights, self.told) >= sure.cut:
            return "right" if self.first_right else "wrong"
        if certainty(sure.weights, self.features) < sure.cut:
            return "declined"
        return "right" if self.right else "wrong"


@dataclass(frozen=True)
class Certainty:
    """ladder.certainty_weights, ladder.choose_certainty and
    ladder.retrieval_certainty_weights (by default: retrieval is never sure)."""

    weights: tuple[float, ...]
    cut: float
    retrieval_weights: tuple[float, ...] = NEVER_SURE


@dataclass(frozen=True)
class CertaintyScore:
    certainty: Certainty
    right: int
    wrong: int
    declined: int

    @property
    def utility(self) -> float:
        return self.right - WRONG_COST * self.wrong


@dataclass(frozen=True)
class ChoiceFit:
    chosen: CertaintyScore  # the current one again when none is surely better
    current: CertaintyScore
    scores: list[CertaintyScore]  # the fitted weights at each cut-off of CUT_GRID
    asked: int  # probes with their entry among the candidates
    hidden: int  # probes with it left out

    @property
    def changed(self) -> bool:
        return self.chosen.certainty != self.current.certainty

    def to_setting(self) -> dict[str, object]:
        """What `kefu tune --choice` writes into the knowledge base's ladder.tuned."""
        return {"certainty_weights": list(self.chosen.certainty.weights),
                "retrieval_certainty_weights": list(self.chosen.certainty.retrieval_weights),
                "choose_certainty": self.chosen.certainty.cut}


def choices(agent: Agent, probes: Sequence[Probe], progress: bool = True) -> list[Chosen]:
    """Each probe that reaches the LLM (were retrieval never sure on its own), as it is
    and with its entry left out (a probe with no entry: as it is): the LLM's choice among
    the first ladder.choose_among candidates, one turn of the LLM each."""
    probing = agent.cfg.model_copy(update={"retrieval_certainty_weights": NEVER_SURE})
    out = []
    for probe in tqdm(probes, desc="the LLM choosing for the probes", unit="q",
                      disable=not progress):
        hits = agent.retriever.search(probe.text)
        without = [h for h in hits if h.entry.origin not in probe.gold]
        asked = ((hits, probe.gold[0]), (without, "")) if probe.gold else ((hits, ""),)
        for candidates, gold in asked:
            if decide(probing, probe.lang, candidates).route != "rag":
                continue  # answered from a curated match, or declined, before the LLM
            shown = candidates[: agent.cfg.choose_among]
            with agent.queue.holding():
                picked = agent.choice(probe.text, [h.entry for h in shown])
            alone = answers_alone(agent.cfg, probe.lang, shown[0])
            out.append(Chosen(shown[picked.best].entry.origin,
                              choice_features(agent.cfg, shown, picked), gold,
                              shown[0].entry.origin if alone else "",
                              retrieval_features(shown)))
    return out


def _logistic_fit(rows: Sequence[tuple[float, ...]], right: Sequence[bool]) -> tuple[float, ...]:
    """The intercept and weights of the L2-regularised logistic regression of right on the
    standardised rows (Newton's method), expressed on the rows as they are."""
    x = np.array(rows, dtype=float)
    y = np.array(right, dtype=float)
    mean, spread_ = x.mean(axis=0), x.std(axis=0)
    spread_[spread_ < 1e-9] = 1.0  # a feature that does not vary keeps weight 0
    z = np.column_stack([np.ones(len(x)), (x - mean) / spread_])
    penalty = np.diag([0.0] + [L2] * x.shape[1])
    w = np.zeros(z.shape[1])
    for _ in range(NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ w, -60, 60)))
        gradient = z.T @ (p - y) + penalty @ w
        hessian = z.T @ (z * (p * (1 - p))[:, None]) + penalty + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(hessian, gradient)
        w = w - step
        if np.abs(step).max() < 1e-8:
            break
    slopes = w[1:] / spread_
    return (round(float(w[0] - slopes @ mean), 4), *(round(float(v), 4) for v in slopes))


def fit_weights(chosen: Sequence[Chosen]) -> tuple[float, ...]:
    """certainty()'s intercept and weights for these choices (MIN_EACH right and not right
    at least): whether each choice was right, on choice_features()."""
    return _logistic_fit([c.features for c in chosen], [c.right for c in chosen])


def fit_retrieval_weights(chosen: Sequence[Chosen]) -> tuple[float, ...]:
    """retrieval_certainty()'s intercept and weights for these probes (those whose first
    candidate is an FAQ entry; MIN_EACH right and not right at least): whether retrieval's
    first answers, on retrieval_features()."""
    firsts = [c for c in chosen if c.first]
    return _logistic_fit([c.told for c in firsts], [c.first_right for c in firsts])


def fittable(right: Sequence[bool]) -> bool:
    """Enough right and not-right outcomes to fit weights from (MIN_EACH of each)."""
    return min(sum(right), len(right) - sum(right)) >= MIN_EACH


def score(chosen: Sequence[Chosen], sure: Certainty) -> CertaintyScore:
    outcomes = [c.outcome(sure) for c in chosen]
    return CertaintyScore(sure, outcomes.count("right"), outcomes.count("wrong"),
                          outcomes.count("declined"))


def choose(chosen: Sequence[Chosen], current: Certainty) -> tuple[
        CertaintyScore, CertaintyScore, list[CertaintyScore]]:
    """(the certainty to use, the current one's score, the fitted weights' score at every
    cut-off; the current weights' when too few choices to fit from)."""
    now = score(chosen, current)
    weights = fit_weights(chosen) if fittable([c.right for c in chosen]) else current.weights
    told = fit_retrieval_weights(chosen) if fittable([c.first_right for c in chosen
                                                      if c.first]) else current.retrieval_weights
    scores = [score(chosen, Certainty(weights, cut, told)) for cut in CUT_GRID]

    def surely_better(s: CertaintyScore) -> bool:
        swaps = sum(c.outcome(s.certainty) != c.outcome(current) for c in chosen)
        return s.utility - now.utility > KEEP_Z * math.sqrt(swaps)

    better = [s for s in scores if surely_better(s)]
    best = max(better, key=lambda s: (s.utility, s.certainty.cut), default=now)  # ties: strict
    return best, now, scores


def fit(agent: Agent, probes: Sequence[RetrievalProbe], progress: bool = True) -> ChoiceFit:
    """probes: the first step's (each twin's own question aside), of which an even spread
    of MAX_PROBES are asked."""
    asked = [Probe(p.text, detect_lang(p.text), (p.gold,)) for p in probes
             if p.group != "other language"]
    chosen = choices(agent, spread(asked, MAX_PROBES), progress)
    current = Certainty(tuple(agent.cfg.certainty_weights), agent.cfg.choose_certainty,
                        tuple(agent.cfg.retrieval_certainty_weights))
    best, now, scores = choose(chosen, current)
    return ChoiceFit(best, now, scores, sum(bool(c.gold) for c in chosen),
                     sum(not c.gold for c in chosen))


def describe(result: ChoiceFit, line: Callable[[str], None] = print) -> None:
    def named(weights: Sequence[float], features: Sequence[str]) -> str:
        return ", ".join(f"{name} {w:+.2f}" for name, w in zip(
            ("intercept", *features), weights, strict=True))

    fitted = result.scores[0].certainty  # the same weights at every cut-off
    now = result.current.certainty
    for what, features, current, new in (
            ("retrieval certainty weights", RETRIEVAL_FEATURES, now.retrieval_weights,
             fitted.retrieval_weights),
            ("certainty weights", CERTAINTY_FEATURES, now.weights, fitted.weights)):
        line(f"{what} now: {named(current, features)}")
        line(f"fitted {what}: " + (named(new, features) if new != current else
                                   f"none (fewer than {MIN_EACH} right or wrong)"))
    line(f"{'cut-off':>8} {'right':>6} {'wrong':>6} {'declined':>8}")
    rows = [*result.scores, *([] if result.current in result.scores else [result.current])]
    for s in rows:
        marks = [m for m, on in (("now", s == result.current), ("<- chosen", s == result.chosen))
                 if on]
        line(f"{s.certainty.cut:8.2f} {s.right:6d} {s.wrong:6d} {s.declined:8d}"
             + (f"  ({', '.join(marks)})" if marks else ""))
    line(f"probes through the LLM's choice: {result.asked} with their entry among the "
         f"candidates, {result.hidden} with it left out (right: none answers); retrieval's "
         f"first answers on its own when its certainty reaches the cut-off")
