"""Live single-entry edits: Python API, the admin HTTP API, `kefu kb`, and ingest as a sync."""

import json
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kefu.agent.factory import build_agent
from kefu.agent.ladder import Agent
from kefu.cli import main
from kefu.config import LadderSettings, RetrievalSettings
from kefu.errors import KnowledgeBaseError
from kefu.knowledge_base.editor import (
    LocalEditor,
    new_entry,
    serving_url,
    write_serving_note,
)
from kefu.knowledge_base.store import open_knowledge_base
from kefu.retrieval.hybrid import Retriever
from kefu.ui.admin_client import RemoteEditor
from kefu.ui.app import create_app

DATA = Path(__file__).parent / "data"
TOKEN = "s3cret-token"
GIFT = "Do you sell gift cards?"


def test_an_added_entry_answers_the_next_question_in_both_indexes(tiny_kb):
    retriever = Retriever(tiny_kb, RetrievalSettings())
    assert Agent(retriever, None, LadderSettings()).ask(GIFT).route == "abstain"
    editor = LocalEditor(tiny_kb)
    assert editor.put(new_entry(GIFT, "Yes, from $20.", entry_id="manual-gift")) == "added"
    top = retriever.search(GIFT)[0]
    assert top.entry.id == "manual-gift" and top.bm25 > 0.5
    editor.delete("manual-gift")
    assert all(h.entry.id != "manual-gift" for h in retriever.search(GIFT))


@pytest.fixture
def admin(settings, tiny_kb, scripted):
    served = settings.model_copy(update={"server": settings.server.model_copy(
        update={"admin_token": TOKEN, "kb": "tiny"})})
    app = create_app(served, build_agent(served, kb=tiny_kb, chat_model=scripted), warm=False)
    with TestClient(app) as client:
        yield client


