"""`kefu tune`: the ladder's two thresholds and margin weight chosen for a knowledge base.

Probes: for every FAQ entry (or document chunk) the LLM writes a few customer-style
rewordings (cached with the knowledge base, so a second run is instant), which should get
that entry; a bundled bilingual set of generic questions (calibration/data) should be declined.
Customers' own questions (the conversation log, or a file), when there are some, need no
answers: they tell how many real questions a setting answers, which the rewordings (closer
to the FAQ's words than customers are) overstate, and which of them are likely answered
wrongly: *contested* ones, where the signals disagree on what was asked (see contested();
on the datasets such answers are wrong 3-5 times as often). Everything is retrieved once;
then every setting on a grid is scored in retrieval-only terms (a curated answer is right
when its entry is the probe's; an LLM-band answer when the best hit is). Among the settings
that answer more of the customers' questions than the current one (else as many
rewordings), the least likely wrong is kept; the target says whether that is good enough
to go live.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from tqdm import tqdm

from kefu.agent.decision import Decision, decide
from kefu.agent.ladder import Agent
from kefu.calibration.rewordings import rewordings, spread
from kefu.config import LadderSettings
from kefu.errors import KefuError
from kefu.knowledge_base.text import detect_lang
from kefu.types import ANSWERED_ROUTES, ChatModel, Hit, Lang, Message

FAQ_GRID = tuple(round(0.50 + 0.025 * i, 3) for i in range(13))  # 0.50 .. 0.80
RAG_GRID = tuple(round(0.20 + 0.02 * i, 3) for i in range(31))  # 0.20 .. 0.80
MARGIN_GRID = (0.0, 0.5, 1.0, 2.0, 4.0)
MAX_ASKED = 1000  # customer questions used: the most recent
ANSWERS_IT = 0.8  # a generic question matching an FAQ question this closely is answerable
KEEP_Z = 1.0  # a change must answer z x sqrt(questions it swaps) more customer questions:
# one standard deviation of a gain that is only chance (each swap a coin toss)


@dataclass(frozen=True)
class Probe:
    text: str
    lang: Lang
    gold: tuple[str, ...] = ()  # empty: a question to decline


@dataclass(frozen=True)
class Asked:
    """A customer's question, answer unknown; history: the turns before it."""

    text: str
    lang: Lang
    history: tuple[Message, ...] = ()


@dataclass(frozen=True)
class Point:
    """The outcome of all probes under one setting."""

    faq_threshold: float
    rag_threshold: float
    margin_weight: float
    coverage: float  # answered share of the rewordings
    accuracy: float  # correctly answered share of the rewordings
    confidently_wrong: float  # wrong answers / all probes
    declined_generic: float  # share of the generic questions declined
    asked_answered: float = -1.0  # answered share of the customers' questions; -1: none
    asked_contested: float = 0.0  # share of the customers' questions answered, contested
    asked_gain: int = 0  # customers' questions answered, minus those the current setting does
    asked_swaps: int = 0  # customers' questions one of this and the current setting answers

    @property
    def reach(self) -> float:
        """How much kefu answers: customers' questions, else the rewordings."""
        return self.asked_answered if self.asked_answered >= 0 else self.coverage

    @property
    def likely_wrong(self) -> float:
        """The estimate the choice minimises: wrong probes plus contested answers."""
        return self.confidently_wrong + self.asked_contested


def read_questions(path: Path) -> tuple[list[Asked], list[str]]:
    """Customers' questions from a file: one per line, or JSONL rows with "query"; the
    problems (file:line and why) of the lines that are neither."""
    if not path.is_file():
        raise KefuError(f"{path}: no such file; --questions takes a text file with one "
                        "customer question per line, or JSONL with a \"query\" field")
    asked, problems = [], []
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    for line_no, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if line.startswith("{"):
            try:
                line = json.loads(line)["query"]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                problems.append(f"{path}:{line_no}: not a JSON row with \"query\" ({exc!r}); "
                                "skipped")
                continue
            if not isinstance(line, str):
                problems.append(f"{path}:{line_no}: \"query\" is not text; skipped")
                continue
        if line.strip():
            asked.append(Asked(line.strip(), detect_lang(line)))
    return asked, problems


def generic_questions(langs: set[str]) -> list[Probe]:
    """The bundled questions no shop should answer, in the knowledge base's languages."""
    text = resources.files("kefu.calibration").joinpath("data/oos_generic.jsonl").read_text("utf-8")
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [Probe(r["query"], r["lang"]) for r in rows if r["lang"] in langs]


def outcome(cfg: LadderSettings, probe: Probe, hits: Sequence[Hit]) -> str:
    """correct / wrong / declined / suggested under cfg, in retrieval-only terms."""
    return outcome_of(decide(cfg, probe.lang, hits), probe)


