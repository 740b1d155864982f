"""Twins made with the LLM: an FAQ entry's question, similar questions and curated answer,
or a document section's title and text, put into the other language (knowledge_base/twins.py
decides which and stores them), in the foreground with a progress bar (`kefu ingest`) or in
a background thread of the server (TwinMaker)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from kefu.agent.figures import respelled
from kefu.agent.guard import translation_faults
from kefu.agent.ladder import Agent, TextKind
from kefu.errors import KefuError
from kefu.knowledge_base import twins
from kefu.knowledge_base.store import KnowledgeBase
from kefu.knowledge_base.text import in_language
from kefu.knowledge_base.twins import Translation
from kefu.types import Entry, Lang

log = logging.getLogger("kefu")
RETRY_S = 30.0  # after the LLM was too busy (customers first) or failed
TRIES = 2  # a text whose every translation the checks refused is translated afresh once
# more: the LLM samples (llm.temperature), and a fresh try may pass (on the Pinecone shop
# it made 3 of 10 failed twins; docs/retrieval.md)
POLL_S = 2.0  # how often the knowledge base is checked for writes


class EntryTranslator:
    """The twins.Linguist of an agent. An FAQ entry: its question, then (unless the shop's
    entry in the other language answers that question, as the LLM judges a customer's
    question) its answer and similar questions, put into the other language. A document
    section: its title, then its text. Each checked as a translated answer is (language,
    figures, no rules quoted; a long text a few sentences at a time, every part, each text
    tried afresh once more when refused); None when the question, the answer or any part
    of the text fails. Each try of a text takes one turn of the agent's LLM queue, so
    customers' questions go between two (a long answer is many minutes of LLM)."""

    def __init__(self, agent: Agent, tries: int = TRIES) -> None:
        if agent.chat_model is None:
            raise KefuError("translating entries needs the LLM; set llm.backend")
        self.agent = agent
        self.tries = tries

    def __call__(self, entry: Entry, lang: Lang, partner: Entry | None) -> Translation | None:
        if entry.kind == "doc":
            return self._section(entry, lang)
        return self._faq_entry(entry, lang, partner)

    def fill(self, kb: KnowledgeBase, **options: Any) -> twins.FillReport:
        """twins.fill with this translator: the pending twins of kb made (or, made under
        older checks, checked again); options as twins.fill's."""
        return twins.fill(kb, self, recheck=self.rechecked, **options)

    def rechecked(self, source: Entry, twin: Entry) -> Translation | None:
        """twin (made by the LLM under older checks) under today's, with no LLM: its texts
        with the source's prices and ranges written as the source writes them, or None
        when its question or answer fails the checks; a similar question that fails is
        left out."""
        question, answer = (self._checked(twin.lang, text, shop) for text, shop in (
            (twin.question, source.question), (twin.answer, source.answer)))
        if question is None or answer is None:
            log.info("the twin of %s fails today's checks; it is made anew", source.id)
            return None
        said = " ".join(source.alt_questions)
        alternatives = (self._checked(twin.lang, alt, said) for alt in twin.alt_questions)
        return Translation(question, answer, tuple(a for a in alternatives if a))

    def _checked(self, lang: Lang, text: str, source: str) -> str | None:
        text = respelled(text, source)
        if not text:
            return "" if not source else None
        if (translation_faults(text, source) or not in_language(text, lang, source)
                or self.agent.quotes_rules(text)):
            return None
        return text

    def _in(self, lang: Lang, text: str, kind: TextKind = "answer") -> str:
        """text in lang, checked (Agent.translated), in up to self.tries fresh tries, each
        one turn of the LLM queue; '' when every try was refused."""
        for _ in range(self.tries):
            with self.agent.queue.holding():
                translated = self.agent.translated(lang, text, kind=kind)
            if translated:
                return translated
        return ""

    def _faq_entry(self, entry: Entry, lang: Lang, partner: Entry | None) -> Translation | None:
        question = self._in(lang, entry.question, "question")
        if not question:
            log.info("no checked translation of %s's question into %s", entry.id, lang)
            return None
        if partner is not None and self._covers(partner, question):
            return Translation(question, covered_by=partner.id)
        answer = self._in(lang, entry.answer)
        if not answer:
            log.info("no checked translation of %s's answer into %s", entry.id, lang)
            return None
        alternatives = [self._in(lang, alt, "question") for alt in entry.alt_questions]
        return Translation(question, answer, tuple(a for a in alternatives if a))

    def _section(self, entry: Entry, lang: Lang) -> Translation | None:
        title = self._in(lang, entry.question, "title") if entry.question else ""
        if entry.question and not title:
            log.info("no checked translation of %s's title into %s", entry.id, lang)
            return None
        text = self._in(lang, entry.answer)
        if not text:
            log.info("no checked translation of %s's text into %s", entry.id, lang)
            return None
        return Translation(title, text)

    def _covers(self, partner: Entry, question: str) -> bool:
        """The shop's own entry answers the translated question, as the ladder would serve
        a customer asking it: a sure curated match (its question match reaches
        ladder.faq_threshold) that the LLM, choosing among the entries retrieved in that
        language, also surely chooses (its certainty reaches ladder.choose_certainty)."""
        hits = [h for h in self.agent.retriever.search(question)
                if h.entry.kind == "faq" and h.entry.lang == partner.lang
                and not h.entry.translated_from][: self.agent.cfg.choose_among]
        if not any(h.entry == partner and h.question >= self.agent.cfg.faq_threshold
                   for h in hits):
            return False
        entries = [h.entry for h in hits]
        with self.agent.queue.holding():
            picked = self.agent.choice(question, entries)
        return (entries[picked.best] == partner
                and self.agent.certainty(hits, picked) >= self.agent.cfg.choose_certainty)


@dataclass
class Progress:
    """What the admin page shows: done of total in the current round, and what it does."""

    done: int = 0
    total: int = 0
    failed: int = 0
    state: str = "idle"  # idle | translating | waiting (the LLM was busy or failed)


class TwinMaker:
    """Makes the pending twins of a knowledge base in a daemon thread: at start (what an
    earlier run left), then after every write to the knowledge base (an import, an edit,
    through any process: its generation mark changes)."""

    def __init__(self, agent: Agent, documents: bool = False) -> None:
        self.kb = agent.kb
        self.documents = documents  # document sections too (llm.translate_documents)
        self._translate = EntryTranslator(agent)
        self._stop = threading.Event()
        self.progress = Progress()
        self._thread = threading.Thread(target=self._run, name="kefu-twins", daemon=True)

    def start(self) -> TwinMaker:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        seen = ""
        while not self._stop.is_set():
            generation = self.kb.generation()
            if generation == seen:
                self._stop.wait(POLL_S)
                continue
            try:
                self._round()
                seen = generation
            except KefuError as exc:
                log.warning("translating entries paused: %s", exc)
                self.progress.state = "waiting"
                self._stop.wait(RETRY_S)

    def _round(self) -> None:
        def step(report: twins.FillReport) -> None:
            self.progress = Progress(report.done, report.total, report.failed,
                                     "translating" if report.total else "idle")

        self._translate.fill(self.kb, stop=self._stop.is_set, step=step,
                             documents=self.documents)
        self.progress.state = "idle"
