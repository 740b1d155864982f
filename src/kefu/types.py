"""Data passed between packages, and the backend Protocols."""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np

Lang = Literal["zh", "en"]
# faq: curated answer as-is · suggest: "did you mean" · rag: LLM answer from cited sources ·
# abstain: "I don't know" · refuse: a hostile request declined · handoff: a human offered or
# called in (the customer asked, was angry, or the ladder abstained twice) · agent: kefu
# stays silent, a person of the staff is awaited or holds the conversation (agent/handover).
Route = Literal["faq", "suggest", "rag", "abstain", "refuse", "handoff", "agent"]
ANSWERED_ROUTES: tuple[Route, ...] = ("faq", "rag")  # the customer got the shop's text
DECLINED_ROUTES: tuple[Route, ...] = ("abstain", "refuse", "handoff")  # nothing answered
EntryKind = Literal["faq", "doc"]
# What an answer says of a human: nothing, an offer (the UI shows the button), or the
# customer accepted it (a ticket is created).
Handoff = Literal["", "offer", "accepted"]


@dataclass(frozen=True)
class Entry:
    """One curated FAQ entry or one document chunk, as imported; translated_from: the id of
    the entry this one is a machine translation of (its twin in the other language)."""

    id: str
    question: str
    answer: str
    lang: Lang
    kind: EntryKind = "faq"
    category: str = ""
    alt_questions: tuple[str, ...] = ()
    source: str = ""
    translated_from: str = ""

    @property
    def origin(self) -> str:
        """The id of the entry the shop wrote: its own, or its source's for a twin."""
        return self.translated_from or self.id


@dataclass(frozen=True)
class Matches:
    """What an entry's dense score is made of before any weight (hybrid.fuse), kept with
    its Hit so that `kefu tune` re-weighs the candidates without searching again."""

    question: float = 0.0  # its question or an alternative phrasing, the best
    whole: float = 0.0  # its answer as a whole (a long one: its best passage)
    sentence: float = 0.0  # its answer's best sentence (the whole when it has one)
    document: bool = False  # it reads as a document: its question match is at least its
    # answer's (hybrid.fuse)


@dataclass(frozen=True)
class Hit:
    """A retrieved entry: fused score, its dense and BM25 parts, the question and the answer
    matches alone (weighted: matches holds them before), whether the question named it (a
    document's title), and which passage of a long FAQ answer matched best
    (chunking.passages)."""

    entry: Entry
    score: float
    dense: float
    bm25: float
    question: float = 0.0
    answer: float = 0.0
    named: bool = False
    passage: int = 0
    matches: Matches = Matches()


@dataclass(frozen=True)
class Source:
    """An entry an answer rests on; translated: its curated answer was put into the
    customer's language by the LLM."""

    id: str
    score: float
    translated: bool = False

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"id": self.id, "score": round(self.score, 4)}
        if self.translated:
            out["translated"] = True
        return out


@dataclass(frozen=True)
class Answer:
    answer: str
    route: Route
    lang: Lang
    sources: tuple[Source, ...] = ()
    suggestions: tuple[str, ...] = ()  # "did you mean" questions, clickable
    handoff: Handoff = ""
    rewritten: str = ""  # the standalone question a follow-up was rewritten into
    reason: str = ""  # why the ladder took this route, in a line (logs, debug view, evals)
    # Why a person should take over at once, when one is in (agent/desk.py): "asked" (for
    # a person), "angry" (and not answered), "declined" (twice in a row); "" otherwise.
    call_person: str = ""
    message_id: int = 0  # its number in the stored conversation, for feedback (0: not stored)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "answer": self.answer,
            "route": self.route,
            "lang": self.lang,
            "sources": [s.to_json() for s in self.sources],
            "suggestions": list(self.suggestions),
            "handoff": self.handoff,
            "rewritten": self.rewritten,
            "reason": self.reason,
        }
        if self.message_id:
            out["message_id"] = self.message_id
        return out


@dataclass(frozen=True)
class Event:
    """One step of an answer: 'rewrite' (text: the standalone question), 'hits', 'queue'
    (position: requests ahead in the LLM queue), 'answer', 'ticket' (text: its id) or
    'error' (text: a log id). No step carries text kefu has not checked: the answer comes
    whole, once it is the shop's text (or its checked translation)."""

    kind: Literal["rewrite", "hits", "queue", "answer", "ticket", "error"]
    text: str = ""
    hits: tuple[Hit, ...] = ()
    answer: Answer | None = None
    position: int = 0


def until_answer(events: Iterable[Event]) -> Generator[Event, None, Answer]:
    """Pass on every event of a stream but its answer, and return that (every stream of the
    agent ends with one): `final = yield from until_answer(stream)`."""
    final = None
    for event in events:
        if event.kind == "answer" and event.answer is not None:
            final = event.answer
        else:
            yield event
    if final is None:
        raise ValueError("the event stream ended without an answer")
    return final


def final_answer(events: Iterable[Event]) -> Answer:
    """The answer an event stream ends with, the other events dropped."""
    answers = [e.answer for e in events if e.kind == "answer" and e.answer is not None]
    if not answers:
        raise ValueError("the event stream ended without an answer")
    return answers[-1]


@dataclass(frozen=True)
class Message:
    """One turn of a conversation; route and handoff are set on the assistant's turns."""

    role: Literal["system", "user", "assistant"]
    content: str
    route: str = ""
    handoff: str = ""


@dataclass
class IngestReport:
    """What an ingest did, and the rows it skipped with file, line and reason."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[str] = field(default_factory=list)


class Embedder(Protocol):
    model_id: str
    dim: int

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...


class ChatModel(Protocol):
    @property
    def prompt_tokens(self) -> int:
        """The most a prompt may take: the context less the reply's tokens."""
        ...

    def stream(self, messages: Sequence[Message]) -> Iterator[str]: ...

    def count_tokens(self, text: str) -> int:
        """The tokens text takes in a prompt, by the model's tokenizer (an estimate where
        the backend has none to ask)."""
        ...

    def label_probs(self, messages: Sequence[Message], labels: Sequence[str]) -> list[float]:
        """How likely the reply starts with each "[label]", from the model's next-token
        log-probabilities; normalised over the labels (one-digit labels)."""
        ...


@runtime_checkable
class Preloadable(Protocol):
    """A chat model with something to load before its first reply (a model file read into
    memory), which the server starts in the background."""

    def warm(self) -> object: ...
