"""`kefu check`: before going live, what kefu will answer well, what it will hand off, and
which FAQ entries repeat or contradict each other, in plain words."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from kefu.agent.ladder import Agent
from kefu.agent.prompts import prompts
from kefu.calibration.rewordings import rewordings, spread
from kefu.calibration.tune import Probe, generic_questions, outcome_of, search_probes
from kefu.types import ChatModel, Entry, Lang

# Centred e5 cosine (best over the questions and similar questions of two entries) from
# which two entries may be asked the same way. e5-small separates meaning only so far: on
# the demo, "Can I return an item?" (a similar question of the return policy) and "Can I
# return a sale item?" score 0.85, "How do I create / delete my account?" 0.69; these are
# pairs for the owner to look at, not verdicts.
SAME_QUESTION = 0.8
_FIGURE = re.compile(
    r"(?:US\$|\$|¥)?\s*(\d+(?:[.,]\d+)?(?:\s*[-–~至到]\s*\d+(?:[.,]\d+)?)?)\s*"
    r"(working days|days?|weeks?|months?|years?|hours?|minutes?|%|个工作日|工作日|天|周|个月|月|年|"
    r"小时|分钟|元|美元|dollars?)", re.IGNORECASE)


@dataclass
class CheckReport:
    answered: float = 0.0  # share of rewordings answered correctly
    curated: float = 0.0  # ... of which word for word from the FAQ
    suggested: float = 0.0
    handed_off: float = 0.0
    wrong: float = 0.0  # rewordings answered from another entry
    generic_declined: float = 0.0
    probes: int = 0
    generic: int = 0
    weak: list[dict[str, object]] = field(default_factory=list)  # entries rewordings miss
    duplicates: list[dict[str, object]] = field(default_factory=list)
    contradictions: list[dict[str, object]] = field(default_factory=list)

    def lines(self, lang: Lang = "en") -> list[str]:
        """The report in plain words, for the shop owner, in their language."""
        said = prompts(lang, "kefu.calibration.prompts")["check"]
        if self.probes:
            out = [said["answered"].format(
                       answered=self.answered, probes=self.probes, curated=self.curated,
                       suggested=self.suggested, handed_off=self.handed_off, wrong=self.wrong),
                   said["generic"].format(generic=self.generic,
                                          declined=self.generic_declined)]
        else:
            out = [said["no_llm"]]
        if self.weak:
            out.append(said["weak"].format(n=len(self.weak)))
            out += [said["weak_entry"].format(**w) for w in self.weak[:15]]
        if self.duplicates:
            out.append(said["duplicates"].format(n=len(self.duplicates)))
            out += [said["duplicate"].format(**d) for d in self.duplicates[:15]]
        if self.contradictions:
            out.append(said["contradictions"].format(n=len(self.contradictions)))
            out += [said["contradiction"].format(**c) for c in self.contradictions[:15]]
        if not (self.weak or self.duplicates):
            out.append(said["fine"])
        return out


def near_duplicates(agent: Agent) -> list[tuple[Entry, Entry, float]]:
    """FAQ entries in the same language that may be asked the same way: their questions
    and similar questions at least SAME_QUESTION alike (centred, as retrieval compares)."""
    kb = agent.kb
    faqs = [e for e in kb.entries().values() if e.kind == "faq"]
    vectors = kb.vectors_of([e.id for e in faqs])
    mean = kb.mean_vector()
    by_lang = defaultdict(list)
    for entry in faqs:
        asked = [v - mean for name, v in vectors.get(entry.id, []) if name != "answer"]
        if asked:
            matrix = np.asarray(asked)
            by_lang[entry.lang].append(
                (entry, matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True),
                                            1e-9)))
    pairs = []
    for members in by_lang.values():
        for (a, va), (b, vb) in combinations(members, 2):
            similarity = float((va @ vb.T).max())
            if similarity >= SAME_QUESTION:
                pairs.append((a, b, similarity))
    return sorted(pairs, key=lambda p: -p[2])


def figures(text: str) -> dict[str, set[str]]:
    """The figures an answer states, by unit: {'days': {'30'}, '%': {'10'}}."""
    out: dict[str, set[str]] = defaultdict(set)
    for value, unit in _FIGURE.findall(text):
        unit = unit.lower().rstrip("s") if unit.isascii() else unit
        out[{"working day": "day", "个工作日": "工作日"}.get(unit, unit)].add(
            re.sub(r"\s+", "", value))
    return out


def contradiction(a: Entry, b: Entry) -> str:
    """Where two entries that may be asked the same way state different figures for the
    same unit (30 days against 14 days), or ''."""
    mine, theirs = figures(a.answer), figures(b.answer)
    clashes = [f"{'/'.join(sorted(mine[u]))} vs {'/'.join(sorted(theirs[u]))} {u}"
               for u in sorted(set(mine) & set(theirs)) if not mine[u] & theirs[u]]
    return "; ".join(clashes)


def go_live_check(agent: Agent, model: ChatModel | None, model_id: str,
                  per_entry: int | None = None, limit: int | None = None,
                  progress: bool = True) -> CheckReport:
    kb = agent.kb
    report = CheckReport()
    entries = spread([e for e in kb.entries().values() if e.kind == "faq"], limit)
    if model is not None and entries:
        texts = rewordings(entries, kb.setting, kb.set_setting, model, model_id, per_entry,
                           progress)
        probes = [Probe(t, e.lang, (e.id,)) for e in entries for t in texts.get(e.id, ())]
        probes += generic_questions({e.lang for e in entries})
        searched = search_probes(agent, probes, progress)
        decided = [(p, agent.decide(p.lang, hits)) for p, hits in searched]
        inside = [(p, d, outcome_of(d, p)) for p, d in decided if p.gold]
        generic = [outcome_of(d, p) for p, d in decided if not p.gold]
        n = max(len(inside), 1)
        report.probes, report.generic = len(inside), len(generic)
        report.answered = sum(o == "correct" for _, _, o in inside) / n
        report.curated = sum(o == "correct" and d.route == "faq" and not d.translate
                             for _, d, o in inside) / n
        report.suggested = sum(o == "suggested" for _, _, o in inside) / n
        report.handed_off = sum(o == "declined" for _, _, o in inside) / n
        report.wrong = sum(o == "wrong" for _, _, o in inside) / n
        report.generic_declined = sum(o != "wrong" for o in generic) / max(len(generic), 1)
        asked: dict[str, int] = defaultdict(int)
        missed: dict[str, list[str]] = defaultdict(list)
        for probe, _, result in inside:
            asked[probe.gold[0]] += 1
            if result != "correct":
                missed[probe.gold[0]].append(probe.text)
        by_id = kb.entries()
        report.weak = [{"id": i, "question": by_id[i].question, "missed": texts[0]}
                       for i, texts in missed.items() if len(texts) == asked[i]]
    for a, b, similarity in near_duplicates(agent):
        report.duplicates.append({"a": a.id, "b": b.id, "a_question": a.question,
                                  "b_question": b.question, "similarity": round(similarity, 3)})
        why = contradiction(a, b)
        if why:
            report.contradictions.append({"a": a.id, "b": b.id, "why": why})
    return report
