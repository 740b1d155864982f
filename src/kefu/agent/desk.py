"""SupportDesk: conversations with kefu, as every channel (chat page, API, widget) holds them.

It stores each message as it comes (the customer's before the answer, so a crash loses no
question), hands the agent the session's history, and turns an accepted handoff into a
wait for one of the shop's staff in the same conversation (when the shop has any, `kefu
agents add`, and they are in: handoff.hours), else into a ticket with the transcript,
announced to the webhook in the background (outside the hours: saying when the staff are
back, and taking the e-mail or phone number the customer leaves). While a person is
awaited or holds the conversation, kefu stays silent: the customer's messages go to that
person (agent/handover.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace

from kefu.agent.conversations import KEFU, ConversationStore
from kefu.agent.guard import reply_lang
from kefu.agent.handover import SILENT_STATES, Move
from kefu.agent.hours import OpeningHours, when
from kefu.agent.ladder import Agent
from kefu.agent.prompts import prompts, render
from kefu.agent.replies import failed
from kefu.agent.staff import StaffStore
from kefu.agent.tickets import Ticket, TicketStore, WebhookNotifier
from kefu.agent.translation import TwinMaker
from kefu.errors import HandoverError, KefuError
from kefu.knowledge_base.store import KnowledgeBase
from kefu.knowledge_base.text import joined
from kefu.privacy import EMAIL, PHONE
from kefu.types import Answer, Event, Lang, Message, final_answer, until_answer

log = logging.getLogger("kefu")
# Why a ticket was opened, from the route of the reply that offered the human.
_REASONS = {"abstain": "abstained", "handoff": "asked"}


class SupportDesk:
    def __init__(self, agent: Agent, conversations: ConversationStore, tickets: TicketStore,
                 notifier: WebhookNotifier | None, staff: StaffStore,
                 hours: OpeningHours, wait_s: float = 0.0) -> None:
        self.agent = agent
        self.conversations = conversations
        self.tickets = tickets
        self.notifier = notifier
        self.staff = staff
        self.hours = hours
        self.wait_s = wait_s  # handoff.wait_s: how long a conversation waits for a person
        self.twins: TwinMaker | None = None  # translating FAQ entries, when the server does

    @property
    def kb(self) -> KnowledgeBase:
        """The knowledge base the desk answers from."""
        return self.agent.kb

    @property
    def kb_name(self) -> str:
        return self.agent.kb.name

    def start(self, session_id: str | None = None, history: Sequence[Message] = ()) -> str:
        """The given session (created if new), or a new one; a new session starts with the
        given history (a client that keeps the conversation itself, as OpenAI clients do)."""
        new = session_id is None or not self.conversations.exists(session_id)
        session_id = self.conversations.open(session_id, self.kb_name)
        if new:
            for message in history:
                self.conversations.append(session_id, message.role, message.content,
                                          message.route, handoff=message.handoff)
        return session_id

    def chat(self, session_id: str, message: str, live: bool = True) -> Iterator[Event]:
        """The agent's events for one customer message; both sides are stored. It always
        ends with an `answer`: when the conversation cannot be stored, an `error` and a
        polite reply (not stored). live: the channel shows a person's replies as they come
        (the widget, the chat page); else a handoff is always a ticket."""
        try:
            yield from self._chat(session_id, message, live)
        except KefuError:
            yield from failed(reply_lang(message))

    def _chat(self, session_id: str, message: str, live: bool) -> Iterator[Event]:
        state, person = self.conversations.state(session_id)
        if state == "waiting" and self.expire_if_unclaimed(session_id):
            state, person = "bot", ""
        if state in SILENT_STATES:
            self.conversations.append(session_id, "user", message)
            waits = f"with {person}" if state == "person" else "waiting for a person"
            yield Event("answer", answer=Answer("", "agent", reply_lang(message),
                                                reason=f"{waits}: the message goes to them"))
            return
        history = self.conversations.history(session_id)
        self.conversations.append(session_id, "user", message)
        final = self._contact_kept(session_id, message, history)
        if final is None:
            final = yield from until_answer(self.agent.answer(message, history))
        ticket = None
        calls = self._calls_a_person(final) if live else ""
        if calls:  # a person is in: called at once instead of offered
            self._request(session_id, calls)
            final = replace(final, answer=prompts(final.lang)[f"person_{calls}"],
                            handoff="accepted", reason=f"handoff: {calls}; {final.reason}")
        elif final.handoff == "accepted":
            offer = next((m.route for m in reversed(history) if m.role == "assistant"), "")
            reason = _REASONS.get(offer, "asked")
            ticket, text = self._person_or_ticket(session_id, final.lang, reason, live=live)
            final = replace(final, answer=text, reason=f"handoff: {reason}; {final.reason}")
        seq = self.conversations.append(session_id, "assistant", final.answer, final.route,
                                        final.sources, final.handoff, final.rewritten,
                                        reason=final.reason)
        final = replace(final, message_id=seq)
        if ticket is not None:
            yield Event("ticket", text=ticket.id)
        yield Event("answer", answer=final)

    def handoff(self, session_id: str, reason: str = "button",
                contact: str = "") -> tuple[Ticket | None, Answer]:
        """The customer asked for a human outright (the button, the API): a wait for one of
        the staff in this conversation, else a ticket; and the reply that tells them so, in
        the conversation's language."""
        lang = reply_lang("", self.conversations.history(session_id))
        state, _ = self.conversations.state(session_id)
        ticket = None
        if state in SILENT_STATES:
            text = prompts(lang)["person_soon"]
        else:
            ticket, text = self._person_or_ticket(session_id, lang, reason, contact)
        seq = self.conversations.append(session_id, "assistant", text, "handoff",
                                        handoff="accepted", reason=f"handoff: {reason}")
        return ticket, Answer(text, "handoff", lang, handoff="accepted", message_id=seq)

    def _person_or_ticket(self, session_id: str, lang: Lang, reason: str,
                          contact: str = "", live: bool = True) -> tuple[Ticket | None, str]:
        """A person of the staff called into the conversation when the channel shows their
        replies and someone is in; else a ticket. The reply that says which (and, outside
        the hours, when the staff are back)."""
        now = self.hours.now()
        if live and self._someone_in():
            self._request(session_id, reason)
            return None, prompts(lang)["person_soon"]
        ticket = self._open_ticket(session_id, reason, contact)
        number = render(lang, "ticket", ticket=ticket.id)
        if self.hours.open_at(now):
            return ticket, _sentences(lang, prompts(lang)["handoff"], number)
        back = self.hours.next_opening(now)
        away = render(lang, "away", back=when(lang, back, now)) if back else ""
        ask = "" if ticket.contact else prompts(lang)["leave_contact"]
        return ticket, _sentences(lang, away, ask, number)

    def expire_if_unclaimed(self, session_id: str) -> bool:
        """A conversation that waited handoff.wait_s for a person and nobody claimed it
        goes back to kefu with a ticket, and kefu says so (a message of its own, which the
        customer's page gets as an event); True when it did."""
        if not self.wait_s or self.conversations.state(session_id)[0] != "waiting":
            return False
        since = self.conversations.last_moved(session_id)
        if since is None or time.time() - since < self.wait_s:
            return False
        try:
            self.conversations.move(session_id, "expire",
                                    reason=f"nobody claimed it in {self.wait_s:.0f} s")
        except HandoverError:  # claimed (or expired by another worker) meanwhile
            return False
        lang = reply_lang("", self.conversations.history(session_id))
        ticket = self._open_ticket(session_id, "unclaimed")
        text = _sentences(lang, prompts(lang)["nobody_came"], prompts(lang)["leave_contact"],
                          render(lang, "ticket", ticket=ticket.id))
        self.conversations.append(session_id, "assistant", text, "handoff",
                                  handoff="accepted", author=KEFU,
                                  reason="handoff: unclaimed; nobody claimed it in time")
        return True

    def _calls_a_person(self, final: Answer) -> str:
        """Why kefu calls a person of the staff itself instead of offering one ('' when it
        does not): the customer asked for a person, or is angry and got no answer, or kefu
        declined twice in a row; and someone is in to answer."""
        if final.handoff != "offer" or not final.call_person:
            return ""
        return final.call_person if self._someone_in() else ""

    def _someone_in(self) -> bool:
        """Within the opening hours, and a person of the staff at work (the inbox open, the
        staff API used, in the last few minutes: staff.PRESENT_S)."""
        return self.hours.open_at(self.hours.now()) and bool(self.staff.present())

    def _request(self, session_id: str, reason: str) -> None:
        """The conversation waits for a person (it may already: asked twice at once)."""
        try:
            self.conversations.move(session_id, "request", reason=reason)
        except HandoverError as exc:
            log.info("a second request for a person in %s: %s", session_id, exc)

    def _contact_kept(self, session_id: str, message: str,
                      history: Sequence[Message]) -> Answer | None:
        """The e-mail or phone number a customer leaves, right after kefu asked for one, for
        an open ticket that has none: kept with it; the reply that thanks them (None when
        the message leaves none, or none was asked for)."""
        asked = bool(history) and history[-1].role == "assistant" and any(
            prompts(lang)["leave_contact"] in history[-1].content for lang in ("zh", "en"))
        found = (EMAIL.search(message) or PHONE.search(message)) if asked else None
        ticket = self.tickets.open_for(session_id) if found else None
        if found is None or ticket is None or ticket.contact:
            return None
        self.tickets.set_contact(ticket.id, found.group())
        lang = reply_lang(message, history)
        return Answer(render(lang, "contact_kept", contact=found.group()), "handoff", lang,
                      reason=f"contact details kept with ticket {ticket.id}")

    def move(self, session_id: str, move: Move, person: str, owner: bool = False) -> int:
        """A person of the staff (or the owner, person '') claims, releases or closes the
        conversation: the move's number (HandoverError when it cannot make it now)."""
        return self.conversations.move(session_id, move, person, owner=owner,
                                       reason=f"{move} by {person or 'the owner'}")

    def suggestion(self, session_id: str) -> Answer | None:
        """What kefu would answer the customer's last message, for the person answering it
        (not stored, not shown to the customer); None when the customer has said nothing."""
        history = self.conversations.history(session_id)
        last = max((i for i, m in enumerate(history) if m.role == "user"), default=None)
        if last is None:
            return None
        return final_answer(self.agent.answer(history[last].content, history[:last]))

    def _open_ticket(self, session_id: str, reason: str, contact: str = "") -> Ticket:
        """The session's open ticket, or a new one with the transcript so far."""
        existing = self.tickets.open_for(session_id)
        if existing is not None:
            return existing
        notify = self.notifier is not None and self.notifier.enabled
        ticket = self.tickets.create(session_id, self.kb_name, reason,
                                     self.conversations.transcript(session_id), contact,
                                     webhook=notify)
        if notify:
            assert self.notifier is not None
            self.notifier.deliver_in_background(ticket)
        return ticket



def _sentences(lang: Lang, *parts: str) -> str:
    """Sentences as one reply, empty ones left out."""
    return joined(lang, (p for p in parts if p))


def forget_session(conversations: ConversationStore, tickets: TicketStore,
                   session_id: str) -> tuple[int, int]:
    """Erase one customer's conversation and its tickets (`kefu forget`): (messages,
    tickets) erased."""
    return conversations.forget(session_id), tickets.forget([session_id])


def sweep(conversations: ConversationStore, tickets: TicketStore,
          retention_days: int) -> tuple[int, int]:
    """Erase the conversations not continued for retention_days, and their closed tickets
    (an open one still waits for staff): (conversations, tickets) erased."""
    stale = conversations.forget_before(time.time() - retention_days * 86400)
    return len(stale), tickets.forget(stale, closed_only=True)