def outcome_of(decision: Decision, probe: Probe) -> str:
    if decision.route == "abstain":
        return "declined"
    if decision.route == "suggest":
        return "suggested"
    if not probe.gold:
        return "wrong"
    return "correct" if decision.hits[0].entry.origin in probe.gold else "wrong"


def contested(hits: Sequence[Hit]) -> bool:
    """The signals disagree on what was asked and no name settles it: the entry most like
    the question by its question and the one most like it by its answer differ, or the
    embedding's first entry is not retrieval's first and the question does not name that
    one (a document chunk has one vector, so only the second can happen there). Only entries
    of the first one's language and kind take part: a bilingual shop's twin entry, or a
    policy chunk that says what an FAQ answer says, is no disagreement."""
    if not hits:
        return False
    first = hits[0].entry
    hits = [h for h in hits if (h.entry.lang, h.entry.kind) == (first.lang, first.kind)]
    by_question = max(hits, key=lambda h: h.question)
    by_answer = max(hits, key=lambda h: h.answer)
    by_embedding = max(hits, key=lambda h: h.dense)
    return by_question is not by_answer or (by_embedding is not hits[0]
                                            and not hits[0].named)


def score(cfg: LadderSettings, searched: Sequence[tuple[Probe, Sequence[Hit]]],
          asked: Sequence[tuple[Asked, Sequence[Hit]]] = (),
          now: Sequence[bool] = (), disputed: Sequence[bool] = ()) -> Point:
    """One setting on all probes and customers' questions; now: which of the latter the
    current setting answers; disputed: which are contested (both computed when not given,
    once per sweep rather than once per setting)."""
    outcomes = [(p, outcome(cfg, p, hits)) for p, hits in searched]
    inside = [o for p, o in outcomes if p.gold]
    generic = [o for p, o in outcomes if not p.gold]
    answered = [decide(cfg, q.lang, hits).route in ANSWERED_ROUTES for q, hits in asked]
    now = now or answered
    disputed = disputed or [contested(hits) for _, hits in asked]
    return Point(cfg.faq_threshold, cfg.rag_threshold, cfg.margin_weight,
                 coverage=sum(o in ("correct", "wrong") for o in inside) / max(len(inside), 1),
                 accuracy=inside.count("correct") / max(len(inside), 1),
                 confidently_wrong=sum(o == "wrong" for _, o in outcomes)
                 / max(len(outcomes), 1),
                 declined_generic=sum(o != "wrong" for o in generic) / max(len(generic), 1),
                 asked_answered=sum(answered) / len(asked) if asked else -1.0,
                 asked_contested=sum(a and d for a, d in zip(answered, disputed, strict=True))
                 / max(len(asked), 1),
                 asked_gain=sum(answered) - sum(now),
                 asked_swaps=sum(a != b for a, b in zip(answered, now, strict=True)))


