"""Conversations that survive a restart: sessions, messages and feedback in the conversation
database (storage/: an SQLite file, or PostgreSQL for several workers).

The one module that knows how conversations are stored.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from kefu.agent.handover import RULES, SILENT_STATES, Move, State
from kefu.errors import HandoverError, StorageConflict
from kefu.privacy import mask
from kefu.storage.database import open_database
from kefu.storage.tables import feedback, messages, ratings, sessions
from kefu.types import DECLINED_ROUTES, Message, Source

MAX_TURNS = 20  # user + assistant pairs handed back as history
KEFU = "kefu"  # the author of kefu's own messages that answer no message (events send them)
APPEND_TRIES = 10  # workers numbering messages of one conversation at once: try again


class ConversationStore:
    """location: the database (an SQLite file, or a store.database_url). mask_private:
    messages are stored with e-mail addresses, phone, ID card and bank card numbers masked
    (privacy.mask)."""

    def __init__(self, location: Path | str, mask_private: bool = False) -> None:
        self._mask = mask_private
        self._db = open_database(location)

    def open(self, session_id: str | None, kb: str) -> str:
        """The given session (created if new), or a new one."""
        session_id = session_id or uuid.uuid4().hex
        now = time.time()
        with self._db.begin() as db:
            db.execute(self._db.insert(sessions).values(
                id=session_id, kb=kb, created=now, updated=now).on_conflict_do_nothing())
        return session_id

    def append(self, session_id: str, role: str, content: str, route: str = "",
               sources: Sequence[Source] = (), handoff: str = "", rewritten: str = "",
               author: str = "", reason: str = "") -> int:
        """Store one message; returns its number in the session (1, 2, ...). role: user,
        assistant (kefu; reason: why it took its route), person (one of the staff, named by
        author) or move (a change of who answers: content the move, route the state it led
        to, author who made it)."""
        if self._mask:
            content, rewritten = mask(content), mask(rewritten)
        cited = json.dumps([s.to_json() for s in sources])
        return self._numbered(session_id, lambda db, seq: db.execute(_message(
            session_id, seq, role, content, route, author, reason, cited, handoff, rewritten)))

    def _numbered(self, session_id: str, write: Any) -> int:
        """write(db, seq) in a transaction, seq the session's next message number. On
        PostgreSQL the session's row is locked first, so writers of one conversation take
        their turns (SQLite's transactions take the write lock anyway); tried again when
        another worker took that number first all the same."""
        for attempt in range(APPEND_TRIES):
            try:
                with self._db.begin() as db:
                    db.execute(select(sessions.c.id).where(sessions.c.id == session_id)
                               .with_for_update())
                    seq = int(db.execute(select(func.coalesce(func.max(messages.c.seq), 0) + 1)
                                         .where(messages.c.session_id == session_id))
                              .scalar_one())
                    write(db, seq)
                    db.execute(update(sessions).where(sessions.c.id == session_id)
                               .values(updated=time.time()))
                return seq
            except StorageConflict:
                if attempt == APPEND_TRIES - 1:
                    raise
        raise AssertionError("unreachable")

    # -- who answers: the bot or a person (agent/handover.py) ------------------------------
    def state(self, session_id: str) -> tuple[State, str]:
        """(who answers the conversation now, the person holding it or '')."""
        with self._db.read() as db:
            row = db.execute(select(sessions.c.state, sessions.c.person)
                             .where(sessions.c.id == session_id)).first()
        if row is None:
            raise HandoverError(f"no conversation {session_id!r}")
        return row[0], row[1]

    def move(self, session_id: str, move: Move, person: str = "", reason: str = "",
             owner: bool = False) -> int:
        """Make one move of agent/handover.RULES, stored as a message (role 'move') in the
        same transaction, so two people claiming at once cannot both succeed; its number.
        person: who claims, or who releases or closes (a move only the holder may make,
        unless owner). HandoverError when the conversation cannot make the move now."""
        rule = RULES[move]
        changed = (update(sessions)
                   .where(sessions.c.id == session_id, sessions.c.state.in_(rule.start))
                   .values(state=rule.end, person=person if rule.end == "person" else ""))
        if rule.held and not owner:  # a waiting conversation is nobody's yet
            changed = changed.where(or_(sessions.c.person == person,
                                        sessions.c.state == "waiting"))

        def write(db: Any, seq: int) -> None:
            if db.execute(changed).rowcount != 1:
                raise _refused(self.state(session_id), move, person)
            db.execute(_message(session_id, seq, "move", move, rule.end, person, reason))
        return self._numbered(session_id, write)

    def say_as_person(self, session_id: str, person: str, text: str,
                      owner: bool = False) -> int:
        """A person's message to the customer, stored only while they hold the conversation
        (the owner, person '': while anyone does, as the owner); its number."""
        if self._mask:
            text = mask(text)

        def write(db: Any, seq: int) -> None:
            row = db.execute(select(sessions.c.state, sessions.c.person).where(
                sessions.c.id == session_id).with_for_update()).first()
            if row is None or row[0] != "person" or (row[1] != person and not owner):
                raise _refused((row[0], row[1]) if row else ("bot", ""), "reply", person)
            db.execute(_message(session_id, seq, "person", text, "person", person,
                                "" if person else "the owner"))
        return self._numbered(session_id, write)

    def last_moved(self, session_id: str) -> float | None:
        """When the conversation's latest move was made (None: never moved)."""
        with self._db.read() as db:
            return db.execute(select(_latest_move(sessions.c.id))
                              .where(sessions.c.id == session_id)).scalar()

    def queue(self) -> list[dict[str, object]]:
        """The conversations waiting for a person or held by one, longest waiting first:
        who holds it, since when it waits or is held, the customer's last message."""
        moved = _latest_move(sessions.c.id)
        said = (select(messages.c.content).where(messages.c.session_id == sessions.c.id,
                                                  messages.c.role == "user")
                .order_by(messages.c.seq.desc()).limit(1).correlate(sessions)
                .scalar_subquery())
        query = (select(sessions.c.id, sessions.c.state, sessions.c.person, moved, said)
                 .where(sessions.c.state.in_(SILENT_STATES)).order_by(moved))
        with self._db.read() as db:
            rows = db.execute(query).all()
        return [{"session_id": i, "state": state, "person": person, "since": since,
                 "last_message": last or ""} for i, state, person, since, last in rows]

    def since(self, session_id: str, after: int) -> list[dict[str, object]]:
        """What the customer's page has not shown yet, oldest first: the people's messages
        and kefu's own that answered no message (kind 'message': text; author 'kefu'), and
        the moves (kind 'move': the move and the state it led to) numbered after `after`;
        each with its id (number), author and time."""
        query = (select(messages.c.seq, messages.c.role, messages.c.content,
                        messages.c.route, messages.c.author, messages.c.created)
                 .where(messages.c.session_id == session_id, messages.c.seq > after,
                        or_(messages.c.role.in_(("person", "move")),
                            messages.c.author == KEFU))
                 .order_by(messages.c.seq))
        with self._db.read() as db:
            rows = db.execute(query).all()
        return [{"id": seq, "kind": "message", "text": content, "author": author,
                 "created": created} if role != "move" else
                {"id": seq, "kind": "move", "move": content, "state": route, "author": author,
                 "created": created}
                for seq, role, content, route, author, created in rows]

    def exists(self, session_id: str) -> bool:
        with self._db.begin() as db:
            return db.execute(select(sessions.c.id).where(
                sessions.c.id == session_id)).first() is not None

    def feedback(self, session_id: str, seq: int, rating: str, comment: str = "") -> bool:
        """Thumbs up or down on one of kefu's replies (the latest rating counts); False when
        the session has no such reply."""
        with self._db.begin() as db:
            reply = db.execute(select(messages.c.seq).where(
                messages.c.session_id == session_id, messages.c.seq == seq,
                messages.c.role == "assistant")).first()
            if reply is None:
                return False
            values = {"rating": rating, "comment": comment, "created": time.time()}
            db.execute(self._db.insert(feedback).values(session_id=session_id, seq=seq,
                                                        **values)
                       .on_conflict_do_update(index_elements=["session_id", "seq"],
                                              set_=values))
        return True

    def rate(self, session_id: str, stars: int, comment: str = "") -> bool:
        """The customer's rating of the whole conversation, 1 to 5 stars (the latest counts);
        False when there is no such conversation."""
        if not self.exists(session_id):
            return False
        if self._mask:
            comment = mask(comment)
        values = {"stars": stars, "comment": comment, "created": time.time()}
        with self._db.begin() as db:
            db.execute(self._db.insert(ratings).values(session_id=session_id, **values)
                       .on_conflict_do_update(index_elements=["session_id"], set_=values))
        return True

    def export(self, since: float = 0.0) -> list[dict[str, Any]]:
        """Every conversation continued since `since` (a Unix time), oldest first: its
        state, rating and handoff times (first request and claim, by whom, and when a person
        let it go), and its messages with route, sources, reason and thumbs."""
        with self._db.read() as db:
            recent = select(sessions.c.id).where(sessions.c.updated >= since).subquery()
            chats = db.execute(select(sessions, ratings.c.stars, ratings.c.comment)
                               .join(recent, recent.c.id == sessions.c.id)
                               .outerjoin(ratings, ratings.c.session_id == sessions.c.id)
                               .order_by(sessions.c.created)).all()
            rows = db.execute(select(messages).join(recent, recent.c.id == messages.c.session_id)
                              .order_by(messages.c.session_id, messages.c.seq)).all()
            thumbs = {(f.session_id, f.seq): f.rating for f in db.execute(
                select(feedback).join(recent, recent.c.id == feedback.c.session_id)).all()}
        said: dict[str, list[Any]] = {}
        for row in rows:
            said.setdefault(row.session_id, []).append(row)
        return [_exported(chat, said.get(chat.id, []), thumbs) for chat in chats]

    def forget(self, session_id: str) -> int:
        """Erase a conversation (a customer's request): its messages, thumbs, rating and
        the session itself; the number of messages erased."""
        with self._db.begin() as db:
            erased = db.execute(delete(messages).where(
                messages.c.session_id == session_id)).rowcount
            db.execute(delete(feedback).where(feedback.c.session_id == session_id))
            db.execute(delete(ratings).where(ratings.c.session_id == session_id))
            db.execute(delete(sessions).where(sessions.c.id == session_id))
        return int(erased)

    def forget_before(self, cutoff: float) -> list[str]:
        """Erase the conversations last continued before cutoff (a Unix time); their ids."""
        with self._db.begin() as db:
            stale = list(db.execute(select(sessions.c.id).where(
                sessions.c.updated < cutoff)).scalars())
        for session_id in stale:
            self.forget(session_id)
        return stale

    # -- what the owner reads ------------------------------------------------------------
    def sessions(self, limit: int = 100) -> list[dict[str, object]]:
        """The latest conversations: id, when, how many messages, the first question."""
        asked = messages.alias("asked")
        first = (select(asked.c.content)
                 .where(asked.c.session_id == sessions.c.id, asked.c.role == "user")
                 .order_by(asked.c.seq).limit(1).correlate(sessions).scalar_subquery())
        query = (select(sessions.c.id, sessions.c.updated, func.count(messages.c.seq), first)
                 .join(messages, messages.c.session_id == sessions.c.id)
                 .group_by(sessions.c.id, sessions.c.updated)
                 .order_by(sessions.c.updated.desc()).limit(limit))
        with self._db.begin() as db:
            rows = db.execute(query).all()
        return [{"id": i, "updated": u, "messages": n, "first_question": q or ""}
                for i, u, n, q in rows]

    def unanswered(self, limit: int = 1000) -> list[dict[str, object]]:
        """Customer questions kefu declined to answer or whose answer got a thumbs-down,
        newest first, as the standalone question when a follow-up was rewritten."""
        a, question, joined, replies = _asked()
        query = (select(question, a.c.route, feedback.c.rating, a.c.session_id, a.c.seq,
                        a.c.created)
                 .select_from(joined.outerjoin(feedback, and_(
                     feedback.c.session_id == a.c.session_id, feedback.c.seq == a.c.seq)))
                 .where(replies, or_(a.c.route == "abstain", feedback.c.rating == "down"))
                 .order_by(a.c.created.desc()).limit(limit))
        with self._db.begin() as db:
            rows = db.execute(query).all()
        return [{"question": q, "why": "disliked" if rating == "down" else "not answered",
                 "session_id": sid, "seq": seq, "created": created}
                for q, route, rating, sid, seq, created in rows]

    def questions(self, kb: str, limit: int = 1000) -> list[str]:
        """Customers' questions to kb that reached the answer ladder, newest first, as the
        standalone question when a follow-up was rewritten (for `kefu tune`)."""
        a, question, joined, replies = _asked()
        query = (select(question)
                 .select_from(joined.join(sessions, sessions.c.id == a.c.session_id))
                 .where(replies, sessions.c.kb == kb,
                        a.c.route.in_(("faq", "suggest", "rag", "abstain")))
                 .order_by(a.c.created.desc(), a.c.seq.desc()).limit(limit))
        with self._db.begin() as db:
            return [str(q) for q in db.execute(query).scalars()]

    def daily(self, days: int = 30) -> list[dict[str, object]]:
        """Per day (UTC) of the last `days`: replies by route, thumbs up and down."""
        since = time.time() - days * 86400
        with self._db.begin() as db:
            routes = db.execute(select(messages.c.created, messages.c.route).where(
                messages.c.role == "assistant", messages.c.created >= since)).all()
            thumbs = db.execute(select(feedback.c.created, feedback.c.rating).where(
                feedback.c.created >= since)).all()
        out: dict[str, dict[str, int | str]] = {}
        for created, route in routes:
            row = out.setdefault(_utc_day(created), _day(_utc_day(created)))
            key = "declined" if route in DECLINED_ROUTES else route
            row[key] = int(row.get(key, 0)) + 1
        for created, rating in thumbs:
            row = out.setdefault(_utc_day(created), _day(_utc_day(created)))
            row[rating] = int(row.get(rating, 0)) + 1
        return [dict(out[day]) for day in sorted(out)]

    def history(self, session_id: str, turns: int = MAX_TURNS) -> list[Message]:
        """The last `turns` exchanges, oldest first; a person's replies count as the shop's
        (role assistant, route 'person'), moves are left out."""
        query = (select(messages.c.role, messages.c.content, messages.c.route,
                        messages.c.handoff)
                 .where(messages.c.session_id == session_id, messages.c.role != "move")
                 .order_by(messages.c.seq.desc()).limit(2 * turns))
        with self._db.begin() as db:
            rows = db.execute(query).all()
        return [Message("assistant", content, "person", "") if role == "person"
                else Message(role, content, route or "", handoff or "")
                for role, content, route, handoff in reversed(rows)]

    def transcript(self, session_id: str) -> list[dict[str, object]]:
        """Every message of a session with its route and sources, for people to read."""
        query = (select(messages.c.seq, messages.c.role, messages.c.content, messages.c.route,
                        messages.c.sources, messages.c.created, messages.c.rewritten,
                        messages.c.author, messages.c.reason)
                 .where(messages.c.session_id == session_id).order_by(messages.c.seq))
        with self._db.begin() as db:
            rows = db.execute(query).all()
        return [{"id": seq, "role": r, "content": c, "route": route, "sources": json.loads(s),
                 "created": created, "rewritten": rewritten or "", "author": author,
                 "reason": reason}
                for seq, r, c, route, s, created, rewritten, author, reason in rows]

    def close(self) -> None:
        """Close the pooled connections (the next use opens new ones)."""
        self._db.engine.dispose()


def _message(session_id: str, seq: int, role: str, content: str, route: str, author: str,
             reason: str, sources: str = "[]", handoff: str = "", rewritten: str = "") -> Any:
    """The INSERT of one message, numbered seq, made now."""
    return messages.insert().values(
        session_id=session_id, seq=seq, role=role, content=content, route=route,
        sources=sources, created=time.time(), handoff=handoff, rewritten=rewritten,
        author=author, reason=reason)


def _exported(chat: Any, rows: list[Any], thumbs: dict[tuple[str, int], str]
              ) -> dict[str, Any]:
    moves = [(r.content, r.created, r.author) for r in rows if r.role == "move"]

    def first(move: str) -> tuple[Any, ...]:
        return next((m for m in moves if m[0] == move), (move, None, ""))

    claimed = first("claim")
    ended = next((m for m in moves if m[0] in ("release", "close") and claimed[1] is not None
                  and m[1] >= claimed[1]), ("", None, ""))
    return {
        "session_id": chat.id, "kb": chat.kb, "created": chat.created, "updated": chat.updated,
        "state": chat.state, "rating": chat.stars, "rating_comment": chat.comment or "",
        "handoff_requested": first("request")[1], "handoff_claimed": claimed[1],
        "claimed_by": claimed[2], "handoff_ended": ended[1],
        "messages": [{"id": r.seq, "role": r.role, "author": r.author, "content": r.content,
                      "route": r.route, "sources": [s["id"] for s in json.loads(r.sources)],
                      "reason": r.reason, "handoff": r.handoff or "",
                      "thumb": thumbs.get((chat.id, r.seq), ""),
                      "created": r.created} for r in rows],
    }


def _refused(now: tuple[State, str], move: Move | Literal["reply"],
             person: str) -> HandoverError:
    """Why a conversation in state `now` (and held by whom) cannot make the move."""
    state, holder = now
    if state == "person" and holder != person:
        if move == "claim":
            return HandoverError(f"the conversation is taken: {holder} holds it", "taken",
                                 holder=holder)
        return HandoverError(f"the conversation is with {holder}; only they or the owner can "
                             f"{move} it", "held", holder=holder, move=move)
    return HandoverError(f"a conversation that is {state!r} cannot take the move {move!r}",
                         "state", state=state, move=move)


def _latest_move(session_id: ColumnElement[str]) -> Any:
    """When a conversation's latest move was made, as a column of its session's row."""
    return (select(func.max(messages.c.created))
            .where(messages.c.session_id == session_id, messages.c.role == "move")
            .correlate(sessions).scalar_subquery())


def _asked() -> tuple[Any, ColumnElement[str], Any, ColumnElement[bool]]:
    """Each reply of kefu's (a) joined to the customer's message before it (u), and the
    question asked: the standalone one when a follow-up was rewritten."""
    a, u = messages.alias("a"), messages.alias("u")
    question = func.coalesce(func.nullif(a.c.rewritten, ""), u.c.content)
    joined = a.join(u, and_(u.c.session_id == a.c.session_id, u.c.seq == a.c.seq - 1))
    return a, question, joined, and_(a.c.role == "assistant", u.c.role == "user")


def _utc_day(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%d")


def _day(day: str) -> dict[str, int | str]:
    return {"day": day, "faq": 0, "suggest": 0, "rag": 0, "declined": 0, "up": 0, "down": 0}
