"""Who answers a conversation: kefu (the bot), nobody yet while the customer waits for a
person, a person of the shop's staff (named), or nobody after it was closed.

The one place that says which moves are allowed. The customer or kefu asks for a person
(request); a person claims the conversation, replies, releases it to the bot or closes it;
one nobody claims in time goes back to the bot with a ticket (expire).
While a person holds it or the customer waits for one, the bot stays silent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

State = Literal["bot", "waiting", "person", "closed"]
Move = Literal["request", "claim", "release", "close", "expire"]
SILENT_STATES: tuple[State, ...] = ("waiting", "person")  # the bot does not answer


@dataclass(frozen=True)
class Rule:
    """A move: the states it may start from and the state it leads to; held: only the
    person holding the conversation (or the owner) may make it."""

    start: tuple[State, ...]
    end: State
    held: bool = False


RULES: dict[Move, Rule] = {
    "request": Rule(("bot", "closed"), "waiting"),
    "claim": Rule(("waiting", "bot", "closed"), "person"),  # a person may step in unasked
    "release": Rule(("person",), "bot", held=True),
    "close": Rule(("waiting", "person"), "closed", held=True),
    "expire": Rule(("waiting",), "bot"),  # nobody claimed it in handoff.wait_s: a ticket
}
