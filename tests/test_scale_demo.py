"""`scripts/scale-demo.sh up|down`: PostgreSQL, Redis, a Chroma server, an LLM server (the
small GGUF), two kefu workers with homes of their own and nginx in front, as the README's
"Scaling out" section describes. What two machines would need is checked through them: a
conversation continued on the other worker, an edit through one answered by the other, the
LLM server answering for both, one rate-limit count, and `down` leaving nothing running."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.browser import ARTIFACTS, chromium, require_chromium
from tests.conftest import REAL_MODELS_DIR
from tests.postgres import postgres_bin
from tests.servers import ask, require

ROOT = Path(__file__).parent.parent
TOKEN = "scale-owner-token"
REPLY_WAIT_S = 300  # a reply may wait for the one LLM server, busy translating
SESSION_RATE = 6  # messages a conversation may send a minute, counted in Redis
NEW_ANSWER = "Yes: our shop in Lyon ships to Monaco in 2 working days."

pytestmark = pytest.mark.slow  # the LLM server runs the real small GGUF


def _script(command: str, state: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**{k: v for k, v in os.environ.items() if not k.startswith("KEFU_")},
                   "KEFU_HOME": str(REAL_MODELS_DIR.parent), "SCALE_DEMO_DIR": str(state),
                   "SCALE_DEMO_LLM": "small", "KEFU_SERVER__ADMIN_TOKEN": TOKEN, **env}
    return subprocess.run(["bash", str(ROOT / "scripts" / "scale-demo.sh"), command],
                          env=environment, capture_output=True, text=True, timeout=900)


def _listening(url: str) -> bool:
    host, port = url.split("//")[1].split(":")
    with socket.socket() as probe:
        return probe.connect_ex((host, int(port))) == 0


@pytest.fixture(scope="module")
def scaled(tmp_path_factory):
    require(postgres_bin(), "POSTGRES", "postgresql")
    require(shutil.which("redis-server"), "REDIS", "redis-server")
    require(shutil.which("nginx"), "NGINX", "nginx")
    state = tmp_path_factory.mktemp("scale-demo")
    up = _script("up", state, KEFU_SERVER__RATE_PER_SESSION=str(SESSION_RATE))
    assert up.returncode == 0, up.stderr[-3000:]
    last = up.stdout.strip().splitlines()[-1]
    match = re.fullmatch(r"front=(http://127\.0\.0\.1:\d+) workers=(\S+),(\S+)", last)
    assert match, last
    front, *workers = match.groups()
    started = [line.split() for line in (state / "started").read_text().splitlines()]
    try:
        yield front, workers, state, started
    finally:
        down = _script("down", state)
    assert down.returncode == 0, down.stderr[-2000:]


def test_two_workers_behind_nginx_share_every_kind_of_state(scaled):
    front, (one, two), _, _ = scaled
    first, worker = ask(front, "Do you sell gift cards?", timeout=REPLY_WAIT_S)
    assert first["route"] == "faq" and "gift card" in first["answer"]
    answered_by = {worker}
    for _ in range(3):  # nginx takes turns
        answered_by.add(ask(front, "Do you sell gift cards?", timeout=REPLY_WAIT_S)[1])
    assert len(answered_by) == 2

    session = first["session_id"]
    ask(one, "How long does shipping take?", session, timeout=REPLY_WAIT_S)
    ask(two, "And to Hong Kong?", session, timeout=REPLY_WAIT_S)
    with httpx.Client(base_url=front, headers={"Authorization": f"Bearer {TOKEN}"}) as admin:
        transcript = admin.get(f"/api/v1/conversations/{session}").json()
        assert [m["role"] for m in transcript] == ["user", "assistant"] * 3
        put = admin.put("/api/v1/kb/entries/monaco", json={
            "question": "Do you ship to Monaco?", "answer": NEW_ANSWER, "lang": "en"})
        assert put.json()["status"] == "added"
    for worker_url in (one, two):
        reply, _ = ask(worker_url, "Do you ship to Monaco?", timeout=REPLY_WAIT_S)
        assert (reply["route"], reply["answer"]) == ("faq", NEW_ANSWER)


def test_the_chat_page_answers_through_nginx(scaled):
    """The page's queue lives in one worker: nginx keeps a browser's page requests on one
    (scripts/scale-demo.nginx.conf); every question is answered in the page."""
    require_chromium()
    front = scaled[0]
    questions = ["How much does shipping cost?", "Do you sell gift cards?"]
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        page.goto(f"{front}/", wait_until="load")
        box = page.get_by_role("textbox").first
        for number, question in enumerate(questions, start=1):
            box.fill(question)
            box.press("Enter")
            page.get_by_text("Sources:").nth(number - 1).wait_for(timeout=60_000)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "scale-demo-chat.png"))
        body = page.inner_text("body")
    assert "US$6.90" in body and "US$20 to US$200" in body


def test_a_conversations_rate_limit_is_one_count_across_the_workers(scaled):
    _, (one, two), _, _ = scaled
    first, _ = ask(one, "Do you sell gift cards?", timeout=REPLY_WAIT_S)  # not counted: new
    session = first["session_id"]
    codes = []
    for turn in range(SESSION_RATE + 1):  # each worker alone would allow SESSION_RATE
        with httpx.Client(base_url=(two, one)[turn % 2], timeout=60) as client:
            codes.append(client.post("/api/v1/chat", json={
                "message": "Do you sell gift cards?", "session_id": session}).status_code)
    assert codes == [200] * SESSION_RATE + [429]


def test_the_llm_server_makes_the_twins_for_the_workers(scaled):
    """The demo's entries are written in one language each; the worker that leads asks the
    LLM server for their translations in the background, and every worker serves them."""
    _, workers, _, _ = scaled
    imported = 93  # the demo's entries and document sections
    deadline = time.monotonic() + 300
    while True:
        health = [httpx.get(f"{url}/healthz", timeout=10).json() for url in workers]
        if all(h["entries"] > imported for h in health):
            break
        assert time.monotonic() < deadline, f"no translation in 300 s: {health}"
        time.sleep(2)
    assert {h["llm"] for h in health} == {"openai:small"}


def test_down_stops_exactly_what_up_started(scaled, request):
    front, workers, state, started = scaled
    pids = [int(fields[1]) for fields in started if fields[1].isdigit()]
    folder = next(Path(fields[1]) for fields in started if fields[0] == "folder")
    assert len(pids) == 5 and folder.is_dir()  # redis, chroma, llm, two workers
    down = _script("down", state)
    assert down.returncode == 0, down.stderr[-2000:]
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or \
            "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
    assert not any(_listening(url) for url in (front, *workers))
    assert not folder.exists() and not (state / "started").exists()
    assert "nothing to stop" in _script("down", state).stderr
