"""A person of the staff takes over a conversation: the moves (and the ones refused), the
bot silent while a person is awaited or holds it, the staff's API, the customer's event
stream resumed without loss or repetition, and `kefu agents`."""

from __future__ import annotations

import base64
import io
import json
import threading

import pytest
from fastapi.testclient import TestClient

from kefu.agent.conversations import ConversationStore
from kefu.agent.factory import build_agent, conversations_database
from kefu.agent.prompts import prompts
from kefu.agent.staff import StaffStore
from kefu.agent.tickets import TicketStore
from kefu.cli import main
from kefu.errors import HandoverError
from kefu.ui.app import create_app
from tests.postgres import fresh_database

TOKEN = "owner-token-123"


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request, tmp_path):
    if request.param == "sqlite":
        return tmp_path / "conversations.sqlite"
    return fresh_database(request.getfixturevalue("postgres"))


def _states(store, session):
    return [(m["content"], m["route"], m["author"]) for m in store.transcript(session)
            if m["role"] == "move"]


def test_every_move_is_stored_and_the_forbidden_ones_refused(location):
    store = ConversationStore(location)
    session = store.open(None, "shop")
    store.append(session, "user", "I want a person")
    for move, person in (("claim", "Li"), ("release", "Li"), ("close", "Li")):
        if move != "claim":
            with pytest.raises(HandoverError, match="cannot take the move"):
                store.move(session, move, person)  # nobody holds it yet
    store.move(session, "request", reason="asked")
    with pytest.raises(HandoverError, match="cannot take the move 'request'"):
        store.move(session, "request")  # asked twice: one wait
    with pytest.raises(HandoverError, match="cannot take the move 'reply'"):
        store.say_as_person(session, "Li", "hello")  # nobody has claimed it
    store.move(session, "claim", "Li")
    with pytest.raises(HandoverError, match="taken: Li holds it"):
        store.move(session, "claim", "Wang")
    for move in ("release", "close"):
        with pytest.raises(HandoverError, match="with Li; only they or the owner"):
            store.move(session, move, "Wang")
    with pytest.raises(HandoverError, match="with Li"):
        store.say_as_person(session, "Wang", "I'll take it")
    store.say_as_person(session, "Li", "Hi, Li here.")
    assert store.state(session) == ("person", "Li")
    store.move(session, "release", "Li")
    assert store.state(session) == ("bot", "")
    store.move(session, "claim", "Wang")  # a person may step in unasked
    store.move(session, "close", owner=True)  # the owner may close anyone's
    assert store.state(session) == ("closed", "")
    assert _states(store, session) == [("request", "waiting", ""), ("claim", "person", "Li"),
                                       ("release", "bot", "Li"), ("claim", "person", "Wang"),
                                       ("close", "closed", "")]
    assert [(m.role, m.route) for m in store.history(session)] == [
        ("user", ""), ("assistant", "person")]  # a person's reply is the shop's; no moves


