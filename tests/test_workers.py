"""`kefu serve --workers 2` on one box, with a real Chroma server: a conversation hops
between the workers without losing its history, and an edit made through one worker
answers on both."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from kefu.cli import main
from kefu.config import StoreSettings
from kefu.ui.leader import runs_background_jobs
from tests.postgres import fresh_database
from tests.servers import ask, free_port
from tests.test_chroma_server import chroma_server  # noqa: F401 - a fixture

DATA = Path(__file__).parent / "data"
TOKEN = "owner-token"
GIFT = "Do you sell gift cards?"
MAX_TRIES = 60
RETRY_WAIT_S = 0.25  # after a failed request, so a slow restart does not use up the tries


@pytest.fixture
def two_workers(chroma_server, isolated_home, monkeypatch):  # noqa: F811
    env = {**os.environ, "KEFU_HOME": str(isolated_home), "KEFU_STORE__CLIENT": "http",
           "KEFU_STORE__PORT": str(chroma_server), "KEFU_LLM__BACKEND": "none",
           "KEFU_SERVER__ADMIN_TOKEN": TOKEN}
    for name, value in env.items():
        if name.startswith("KEFU_"):
            monkeypatch.setenv(name, value)
    assert main(["ingest", str(DATA / "faq.csv"), "--kb", "shop", "--no-translate"]) == 0
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "kefu.cli", "serve", "--kb", "shop",
                               "--port", str(port), "--workers", "2"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "no server"
            time.sleep(0.3)
        yield base
    finally:
        server.terminate()
        server.wait(60)


def test_a_conversation_hops_between_workers_and_an_edit_answers_on_both(two_workers):
    base = two_workers
    first, worker = ask(base, "How long does shipping take?")
    session, workers, asked = first["session_id"], {worker}, 1
    while len(workers) < 2 and asked < MAX_TRIES:  # the OS hands connections to either
        reply, worker = ask(base, "And returns?", session)
        workers.add(worker)
        asked += 1
    assert len(workers) == 2, f"{asked} requests all went to one worker"
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}) as admin:
        assert len(admin.get(f"/api/v1/conversations/{session}").json()) == 2 * asked
        put = admin.put("/api/v1/kb/entries/gift", json={
            "question": GIFT, "answer": "Yes: digital gift cards from US$20.", "lang": "en"})
        assert put.json()["status"] == "added"
    answered_by: set[str] = set()
    for _ in range(MAX_TRIES):
        reply, worker = ask(base, GIFT)
        assert (reply["route"], reply["answer"]) == ("faq", "Yes: digital gift cards from US$20.")
        answered_by.add(worker)
        if len(answered_by) == 2:
            break
    assert len(answered_by) == 2


def test_a_worker_killed_mid_conversation_loses_no_acknowledged_reply(two_workers):
    """kill -9 of the worker that gave the ninth reply of a conversation: every reply a
    customer got (HTTP 200) is in the stored conversation, and the other worker (then the
    one uvicorn starts instead) goes on answering it, up to the fifteenth reply. Requests
    the OS handed to the dead worker before its replacement listens fail, unacknowledged."""
    base, session, acknowledged, killed = two_workers, None, [], ""
    for turn in range(MAX_TRIES):  # how many fail depends on how busy the machine is
        try:
            reply, worker = ask(base, f"{turn}: how long does shipping take?", session)
        except httpx.HTTPError:  # a request the dying worker had taken: not acknowledged;
            time.sleep(RETRY_WAIT_S)  # refused at once until its replacement listens
            continue
        session = reply["session_id"]
        acknowledged.append(reply["message_id"])
        if len(acknowledged) == 9:
            os.kill(int(worker), signal.SIGKILL)
            killed = worker
        if len(acknowledged) == 15:
            break
    assert killed and len(acknowledged) == 15 and acknowledged[-1] == 2 * len(acknowledged)
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}) as admin:
        stored = admin.get(f"/api/v1/conversations/{session}").json()
    assert all(stored[number - 1]["role"] == "assistant" for number in acknowledged)
    assert len(stored) == 2 * len(acknowledged)


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_one_worker_runs_a_knowledge_bases_background_jobs(settings, database, request):
    """On one box a file lock; with PostgreSQL a lock on the server, so workers on other
    boxes (each a connection of its own, as here) wait too."""
    if database == "postgresql":
        url = fresh_database(request.getfixturevalue("postgres"))
        settings = settings.model_copy(update={"store": StoreSettings(database_url=url)})
    assert runs_background_jobs(settings, "shop")
    assert not runs_background_jobs(settings, "shop")  # another worker
    assert runs_background_jobs(settings, "other")


def test_several_workers_without_a_chroma_server_are_refused(isolated_home, capsys):
    assert main(["ingest", str(DATA / "faq.csv"), "--kb", "shop", "--no-translate"]) == 0
    assert main(["serve", "--kb", "shop", "--workers", "2"]) == 1
    assert "several workers need one Chroma server" in capsys.readouterr().err
