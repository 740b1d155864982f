"""Machine-translated twins: an FAQ entry the shop wrote in one language only, in the other.

In a shop whose FAQ mixes Chinese-only and English-only entries, a question finds some
entry in its own language before the right one in the other. So every FAQ entry that has
no counterpart in the other language gets a twin there: its question, similar questions
and curated answer translated by the LLM (see agent/translation.py), after the import, in
the background. A twin is an entry like any other (id `<source id>~<lang>`, marked with
translated_from), so a question in either language meets the entry in its own language,
and the customer reads the translated curated answer, marked as such.

A shop that writes in both languages (some entries or documents in each) also gets twins of
its documents' sections, title and text (llm.translate_documents): its customers ask about a
policy in either language, and a question meets a section in its own language far more
often than one in the other. A collection of documents in one language is left as it is.

Where the shop wrote an entry in both languages, no twin is made. Vectors cannot tell a
translation from two entries on one topic that say different things (on the demo shop,
translated pairs score 0.30-0.65; in a shop with no translations, unrelated pairs reach
0.47), and a 1.5B model asked whether two entries in two languages are one picks the
nearest topic with confidence (5 of 13 such pairs in the Pinecone shop). So the question is
translated first and asked as a customer's question would be: when the shop's own entry
closest to the source in that language is a sure curated match for it
(ladder.faq_threshold) and the LLM, choosing among the entries retrieved there, surely
chooses it too, that entry already answers it; the source (and that entry) is "covered"
and nothing more is made. The LLM's choice alone covered 14 of the Pinecone shop's 60
entries, none rightly (their translated questions matched at 0.32-0.54); the demo shop's
true pairs match at 0.35-0.82, so some of them get a twin they do not need.

What a twin was made from (the source's content hash) and its status are stored with the
knowledge base (the twins table), so a twin is made once per version of its source, the
work resumes after a restart, a rejected twin is not made again until its source changes,
and deleting a source deletes its twin (KnowledgeBase.delete). When the checks a
translation must pass change (CHECKS_REVISION), a machine twin is checked again in code
(fill's recheck) and made anew only if it fails them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
from tqdm import tqdm

from kefu.knowledge_base.store import KnowledgeBase, content_hash
from kefu.types import Entry, Lang

# machine: made, not yet read by the owner · checked: the owner kept it (maybe corrected) ·
# rejected: the owner turned it down · failed: the translation did not pass its checks ·
# covered: the shop wrote it in the other language too (covered_by: that entry).
Status = Literal["machine", "checked", "rejected", "failed", "covered"]
# Raised when the checks a translation must pass change (agent/translation.py), or how
# the LLM is asked (5: discounts shown as the share off; 6: a refused part asked again
# sentence by sentence): entries whose translation failed older checks are tried again,
# and twins made under older checks are checked again (fill's recheck) and made anew where
# they fail.
CHECKS_REVISION = 6


@dataclass(frozen=True)
class Translation:
    """An entry in the other language; covered_by: the shop's own entry there that answers
    the translated question (then nothing else is translated)."""

    question: str
    answer: str = ""
    alt_questions: tuple[str, ...] = ()
    covered_by: str = ""


@dataclass(frozen=True)
class Twin:
    """A source entry, its twin (None while missing) and the twin's status."""

    source: Entry
    twin: Entry | None
    status: str


class Linguist(Protocol):
    """The LLM's job here (agent/translation.py): the entry in lang, each text checked, or
    covered by partner (the shop's entry in lang closest to it), or None."""

    def __call__(self, entry: Entry, lang: Lang, partner: Entry | None) -> Translation | None:
        ...


# A twin made under older checks, under today's (code only, no LLM): kept (its figures
# maybe respelled as the source writes them), or None to make it anew.
Recheck = Callable[[Entry, Entry], Translation | None]


def twin_id(source_id: str, lang: Lang) -> str:
    return f"{source_id}~{lang}"


def other_language(lang: Lang) -> Lang:
    return "en" if lang == "zh" else "zh"


