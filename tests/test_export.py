"""`kefu export`, the admin API's and the admin page's export: every conversation with its
routes, sources, thumbs, rating and handoff times, exactly, as CSV and JSON lines."""

from __future__ import annotations

import csv
import io
import json
import time

from fastapi.testclient import TestClient

from kefu.agent.conversations import ConversationStore
from kefu.agent.factory import build_agent, conversations_database
from kefu.cli import main
from kefu.types import Source
from kefu.ui.app import create_app


def _seeded(store):
    """Two conversations: kefu alone (a thumbs-down), and one Li took over and rated."""
    alone = store.open("alone", "shop")
    store.append(alone, "user", "How long does shipping take?")
    reply = store.append(alone, "assistant", "3-5 working days.", "faq",
                         (Source("t-en-ship", 0.9),), reason="curated match 0.91")
    store.feedback(alone, reply, "down")
    held = store.open("held", "shop")
    store.append(held, "user", "=HYPERLINK(\"http://evil\")  I want a person")
    store.move(held, "request", reason="button")
    store.move(held, "claim", "Li", reason="claim by Li")
    store.say_as_person(held, "Li", "Hi, Li here.")
    store.move(held, "release", "Li", reason="release by Li")
    store.rate(held, 5, "quick")
    return alone, held


def test_kefu_export_writes_every_conversation_exactly(settings, capsys, tmp_path):
    store = ConversationStore(conversations_database(settings))
    _seeded(store)
    assert main(["export", "--format", "jsonl"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [c["session_id"] for c in lines] == ["alone", "held"]
    alone, held = lines
    assert [(m["role"], m["route"], m["sources"], m["thumb"]) for m in alone["messages"]] == [
        ("user", "", [], ""), ("assistant", "faq", ["t-en-ship"], "down")]
    assert alone["messages"][1]["reason"] == "curated match 0.91"
    assert (alone["rating"], alone["handoff_requested"], alone["claimed_by"]) == (None, "", "")
    assert (held["state"], held["rating"], held["rating_comment"], held["claimed_by"]) == (
        "bot", 5, "quick", "Li")
    assert held["handoff_requested"] <= held["handoff_claimed"] <= held["handoff_ended"]
    assert held["handoff_claimed"].endswith("Z")  # UTC, ISO 8601
    assert [m["role"] for m in held["messages"]] == ["user", "move", "move", "person", "move"]

    out = tmp_path / "conversations.csv"
    assert main(["export", "--out", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert len(rows) == 7  # one per message
    assert [r["session_id"] for r in rows].count("held") == 5
    assert rows[2]["content"].startswith("'=HYPERLINK")  # a formula stays text
    assert {r["rating"] for r in rows if r["session_id"] == "held"} == {"5"}
    assert rows[1]["sources"] == "t-en-ship" and rows[1]["thumb"] == "down"

    assert main(["export", "--since", time.strftime("%Y-%m-%d", time.localtime(
        time.time() + 2 * 86400))]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "session_id,kb,state,rating,rating_comment,handoff_requested,handoff_claimed,"
        "claimed_by,handoff_ended,message,created,role,author,content,route,sources,reason,"
        "handoff,thumb"]  # nothing continued since the day after tomorrow: the header only
    assert main(["export", "--since", "last week"]) == 2


def test_the_customer_rates_a_conversation_and_the_owner_downloads_it(settings, tiny_kb):
    settings = settings.model_copy(update={"server": settings.server.model_copy(
        update={"admin_token": "owner-token-123"})})
    app = create_app(settings, build_agent(settings, kb=tiny_kb, chat_model=None), warm=False)
    with TestClient(app) as client:
        session = client.post("/api/v1/chat", json={"message": "hello"}).json()["session_id"]
        assert client.post("/api/v1/rating", json={"session_id": session, "stars": 6}
                           ).status_code == 422
        assert client.post("/api/v1/rating", json={"session_id": "nobody", "stars": 3}
                           ).status_code == 404
        for stars in (2, 4):  # the latest rating counts
            assert client.post("/api/v1/rating", json={"session_id": session, "stars": stars,
                                                       "comment": "ok"}).status_code == 204
        owner = {"Authorization": "Bearer owner-token-123"}
        assert client.get("/api/v1/conversations/export").status_code == 401
        got = client.get("/api/v1/conversations/export", params={"format": "jsonl"},
                         headers=owner)
        assert got.headers["content-type"].startswith("application/x-ndjson")
        [chat] = [json.loads(line) for line in got.text.splitlines()]
        assert (chat["session_id"], chat["rating"], len(chat["messages"])) == (session, 4, 2)


BASE = 1_800_000_000.0  # 2027-01-15, UTC


def _chat(session_id, *messages, rating=None, claimed_by="", day=0):
    said = [{"role": role, "content": content, "created": BASE + day * 86400 + at,
             "author": author, "reason": reason, "handoff": handoff, "thumb": thumb,
             "route": "faq" if role == "assistant" and not handoff else ""}
            for role, content, at, author, reason, handoff, thumb in (
                (*m, *([""] * (7 - len(m)))) for m in messages)]
    return {"session_id": session_id, "created": said[0]["created"], "rating": rating,
            "claimed_by": claimed_by, "messages": said}


def test_the_leads_numbers_on_a_hand_made_log_are_exact():
    from kefu.agent.service_report import service_report

    log = [
        _chat("alone", ("user", "q", 0), ("assistant", "a", 1), rating=5),
        _chat("disliked", ("user", "q", 0), ("assistant", "a", 1, "", "", "", "down")),
        _chat("came back", ("user", "q", 0), ("assistant", "a", 1), ("user", "q2", 1800)),
        _chat("to Li", ("user", "q", 0), ("move", "request", 10, "", "button"),
              ("assistant", "soon", 10, "", "handoff: button", "accepted"),
              ("move", "claim", 70, "Li"), ("person", "hi", 100, "Li"), ("user", "q", 110),
              ("person", "done", 120, "Li"), ("move", "release", 400, "Li"),
              rating=4, claimed_by="Li"),
        _chat("ticket", ("user", "q", 0), ("assistant", "ticket", 5, "",
                                           "handoff: abstained; declined before", "accepted")),
        _chat("Wang stepped in", ("user", "q", 0), ("move", "claim", 10, "Wang"),
              ("person", "hi", 40, "Wang"), ("move", "close", 100, "Wang"),
              rating=2, claimed_by="Wang", day=1),
    ]
    report = service_report(log)
    assert (report.conversations, report.resolved_without_person, report.handoffs) == (6, 1, 3)
    assert report.reasons == {"button": 1, "abstained": 1, "claimed": 1}
    assert report.wait_s == 90  # request 10 s -> Li's first message 100 s
    assert {name: (p.conversations, p.first_response_s, p.resolution_s)
            for name, p in report.people.items()} == {"Li": (1, 30, 330), "Wang": (1, 30, 90)}
    assert (report.bot_ratings, report.person_ratings) == ([5], [4, 2])
    assert report.days == [
        {"day": "2027-01-15", "conversations": 5, "resolved": 1, "handoffs": 2},
        {"day": "2027-01-16", "conversations": 1, "resolved": 0, "handoffs": 1}]
    assert report.lines()[1:5] == [
        "resolved without a person: 1 (17%)",
        "handed to a person or a ticket: 3 (50%); reasons: the button 1, kefu could not "
        "answer 1, a person stepped in 1",
        "median wait until a person answers: 1.5 min",
        "  Li: 1 conversation, first response 30 s, resolution 5.5 min (medians)"]
    assert report.lines("zh")[1:5] == [
        "无需人工即解决：1（17%）",
        "转人工或工单：3（50%）；原因：点击了转人工按钮 1, 智能助手无法回答 1, 工作人员主动接手 1",
        "等待人工回复的中位时间：1.5 分钟",
        "  Li：1 个对话，首次回复 30 秒，解决 5.5 分钟（中位数）"]
    assert report.lines("zh")[-1] == ("评分：仅智能助手 5.0 分（满分 5 分，1 个评分）；"
                                      "有人工参与 3.0 分（满分 5 分，2 个评分）")


def test_kefu_report_reads_the_stored_conversations(settings, capsys):
    _seeded(ConversationStore(conversations_database(settings)))
    assert main(["report", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["conversations"], report["resolved_without_person"], report["handoffs"],
            report["reasons"], report["person_ratings"]) == (2, 0, 1, {"button": 1}, [5])
    assert main(["report"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "conversations: 2"
    assert main(["report", "--lang", "zh"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "对话数：2"
