"""The answer ladder, one customer message at a time, in the context of the conversation:

    hostile request     -> a polite refusal (no retrieval, no LLM)
    asks for a human    -> the offer of one; "yes" to an offer -> handoff accepted
    follow-up           -> rewritten into a standalone question (LLM, or a rule)
    curated FAQ match   -> its answer word for word, no LLM call
      ... only in the other language -> that answer translated by the LLM, marked so
    close FAQ matches   -> "did you mean" questions to click
    related sources     -> the LLM names one, answers from it alone; checked in code
    nothing             -> "I don't know"; twice in a row -> the offer of a human

Every step is an Event, so the chat page, the API, the widget and the evals read one stream.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from kefu.agent.guard import (
    clean,
    intent,
    leaks,
    polite_lang,
    strip_citation_marks,
    unsupported_numbers,
)
from kefu.agent.llm_queue import GenerationQueue, QueueTimeout, Turn
from kefu.agent.prompts import prompts, render
from kefu.agent.rewrite import (
    follow_up_context,
    looks_like_follow_up,
    transcript,
    usable_rewrite,
)
from kefu.config import LadderSettings
from kefu.errors import KefuError
from kefu.knowledge_base.text import detect_lang
from kefu.retrieval.hybrid import Retriever
from kefu.types import Answer, ChatModel, Event, Handoff, Hit, Lang, Message, Route, Source

log = logging.getLogger(__name__)

NAMED_TURNS = 6  # how far back the rule looks for the document a follow-up means
LANG_PROBE_CHARS = 16  # characters generated before the language of the reply is checked


def in_language(text: str, lang: Lang) -> bool:
    """True when text reads as lang (CJK share for zh, its absence for en)."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return True
    share = sum(1 for c in letters if "\u4e00" <= c <= "\u9fff") / len(letters)
    return share >= 0.3 if lang == "zh" else share < 0.3


@dataclass(frozen=True)
class Decision:
    """The rung a question lands on before any LLM call, and the hits it uses."""

    route: Route
    hits: tuple[Hit, ...] = ()
    translate: bool = False  # a curated answer in the other language, to be translated


def decide(cfg: LadderSettings, lang: Lang, hits: Sequence[Hit]) -> Decision:
    """The rung a question lands on before any LLM call, under thresholds cfg."""
    faqs = [h for h in hits if h.entry.kind == "faq"]
    same = [h for h in faqs if h.entry.lang == lang]
    if same and same[0].question >= cfg.faq_threshold:
        return Decision("faq", (same[0],))
    other = next((h for h in faqs if h.entry.lang != lang), None)
    if (cfg.translate and other is not None and other.question >= cfg.faq_threshold
            and not any(h.question >= cfg.suggest_threshold for h in same)):
        return Decision("faq", (other,), translate=True)
    close = sorted((h for h in same if h.question >= cfg.suggest_threshold),
                   key=lambda h: -h.question)
    close = [h for h in close if h.question >= close[0].question - cfg.suggest_margin] \
        if close else []
    if len(close) >= 2 and hits[0] in close:
        return Decision("suggest", tuple(close[: cfg.max_suggestions]))
    if not hits or confidence(cfg, hits) < cfg.rag_threshold:
        return Decision("abstain")
    others = [h for h in hits[1:] if h.score >= cfg.rag_threshold]
    return Decision("rag", (hits[0], *others)[: cfg.max_sources])


def confidence(cfg: LadderSettings, hits: Sequence[Hit]) -> float:
    """The best fused score plus margin_weight times its lead over the next entry: a clear
    winner is surer than one of several entries that score alike."""
    lead = hits[0].score - hits[1].score if len(hits) > 1 else hits[0].score
    return hits[0].score + cfg.margin_weight * lead