def _unit_rows(rows: list[np.ndarray]) -> np.ndarray:
    matrix = np.stack(rows)
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-9)


def partners(kb: KnowledgeBase) -> dict[str, Entry]:
    """For each FAQ entry the shop wrote that has one, the entry in the other language it
    is closest to and that is closest to it (question and answer vectors, each centred on
    its text's language's mean): the only one that may be the same entry."""
    written = [e for e in kb.entries().values() if e.kind == "faq" and not e.translated_from]
    vectors = kb.vectors_of([e.id for e in written])
    sides: dict[str, list[Entry]] = {"zh": [], "en": []}
    rows: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {"zh": ([], []),
                                                                  "en": ([], [])}
    for entry in written:
        fields = dict(vectors.get(entry.id, []))
        if "question" in fields and "answer" in fields:
            sides[entry.lang].append(entry)
            for i, field in enumerate(("question", "answer")):
                mean = kb.mean_vector(kb.vector_lang(entry.id, field))
                rows[entry.lang][i].append(fields[field] - mean)
    if not sides["zh"] or not sides["en"]:
        return {}
    similarity = sum(_unit_rows(rows["zh"][i]) @ _unit_rows(rows["en"][i]).T for i in (0, 1))
    closest_en, closest_zh = similarity.argmax(axis=1), similarity.argmax(axis=0)
    out = {}
    for i, j in enumerate(closest_en):
        if closest_zh[j] == i:
            zh, en = sides["zh"][i], sides["en"][int(j)]
            out[zh.id], out[en.id] = en, zh
    return out


def covered_pairs(kb: KnowledgeBase) -> dict[str, str]:
    """The shop's FAQ entries that it wrote in the other language too: entry id -> the id
    of that entry (both ways), as found when twins are made."""
    return {source: by for source, (_, status, by) in kb.twin_states().items()
            if status == "covered" and by}


def pending(kb: KnowledgeBase, documents: bool = False) -> list[Entry]:
    """FAQ entries the shop wrote (and, documents: the sections of its documents, when it
    wrote in both languages) whose twin is missing or was made from an older version of
    them (and not rejected since), or that were covered by an entry now gone; in import
    order."""
    entries = kb.entries()
    states = kb.twin_states()
    written = [e for e in entries.values() if not e.translated_from]
    out = []
    for entry in translatable(written, documents):
        digest, status, covered_by = states.get(entry.id, ("", "", ""))
        if digest != _mark(entry, status) or (status == "covered" and covered_by not in entries):
            out.append(entry)
    return out


def _mark(entry: Entry, status: str) -> str:
    """What a twin's state is stored against: the version of its source, and for a machine
    translation also the revision of the checks it passed (or failed)."""
    revision = f"/checks-{CHECKS_REVISION}" if status in ("failed", "machine") else ""
    return content_hash(entry) + revision


def translatable(written: list[Entry], documents: bool = True) -> list[Entry]:
    """Of the entries the shop wrote, those twins are made for: its FAQ entries and,
    documents, its documents' sections when it wrote in both languages (bilingual())."""
    kinds = {"faq", "doc"} if documents and bilingual(written) else {"faq"}
    return [e for e in written if e.kind in kinds]


def bilingual(written: list[Entry]) -> bool:
    """The shop wrote entries (FAQ or documents) in both languages: it serves customers in
    both, and a document's sections are worth translating (one section takes about as
    long as a few FAQ entries; a one-language collection of documents is left as it is)."""
    return len({e.lang for e in written}) == 2


def twins(kb: KnowledgeBase) -> list[Twin]:
    """Every source a twin was made (or tried, or rejected, or found covered) for, with the
    twin and its status."""
    entries = kb.entries()
    made = {e.translated_from: e for e in entries.values() if e.translated_from}
    return [Twin(entries[source], made.get(source), status)
            for source, (_, status, _) in kb.twin_states().items() if source in entries]


