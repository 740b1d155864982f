"""The answer ladder: curated FAQ answer / grounded LLM answer with sources / abstain + human."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator, Sequence

from kefu.agent.prompts import prompts, render
from kefu.config import LadderSettings
from kefu.errors import KefuError
from kefu.knowledge_base.text import detect_lang
from kefu.retrieval.hybrid import Retriever
from kefu.types import Answer, ChatModel, Event, Hit, Lang, Message, Route, Source

log = logging.getLogger(__name__)

_CITATION = re.compile(r"\[(\d{1,2})\]")
_CJK = re.compile(r"[\u4e00-\u9fff]")
LANG_PROBE_CHARS = 16  # characters generated before the language of the reply is checked


def in_language(text: str, lang: Lang) -> bool:
    """True when text reads as lang (CJK share for zh, its absence for en)."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return True
    share = sum(1 for c in letters if _CJK.match(c)) / len(letters)
    return share >= 0.3 if lang == "zh" else share < 0.3


class Agent:
    """Answers one question; yields Events so every UI reads the same stream."""

    def __init__(self, retriever: Retriever, chat_model: ChatModel | None,
                 cfg: LadderSettings, shop: str = "our shop") -> None:
        self.retriever = retriever
        self.chat_model = chat_model
        self.cfg = cfg
        self.shop = shop

    def ask(self, question: str, history: Sequence[Message] = ()) -> Answer:
        """Run the ladder to the end and return the final answer."""
        final = None
        for event in self.answer(question, history):
            if event.kind == "answer":
                final = event.answer
        assert final is not None
        return final

    def answer(self, question: str, history: Sequence[Message] = ()) -> Iterator[Event]:
        lang = detect_lang(question)
        if not question.strip():
            yield self._abstain(lang)
            return
        try:
            hits = self.retriever.search(question)
            yield Event("hits", hits=tuple(hits))
            yield from self._route(question, lang, hits)
        except KefuError:
            log_id = uuid.uuid4().hex[:8]
            log.exception("answer failed (log id %s)", log_id)
            yield Event("error", text=f"log id {log_id}")
            yield self._abstain(lang)

    def decide(self, lang: Lang, hits: list[Hit]) -> tuple[Route, list[Hit]]:
        """The rung a question lands on before any LLM call, with the hits it would use."""
        curated = next((h for h in hits if h.entry.kind == "faq" and h.entry.lang == lang), None)
        if curated and curated.question >= self.cfg.faq_threshold:
            return "faq", [curated]
        grounded = [h for h in hits if h.score >= self.cfg.rag_threshold][: self.cfg.max_sources]
        return ("rag", grounded) if grounded else ("abstain", [])

    def _route(self, question: str, lang: Lang, hits: list[Hit]) -> Iterator[Event]:
        route, chosen = self.decide(lang, hits)
        if route == "faq":
            [curated] = chosen
            yield Event("answer", answer=Answer(
                curated.entry.answer, "faq", lang, (Source(curated.entry.id, curated.score),)))
        elif route == "rag" and self.chat_model is not None:
            yield from self._generate(question, lang, chosen)
        else:
            yield self._abstain(lang)

    def _generate(self, question: str, lang: Lang, hits: list[Hit]) -> Iterator[Event]:
        """Step 1: the model names the source that answers (or [0]); step 2: it answers."""
        assert self.chat_model is not None
        messages = [
            Message("system", render(lang, "system", shop=self.shop)),
            Message("user", render(lang, "user", sources=[h.entry for h in hits],
                                   question=question)),
        ]
        choice = "".join(self.chat_model.stream(messages))
        numbers = [int(n) for n in _CITATION.findall(choice)]
        if not numbers or not 1 <= numbers[0] <= len(hits):
            log.info("no source answers %r (model said %r)", question, choice[:40])
            yield self._abstain(lang)
            return
        cited = hits[numbers[0] - 1]
        messages += [Message("assistant", f"[{numbers[0]}]"),
                     Message("user", render(lang, "answer", number=numbers[0]))]
        for attempt in range(2):
            text = ""
            drifted = False
            for token in self.chat_model.stream(messages):
                text += token
                if len(text.strip()) >= LANG_PROBE_CHARS and not in_language(text, lang):
                    drifted = True
                    break
                yield Event("token", text=token)
            if text.strip() and not drifted and in_language(text, lang):
                break
            log.info("reply drifted out of %s (attempt %d): %r", lang, attempt + 1, text[:60])
            messages[-1] = Message("user", f"{messages[-1].content}\n{prompts(lang)['retry_rule']}")
        else:
            yield self._abstain(lang)
            return
        source = Source(cited.entry.id, cited.score)
        yield Event("answer", answer=Answer(text.strip(), "rag", lang, (source,)))

    def _abstain(self, lang: Lang) -> Event:
        return Event("answer", answer=Answer(prompts(lang)["abstain"], "abstain", lang))
