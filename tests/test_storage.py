"""One contract for where conversations, tickets and feedback live, run against both
databases kefu supports: an SQLite file (the default) and a real PostgreSQL server."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from sqlalchemy import inspect

from kefu.agent.conversations import ConversationStore
from kefu.agent.tickets import TicketStore
from kefu.errors import StorageError, TicketClosed, TicketError
from kefu.storage.database import open_database
from kefu.types import Source
from tests.postgres import fresh_database


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request, tmp_path):
    if request.param == "sqlite":
        return tmp_path / "conversations.sqlite"
    return fresh_database(request.getfixturevalue("postgres"))


def _exchange(store, session_id, question, route, answer="…", rewritten=""):
    store.append(session_id, "user", question)
    return store.append(session_id, "assistant", answer, route, rewritten=rewritten)


def test_a_conversation_is_kept_in_order_with_its_sources(location):
    store = ConversationStore(location)
    session = store.open(None, "shop")
    assert store.open(session, "shop") == session and store.exists(session)
    assert not store.exists("nobody")
    assert store.append(session, "user", "运费多少？") == 1
    assert store.append(session, "assistant", "满99元包邮。", "faq",
                        (Source("zh-ship", 0.9),), handoff="offer") == 2
    assert [(m.role, m.content, m.route, m.handoff) for m in store.history(session)] == [
        ("user", "运费多少？", "", ""), ("assistant", "满99元包邮。", "faq", "offer")]
    [_, reply] = store.transcript(session)
    assert reply["sources"][0]["id"] == "zh-ship" and reply["route"] == "faq"
    assert store.history(session, turns=0) == []


def test_a_nul_character_is_stored_as_nothing_on_both_databases(location):
    """PostgreSQL's text cannot hold NUL; a customer's (or a hostile client's) NUL must not
    make the message unstorable."""
    store = ConversationStore(location)
    session = store.open(None, "shop")
    store.append(session, "user", "hello\x00 there")
    ticket = TicketStore(location).create(session, "shop", "asked", store.transcript(session),
                                          contact="a\x00@example.com")
    assert [m.content for m in store.history(session)] == ["hello there"]
    assert TicketStore(location).get(ticket.id).contact == "a@example.com"


def test_messages_of_one_conversation_from_many_threads_get_distinct_numbers(location):
    store = ConversationStore(location)
    session = store.open(None, "shop")
    numbers: list[int] = []

    def write(i: int) -> None:
        numbers.append(store.append(session, "user", f"message {i}"))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(numbers) == list(range(1, 13))
    assert len(store.transcript(session)) == 12


def test_feedback_keeps_the_latest_rating_of_a_reply_only(location):
    store = ConversationStore(location)
    session = store.open(None, "shop")
    seq = _exchange(store, session, "Do you ship to Macau?", "faq")
    assert store.feedback(session, seq, "up") and store.feedback(session, seq, "down", "wrong")
    assert not store.feedback(session, seq - 1, "up")  # the customer's own message
    assert not store.feedback("nobody", 1, "up")
    [day] = store.daily()
    assert (day["faq"], day["up"], day["down"]) == (1, 0, 1)


def test_the_owner_reads_unanswered_questions_and_the_customers_questions(location):
    store = ConversationStore(location)
    first, second = store.open(None, "shop"), store.open(None, "other")
    _exchange(store, first, "Can I pay in cash?", "abstain")
    time.sleep(0.01)
    disliked = _exchange(store, first, "and by card?", "faq", rewritten="Can I pay by card?")
    store.feedback(first, disliked, "down")
    _exchange(store, second, "Where is the shop?", "rag")
    assert [(q["question"], q["why"]) for q in store.unanswered()] == [
        ("Can I pay by card?", "disliked"), ("Can I pay in cash?", "not answered")]
    assert store.questions("shop") == ["Can I pay by card?", "Can I pay in cash?"]
    assert store.questions("shop", limit=1) == ["Can I pay by card?"]
    listed = store.sessions()
    assert {s["id"]: (s["messages"], s["first_question"]) for s in listed} == {
        first: (4, "Can I pay in cash?"), second: (2, "Where is the shop?")}


def test_forgetting_erases_messages_feedback_and_the_session(location):
    store = ConversationStore(location)
    kept, gone = store.open(None, "shop"), store.open(None, "shop")
    _exchange(store, kept, "hi", "abstain")
    store.feedback(gone, _exchange(store, gone, "hello", "faq"), "up")
    assert store.forget(gone) == 2
    assert not store.exists(gone) and store.exists(kept)
    assert [d["up"] for d in store.daily()] == [0]
    assert store.forget_before(time.time() + 1) == [kept]
    assert store.sessions() == []


def test_private_data_is_masked_when_asked(location):
    store = ConversationStore(location, mask_private=True)
    session = store.open(None, "shop")
    store.append(session, "user", "my mail is li.wei@example.com")
    assert store.history(session)[0].content == "my mail is [email]"


def test_tickets_open_close_and_record_webhook_attempts(location):
    store = TicketStore(location)
    ticket = store.create("s1", "shop", "asked", [{"role": "user", "content": "help"}],
                          contact="li@example.com", webhook=True)
    assert store.get(ticket.id.lower()) == ticket and ticket.status == "open"
    assert store.open_for("s1") == ticket and store.open_for("s2") is None
    assert [t.id for t in store.undelivered()] == [ticket.id]
    store.record_attempt(ticket.id, "failed", "HTTP 500")
    store.record_attempt(ticket.id, "delivered")
    delivered = store.get(ticket.id)
    assert (delivered.webhook, delivered.attempts, delivered.last_error) == ("delivered", 2, "")
    assert store.undelivered() == []
    closed = store.close(ticket.id, "refunded")
    assert (closed.status, closed.note) == ("closed", "refunded") and closed.closed
    with pytest.raises(TicketClosed):
        store.close(ticket.id)
    with pytest.raises(TicketError, match="no ticket"):
        store.get("T000")
    assert [t.id for t in store.list("closed")] == [ticket.id] and store.list("open") == []


def test_forgetting_tickets_can_spare_the_open_ones(location):
    store = TicketStore(location)
    open_one = store.create("s1", "shop", "asked", [])
    closed_one = store.create("s2", "shop", "asked", [])
    store.close(closed_one.id)
    assert store.forget(["s1", "s2"], closed_only=True) == 1
    assert [t.id for t in store.list("all")] == [open_one.id]
    assert store.forget(["s1"]) == 1 and store.forget([]) == 0


def test_a_database_written_by_kefu_0_2_is_taken_over_as_it_is(tmp_path):
    """The tables 0.2 made by hand (without the columns added later) keep their rows and
    gain the missing columns; the schema is then Alembic's."""
    path = tmp_path / "conversations.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript("""
            CREATE TABLE sessions (id TEXT PRIMARY KEY, kb TEXT, created REAL, updated REAL);
            CREATE TABLE messages (session_id TEXT, seq INTEGER, role TEXT, content TEXT,
                route TEXT, sources TEXT, created REAL, PRIMARY KEY (session_id, seq));
            INSERT INTO sessions VALUES ('old', 'shop', 1, 1);
            INSERT INTO messages VALUES ('old', 1, 'user', 'still here?', '', '[]', 1);
        """)
    store = ConversationStore(path)
    assert [m.content for m in store.history("old")] == ["still here?"]
    assert store.append("old", "assistant", "Yes.", "faq", rewritten="still open?") == 2
    engine = open_database(path).engine
    assert {"handoff", "rewritten"} <= {c["name"] for c in inspect(engine).get_columns(
        "messages")}
    assert {"feedback", "tickets", "alembic_version"} <= set(inspect(engine).get_table_names())


def test_an_unreachable_server_is_a_storage_error_without_its_password(tmp_path):
    with pytest.raises(StorageError, match="127.0.0.1:1/") as raised:
        ConversationStore("postgresql://kefu:hunter2@127.0.0.1:1/kefu")
    assert "hunter2" not in str(raised.value)


def test_workers_starting_together_migrate_the_schema_once(postgres):
    """Several workers open a new PostgreSQL database at the same moment (one process here,
    as many engines as workers): none fails, the tables (conversations, and a knowledge
    base's in its own schema) are made once."""
    from kefu.storage import database

    url = fresh_database(postgres)
    errors: list[Exception] = []

    def start() -> None:
        try:
            for tables, schema in (("conversations", ""), ("knowledge_base", "shop")):
                engine = database._engine(database.database_url(url), url, schema)
                with database.Database(engine).begin() as connection:
                    database._upgrade(connection, tables)
                engine.dispose()
        except Exception as exc:  # noqa: BLE001 - collected and asserted on below
            errors.append(exc)

    workers = [threading.Thread(target=start, daemon=True) for _ in range(4)]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + 30
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
    assert not any(w.is_alive() for w in workers), "workers deadlocked migrating"
    assert errors == []
    store = ConversationStore(url)
    assert store.append(store.open(None, "shop"), "user", "hi") == 1