def search_probes(agent: Agent, probes: Sequence[Probe],
                  progress: bool = True) -> list[tuple[Probe, list[Hit]]]:
    """Each probe retrieved once. A generic question is left out when the knowledge base
    itself seems to answer it: its best FAQ question matches it as closely as the median
    rewording matches its own entry (or 0.8). A shop's FAQ does not match "what's the
    weather tomorrow" that closely; an assistant whose FAQ has a weather entry does."""
    searched = [(probe, agent.retriever.search(probe.text)) for probe in tqdm(
        probes, desc="searching the probes", unit="q", disable=not progress)]
    own = sorted(hits[0].question for probe, hits in searched
                 if probe.gold and hits and hits[0].entry.origin in probe.gold)
    answered = min(own[len(own) // 2], ANSWERS_IT) if own else ANSWERS_IT
    return [(probe, hits) for probe, hits in searched
            if probe.gold or not (hits and hits[0].entry.kind == "faq"
                                  and hits[0].question >= answered)]


def search_asked(agent: Agent, asked: Sequence[Asked],
                 progress: bool = True) -> list[tuple[Asked, list[Hit]]]:
    """Each customer question retrieved as the agent would: a follow-up with its context."""
    return [(q, agent.search(q.text, q.lang, q.history)[1]) for q in tqdm(
        asked, desc="searching customers' questions", unit="q", disable=not progress)]


def sweep(base: LadderSettings, searched: Sequence[tuple[Probe, Sequence[Hit]]],
          asked: Sequence[tuple[Asked, Sequence[Hit]]] = ()) -> list[Point]:
    now = [decide(base, q.lang, hits).route in ANSWERED_ROUTES for q, hits in asked]
    disputed = [contested(hits) for _, hits in asked]
    return [score(base.model_copy(update={"faq_threshold": f, "rag_threshold": r,
                                          "margin_weight": m}), searched, asked, now, disputed)
            for m in MARGIN_GRID for f in FAQ_GRID for r in RAG_GRID]


def keeps_reach(point: Point, current: Point) -> bool:
    """Answers at least as much as the current setting. With customers' questions: more of
    them by KEEP_Z x sqrt(the questions the two settings answer differently), so that the
    gain outlasts the chance in which questions come next; else as many rewordings."""
    if current.asked_answered >= 0:
        return point.asked_gain >= KEEP_Z * math.sqrt(point.asked_swaps) - 1e-12
    return point.coverage >= current.coverage - 1e-12


def choose(points: Sequence[Point], target: float, current: Point) -> tuple[Point | None, bool]:
    """(the setting to use, whether it is under the target). Only settings that answer at
    least as much as the current one (keeps_reach) are candidates: tuning makes kefu less
    often wrong, not quieter. Of those, the least likely wrong (Point.likely_wrong); among
    equals the one answering the fewest more (the rewordings are easier than customers'
    questions, so answering more of them than needed costs wrong answers later), then the
    nearest to the current. None when no candidate is less likely wrong than the current
    one."""
    def nearness(p: Point) -> float:
        return abs(p.faq_threshold - current.faq_threshold) + \
            abs(p.rag_threshold - current.rag_threshold) + \
            abs(p.margin_weight - current.margin_weight) / 10

    floor = [p for p in points if keeps_reach(p, current)]
    best = min(floor, key=lambda p: (round(p.likely_wrong, 6), p.asked_gain,
                                     round(p.coverage, 6), nearness(p)), default=None)
    if best is None or best.likely_wrong >= current.likely_wrong - 1e-12:
        best = None
    under = (best or current).confidently_wrong <= target + 1e-12
    return best, under


def curve(points: Sequence[Point], faq_threshold: float, margin_weight: float) -> list[Point]:
    """The trade-off at one faq threshold and margin weight: one point per rag threshold."""
    return [p for p in points
            if p.faq_threshold == faq_threshold and p.margin_weight == margin_weight]


@dataclass(frozen=True)
class Tuning:
    chosen: Point  # the current point again when nothing is better
    current: Point
    points: list[Point]
    probes: int
    generic: int
    asked: int  # customers' questions used
    model: str
    met: bool = True  # the chosen setting keeps confidently wrong answers under the target

    @property
    def changed(self) -> bool:
        return self.chosen != self.current

    def to_setting(self, target: float) -> dict[str, object]:
        return {"faq_threshold": self.chosen.faq_threshold,
                "rag_threshold": self.chosen.rag_threshold,
                "margin_weight": self.chosen.margin_weight, "target": target,
                "coverage": round(self.chosen.coverage, 4),
                "confidently_wrong": round(self.chosen.confidently_wrong, 4),
                "asked_answered": round(self.chosen.asked_answered, 4),
                "probes": self.probes, "generic": self.generic, "asked": self.asked,
                "model": self.model, "at": time.strftime("%Y-%m-%dT%H:%M:%S")}


def tune(agent: Agent, model: ChatModel | None, model_id: str, target: float = 0.02,
         per_entry: int | None = None, limit: int | None = None, progress: bool = True,
         asked: Sequence[Asked] = ()) -> Tuning:
    """Rewordings (cached), generic questions and customers' questions (the most recent
    MAX_ASKED) through retrieval, scored on the grid; see choose()."""
    kb = agent.kb
    entries = list(kb.entries().values())
    entries = spread([e for e in entries if e.kind == "faq" and not e.translated_from]
                     or entries, limit)
    if model is None:
        raise KefuError("kefu tune needs the LLM to reword the knowledge base's questions; "
                        "set llm.backend (or use --llm small)")
    texts = rewordings(entries, kb.setting, kb.set_setting, model, model_id, per_entry,
                       progress)
    probes = [Probe(t, e.lang, (e.id,)) for e in entries for t in texts.get(e.id, ())]
    if not probes:
        raise KefuError("the LLM wrote no usable rewordings; try another --llm")
    probes += generic_questions({e.lang for e in entries})
    searched = search_probes(agent, probes, progress)
    customers = search_asked(agent, list(asked)[:MAX_ASKED], progress)
    points = sweep(agent.cfg, searched, customers)
    current = score(agent.cfg, searched, customers)
    chosen, met = choose(points, target, current)
    return Tuning(chosen or current, current, points, sum(bool(p.gold) for p, _ in searched),
                  sum(not p.gold for p, _ in searched), len(customers), model_id, met=met)


def point_json(point: Point) -> dict[str, float]:
    return {k: round(v, 4) for k, v in asdict(point).items()}
