"""Data passed between packages, and the backend Protocols."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

Lang = Literal["zh", "en"]
Route = Literal["faq", "rag", "abstain"]
EntryKind = Literal["faq", "doc"]


@dataclass(frozen=True)
class Entry:
    """One curated FAQ entry or one document chunk, as imported."""

    id: str
    question: str
    answer: str
    lang: Lang
    kind: EntryKind = "faq"
    category: str = ""
    alt_questions: tuple[str, ...] = ()
    source: str = ""


@dataclass(frozen=True)
class Hit:
    """A retrieved entry: fused score, its dense and BM25 parts, and the question match alone."""

    entry: Entry
    score: float
    dense: float
    bm25: float
    question: float = 0.0


@dataclass(frozen=True)
class Source:
    id: str
    score: float


@dataclass(frozen=True)
class Answer:
    answer: str
    route: Route
    lang: Lang
    sources: tuple[Source, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "answer": self.answer,
            "route": self.route,
            "lang": self.lang,
            "sources": [{"id": s.id, "score": round(s.score, 4)} for s in self.sources],
        }


@dataclass(frozen=True)
class Event:
    """One step of an answer: 'hits', 'token', 'answer' or 'error'."""

    kind: Literal["hits", "token", "answer", "error"]
    text: str = ""
    hits: tuple[Hit, ...] = ()
    answer: Answer | None = None


@dataclass(frozen=True)
class Message:
    role: Literal["system", "user", "assistant"]
    content: str


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
    def stream(self, messages: Sequence[Message]) -> Iterator[str]: ...