def test_admin_api_needs_the_token(admin):
    assert admin.get("/api/v1/kb/entries").status_code == 401
    wrong = admin.get("/api/v1/kb/entries", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "unauthorised"


def test_remote_editor_changes_what_the_chat_answers(admin):
    editor = RemoteEditor("http://testserver", TOKEN, client=admin)
    assert editor.put(new_entry(GIFT, "Yes, from $20.", entry_id="gift")) == "added"
    chat = admin.post("/api/v1/chat", json={"message": GIFT}).json()
    assert (chat["route"], chat["answer"]) == ("faq", "Yes, from $20.")
    entry = editor.show("gift")
    assert editor.put(replace(entry, answer="Yes, from $25.")) == "updated"
    assert admin.post("/api/v1/chat", json={"message": GIFT}).json()["answer"] == \
        "Yes, from $25."
    assert [e.id for e in editor.list("gift card")] == ["gift"]
    assert editor.show("policy.md#2").kind == "doc"  # ids with '#' travel in the path
    editor.delete("gift")
    with pytest.raises(KnowledgeBaseError, match="no entry 'gift'"):
        editor.show("gift")
    bad = admin.put("/api/v1/kb/entries/x", json={"question": "only a question"},
                    headers={"Authorization": f"Bearer {TOKEN}"})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_entry"


def test_admin_api_is_off_without_a_token(settings, tiny_kb, scripted):
    app = create_app(settings, build_agent(settings, kb=tiny_kb, chat_model=scripted), warm=False)
    with TestClient(app) as client:
        response = client.get("/api/v1/kb/entries", headers={"Authorization": "Bearer x"})
    assert response.status_code == 403
    assert "KEFU_SERVER__ADMIN_TOKEN" in response.json()["message"]


def test_serving_note_points_kb_commands_at_the_live_server(settings, tmp_path):
    kb_dir = tmp_path / "kb"
    assert serving_url(kb_dir) is None
    note = write_serving_note(kb_dir, "http://127.0.0.1:7860/")
    assert serving_url(kb_dir) == "http://127.0.0.1:7860/"
    note.write_text(json.dumps({"pid": 2**22 + 7, "url": "http://x/"}))  # a dead server
    assert serving_url(kb_dir) is None


def test_kb_commands_add_edit_show_list_delete(settings, capsys):
    kb = ["kb", "--kb", "shop"]
    assert main([*kb, "list"]) == 1
    assert "no knowledge base 'shop'" in capsys.readouterr().err
    assert main([*kb, "add", "--question", "包邮吗？", "--answer", "满99元包邮。",
                 "--alt", "运费多少", "--id", "free-ship"]) == 0
    assert main([*kb, "edit", "free-ship", "--answer", "满199元包邮。"]) == 0
    assert capsys.readouterr().out.splitlines() == ["free-ship: added", "free-ship: updated"]
    assert main([*kb, "show", "free-ship"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["answer"], shown["lang"], shown["alt_questions"]) == (
        "满199元包邮。", "zh", ["运费多少"])
    assert main([*kb, "list", "--search", "包邮"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "1 entries"
    assert main([*kb, "delete", "free-ship"]) == 0
    assert main([*kb, "delete", "free-ship"]) == 1
    assert "no entry 'free-ship'" in capsys.readouterr().err


def test_ingest_is_a_sync_that_prunes_only_when_asked(settings, tmp_path, capsys):
    folder = tmp_path / "shop"
    folder.mkdir()
    (folder / "faq.csv").write_text("id,question,answer\na,A?,1\nb,B?,2\n", encoding="utf-8")
    (folder / "old.md").write_text("# Old\n\nOld text.\n", encoding="utf-8")
    ingest = ["ingest", str(folder), "--kb", "shop"]
    assert main(ingest) == 0
    (folder / "faq.csv").write_text("id,question,answer\na,A?,changed\n", encoding="utf-8")
    (folder / "old.md").unlink()
    assert main(ingest) == 0
    out = capsys.readouterr().out
    assert "2 entries are no longer in their files: b, old.md#1" in out
    assert "faq.csv         0         1         0         0" in out.splitlines()
    assert main([*ingest, "--prune"]) == 0
    assert "removed 2 entries" in capsys.readouterr().out
    kb = open_knowledge_base(settings, "shop")
    assert {e.id: e.answer for e in kb.entries().values()} == {"a": "changed"}
    assert len(kb.bm25.search(["b"], 5)) == 0 and kb.vectors.count() == 2


def test_files_are_uploaded_replaced_and_removed_through_the_server(admin, tiny_kb, tmp_path):
    editor = RemoteEditor("http://testserver", TOKEN, client=admin)
    policy = tmp_path / "gift-cards.md"
    policy.write_text("# Gift cards\n\nGift cards are sold from $20 and never expire.\n",
                      encoding="utf-8")
    report = editor.put_file(policy)
    [file] = report.files
    assert (file.name, file.added, report.removed) == ("gift-cards.md", 1, 0)
    top = Retriever(tiny_kb, RetrievalSettings()).search("Do gift cards expire?")[0]
    assert top.entry.id == "gift-cards.md#1"
    assert [e.id for e in editor.list("never expire")] == ["gift-cards.md#1"]
    policy.write_text("# Gift cards\n\nSold from $25.\n\n## Refunds\n\nNot refundable.\n",
                      encoding="utf-8")
    assert editor.put_file(policy).files[0].updated == 1
    assert editor.delete_file("gift-cards.md") == 2
    with pytest.raises(KnowledgeBaseError, match="no entries from a file 'gift-cards.md'"):
        editor.delete_file("gift-cards.md")
    junk = tmp_path / "junk.csv"
    junk.write_bytes(bytes(range(256)))
    with pytest.raises(KnowledgeBaseError, match=r"junk.csv: binary data"):
        editor.put_file(junk)


def test_ingest_refuses_a_knowledge_base_a_live_server_holds(settings, capsys, monkeypatch):
    write_serving_note(settings.kb_dir / "shop", "http://127.0.0.1:7999/")
    assert main(["ingest", str(DATA / "faq.csv"), "--kb", "shop"]) == 1
    assert "kefu kb --kb shop add-file PATH" in capsys.readouterr().err