def put_twin(kb: KnowledgeBase, source: Entry, translation: Translation,
             status: Status = "machine") -> Entry:
    lang = other_language(source.lang)
    twin = Entry(id=twin_id(source.id, lang), question=translation.question,
                 answer=translation.answer, lang=lang, kind=source.kind,
                 category=source.category, alt_questions=translation.alt_questions,
                 source=source.source, translated_from=source.id)
    kb.ingest([twin])
    kb.set_twin_state(source.id, _mark(source, status), status)
    return twin


def reject(kb: KnowledgeBase, source_id: str) -> None:
    """The owner turns the twin down: it goes, and is not made again until its source
    changes."""
    source = kb.get(source_id)
    if source is None:
        return
    kb.delete([twin_id(source_id, other_language(source.lang))])
    kb.set_twin_state(source_id, content_hash(source), "rejected")


def _covered(kb: KnowledgeBase, entry: Entry, by: str) -> None:
    """entry and the shop's entry by are one entry in two languages: neither needs a twin
    (one may have been made before the other was written)."""
    other = kb.get(by)
    kb.delete([twin_id(entry.id, other_language(entry.lang))])
    kb.set_twin_state(entry.id, content_hash(entry), "covered", by)
    if other is not None:
        kb.delete([twin_id(by, entry.lang)])
        kb.set_twin_state(by, content_hash(other), "covered", entry.id)


@dataclass
class FillReport:
    total: int = 0  # entries to translate (or twins to check again) in this round
    made: int = 0
    covered: int = 0  # written by the shop in the other language too
    failed: int = 0
    kept: int = 0  # made under older checks, passing today's

    @property
    def done(self) -> int:
        return self.made + self.covered + self.failed + self.kept


def fill(kb: KnowledgeBase, linguist: Linguist, progress: bool = False,
         stop: Callable[[], bool] = lambda: False,
         step: Callable[[FillReport], None] = lambda report: None,
         documents: bool = False, recheck: Recheck | None = None) -> FillReport:
    """Make the pending twins (documents: of document sections too) one by one; each is
    stored as soon as it is made, so an interruption loses at most the one in hand. A twin
    made under older checks from an unchanged source is first checked again (recheck) and
    kept if it passes. stop() ends early; step(report) is called before the first and after
    each."""
    entries = pending(kb, documents)
    closest = partners(kb) if entries else {}
    states = kb.twin_states() if recheck is not None else {}
    report = FillReport(total=len(entries))
    step(report)
    with tqdm(entries, desc=f"translating entries of {kb.name}", unit="entry",
              disable=not progress or not entries) as bar:
        for entry in bar:
            if stop():
                break
            if recheck is not None and _kept(kb, entry, states.get(entry.id), recheck):
                report.kept += 1
                step(report)
                continue
            lang = other_language(entry.lang)
            translation = linguist(entry, lang, closest.get(entry.id))
            if translation is None:
                kb.delete([twin_id(entry.id, lang)])
                kb.set_twin_state(entry.id, _mark(entry, "failed"), "failed")
                report.failed += 1
            elif translation.covered_by:
                _covered(kb, entry, translation.covered_by)
                report.covered += 1
            else:
                put_twin(kb, entry, translation)
                report.made += 1
            step(report)
    return report


def _kept(kb: KnowledgeBase, source: Entry, state: tuple[str, str, str] | None,
          recheck: Recheck) -> bool:
    """source's machine twin, made from this version of it under older checks (state: its
    stored twin state), passes today's (recheck): it is kept, written anew where its
    figures were respelled."""
    digest, status, _ = state or ("", "", "")
    twin = kb.get(twin_id(source.id, other_language(source.lang)))
    if status != "machine" or digest.split("/")[0] != content_hash(source) or twin is None:
        return False
    kept = recheck(source, twin)
    if kept is None:
        return False
    if (kept.question, kept.answer, kept.alt_questions) != (
            twin.question, twin.answer, twin.alt_questions):
        put_twin(kb, source, kept)
    else:
        kb.set_twin_state(source.id, _mark(source, "machine"), "machine")
    return True
