"""The answers the ladder builds: the shop's curated text, "did you mean" questions,
kefu's own fixed replies (prompts), the polite reply after a failure; and how a candidate
and its passage look to the LLM."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from kefu.agent.llm_queue import Turn
from kefu.agent.prompts import prompts
from kefu.knowledge_base.chunking import passages, reads_as_document
from kefu.knowledge_base.text import is_cjk, to_simplified, tokenize
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
OPENING_CHARS = EXCERPT_CHARS // 2  # of an FAQ answer's start, shown before the part asked


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
    document's title), at most twice EXCERPT_CHARS wide, and EXCERPT_CHARS of its answer
    from where it speaks to the question (asked_start()); an FAQ answer that does so past
    its start is shown from its start too (OPENING_CHARS of it), since a curated answer
    opens with what its question asks ("Pick by torso length, measured from the bony
    bump… Our Chengdu store offers free backpack fitting."). A document's text, or a long
    FAQ answer (a shop's whole terms in one cell, retrieved by passage), is shown from
    there alone."""
    title = narrow(entry.question, 2 * EXCERPT_CHARS)
    flat = " ".join(entry.answer.split())
    start = asked_start(flat, question, entry.question)
    if start == 0:
        return f"{title} — {narrow(flat, EXCERPT_CHARS)}"
    if reads_as_document(entry):
        return f"{title} — {narrow('… ' + flat[start:], EXCERPT_CHARS)}"
    opening = narrow(flat, OPENING_CHARS)  # cut short: the text is wider than EXCERPT_CHARS
    if start <= len(opening) - len("…"):  # the part begins inside the opening
        return f"{title} — {narrow(flat, shown_width(flat[:start]) + EXCERPT_CHARS)}"
    return f"{title} — {opening} {narrow(flat[start:], EXCERPT_CHARS)}"


def asked_start(flat: str, question: str, title: str = "") -> int:
    """Where a text (its whitespace flattened) speaks to question: the start of the
    EXCERPT_CHARS-wide window that holds the most of the question's BM25 tokens that its
    title lacks (the title, shown beside it, names the topic: "王永吉" in every sentence
    of his page), all of them soonest; starting at a sentence, a clause or a word of the
    question (a sentence or a clause that reaches them within its first LEAD_CHARS is
    preferred, the nearest such: its start gives them their context, "For addresses in
    mainland China we pay shipping"). Only words the whole text has count: a cut through
    "购买" does not make it say "买".
    0 when the text is short enough to be shown whole, or no window shares a word. A
    policy section states the fact a customer asks about in its third or fifth sentence
    ("do I have to wash my tent before sending it in?"), or at the end of a long sentence
    ("…首班停靠的列车为开往的G7412次列车嘉善南站站房面积4998平方米"), which the first
    EXCERPT_CHARS of the text, or of the sentence, do not show (docs/evaluation.md)."""
    if narrow(flat, EXCERPT_CHARS) == flat:
        return 0
    asked = _asked_words(question, title) & set(tokenize(flat))  # not a word cut in two
    clauses = _clause_starts(flat)
    best, best_key = 0, (0, 0, False, 0)
    for start in sorted(clauses | _token_starts(flat, asked)):
        window = narrow(flat[start:], EXCERPT_CHARS)
        shared = asked.intersection(tokenize(window))
        if not shared:
            continue
        folded = to_simplified(window).lower()
        reach = shown_width(window[: max(_first_at(folded, token) for token in shared)])
        key = (len(shared), -max(0, reach - LEAD_CHARS), start in clauses, -reach)
        if key > best_key:
            best, best_key = start, key
    return best


def asked_sentences(written: Sequence[str], question: str, title: str, most: int) -> int:
    """Where the most sentences of a text that the LLM is offered to pick from start: the
    first of the runs of that many that hold the most of the question's BM25 tokens that
    the title lacks (0 for a text no longer than that). A page states what is asked about
    its subject anywhere: 8 of the 15 questions of a seeded 100 of cmrc2018 answered
    wrongly asked about its 10th to 22nd sentence ("金关丈夫享年多少岁？"), and a crosswoz
    description lists the hotels nearby on its 10th line (docs/evaluation.md)."""
    if len(written) <= most:
        return 0
    asked = _asked_words(question, title)
    held = [asked.intersection(tokenize(sentence)) for sentence in written]
    runs = [len(set().union(*held[start:start + most]))
            for start in range(len(written) - most + 1)]
    return runs.index(max(runs))


def _asked_words(question: str, title: str) -> set[str]:
    """The question's BM25 tokens that the title lacks (all of them when it has each)."""
    asked = set(tokenize(question))
    return (asked - set(tokenize(title))) or asked


LEAD_CHARS = 40  # of a window (as narrow() counts) that may come before the question's words
_CLAUSE_START = re.compile(r"(?<=[。！？!?；;，,、：:])\s*|(?<=[.])\s+")


def _clause_starts(flat: str) -> set[int]:
    """The text's start and each sentence's and clause's."""
    return {0, *(m.end() for m in _CLAUSE_START.finditer(flat) if m.end() < len(flat))}


def _token_starts(flat: str, asked: set[str]) -> set[int]:
    """Where a word of the question (two characters or more) begins in flat."""
    folded = to_simplified(flat).lower()
    if len(folded) != len(flat):
        return set()
    starts = set()
    for token in (t for t in asked if len(t) > 1):
        at = folded.find(token)
        while at >= 0:
            if is_cjk(token[0]) or at == 0 or not folded[at - 1].isalnum():
                starts.add(at)
            at = folded.find(token, at + 1)
    return starts


def _first_at(folded: str, token: str) -> int:
    """Where token first appears in a window folded as tokens are (simplified, lower-case);
    the window's length if nowhere (a token jieba cut across what the window shows)."""
    at = folded.find(token)
    return at if at >= 0 else len(folded)


def shown_width(text: str) -> int:
    """How wide text is as narrow() counts: a Chinese character as three (it says about as
    much as three letters, in about as many tokens)."""
    return sum(3 if is_cjk(char) else 1 for char in text)


def narrow(text: str, width: int) -> str:
    """The start of text in at most width (shown_width())."""
    text = " ".join(text.split())
    used = 0
    for end, char in enumerate(text):
        used += shown_width(char)
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
