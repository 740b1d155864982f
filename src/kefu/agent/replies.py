"""The answers the ladder builds: the shop's curated text, "did you mean" questions,
kefu's own fixed replies (prompts), the polite reply after a failure; and how a candidate
and its passage look to the LLM."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from kefu.agent.llm_queue import Turn
from kefu.agent.prompts import prompts
from kefu.knowledge_base.chunking import passages, reads_as_document
from kefu.knowledge_base.text import is_cjk, joined, sentences, tokenize
from kefu.types import (
    Answer,
    Entry,
    Event,
    Handoff,
    Hit,
    Lang,
    Route,
    Source,
)

log = logging.getLogger(__name__)

EXCERPT_CHARS = 100  # of each candidate's answer, shown to the LLM when it chooses


def failed(lang: Lang) -> Iterator[Event]:
    """What the customer gets when something failed on kefu's side (the LLM, a store): an
    `error` event with a log id that finds the traceback in the log (logged here, so call
    it in an `except`), then a polite reply."""
    log_id = uuid.uuid4().hex[:8]
    log.exception("answer failed (log id %s)", log_id)
    yield Event("error", text=f"log id {log_id}")
    yield reply(lang, "abstain", "abstain", reason=f"error (log id {log_id})")


def wait_for(turn: Turn) -> Iterator[Event]:
    for ahead in turn.acquire():
        yield Event("queue", position=ahead)


def excerpt_of(entry: Entry, question: str) -> str:
    """A candidate as the LLM sees it when it chooses for question: the entry's question (a
    document's title), at most twice EXCERPT_CHARS wide, and EXCERPT_CHARS of its answer: an
    FAQ answer from its start (a curated answer opens with what its question asks), a
    document's text or a long FAQ answer (a shop's whole terms in one cell, retrieved by
    passage) from where it speaks to the question (asked_part())."""
    answer = (asked_part(entry.answer, entry.lang, question) if reads_as_document(entry)
              else entry.answer)
    return f"{narrow(entry.question, 2 * EXCERPT_CHARS)} — {narrow(answer, EXCERPT_CHARS)}"


def asked_part(text: str, lang: Lang, question: str) -> str:
    """text from its sentence that shares the most words (BM25 tokens) with question, after
    "… "; from its start when that is the first sentence, when none shares a word, or when
    text is short enough to be shown whole. A policy section states the fact a customer
    asks about in its third or fifth sentence ("do I have to wash my tent before sending it
    in?"), which its first EXCERPT_CHARS do not show (docs/evaluation.md: 20 -> 25 of the
    Pinecone shop's 86 questions about a section answered with their facts)."""
    said = sentences(text)
    if len(said) < 2 or narrow(text, EXCERPT_CHARS) == " ".join(text.split()):
        return text
    asked = set(tokenize(question))
    shared = [len(asked.intersection(tokenize(sentence))) for sentence in said]
    best = shared.index(max(shared))
    return text if best == 0 else "… " + joined(lang, said[best:])


def narrow(text: str, width: int) -> str:
    """The start of text in at most width, a Chinese character counting as three (it says
    about as much, in about as many tokens)."""
    text = " ".join(text.split())
    used = 0
    for end, char in enumerate(text):
        used += 3 if is_cjk(char) else 1
        if used > width:
            return text[:end].rstrip() + "…"
    return text


def passage_of(hit: Hit) -> str:
    """What of an entry the LLM reads to answer: a document section, an FAQ answer, or of
    a long FAQ answer the passage retrieval matched best."""
    if hit.entry.kind == "doc":
        return hit.entry.answer
    parts = passages(hit.entry.answer)
    return parts[min(hit.passage, len(parts) - 1)]


def source_of(hit: Hit, translated: bool = False) -> Source:
    """The entry the shop wrote, and whether the customer reads it machine-translated (a
    twin's text, or translated just now)."""
    return Source(hit.entry.origin, hit.score,
                  translated=translated or bool(hit.entry.translated_from))


def curated_answer(hit: Hit, lang: Lang, reason: str) -> Event:
    return Event("answer", answer=Answer(hit.entry.answer, "faq", lang,
                                         (source_of(hit),), reason=reason))


def suggest(lang: Lang, hits: Sequence[Hit], reason: str) -> Event:
    return Event("answer", answer=Answer(
        prompts(lang)["suggest"], "suggest", lang, tuple(source_of(h) for h in hits),
        suggestions=tuple(h.entry.question for h in hits), reason=reason))


def polite(lang: Lang, key: str, route: Route, handoff: Handoff = "",
            reason: str = "", call_person: str = "") -> Answer:
    """One of kefu's own fixed replies (prompts: abstain, refuse, offer_human, ...)."""
    return Answer(prompts(lang)[key], route, lang, handoff=handoff, reason=reason or key,
                  call_person=call_person)


def reply(lang: Lang, key: str, route: Route, handoff: Handoff = "", reason: str = "",
          call_person: str = "") -> Event:
    return Event("answer", answer=polite(lang, key, route, handoff, reason, call_person))


def with_changes(answer: Answer, **changes: Any) -> Answer:
    return replace(answer, **changes)
