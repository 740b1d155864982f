"""The numbers a support lead runs on, from the exported conversations
(ConversationStore.export()): the admin page's dashboard and `kefu report`.

- resolved without a person: kefu answered (a curated answer or a document's sentences),
  and there was no handoff, no thumbs-down and no return (the customer writing again after
  a pause of RETURN_GAP_S or more, within RETURN_WITHIN_S);
- handoffs: their share and reasons ("asked", "abstained", "button", ...);
- the wait until a person answers: from the request to the first message of a person;
- per person: the conversations they claimed, first response (from their claim to their
  first message) and resolution (from the claim to their release or close), medians;
- ratings (1 to 5 stars) of conversations kefu answered alone and of those a person took;
- per day (UTC, by the conversation's start): conversations, resolved without a person,
  handoffs.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kefu.agent.prompts import prompts
from kefu.types import ANSWERED_ROUTES, Lang

RETURN_GAP_S = 30 * 60  # a pause this long starts a new visit (as web analytics count one)
RETURN_WITHIN_S = 7 * 86400


@dataclass(frozen=True)
class PersonNumbers:
    conversations: int
    first_response_s: float | None  # median
    resolution_s: float | None  # median


@dataclass(frozen=True)
class ServiceReport:
    conversations: int
    resolved_without_person: int
    handoffs: int
    reasons: dict[str, int]
    wait_s: float | None  # median wait until a person answers
    people: dict[str, PersonNumbers]
    bot_ratings: list[int]
    person_ratings: list[int]
    days: list[dict[str, Any]] = field(default_factory=list)

    def share(self, count: int) -> float:
        return count / self.conversations if self.conversations else 0.0

    def lines(self, lang: Lang = "en") -> list[str]:
        """The report as a person reads it, in their language."""
        said = prompts(lang)["service_report"]
        if not self.conversations:
            return [said["empty"]]
        reasons = ", ".join(f"{said['reason'].get(k, k)} {v}" for k, v in
                            sorted(self.reasons.items(), key=lambda kv: -kv[1]))
        out = [said["conversations"].format(n=self.conversations),
               said["resolved"].format(n=self.resolved_without_person,
                                       share=self.share(self.resolved_without_person)),
               said["handoffs"].format(n=self.handoffs, share=self.share(self.handoffs))
               + (said["reasons"].format(reasons=reasons) if reasons else ""),
               said["wait"].format(wait=_duration(self.wait_s, said))]
        for name, numbers in sorted(self.people.items()):
            count = said["one_conversation"] if numbers.conversations == 1 else \
                said["many_conversations"].format(n=numbers.conversations)
            out.append(said["person"].format(
                name=name, conversations=count,
                first=_duration(numbers.first_response_s, said),
                resolution=_duration(numbers.resolution_s, said)))
        out.append(said["ratings"].format(bot=_stars(self.bot_ratings, said),
                                          person=_stars(self.person_ratings, said)))
        return out


def service_report(conversations: Sequence[dict[str, Any]]) -> ServiceReport:
    """The numbers of conversations (ConversationStore.export(), times as Unix seconds)."""
    reasons: Counter[str] = Counter()
    waits: list[float] = []
    first: dict[str, list[float]] = {}
    resolved: dict[str, list[float]] = {}
    held: Counter[str] = Counter()
    bot_ratings: list[int] = []
    person_ratings: list[int] = []
    days: dict[str, dict[str, Any]] = {}
    alone = handed = 0
    for chat in conversations:
        messages = chat["messages"]
        day = days.setdefault(_day(chat["created"]), {
            "day": _day(chat["created"]), "conversations": 0, "resolved": 0, "handoffs": 0})
        day["conversations"] += 1
        handoff = _handoff_reason(messages)
        if handoff:
            handed += 1
            day["handoffs"] += 1
            reasons[handoff] += 1
        elif (any(m["role"] == "assistant" and m["route"] in ANSWERED_ROUTES for m in messages)
              and not any(m["thumb"] == "down" for m in messages)
              and not _returned(messages)):
            alone += 1
            day["resolved"] += 1
        _person_times(messages, waits, first, resolved, held)
        if chat["rating"] is not None:
            (person_ratings if chat["claimed_by"] else bot_ratings).append(chat["rating"])
    people = {name: PersonNumbers(count, _median(first.get(name, [])),
                                  _median(resolved.get(name, [])))
              for name, count in held.items()}
    return ServiceReport(len(conversations), alone, handed, dict(reasons), _median(waits),
                         people, bot_ratings, person_ratings, [days[d] for d in sorted(days)])


def _handoff_reason(messages: Sequence[dict[str, Any]]) -> str:
    """Why the conversation went to a person or a ticket ('' when it did not): the reason
    of its first request, of kefu's reply that accepted a handoff, or 'claimed' when a
    person stepped in unasked."""
    for message in messages:
        if message["role"] == "move" and message["content"] in ("request", "claim"):
            return (message["reason"] or "asked") if message["content"] == "request" \
                else "claimed"
        if message["role"] == "assistant" and message["handoff"] == "accepted":
            return message["reason"].removeprefix("handoff: ").split(";")[0] or "asked"
    return ""


def _returned(messages: Sequence[dict[str, Any]]) -> bool:
    """The customer wrote again after a pause of RETURN_GAP_S, within RETURN_WITHIN_S of the
    conversation's start."""
    asked = [m["created"] for m in messages if m["role"] == "user"]
    return any(later - earlier >= RETURN_GAP_S and later - asked[0] <= RETURN_WITHIN_S
               for earlier, later in zip(asked, asked[1:], strict=False))


def _person_times(messages: Sequence[dict[str, Any]], waits: list[float],
                  first: dict[str, list[float]], resolved: dict[str, list[float]],
                  held: Counter[str]) -> None:
    """The wait, and each person's first response and resolution, in one conversation."""
    requested = claimed = None
    holder, answered = "", False
    took: set[str] = set()
    for message in messages:
        role, when = message["role"], message["created"]
        if role == "move" and message["content"] == "request":
            requested, answered = when, False
        elif role == "move" and message["content"] == "claim":
            claimed, holder, answered = when, message["author"], False
            took.add(holder)
        elif role == "person" and holder and not answered:
            answered = True
            if requested is not None:
                waits.append(when - requested)
            if claimed is not None:
                first.setdefault(holder, []).append(when - claimed)
        elif role == "move" and message["content"] in ("release", "close") and holder:
            if claimed is not None:
                resolved.setdefault(holder, []).append(when - claimed)
            holder, claimed, requested = "", None, None
    held.update(took)  # a conversation counts once per person, however often they took it


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _day(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%d")


def _duration(seconds: float | None, said: dict[str, Any]) -> str:
    if seconds is None:
        return str(said["none"])
    if seconds < 90:
        return str(said["seconds"].format(n=seconds))
    return str(said["minutes"].format(n=seconds / 60) if seconds < 5400 else
               said["hours"].format(n=seconds / 3600))


def _stars(ratings: list[int], said: dict[str, Any]) -> str:
    return str(said["stars"].format(mean=statistics.mean(ratings), n=len(ratings))
               if ratings else said["no_stars"])