def test_two_people_claiming_at_once_one_gets_it(location):
    store = ConversationStore(location)
    session = store.open(None, "shop")
    store.move(session, "request")
    won, lost = [], []
    start = threading.Barrier(4)

    def claim(name):
        start.wait()
        try:
            store.move(session, "claim", name)
            won.append(name)
        except HandoverError:
            lost.append(name)

    threads = [threading.Thread(target=claim, args=(n,)) for n in ("Li", "Wang", "Zhao", "Qian")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1 and len(lost) == 3
    assert store.state(session) == ("person", won[0])
    assert [c for c, _, _ in _states(store, session)] == ["request", "claim"]


def test_staff_passwords_are_hashed_and_checked(tmp_path):
    staff = StaffStore(tmp_path / "c.sqlite")
    assert staff.add("Li", "correct horse") and not staff.add("Li", "battery staple")
    assert staff.check("Li", "battery staple") and not staff.check("Li", "correct horse")
    assert not staff.check("Nobody", "battery staple")
    with pytest.raises(HandoverError, match="at least 8"):
        staff.add("Wang", "short")
    with pytest.raises(HandoverError, match="cannot be a name"):
        staff.add("a:b", "long enough")
    assert staff.names() == ["Li"] and staff.remove("Li") and staff.names() == []


@pytest.fixture
def client(settings, tiny_kb):
    settings = settings.model_copy(update={"server": settings.server.model_copy(
        update={"admin_token": TOKEN})})
    staff = StaffStore(conversations_database(settings))
    for name in ("Li", "Wang"):
        staff.add(name, f"{name.lower()}-password")
        staff.seen(name)  # at work: kefu calls them
    app = create_app(settings, build_agent(settings, kb=tiny_kb, chat_model=None), warm=False)
    with TestClient(app) as client:
        yield client


def _as(name):
    user = f"{name}:{name.lower()}-password".encode()
    return {"Authorization": "Basic " + base64.b64encode(user).decode()}


OWNER = {"Authorization": f"Bearer {TOKEN}"}


def _events(client, session, **params):
    """The events of one bounded stream: (id, kind, data)."""
    headers = {}
    if "last_id" in params:
        headers["Last-Event-ID"] = str(params.pop("last_id"))
    response = client.get("/api/v1/chat/events", params={"session_id": session, "hold_s": 0.2,
                                                         **params}, headers=headers)
    assert response.status_code == 200, response.text
    events = []
    for block in response.text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            events.append((int(fields["id"]), fields["event"], json.loads(fields["data"])))
    return events


def test_a_person_takes_over_and_gives_the_conversation_back(client):
    chat = lambda text, **kw: client.post("/api/v1/chat", json={"message": text, **kw}).json()  # noqa: E731
    first = chat("What's the weather on Mars?")
    session = {"session_id": first["session_id"]}
    assert (first["route"], first["handoff"]) == ("abstain", "")
    declined = chat("Who won the 1998 world cup?", **session)  # declined twice: Li is called
    assert (declined["route"], declined["handoff"], declined["ticket_id"]) == (
        "abstain", "accepted", None)  # the shop has staff and they are in: no ticket
    assert declined["answer"] == prompts("en")["person_declined"]
    [waiting] = client.get("/api/v1/agent/queue", headers=_as("Wang")).json()
    assert (waiting["session_id"], waiting["state"]) == (session["session_id"], "waiting")
    waits = chat("Are you there?", **session)
    assert (waits["route"], waits["answer"]) == ("agent", "")  # the bot stays silent

    path = f"/api/v1/agent/conversations/{session['session_id']}"
    assert client.post(f"{path}/claim", headers=_as("Li")).json()["agent"] == "Li"
    taken = client.post(f"{path}/claim", headers=_as("Wang"))
    assert taken.status_code == 409 and "Li holds it" in taken.json()["message"]
    said = [client.post(f"{path}/messages", json={"text": f"Li here ({n})"},
                        headers=_as("Li")).json()["message_id"] for n in (1, 2)]
    assert client.post(f"{path}/messages", json={"text": "me too"},
                       headers=_as("Wang")).status_code == 409
    held = chat("How long does shipping take?", **session)
    assert held["route"] == "agent"  # to Li, not answered by the bot meanwhile

    events = _events(client, session["session_id"])
    assert [(kind, data.get("move") or data.get("text"), data["author"])
            for _, kind, data in events] == [
        ("move", "request", ""), ("move", "claim", "Li"), ("message", "Li here (1)", "Li"),
        ("message", "Li here (2)", "Li")]
    assert [i for i, _, _ in events][-2:] == said
    # a dropped stream resumes after the last event it got: nothing lost, nothing repeated
    assert _events(client, session["session_id"], last_id=said[0])[0][0] == said[1]
    assert _events(client, session["session_id"], last_id=said[1]) == []
    third = client.post(f"{path}/messages", json={"text": "Li here (3)"},
                        headers=_as("Li")).json()["message_id"]
    assert [(i, d["text"]) for i, _, d in _events(client, session["session_id"],
                                                  last_id=said[1])] == [(third, "Li here (3)")]

    released = client.post(f"{path}/release", headers=_as("Li")).json()
    assert (released["state"], released["agent"]) == ("bot", "")
    answered = chat("How long does shipping take?", **session)
    assert answered["route"] == "faq" and "3-5 working days" in answered["answer"]
    assert client.get("/api/v1/agent/queue", headers=_as("Li")).json() == []
    roles = [m["role"] for m in client.get(path, headers=OWNER).json()["messages"]]
    assert roles.count("person") == 3 and roles.count("move") == 3


def test_the_staff_api_needs_a_person_or_the_owner(client):
    session = client.post("/api/v1/chat", json={"message": "hello"}).json()["session_id"]
    path = f"/api/v1/agent/conversations/{session}"
    assert client.get("/api/v1/agent/queue").status_code == 401
    assert client.get("/api/v1/agent/queue", headers={
        "Authorization": "Basic " + base64.b64encode(b"Li:wrong").decode()}).status_code == 401
    assert client.post(f"{path}/claim", json={"agent": "Nobody"},
                       headers=OWNER).status_code == 422
    claimed = client.post(f"{path}/claim", json={"agent": "Wang"}, headers=OWNER).json()
    assert (claimed["state"], claimed["agent"]) == ("person", "Wang")
    assert client.post(f"{path}/release", headers=_as("Li")).status_code == 409
    assert client.post(f"{path}/close", headers=OWNER).json()["state"] == "closed"
    assert client.post("/api/v1/agent/conversations/nobody/claim",
                       headers=_as("Li")).status_code == 404
    assert client.get("/api/v1/chat/events", params={"session_id": "nobody"}).status_code == 404


def test_with_nobody_at_work_a_request_for_a_person_opens_a_ticket(settings, tiny_kb):
    StaffStore(conversations_database(settings)).add("Li", "li-password")  # never signed in
    app = create_app(settings, build_agent(settings, kb=tiny_kb, chat_model=None), warm=False)
    with TestClient(app) as client:
        asked = client.post("/api/v1/chat", json={"message": "I want to talk to a human"}
                            ).json()
        assert asked["handoff"] == "offer"  # not called: offered, as without staff
        accepted = client.post("/api/v1/chat", json={"message": "yes",
                                                     "session_id": asked["session_id"]}).json()
        assert accepted["ticket_id"] and accepted["answer"].startswith(
            prompts("en")["handoff"])
        assert client.get("/api/v1/agent/queue", headers=_as("Li")).json() == []


def test_asking_for_a_person_calls_one_at_once_when_the_shop_has_staff(client):
    asked = client.post("/api/v1/chat", json={"message": "我要转人工"}).json()
    assert (asked["route"], asked["handoff"], asked["answer"]) == (
        "handoff", "accepted", prompts("zh")["person_asked"])
    [waiting] = client.get("/api/v1/agent/queue", headers=_as("Li")).json()
    assert waiting["session_id"] == asked["session_id"]


def test_the_handoff_button_calls_a_person_when_the_shop_has_staff(client):
    session = client.post("/api/v1/chat", json={"message": "How long does shipping take?"}
                          ).json()["session_id"]
    handed = client.post("/api/v1/handoff", json={"session_id": session}).json()
    assert handed["ticket_id"] is None and handed["answer"] == prompts("en")["person_soon"]
    assert client.post("/api/v1/handoff", json={"session_id": session}).json()[
        "ticket_id"] is None  # pressed again while waiting: still one wait
    assert [e[2]["move"] for e in _events(client, session)] == ["request"]
    suggestion = client.get(f"/api/v1/agent/conversations/{session}/suggestion",
                            headers=_as("Li")).json()  # kefu's answer, for Li to edit
    assert suggestion["answer"] == "Orders arrive in 3-5 working days."
    assert [s["id"] for s in suggestion["sources"]] == ["t-en-ship"]
    assert len(client.get(f"/api/v1/agent/conversations/{session}", headers=_as("Li")).json()[
        "messages"]) == 5  # not stored: the question, answer, move and the two replies


def test_kefu_agents_adds_lists_and_removes_people(settings, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    assert main(["agents", "add", "Li", "--password-stdin"]) == 0
    assert main(["agents", "list"]) == 0
    assert capsys.readouterr().out.splitlines() == ["added Li", "Li"]
    assert StaffStore(conversations_database(settings)).check("Li", "a long password")
    assert main(["agents", "remove", "Li"]) == 0 and main(["agents", "remove", "Li"]) == 1


def test_the_chat_page_shows_a_persons_replies_and_moves_in_the_customers_language(client):
    from kefu.ui.chat_page import _delivered

    desk = client.app.state.desk
    session = desk.start(None)
    list(desk.chat(session, "多久能收到货？"))
    desk.conversations.move(session, "request")
    desk.conversations.move(session, "claim", "Li")
    said = desk.conversations.say_as_person(session, "Li", "您好，我是小李。")
    shown, last = _delivered(desk, session, 0)
    assert [m["content"] for m in shown] == ["*Li 已加入对话*", "**Li**: 您好，我是小李。"]
    assert last == said and _delivered(desk, session, last) == ([], last)


def test_opening_hours_say_when_the_staff_are_in_and_back():
    from datetime import date, datetime

    from kefu.agent.hours import OpeningHours, when
    from kefu.config import HandoffSettings

    hours = OpeningHours(HandoffSettings(
        hours={"mon": "09:00-12:00,13:30-18:00", "tue": "09:00-18:00", "sat": ""},
        holidays=[date(2027, 2, 9)]))  # a Tuesday
    monday = datetime(2027, 2, 8, 12, 30)
    assert not hours.open_at(monday) and hours.open_at(monday.replace(hour=14))
    assert hours.next_opening(monday) == datetime(2027, 2, 8, 13, 30)
    evening = monday.replace(hour=19)  # Tuesday is a holiday: back next Monday
    assert hours.next_opening(evening) == datetime(2027, 2, 15, 9, 0)
    assert when("en", datetime(2027, 2, 15, 9, 0), evening) == "2027-02-15 at 09:00"
    assert when("zh", datetime(2027, 2, 12, 9, 0), evening) == "周五 09:00"
    assert when("en", datetime(2027, 2, 9, 9, 0), evening) == "tomorrow at 09:00"
    assert OpeningHours(HandoffSettings()).open_at(evening)  # no hours set: always in
    with pytest.raises(ValueError, match="write ranges as"):
        HandoffSettings(hours={"mon": "9-18"})
    with pytest.raises(ValueError, match="not a weekday"):
        HandoffSettings(hours={"monday": "09:00-18:00"})


def test_outside_the_hours_a_ticket_says_when_the_staff_are_back_and_keeps_a_contact(
        settings, tiny_kb):
    from datetime import date, timedelta

    from kefu.agent.tickets import TicketStore
    from kefu.config import WEEKDAYS, HandoffSettings

    today = date.today()  # closed from yesterday to tomorrow, so at midnight too
    settings = settings.model_copy(update={"handoff": HandoffSettings(
        hours=dict.fromkeys(WEEKDAYS, "00:00-24:00"),
        holidays=[today + timedelta(days=n) for n in (-1, 0, 1)])})
    StaffStore(conversations_database(settings)).add("Li", "li-password")
    app = create_app(settings, build_agent(settings, kb=tiny_kb, chat_model=None), warm=False)
    with TestClient(app) as client:
        first = client.post("/api/v1/chat", json={"message": "我要人工客服"}).json()
        session = {"session_id": first["session_id"]}
        closed = client.post("/api/v1/chat", json={"message": "好的", **session}).json()
        assert closed["ticket_id"] and closed["route"] == "handoff"
        assert closed["answer"].startswith("人工客服现在不在，")
        assert closed["answer"].endswith(" 00:00回来。请在这里留下您的邮箱或手机号，工作人员会联系"
                                         f"您。您的工单号是 {closed['ticket_id']}。")
        kept = client.post("/api/v1/chat", json={"message": "我的邮箱 li.na@example.com",
                                                 **session}).json()
        assert kept["answer"] == "谢谢，工作人员会通过 li.na@example.com 联系您。"
        ticket = TicketStore(conversations_database(settings)).get(closed["ticket_id"])
        assert ticket.contact == "li.na@example.com"
        assert client.get("/api/v1/agent/queue", headers=_as("Li")).json() == []


def test_the_inbox_speaks_the_persons_language(client):
    from kefu.ui.inbox_page import queue_rows, transcript_messages
    from kefu.ui.page_language import texts

    desk = client.app.state.desk
    session = desk.start(None)
    list(desk.chat(session, "多久能收到货？"))
    desk.conversations.move(session, "request", reason="button")
    desk.conversations.move(session, "claim", "Li")
    said = texts("zh", "inbox")
    rows, ids = queue_rows(desk, said)
    assert rows["headers"] == ["顾客的最后一条消息", "状态", "接待人", "时长"]
    assert rows["data"][0][:3] == ["多久能收到货？", "人工接待中", "Li"]
    assert ids == [session]
    assert [m["content"] for m in transcript_messages(desk, session, said)][-2:] == [
        "*顾客要求人工服务*", "*Li 接手了对话*"]


def test_a_person_may_close_a_waiting_conversation_and_the_owner_writes_as_the_owner(
        location):
    store = ConversationStore(location)
    spam = store.open(None, "shop")
    store.move(spam, "request")
    store.move(spam, "close", "Wang")  # nobody's yet: any person may close it
    assert store.state(spam) == ("closed", "")
    held = store.open(None, "shop")
    store.move(held, "claim", "Li")
    store.say_as_person(held, "", "The owner here.", owner=True)
    [said] = [m for m in store.transcript(held) if m["role"] == "person"]
    assert (said["author"], said["reason"]) == ("", "the owner")  # not credited to Li


def test_a_conversation_nobody_claims_in_time_goes_back_to_kefu_with_a_ticket(
        settings, tiny_kb):
    import time

    from kefu.config import HandoffSettings

    settings = settings.model_copy(update={"handoff": HandoffSettings(wait_s=0.3)})
    staff = StaffStore(conversations_database(settings))
    staff.add("Li", "li-password")
    staff.seen("Li")  # at work, then away from the inbox
    app = create_app(settings, build_agent(settings, kb=tiny_kb, chat_model=None), warm=False)
    with TestClient(app) as client:
        asked = client.post("/api/v1/chat", json={"message": "我要转人工"}).json()
        session = asked["session_id"]
        assert client.post("/api/v1/chat", json={"message": "在吗", "session_id": session}
                           ).json()["route"] == "agent"  # still waiting: to the person
        time.sleep(0.4)
        events = _events(client, session)  # the customer's page, still open, learns of it
        assert [(kind, d.get("move"), d["author"]) for _, kind, d in events] == [
            ("move", "request", ""), ("move", "expire", ""), ("message", None, "kefu")]
        said = events[-1][2]["text"]
        assert said.startswith(prompts("zh")["nobody_came"] + prompts("zh")["leave_contact"])
        ticket = TicketStore(conversations_database(settings)).open_for(session)
        assert ticket.reason == "unclaimed" and ticket.id in said
        kept = client.post("/api/v1/chat", json={"message": "13812345678",
                                                 "session_id": session}).json()
        assert kept["answer"] == "谢谢，工作人员会通过 13812345678 联系您。"
        assert client.get("/api/v1/agent/queue", headers=_as("Li")).json() == []


def test_a_refused_move_is_told_in_the_persons_language(tmp_path):
    from kefu.ui.inbox_page import refusal
    from kefu.ui.page_language import texts

    store = ConversationStore(tmp_path / "conversations.sqlite")
    session = store.open(None, "shop")
    zh, en = texts("zh", "inbox"), texts("en", "inbox")
    with pytest.raises(HandoverError) as bot:
        store.move(session, "release", "Li")
    assert refusal(bot.value, zh) == "这个对话由 kefu 回答中，不能交还给 kefu。"
    assert refusal(bot.value, en) == "This conversation is with kefu: it cannot be released."
    store.move(session, "claim", "Wang")
    with pytest.raises(HandoverError) as taken:
        store.move(session, "claim", "Li")
    assert refusal(taken.value, zh) == "对话已被 Wang 接手。"
    with pytest.raises(HandoverError) as held:
        store.say_as_person(session, "Li", "hello")
    assert refusal(held.value, zh) == "对话由 Wang 接待，只有 Wang 或店主可以这样做。"
    assert refusal(HandoverError("no conversation 'x'"), zh) == "no conversation 'x'"
