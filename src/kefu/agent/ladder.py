"""The answer ladder, one customer message at a time, in the context of the conversation:

    hostile request     -> a polite refusal (no retrieval, no LLM)
    asks for a human    -> the offer of one; "yes" to an offer -> handoff accepted
    follow-up           -> rewritten into a standalone question (LLM, or a rule)
    curated FAQ match   -> its answer word for word, no LLM call; so too when retrieval
                           alone is sure of its first entry (decision.retrieval_certainty)
      ... only in the other language -> that answer translated by the LLM, marked so
    related entries     -> the LLM chooses the one that answers (probabilities over their
                           labels, "none" included): an FAQ entry's curated answer as written,
                           or the sentences of a document it picks, as written
      ... the LLM unsure -> "did you mean" questions to click, or "I don't know"
    (no LLM: close FAQ matches -> "did you mean"; else "I don't know")
    nothing             -> "I don't know"; twice in a row -> the offer of a human

The customer reads only the shop's own text (or its marked translation): no sentence of the
model's own can state a wrong price or condition. Every answer carries the reason for its
route. Every step is an Event, so the chat page, the API, the widget and the evals read one
stream.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator, Sequence
from dataclasses import replace
from functools import cached_property
from typing import Any, Literal

from kefu.agent.budget import cut, fitted, pieces
from kefu.agent.decision import (
    Choice,
    Decision,
    certainty,
    choice_features,
    confidence,
    decide,
    lead_share,
)
from kefu.agent.figures import discounts, discounts_as_off, respelled
from kefu.agent.guard import (
    clean,
    intent,
    kept_as_written,
    leaks,
    reply_lang,
    strip_citation_marks,
    strip_preamble,
    translation_faults,
    untranslated_words,
)
from kefu.agent.llm_queue import GenerationQueue, Turn
from kefu.agent.prompts import prompts, render
from kefu.agent.replies import (
    EXCERPT_CHARS,
    asked_sentences,
    curated_answer,
    excerpt_of,
    failed,
    narrow,
    passage_of,
    polite,
    reply,
    source_of,
    suggest,
    wait_for,
    with_changes,
)
from kefu.agent.rewrite import (
    follow_up_context,
    looks_like_follow_up,
    transcript,
    usable_rewrite,
)
from kefu.config import LadderSettings
from kefu.errors import KefuError, QueueTimeout
from kefu.knowledge_base.chunking import reads_as_document
from kefu.knowledge_base.store import KnowledgeBase
from kefu.knowledge_base.text import in_language, joined, sentences
from kefu.knowledge_base.twins import other_language
from kefu.retrieval.hybrid import Retriever
from kefu.types import (
    ANSWERED_ROUTES,
    Answer,
    ChatModel,
    Entry,
    Event,
    Hit,
    Lang,
    Message,
    Route,
    final_answer,
    until_answer,
)

log = logging.getLogger(__name__)

NAMED_TURNS = 6  # how far back the rule looks for the document a follow-up means
LANG_PROBE_CHARS = 16  # characters generated before the language of the reply is checked
QUESTION_TOKENS = 300  # of a customer's message, the most the LLM reads (its end)
MAX_SENTENCES = 9  # one-digit labels: a longer document offers the nine asked about
CHOOSE_PROMPT_LANG: Lang = "en"  # one cached prompt for choosing, whatever the customer's
TextKind = Literal["answer", "question", "title"]  # what Agent.translated puts into a language
# The prompts whose instructions a reply must never quote.
_RULES: tuple[tuple[Lang, str], ...] = (
    ("en", "system"), ("zh", "system"), (CHOOSE_PROMPT_LANG, "choose_system"),
    *((lang, key) for lang in ("en", "zh")
      for key in ("translate", "translate_question", "translate_title", "retry_faults",
                  "retry_words")))


class Agent:
    """Answers one message in the context of its conversation; yields Events."""

    def __init__(self, retriever: Retriever, chat_model: ChatModel | None,
                 cfg: LadderSettings, shop: str = "our shop",
                 queue: GenerationQueue | None = None, rewrite_with_llm: bool = False,
                 abstains_before_offer: int = 2) -> None:
        self.retriever = retriever
        self.chat_model = chat_model
        self.cfg = cfg
        self.shop = shop
        self.queue = queue or GenerationQueue()
        self.rewrite_with_llm = rewrite_with_llm
        self.abstains_before_offer = abstains_before_offer

    @property
    def kb(self) -> KnowledgeBase:
        """The knowledge base the agent answers from (its retriever's)."""
        return self.retriever.kb

    def ask(self, question: str, history: Sequence[Message] = ()) -> Answer:
        """Run the ladder to the end and return the final answer."""
        return final_answer(self.answer(question, history))

    def answer(self, question: str, history: Sequence[Message] = ()) -> Iterator[Event]:
        text = clean(question)
        lang = reply_lang(text, history)
        turn = self.queue.turn()
        try:
            yield from self._answer(text, lang, history, turn)
        except QueueTimeout as exc:
            log.warning("no LLM slot for %r: %s", text[:60], exc)
            yield reply(lang, "busy", "abstain", handoff="offer", reason="LLM queue full")
        except KefuError:
            yield from failed(lang)
        finally:
            turn.release()

    def _answer(self, text: str, lang: Lang, history: Sequence[Message],
                turn: Turn) -> Iterator[Event]:
        if not text:
            yield reply(lang, "abstain", "abstain", reason="empty message")
            return
        wants = intent(text, offered_human=bool(history) and history[-1].handoff == "offer")
        if wants in ("injection", "private"):
            log.info("declined a %s request: %r", wants, text[:80])
            yield reply(lang, "refuse" if wants == "injection" else "private", "refuse",
                         reason=f"guard: {wants} request")
            return
        if wants == "human":
            yield reply(lang, "offer_human", "handoff", handoff="offer",
                        reason="guard: asked for a human", call_person="asked")
            return
        if wants == "accept":
            yield reply(lang, "handoff", "handoff", handoff="accepted",
                         reason="guard: accepted the offer of a human")
            return
        rewrite = ""
        if history and looks_like_follow_up(text, lang):
            rewrite = yield from self._llm_rewrite(text, lang, history, turn)
        standalone, hits = self.search(text, lang, history, rewrite)
        if standalone != text:
            log.info("follow-up %r rewritten as %r", text, standalone)
            yield Event("rewrite", text=standalone)
        yield Event("hits", hits=tuple(hits))
        choosing = self.choosing_question(text, standalone, rewrite, history)
        picking = self.picking_question(text, standalone, rewrite, history)
        final = yield from until_answer(
            self._route(picking, choosing, lang, self.decide(lang, hits), hits, turn))
        if standalone != text:
            final = with_changes(final, rewritten=standalone)
        if wants == "angry":
            final = (with_changes(final, handoff="offer") if final.route in ANSWERED_ROUTES
                     else polite(lang, "angry", "handoff", handoff="offer",
                                 reason=f"guard: angry; {final.reason}", call_person="angry"))
        elif final.route == "abstain" and self._abstained_before(history):
            final = polite(lang, "abstain_again", "abstain", handoff="offer",
                           reason=f"{final.reason}; declined before", call_person="declined")
        yield Event("answer", answer=final)

    def choosing_question(self, text: str, standalone: str, rewrite: str,
                          history: Sequence[Message]) -> str:
        """The question as the LLM reads it to choose among the entries: as searched (the
        message, the LLM's rewrite, or the rule's reading of a follow-up that names no
        document: the earlier questions, the documents named last, then the message). A
        follow-up that continues a topic ("那怎么攒呢？" after "积分怎么抵扣？") is read with the
        message first and the earlier questions set apart after it, so that the message
        leads and the entry that answered the earlier question does not; one about a
        document named before ("地址是？" after "天兴居") keeps the name first (and the
        chosen document's sentences are picked for the message alone: picking_question())."""
        if standalone in (text, rewrite) or self._named_last(history):
            return standalone
        return render(CHOOSE_PROMPT_LANG, "in_conversation", question=text,
                      earlier=standalone.removesuffix(text).strip())

    def picking_question(self, text: str, standalone: str, rewrite: str,
                         history: Sequence[Message]) -> str:
        """The question as the LLM reads it to pick the sentences of the document chosen:
        as searched, but a follow-up about a document named before ("电话是多少？" after
        "推荐您去天兴居") by the message alone. The name has chosen the document; the
        earlier questions pulled the pick to what they had asked ("名称" and "地址" for
        "它家电话是多少啊？"; crosswoz, docs/retrieval.md)."""
        if standalone not in (text, rewrite) and self._named_last(history):
            return text
        return standalone

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
        weight. The standalone question is the LLM's rewrite, else the rule's
        (in_conversation)."""
        if not history or not looks_like_follow_up(text, lang):
            return [text]
        if rewrite:
            return [rewrite, text]
        return self.in_conversation(text, history)

    def in_conversation(self, text: str, history: Sequence[Message]) -> list[str]:
        """The rule's reading of a message in its conversation: the earlier questions plus
        the documents named last ("try 天兴居" -> "how much is it?") and the message, then
        the message alone."""
        return [" ".join([follow_up_context(history), *self._named_last(history), text]), text]

    def _named_last(self, history: Sequence[Message]) -> list[str]:
        """The documents the latest turn that names any names (kefu's reply or the
        customer's), within the last NAMED_TURNS turns. A reply of kefu's that lists several
        ("周边有天兴居、北京亚太花园酒店等") is what was asked about the place the customer
        named, so it is passed over for the latest turn that is the customer's own or a
        reply naming one; when no such turn names any, the list counts. On crosswoz's 794
        follow-ups hit@1 0.820 -> 0.884 (docs/retrieval.md)."""
        turns = list(reversed(history[-NAMED_TURNS:]))
        named = [(turn, names) for turn, names in
                 zip(turns, self.retriever.names_in([m.content for m in turns]), strict=True)
                 if names]
        return next((names for turn, names in named
                     if turn.role == "user" or len(names) == 1),
                    named[0][1] if named else [])

    def search(self, text: str, lang: Lang, history: Sequence[Message], rewrite: str = "",
               k: int | None = None) -> tuple[str, list[Hit]]:
        """(what was searched for, the hits): a message read in its conversation. One
        without a follow-up's cue ("到了要是不喜欢能退吗") that retrieval alone would decline
        (its confidence under ladder.rag_threshold) is read in its conversation too: on the
        last turns of crosswoz's dialogues hit@1 0.467 -> 0.650 (docs/retrieval.md)."""
        readings = self.readings(text, lang, history, rewrite)
        hits = self.retriever.in_language(
            self.retriever.search(readings[0], k, also=readings[1:]), lang)
        if (len(readings) == 1 and history
                and (not hits or confidence(self.cfg, hits) < self.cfg.rag_threshold)):
            readings = self.in_conversation(text, history)
            hits = self.retriever.in_language(
                self.retriever.search(readings[0], k, also=readings[1:]), lang)
        return readings[0], hits

    def _llm_rewrite(self, text: str, lang: Lang, history: Sequence[Message],
                     turn: Turn) -> Generator[Event, None, str]:
        """The LLM's standalone question for a follow-up (returned), or '' when there is no
        LLM, rewriting with it is off, or its rewrite is unusable: then the rule applies."""
        if self.chat_model is None or not self.rewrite_with_llm:
            return ""
        yield from wait_for(turn)
        asked = cut(self.chat_model, text, QUESTION_TOKENS, "end")
        messages = fitted(self.chat_model, lambda before: [self._system(lang), Message(
            "user", render(lang, "rewrite", transcript=before, question=asked))],
            transcript(history, lang), "end")
        rewrite = usable_rewrite("".join(self.chat_model.stream(messages)), text, lang)
        if not rewrite:
            log.info("unusable LLM rewrite of %r; using the rule", text)
        return rewrite

    def decide(self, lang: Lang, hits: Sequence[Hit]) -> Decision:
        """The rung a question lands on before any LLM call, with the hits it would use."""
        return decide(self.cfg, lang, hits)

    def _route(self, question: str, choosing: str, lang: Lang, decision: Decision,
               hits: Sequence[Hit], turn: Turn) -> Iterator[Event]:
        """The one place a route is taken after retrieval; every answer says why. question:
        as the LLM reads it to pick a document's sentences (picking_question()); choosing:
        as it reads it to choose among the entries (choosing_question())."""
        if decision.route == "faq" and not decision.translate:
            [curated] = decision.hits
            yield curated_answer(curated, lang, decision.reason)
        elif decision.route == "abstain":
            yield reply(lang, "abstain", "abstain", reason=decision.reason)
        elif self.chat_model is None:
            if decision.route == "suggest":
                yield suggest(lang, decision.hits, decision.reason)
            else:
                yield reply(lang, "abstain", "abstain", reason=f"{decision.reason}; no LLM")
        elif decision.translate:
            yield from wait_for(turn)
            yield from self._translate(lang, decision.hits[0], decision.reason)
        else:
            yield from wait_for(turn)
            yield from self._choose(question, choosing, lang, hits[: self.cfg.choose_among])

    def _system(self, lang: Lang, key: str = "system") -> Message:
        return Message("system", render(lang, key, shop=self.shop))

    def _label_chances(self, task: str, n: int, question: str,
                       **values: Any) -> tuple[float, list[float]]:
        """("none of these", each of the n options): the LLM's probabilities for the labels
        [0]..[n] of a choosing task; the customer's question keeps its last QUESTION_TOKENS
        (and what the context leaves)."""
        assert self.chat_model is not None
        system = self._system(CHOOSE_PROMPT_LANG, "choose_system")
        messages = fitted(self.chat_model, lambda asked: [system, Message("user", render(
            CHOOSE_PROMPT_LANG, task, question=asked, **values))], question, "end",
            QUESTION_TOKENS)
        probs = self.chat_model.label_probs(messages, [str(i) for i in range(n + 1)])
        if not any(probs):
            log.warning("the LLM gave no probability to any label of %s; is its tokenizer "
                        "splitting digits?", task)
        return probs[0], probs[1:]

    def _choose(self, question: str, choosing: str, lang: Lang,
                hits: Sequence[Hit]) -> Iterator[Event]:
        """The LLM chooses among the candidates (choice()). Sure (certainty() at or above
        choose_certainty): that entry's curated answer, or the sentences of the document it
        picks; unsure: the likely FAQ questions to click, or "I don't know" when none is
        likely or the LLM's likeliest option is "none of these" (its no holds for the
        suggestions as for the answer: certainty())."""
        picked = self.choice(choosing, [h.entry for h in hits])
        best, chances = picked.best, picked.chances
        sure = self.certainty(hits, picked)
        odds = f"{picked.odds}; certainty {sure:.2f}"
        log.info("choice for %r: [%d] %s (%s)", question[:60], best + 1, hits[best].entry.id,
                 odds)
        if sure >= self.cfg.choose_certainty:
            chosen = hits[best]
            reason = f"the LLM chose [{best + 1}] {chosen.entry.id} ({odds})"
            if reads_as_document(chosen.entry):
                yield from self._extract(question, lang, chosen, reason)
            elif chosen.entry.lang == lang:
                yield curated_answer(chosen, lang, reason)
            elif self.cfg.translate:
                yield from self._translate(lang, chosen, reason)
            else:
                yield reply(lang, "abstain", "abstain", reason=f"{reason}; translation off")
            return
        unsure = f"the LLM is unsure ({odds} < choose_certainty {self.cfg.choose_certainty})"
        likely = [hits[i] for i in picked.order if chances[i] >= self.cfg.suggest_probability
                  and hits[i].entry.kind == "faq" and hits[i].entry.lang == lang]
        if not picked.beats_none:  # "none of these" is the LLM's likeliest: no "did you mean"
            yield reply(lang, "abstain", "abstain", reason=f"{unsure}; none leads")
        elif len(likely) >= 2:
            yield suggest(lang, likely[: self.cfg.max_suggestions], unsure)
        else:
            yield reply(lang, "abstain", "abstain", reason=unsure)

    def certainty(self, hits: Sequence[Hit], picked: Choice) -> float:
        """How likely the entry the LLM picked among hits (best retrieved first) answers:
        retrieval's confidence and the choice in one probability (decision.certainty)."""
        return certainty(self.cfg.certainty_weights, choice_features(self.cfg, hits, picked))

    def _extract(self, question: str, lang: Lang, hit: Hit, reason: str) -> Iterator[Event]:
        """The sentences of a document (or of the passage of a long FAQ answer that matched)
        that answer, as the shop wrote them: the one the LLM rates best, and the next one
        too when it rates it at least half as high; each must beat "none of these". Nothing
        else is shown. A text of more than MAX_SENTENCES offers the run of them that speaks
        to the question (asked_sentences())."""
        written = sentences(passage_of(hit))
        first = asked_sentences(written, question, hit.entry.question, MAX_SENTENCES)
        written = written[first:first + MAX_SENTENCES]
        if len(written) > 1:
            title = narrow(hit.entry.question, 2 * EXCERPT_CHARS)
            lines = [" ".join(s.split()) for s in written]  # a text's line breaks start
            none, chances = self._label_chances(  # no line of the prompt ("Answer: [2]")
                "extract", len(written), question=question, title=title, sentences=lines)
            order = sorted(range(len(written)), key=lambda i: -chances[i])
            picked = sorted(i for i in order[:2]
                            if chances[i] > none and chances[i] >= chances[order[0]] / 2)
            if not picked:
                yield reply(lang, "abstain", "abstain", reason=(
                    f"{reason}; no sentence of it answers (none {none:.2f})"))
                return
            written = [written[i] for i in picked]
            reason = f"{reason}; sentences {[first + i + 1 for i in picked]}"
        if not written:
            yield reply(lang, "abstain", "abstain", reason=f"{reason}; an empty document")
            return
        text = joined(hit.entry.lang, written)
        if hit.entry.lang != lang:
            excerpt = replace(hit, entry=replace(hit.entry, answer=text))
            yield from self._translate(lang, excerpt, f"{reason}; in the other language", "rag")
            return
        yield Event("answer", answer=Answer(text, "rag", lang, (source_of(hit),),
                                            reason=reason))

    def choice(self, question: str, entries: Sequence[Entry]) -> Choice:
        """Which of entries (best retrieved first) the LLM finds answers question: its
        probabilities over their labels and "none of them" (averaged over the two orders,
        ladder.choose_in_both_orders), each weighted by 1 / the entry's rank (as in
        reciprocal-rank fusion; "none" keeps the weight of the first), so a choice the
        retriever agrees with leads more. The caller holds the LLM."""
        shown = [excerpt_of(e, question) for e in entries]
        none, chances = self._label_chances("choose", len(entries), question=question,
                                            entries=shown)
        if self.cfg.choose_in_both_orders and len(entries) > 1:
            back_none, back = self._label_chances("choose", len(entries), question=question,
                                                  entries=shown[::-1])
            none = (none + back_none) / 2
            chances = [(p + q) / 2 for p, q in zip(chances, reversed(back), strict=True)]
        weighted = [p / rank for rank, p in enumerate(chances, 1)]
        order = sorted(range(len(entries)), key=lambda i: -weighted[i])
        lead = lead_share(weighted[order[0]], max([none, *(weighted[i] for i in order[1:2])]))
        summary = ", ".join(f"[{i + 1}] {chances[i]:.2f}" for i in order[:3])
        return Choice(order, lead, chances, f"{summary}; none {none:.2f}; lead {lead:.2f}",
                      beats_none=weighted[order[0]] > none)

    def translated(self, lang: Lang, text: str, hits: Sequence[Hit] = (),
                   kind: TextKind = "answer") -> str:
        """The shop's text (in the other language; a curated answer or a document's text, an
        FAQ question, to stay one, or a document section's title) in lang, by the LLM,
        checked: '' when it drifts out of lang, states a figure the text does not, quotes the
        rules, or (a question that ends as one) does not end as a question. The caller holds
        the LLM (a turn of self.queue)."""
        if kind == "answer":  # a few sentences at a time, each checked on its own
            parts = [self._translated_part(lang, piece, hits) for piece in pieces(text)]
            return joined(lang, parts) if all(parts) else ""
        result = self._translated_piece(lang, text, hits, f"translate_{kind}")
        asks = text.rstrip().endswith(("?", "？"))
        if kind == "question" and asks and not result.endswith(("?", "？")):
            return ""
        return result

    def _translated_part(self, lang: Lang, piece: str, hits: Sequence[Hit]) -> str:
        """A few sentences of the shop's text in lang, checked; when that fails, one sentence
        at a time, every one checked: the 1.5B model writes its prompt back for an English
        answer that reads like an instruction ("Choose … at checkout. Bring your passport
        …") and translates each of its sentences alone (docs/retrieval.md)."""
        whole = self._translated_piece(lang, piece, hits, "translate")
        said = [] if whole else sentences(piece)
        if len(said) < 2:
            return whole
        parts = []
        for sentence in said:
            part = self._translated_piece(lang, sentence, hits, "translate")
            if not part:
                return ""
            parts.append(part)
        return joined(lang, parts)

    def _translated_piece(self, lang: Lang, text: str, hits: Sequence[Hit], key: str) -> str:
        """One piece of the shop's text in lang, checked; a translation that fails the
        checks (a figure, a price or an address changed, a discount misread, the prompt
        written back) is asked for once more, naming what it must keep. Into English, the
        model reads the piece's discounts as the share off (92折: 8% off)."""
        assert self.chat_model is not None
        shown = discounts_as_off if lang == "en" else str
        messages = fitted(self.chat_model, lambda part: [
            self._system(lang), Message("user", render(lang, key, answer=shown(part)))],
            text, "start")
        rule = ""
        for attempt in range(2):
            result = respelled(strip_preamble(self._written_in(lang, messages, text)), text)
            if not result:
                return ""
            faults = translation_faults(result, text)
            if not faults and not self.quotes_rules(result, hits, also=rule):
                return result
            log.info("a translation was refused (%s; attempt %d): %r",
                     ", ".join(faults) or "it quotes the rules", attempt + 1, result[:80])
            rule = render(lang, "retry_faults", keep=kept_as_written(text),
                          discounts=discounts(text))
            messages[-1] = Message("user", f"{messages[-1].content}\n{rule}")
        return ""

    def _translate(self, lang: Lang, hit: Hit, reason: str,
                   route: Route = "faq") -> Iterator[Event]:
        """The shop's text of an entry in the other language (of a long FAQ answer, the
        passage that matched), in the customer's; checked before it is shown: no figure the
        entry does not state, no quote of the rules. route: "faq" for a curated answer,
        "rag" for sentences picked from a document or a long answer."""
        text = self.translated(lang, passage_of(hit), [hit])
        if not text:
            yield reply(lang, "abstain", "abstain", reason=f"{reason}; translation rejected")
            return
        yield Event("answer", answer=Answer(
            text, route, lang, (source_of(hit, translated=True),),
            reason=f"{reason}; translated"))

    def _written_in(self, lang: Lang, messages: list[Message], source: str) -> str:
        """The model's translation of source, which must be in lang (the names it copies
        from source aside): one that drifts into the other language is stopped and asked
        again once under a stronger rule; one that leaves words untranslated (顺丰 in
        English, "shipping" in Chinese) is asked again once naming them, and the attempt
        that leaves fewer is kept (refusing them all cost the Pinecone shop 28 of its 70
        twins and 9 points of hit@1). A reply that writes a rule back is no attempt: the
        1.5B model answers the naming rule with the rule and a glossary of its own. The
        text, or ''. Nothing of it is streamed: the customer sees it only once it has been
        checked."""
        other = other_language(lang)
        assert self.chat_model is not None
        kept, kept_left = "", 0
        for attempt in range(2):
            text = ""
            drifted = False
            for token in self.chat_model.stream(messages):
                text += token
                if len(text.strip()) >= LANG_PROBE_CHARS and in_language(text, other, source) \
                        and not in_language(text, lang, source):
                    drifted = True
                    break
            left = untranslated_words(text, lang)
            if (text.strip() and not drifted and in_language(text, lang, source)
                    and not self.quotes_rules(text)):  # the rule written back is no attempt
                if not left:
                    return strip_citation_marks(text)
                if not kept or len(left) < kept_left:
                    kept, kept_left = strip_citation_marks(text), len(left)
            log.info("translation into %s drifted or left %s (attempt %d): %r", lang, left,
                     attempt + 1, text[:60])
            rule = (render(lang, "retry_words", words="、".join(dict.fromkeys(left)))
                    if left and not drifted else prompts(lang)["retry_rule"])
            messages[-1] = Message("user", f"{messages[-1].content}\n{rule}")
        return kept

    @cached_property
    def _rules(self) -> str:
        """The text of the prompts in _RULES, rendered once for this shop."""
        return "".join(render(lang, key, shop=self.shop, answer="", keep=(), discounts=(),
                              words="") for lang, key in _RULES)

    def quotes_rules(self, text: str, hits: Sequence[Hit] = (), also: str = "") -> bool:
        """The text quotes the rules kefu is given (also: a rule added to this prompt) or
        names an entry's internal id."""
        if leaks(text, self._rules + also, [h.entry.id for h in hits]):
            log.warning("rejected a reply that quotes the rules or an id: %r", text[:80])
            return True
        return False