class Agent:
    """Answers one message in the context of its conversation; yields Events."""

    def __init__(self, retriever: Retriever, chat_model: ChatModel | None,
                 cfg: LadderSettings, shop: str = "our shop",
                 queue: GenerationQueue | None = None, rewrite_with_llm: bool = True,
                 abstains_before_offer: int = 2) -> None:
        self.retriever = retriever
        self.chat_model = chat_model
        self.cfg = cfg
        self.shop = shop
        self.queue = queue or GenerationQueue()
        self.rewrite_with_llm = rewrite_with_llm
        self.abstains_before_offer = abstains_before_offer

    def ask(self, question: str, history: Sequence[Message] = ()) -> Answer:
        """Run the ladder to the end and return the final answer."""
        final = None
        for event in self.answer(question, history):
            if event.kind == "answer":
                final = event.answer
        assert final is not None
        return final

    def answer(self, question: str, history: Sequence[Message] = ()) -> Iterator[Event]:
        text = clean(question)
        lang = polite_lang(text, _conversation_lang(history))
        turn = self.queue.turn()
        try:
            yield from self._answer(text, lang, history, turn)
        except QueueTimeout as exc:
            log.warning("no LLM slot for %r: %s", text[:60], exc)
            yield _reply(lang, "busy", "abstain", handoff="offer")
        except KefuError:
            log_id = uuid.uuid4().hex[:8]
            log.exception("answer failed (log id %s)", log_id)
            yield Event("error", text=f"log id {log_id}")
            yield _reply(lang, "abstain", "abstain")
        finally:
            turn.release()

    def _answer(self, text: str, lang: Lang, history: Sequence[Message],
                turn: Turn) -> Iterator[Event]:
        if not text:
            yield _reply(lang, "abstain", "abstain")
            return
        wants = intent(text, offered_human=bool(history) and history[-1].handoff == "offer")
        if wants in ("injection", "private"):
            log.info("declined a %s request: %r", wants, text[:80])
            yield _reply(lang, "refuse" if wants == "injection" else "private", "refuse")
            return
        if wants == "human":
            yield _reply(lang, "offer_human", "handoff", handoff="offer")
            return
        if wants == "accept":
            yield _reply(lang, "handoff", "handoff", handoff="accepted")
            return
        rewrite = ""
        if history and looks_like_follow_up(text, lang):
            rewrite = yield from self._llm_rewrite(text, lang, history, turn)
        standalone, hits = self.search(text, lang, history, rewrite)
        if standalone != text:
            log.info("follow-up %r rewritten as %r", text, standalone)
            yield Event("rewrite", text=standalone)
        yield Event("hits", hits=tuple(hits))
        final = None
        for event in self._route(standalone, lang, self.decide(lang, hits), turn):
            if event.kind == "answer":
                final = event.answer
            else:
                yield event
        assert final is not None
        if standalone != text:
            final = _with(final, rewritten=standalone)
        if wants == "angry":
            final = (_with(final, handoff="offer") if final.route in ("faq", "rag")
                     else _reply(lang, "angry", "handoff", handoff="offer").answer)
        elif final.route == "abstain" and self._abstained_before(history):
            final = _reply(lang, "abstain_again", "abstain", handoff="offer").answer
        yield Event("answer", answer=final)

    def _abstained_before(self, history: Sequence[Message]) -> bool:
        """The last abstains_before_offer - 1 replies were abstentions too."""
        replies = [m for m in history if m.role == "assistant"]
        needed = self.abstains_before_offer - 1
        return needed == 0 or (len(replies) >= needed
                               and all(m.route == "abstain" for m in replies[-needed:]))

    def readings(self, text: str, lang: Lang, history: Sequence[Message],
                 rewrite: str = "") -> list[str]:
        """What retrieval searches for a message: the message itself, or for a follow-up
        its standalone question and then the customer's own words, which keep half the
        weight. The standalone question is the LLM's rewrite, else the rule's: the earlier
        questions plus the documents named last ("try 天兴居" -> "how much is it?")."""
        if not history or not looks_like_follow_up(text, lang):
            return [text]
        if rewrite:
            return [rewrite, text]
        return [" ".join([follow_up_context(history), *self._named_last(history), text]), text]

    def _named_last(self, history: Sequence[Message]) -> list[str]:
        """The documents the latest turn that names any names (kefu's reply or the
        customer's), within the last NAMED_TURNS turns."""
        latest_first = [m.content for m in reversed(history[-NAMED_TURNS:])]
        return next((names for names in self.retriever.names_in(latest_first) if names), [])

    def search(self, text: str, lang: Lang, history: Sequence[Message], rewrite: str = "",
               k: int | None = None) -> tuple[str, list[Hit]]:
        """(what was searched for, the hits): a message read in its conversation."""
        readings = self.readings(text, lang, history, rewrite)
        return readings[0], self.retriever.search(readings[0], k, also=readings[1:])

    def _llm_rewrite(self, text: str, lang: Lang, history: Sequence[Message],
                     turn: Turn) -> Iterator[Event]:
        """The LLM's standalone question for a follow-up (returned), or '' when there is no
        LLM, rewriting with it is off, or its rewrite is unusable: then the rule applies."""
        if self.chat_model is None or not self.rewrite_with_llm:
            return ""
        yield from _wait(turn)
        messages = [self._system(lang), Message("user", render(
            lang, "rewrite", transcript=transcript(history, lang), question=text))]
        rewrite = usable_rewrite("".join(self.chat_model.stream(messages)), text, lang)
        if not rewrite:
            log.info("unusable LLM rewrite of %r; using the rule", text)
        return rewrite

    def decide(self, lang: Lang, hits: Sequence[Hit]) -> Decision:
        """The rung a question lands on before any LLM call, with the hits it would use."""
        return decide(self.cfg, lang, hits)

    def _route(self, question: str, lang: Lang, decision: Decision,
               turn: Turn) -> Iterator[Event]:
        hits = list(decision.hits)
        if decision.route == "faq" and not decision.translate:
            [curated] = hits
            yield Event("answer", answer=Answer(
                curated.entry.answer, "faq", lang, (Source(curated.entry.id, curated.score),)))
        elif decision.route == "suggest":
            yield Event("answer", answer=Answer(
                prompts(lang)["suggest"], "suggest", lang,
                tuple(Source(h.entry.id, h.score) for h in hits),
                suggestions=tuple(h.entry.question for h in hits)))
        elif self.chat_model is None or decision.route == "abstain":
            yield _reply(lang, "abstain", "abstain")
        elif decision.translate:
            yield from _wait(turn)
            yield from self._translate(lang, hits[0])
        else:
            yield from _wait(turn)
            yield from self._generate(question, lang, hits)

    def _system(self, lang: Lang) -> Message:
        return Message("system", render(lang, "system", shop=self.shop))

    def _generate(self, question: str, lang: Lang, hits: list[Hit]) -> Iterator[Event]:
        """Step 1: the model names the source that answers (or [0]); step 2: it answers from
        that source alone. The citation and the figures are checked here, not trusted: an
        answer whose figures come from another of the given sources cites that one instead,
        and one whose figures no source states is not shown."""
        assert self.chat_model is not None
        messages = [self._system(lang), Message("user", render(
            lang, "choose", sources=[h.entry for h in hits], question=question))]
        choice = "".join(self.chat_model.stream(messages))
        number = _first_citation(choice)
        if not 1 <= number <= len(hits):
            log.info("no source answers %r (model said %r)", question, choice[:40])
            yield _reply(lang, "abstain", "abstain")
            return
        messages += [Message("assistant", f"[{number}]"),
                     Message("user", render(lang, "answer", number=number))]
        text = yield from self._stream_in(lang, messages)
        chosen = hits[number - 1]
        if not text and chosen.entry.kind == "faq" and chosen.entry.lang == lang:
            # twice in the wrong language: the chosen entry's own words instead
            yield Event("answer", answer=Answer(chosen.entry.answer, "faq", lang,
                                                (Source(chosen.entry.id, chosen.score),)))
            return
        ranked = [chosen, *(h for i, h in enumerate(hits, 1) if i != number)]
        cited = next((h for h in ranked if text and self._safe(
            text, [h.entry.question, h.entry.answer, question], hits)), None)
        if cited is None:
            if text:
                log.warning("no given source states the figures of %r", text[:80])
            yield _reply(lang, "abstain", "abstain")
            return
        if cited is not ranked[0]:
            log.info("the reply rests on %s, not on the cited %s", cited.entry.id,
                     ranked[0].entry.id)
        yield Event("answer", answer=Answer(text, "rag", lang,
                                            (Source(cited.entry.id, cited.score),)))

    def _translate(self, lang: Lang, hit: Hit) -> Iterator[Event]:
        """The curated answer of an entry in the other language, in the customer's."""
        assert self.chat_model is not None
        messages = [self._system(lang),
                    Message("user", render(lang, "translate", answer=hit.entry.answer))]
        text = yield from self._stream_in(lang, messages)
        if not text or not self._safe(text, [hit.entry.answer], [hit]):
            yield _reply(lang, "abstain", "abstain")
            return
        yield Event("answer", answer=Answer(text, "faq", lang,
                                            (Source(hit.entry.id, hit.score, translated=True),)))

    def _stream_in(self, lang: Lang, messages: list[Message]) -> Iterator[Event]:
        """Stream a reply that must be in lang: a reply that drifts into the other language
        is stopped and retried once under a stronger rule. Returns the text, or ''."""
        assert self.chat_model is not None
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
                return strip_citation_marks(text)
            log.info("reply drifted out of %s (attempt %d): %r", lang, attempt + 1, text[:60])
            messages[-1] = Message("user", f"{messages[-1].content}\n{prompts(lang)['retry_rule']}")
        return ""

    def _safe(self, text: str, facts: list[str], hits: Sequence[Hit]) -> bool:
        """No figure the sources do not state, no quote of the rules, no internal ids."""
        if leaks(text, self._system("en").content + self._system("zh").content,
                 [h.entry.id for h in hits]):
            log.warning("rejected a reply that quotes the rules or an id: %r", text[:80])
            return False
        return not unsupported_numbers(text, facts)


def _wait(turn: Turn) -> Iterator[Event]:
    for ahead in turn.acquire():
        yield Event("queue", position=ahead)


def _first_citation(text: str) -> int:
    found = re.search(r"\[(\d{1,2})\]", text)
    return int(found.group(1)) if found else 0


def _reply(lang: Lang, key: str, route: Route, handoff: Handoff = "") -> Event:
    return Event("answer", answer=Answer(prompts(lang)[key], route, lang, handoff=handoff))


def _with(answer: Answer, **changes: object) -> Answer:
    return replace(answer, **changes)  # type: ignore[arg-type]


def _conversation_lang(history: Sequence[Message]) -> Lang:
    for message in reversed(history):
        if message.role == "user":
            return detect_lang(message.content)
    return "en"
