"""`kefu tune`'s last step: how sure the LLM's choice must be before its entry answers
(ladder.choose_threshold), fitted per knowledge base from the LLM's own choices.

Past a curated match the LLM chooses among the retrieved entries, and the lead of its
choice over its strongest rival (Agent.choice) decides: at or above choose_threshold the
entry answers; below it kefu offers "did you mean" or declines. How far ahead a right
choice is depends on the model and on how alike the shop's entries are, so one constant
fits no shop.

Probes: the questions the LLM wrote for `kefu tune`'s first step (calibration/fit_retrieval.py:
what other customers would ask of a spread of the FAQ entries, and facts asked of document
chunks; each labelled by its entry), each asked twice as the ladder would ask the LLM: once
as it is (right: its entry answers) and once with its entry and the entry's twin left out
of the candidates (right: nothing answers; the near out-of-scope case, a question in the
shop's own words that no entry answers). Not the second step's rewordings: they keep the
FAQ question's words, so the LLM chooses their entry with more assurance than customers'
questions earn (on the Pinecone shop they chose 0.90 where the first step's questions
chose 0.80, and its real questions did best at 0.70-0.75). A probe that retrieval answers
with a sure curated match or declines before the LLM is left out, as it would never reach
the choice. The LLM chooses once per probe; every threshold on CHOOSE_GRID is scored on the
same choices. A threshold replaces the current one only when it is surely better: it
answers more probes rightly minus WRONG_COST per wrong answer, by more than KEEP_Z x
sqrt(probes whose outcome changes). `kefu tune` shows the result and writes it only with
--choice: with one probe left without its entry for every probe with it, near out-of-scope
questions are as common at the choice as answerable ones, far more than among a shop's
real questions (docs/evaluation.md), so the fitted threshold comes out too strict.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tqdm import tqdm

from kefu.agent.ladder import Agent
from kefu.calibration.fit_retrieval import RetrievalProbe
from kefu.calibration.rewordings import spread
from kefu.calibration.tune import Probe
from kefu.knowledge_base.text import detect_lang

CHOOSE_GRID = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))  # 0.50 .. 0.95
WRONG_COST = 3.0  # a wrong answer costs a customer more than an honest "I don't know"
KEEP_Z = 2.0
MAX_PROBES = 120  # questions (an even spread) asked as they are and with the entry left out


@dataclass(frozen=True)
class Chosen:
    """One probe through the choice: the origin the LLM chose, how far it led, and the
    entry that answers ("" when the probe's entry was left out: none does)."""

    chosen: str
    lead: float
    gold: str

    def outcome(self, threshold: float) -> str:
        """right / wrong / declined at this threshold."""
        if self.lead < threshold:
            return "declined"
        return "right" if self.chosen == self.gold else "wrong"


@dataclass(frozen=True)
class ThresholdScore:
    threshold: float
    right: int
    wrong: int
    declined: int

    @property
    def utility(self) -> float:
        return self.right - WRONG_COST * self.wrong


@dataclass(frozen=True)
class ChoiceFit:
    chosen: ThresholdScore  # the current one again when none is surely better
    current: ThresholdScore
    scores: list[ThresholdScore]
    asked: int  # probes with their entry among the candidates
    hidden: int  # probes with it left out

    @property
    def changed(self) -> bool:
        return self.chosen.threshold != self.current.threshold


def choices(agent: Agent, probes: Sequence[Probe], progress: bool = True) -> list[Chosen]:
    """Each probe that reaches the LLM, as it is and with its entry left out (a probe with
    no entry: as it is): the LLM's choice among the first ladder.choose_among candidates,
    one turn of the LLM each."""
    out = []
    for probe in tqdm(probes, desc="the LLM choosing for the probes", unit="q",
                      disable=not progress):
        hits = agent.retriever.search(probe.text)
        without = [h for h in hits if h.entry.origin not in probe.gold]
        asked = ((hits, probe.gold[0]), (without, "")) if probe.gold else ((hits, ""),)
        for candidates, gold in asked:
            if agent.decide(probe.lang, candidates).route != "rag":
                continue  # answered from a curated match, or declined, before the LLM
            shown = candidates[: agent.cfg.choose_among]
            with agent.queue.holding():
                picked = agent.choice(probe.text, [h.entry for h in shown])
            out.append(Chosen(shown[picked.best].entry.origin, picked.lead, gold))
    return out


def score(chosen: Sequence[Chosen], threshold: float) -> ThresholdScore:
    outcomes = [c.outcome(threshold) for c in chosen]
    return ThresholdScore(threshold, outcomes.count("right"), outcomes.count("wrong"),
                          outcomes.count("declined"))


def choose(chosen: Sequence[Chosen], current: float) -> tuple[ThresholdScore, ThresholdScore,
                                                              list[ThresholdScore]]:
    """(the threshold to use, the current one's score, every grid threshold's score)."""
    now = score(chosen, current)
    scores = [score(chosen, t) for t in CHOOSE_GRID]

    def surely_better(s: ThresholdScore) -> bool:
        swaps = sum(c.outcome(s.threshold) != c.outcome(current) for c in chosen)
        return s.utility - now.utility > KEEP_Z * math.sqrt(swaps)

    better = [s for s in scores if surely_better(s)]
    best = max(better, key=lambda s: (s.utility, -abs(s.threshold - current)), default=now)
    return best, now, scores


def fit(agent: Agent, probes: Sequence[RetrievalProbe], progress: bool = True) -> ChoiceFit:
    """probes: the first step's (each twin's own question aside), of which an even spread
    of MAX_PROBES are asked."""
    asked = [Probe(p.text, detect_lang(p.text), (p.gold,)) for p in probes
             if p.group != "other language"]
    chosen = choices(agent, spread(asked, MAX_PROBES), progress)
    best, now, scores = choose(chosen, agent.cfg.choose_threshold)
    return ChoiceFit(best, now, scores, sum(bool(c.gold) for c in chosen),
                     sum(not c.gold for c in chosen))


def describe(result: ChoiceFit, line: Callable[[str], None] = print) -> None:
    line(f"{'choose thr.':>11} {'right':>6} {'wrong':>6} {'declined':>8}")
    for s in result.scores:
        mark = "  <- chosen" if s == result.chosen else (
            "  (now)" if s.threshold == result.current.threshold else "")
        line(f"{s.threshold:11.2f} {s.right:6d} {s.wrong:6d} {s.declined:8d}{mark}")
    line(f"probes through the LLM's choice: {result.asked} with their entry among the "
         f"candidates, {result.hidden} with it left out (right: none answers)")
