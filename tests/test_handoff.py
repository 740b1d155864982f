"""Handoff: an accepted offer or the button opens a ticket with the transcript; the webhook is
retried with back-off and a failing one never loses the ticket; `kefu tickets`."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import pytest
from fastapi.testclient import TestClient

from kefu.agent.factory import build_agent, conversations_database
from kefu.agent.prompts import prompts, render
from kefu.agent.tickets import TicketStore, WebhookNotifier
from kefu.cli import main
from kefu.config import HandoffSettings
from kefu.errors import TicketError
from kefu.ui.app import create_app

HOOK = "http://hooks.example/kefu"


class Webhook:
    """The receiving end, at the process boundary: answers with the queued statuses."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.bodies: list[dict] = []
        self.headers: list[httpx.Headers] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(json.loads(request.content))
        self.headers.append(request.headers)
        status = self.statuses.pop(0) if self.statuses else 200
        if status == 0:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(status)


def _settings_with_hook(settings, **handoff):
    return settings.model_copy(update={"handoff": HandoffSettings(
        webhook_url=HOOK, webhook_token="s3cret", webhook_backoff_s=0.0, **handoff)})


@pytest.fixture
def hook():
    return Webhook()


@pytest.fixture
def client(settings, tiny_kb, hook):
    settings = _settings_with_hook(settings)
    app = create_app(settings, build_agent(settings, kb=tiny_kb, chat_model=None), warm=False,
                     webhook_transport=httpx.MockTransport(hook))
    with TestClient(app) as client:
        yield client


def _wait_for_webhooks(client):
    for thread in [t for t in threading.enumerate() if t.name.startswith("kefu-webhook-")]:
        thread.join(timeout=10)


def test_two_abstentions_then_yes_opens_a_ticket_with_the_transcript(client, hook, settings):
    first = client.post("/api/v1/chat", json={"message": "What's the weather on Mars?"}).json()
    session = {"session_id": first["session_id"]}
    second = client.post("/api/v1/chat", json={"message": "Who won the 1998 world cup?",
                                                **session}).json()
    assert (first["route"], first["handoff"]) == ("abstain", "")
    assert (second["answer"], second["handoff"]) == (prompts("en")["abstain_again"], "offer")
    accepted = client.post("/api/v1/chat", json={"message": "yes", **session}).json()
    ticket_id = accepted["ticket_id"]
    assert (accepted["route"], accepted["handoff"]) == ("handoff", "accepted")
    assert accepted["answer"] == (f"{prompts('en')['handoff']} "
                                  f"{render('en', 'ticket', ticket=ticket_id)}")
    _wait_for_webhooks(client)
    ticket = TicketStore(conversations_database(settings)).get(ticket_id)
    assert (ticket.status, ticket.reason, ticket.kb, ticket.webhook, ticket.attempts) == (
        "open", "abstained", "tiny", "delivered", 1)
    assert [(m["role"], m["content"]) for m in ticket.transcript] == [
        ("user", "What's the weather on Mars?"), ("assistant", first["answer"]),
        ("user", "Who won the 1998 world cup?"), ("assistant", second["answer"]),
        ("user", "yes")]
    [body] = hook.bodies
    assert (body["event"], body["ticket"]["id"]) == ("ticket.created", ticket_id)
    assert hook.headers[0]["authorization"] == "Bearer s3cret"
    mail = client.post("/api/v1/chat", json={"message": "Is wang@example.com my login?",
                                             **session}).json()
    assert mail["route"] != "handoff"  # nobody asked for a contact: a question, answered
    assert TicketStore(conversations_database(settings)).get(ticket_id).contact == ""


def test_the_button_opens_one_ticket_per_conversation_in_its_language(client, hook):
    chat = client.post("/api/v1/chat", json={"message": "今天股市怎么样"}).json()
    first = client.post("/api/v1/handoff", json={"session_id": chat["session_id"],
                                                 "contact": "wang@example.com"}).json()
    again = client.post("/api/v1/handoff", json={"session_id": chat["session_id"]}).json()
    assert first["ticket_id"] == again["ticket_id"]
    assert first["answer"] == (f"{prompts('zh')['handoff']}"  # Chinese sentences run on
                               f"{render('zh', 'ticket', ticket=first['ticket_id'])}")
    _wait_for_webhooks(client)
    assert len(hook.bodies) == 1
    assert hook.bodies[0]["ticket"]["contact"] == "wang@example.com"


def test_a_webhook_that_fails_twice_is_retried_with_doubling_waits(settings):
    store = TicketStore(conversations_database(settings))
    ticket = store.create("s1", "demo", "asked", [{"role": "user", "content": "help"}],
                          webhook=True)
    waits = []
    hook = Webhook(503, 0, 200)
    cfg = HandoffSettings(webhook_url=HOOK, webhook_attempts=4, webhook_backoff_s=1.5)
    notifier = WebhookNotifier(cfg, store, httpx.MockTransport(hook), sleep=waits.append)
    assert notifier.deliver(ticket) is True
    assert waits == [1.5, 3.0]
    stored = store.get(ticket.id)
    assert (stored.webhook, stored.attempts, stored.last_error) == ("delivered", 3, "")


def test_a_webhook_that_never_answers_keeps_the_ticket_and_retry_sends_it(settings, capsys):
    store = TicketStore(conversations_database(settings))
    ticket = store.create("s1", "demo", "asked", [{"role": "user", "content": "help"}],
                          webhook=True)
    cfg = HandoffSettings(webhook_url=HOOK, webhook_attempts=3, webhook_backoff_s=0.0)
    notifier = WebhookNotifier(cfg, store, httpx.MockTransport(Webhook(500, 500, 0)))
    assert notifier.deliver(ticket) is False
    failed = TicketStore(conversations_database(settings)).get(ticket.id)  # as after a restart
    assert (failed.status, failed.webhook, failed.attempts) == ("open", "failed", 3)
    assert failed.last_error.startswith("ConnectError")
    assert [t.id for t in store.undelivered()] == [ticket.id]

    received = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        with pytest.MonkeyPatch.context() as env:
            env.setenv("KEFU_HANDOFF__WEBHOOK_URL", url)
            assert main(["tickets", "retry"]) == 0
    finally:
        server.shutdown()
    assert capsys.readouterr().out == "1 of 1 undelivered tickets sent to the webhook\n"
    assert [r["ticket"]["id"] for r in received] == [ticket.id]
    assert store.get(ticket.id).webhook == "delivered"


def test_tickets_list_show_and_close_on_the_command_line(settings, capsys):
    store = TicketStore(conversations_database(settings))
    ticket = store.create("s1", "demo", "angry", [{"role": "user", "content": "退款呢？？"}])
    assert main(["tickets", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(ticket.id) and lines[0].endswith("angry     -         退款呢？？")
    assert lines[1] == "1 open tickets"
    assert main(["tickets", "show", ticket.id.lower()]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["id"], shown["transcript"]) == (ticket.id, [{"role": "user",
                                                               "content": "退款呢？？"}])
    assert main(["tickets", "close", ticket.id, "--note", "refund sent"]) == 0
    assert capsys.readouterr().out == f"{ticket.id}: closed\n"
    closed = store.get(ticket.id)
    assert (closed.status, closed.note) == ("closed", "refund sent")
    assert main(["tickets", "list"]) == 0
    assert capsys.readouterr().out == "0 open tickets\n"
    assert main(["tickets", "close", ticket.id]) == 1
    assert "already closed" in capsys.readouterr().err
    with pytest.raises(TicketError, match="no ticket 'T000'"):
        store.get("T000")
