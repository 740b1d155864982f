"""The HTTP API around the desk: streaming, feedback, the OpenAI-compatible endpoint (with the
openai SDK as the client), admin tickets and conversations, CORS, rate limits, JSON errors,
the widget script, and schemathesis against the app's own OpenAPI schema."""

import hashlib
import json

import hypothesis
import pytest
import schemathesis
from fastapi.testclient import TestClient
from openai import OpenAI

from kefu.agent.factory import build_agent
from kefu.agent.prompts import prompts
from kefu.config import ServerSettings
from kefu.ui.app import SIGN_INS_PER_MINUTE, create_app

TOKEN = "admin-secret"


def _app(settings, kb, chat_model=None, **server):
    settings = settings.model_copy(update={"server": ServerSettings(
        kb=kb.name, admin_token=TOKEN, **server)})
    return create_app(settings, build_agent(settings, kb=kb, chat_model=chat_model), warm=False)


@pytest.fixture
def client(settings, tiny_kb):
    with TestClient(_app(settings, tiny_kb, allowed_origins="https://shop.example")) as client:
        yield client


def _events(text):
    """(event, data) pairs of a server-sent-events body."""
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((lines["event"], json.loads(lines["data"])))
    return out


def test_the_stream_sends_the_session_first_and_the_checked_answer_last(settings, tiny_kb,
                                                                         scripted):
    scripted.enqueue("[1]")
    forced = settings.model_copy(update={"ladder": settings.ladder.model_copy(
        update={"faq_threshold": 9.0, "rag_threshold": 0.0})})
    with TestClient(_app(forced, tiny_kb, scripted)) as client:
        response = client.post("/api/v1/chat/stream",
                               json={"message": "When does my parcel come?", "kb": "tiny"})
    assert response.headers["content-type"].startswith("text/event-stream")
    events = _events(response.text)
    assert events[0][0] == "session" and len(events[0][1]["session_id"]) == 32
    assert [kind for kind, _ in events if kind == "token"] == []  # the entry's own words
    kind, answer = events[-1]
    assert kind == "answer"
    assert answer["answer"] == "Orders arrive in 3-5 working days."
    assert answer["route"] == "faq" and answer["message_id"] == 2
    assert answer["reason"].startswith("the LLM chose [1] t-en-ship")
    [source] = answer["sources"]
    assert source["title"] == "How long does shipping take?"
    assert source["snippet"] == "Orders arrive in 3-5 working days."
    assert source["file"] == "faq.csv"


def test_thumbs_are_stored_on_the_reply(client):
    reply = client.post("/api/v1/chat", json={"message": "How long does shipping take?"}).json()
    body = {"session_id": reply["session_id"], "message_id": reply["message_id"]}
    assert client.post("/api/v1/feedback", json={**body, "rating": "down"}).status_code == 204
    assert client.post("/api/v1/feedback", json={**body, "rating": "up"}).status_code == 204
    missing = client.post("/api/v1/feedback", json={**body, "message_id": 1, "rating": "up"})
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    days = client.app.state.desk.conversations.daily()
    assert [(d["faq"], d["up"], d["down"]) for d in days] == [(1, 1, 0)]


def test_a_widget_naming_another_knowledge_base_gets_a_clear_404(client):
    response = client.post("/api/v1/chat", json={"message": "hi", "kb": "other-shop"})
    assert response.status_code == 404
    assert response.json() == {"code": "unknown_kb", "message": "this server answers from "
                               "knowledge base 'tiny', not 'other-shop'"}


def test_errors_are_json_with_a_code_and_a_message(client):
    bad = client.post("/api/v1/chat", json={"message": ""})
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_request"
    assert "message" in bad.json()["message"]
    missing = client.get("/api/v1/tickets/T0", headers={"Authorization": f"Bearer {TOKEN}"})
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    assert missing.json()["message"] == "no ticket 'T0'; `kefu tickets list` shows them"


def test_an_unexpected_failure_is_a_polite_500_with_a_log_id(settings, tiny_kb, scripted):
    """The scripted model has no reply queued: an IndexError inside the agent."""
    forced = settings.model_copy(update={"ladder": settings.ladder.model_copy(
        update={"faq_threshold": 9.0, "rag_threshold": 0.0})})
    with TestClient(_app(forced, tiny_kb, scripted), raise_server_exceptions=False) as client:
        response = client.post("/api/v1/chat", json={"message": "When does my parcel come?"})
    body = response.json()
    assert response.status_code == 500
    assert (body["code"], len(body["log_id"])) == ("internal_error", 8)
    assert "Traceback" not in response.text and "IndexError" not in response.text


def test_rate_limits_answer_429_with_retry_after(settings, tiny_kb):
    with TestClient(_app(settings, tiny_kb, rate_per_ip=100, rate_per_session=2)) as client:
        first = client.post("/api/v1/chat", json={"message": "How long does shipping take?"})
        session = {"session_id": first.json()["session_id"]}
        assert client.post("/api/v1/chat", json={"message": "ok", **session}).status_code == 200
        assert client.post("/api/v1/chat", json={"message": "ok", **session}).status_code == 200
        limited = client.post("/api/v1/chat", json={"message": "ok", **session})
        assert limited.status_code == 429
        assert limited.json()["code"] == "rate_limited"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        other = client.post("/api/v1/chat", json={"message": "How long does shipping take?"})
        assert other.status_code == 200  # another conversation is not held up
    with TestClient(_app(settings, tiny_kb, rate_per_ip=2)) as client:
        for _ in range(2):
            client.post("/api/v1/chat", json={"message": "hi"})
        assert client.post("/api/v1/chat", json={"message": "hi"}).status_code == 429


def test_cors_lets_only_the_allowed_origins_call_from_a_browser(client):
    def preflight(origin):
        return client.options("/api/v1/chat/stream", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type"})

    allowed = preflight("https://shop.example")
    assert allowed.headers["access-control-allow-origin"] == "https://shop.example"
    assert "access-control-allow-origin" not in preflight("https://evil.example").headers


def test_the_widget_script_is_cached_and_carries_the_servers_defaults(client):
    response = client.get("/widget.js")
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cache-control"] == "public, max-age=3600"
    script = response.text
    assert '"kb": "tiny"' in script and '"color": "#e8590c"' in script
    assert prompts("zh")["widget"]["placeholder"] in script
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script
    assert len(response.content) < 20_000
    again = client.get("/widget.js", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304
    demo = client.get("/widget/demo").text
    assert '<script src="http://testserver/widget.js" data-kb="tiny"' in demo


def test_admin_endpoints_list_show_and_close_tickets_and_read_conversations(client):
    chat = client.post("/api/v1/chat", json={"message": "I want to talk to a human"}).json()
    assert (chat["route"], chat["handoff"]) == ("handoff", "offer")
    yes = client.post("/api/v1/chat", json={"message": "yes",
                                            "session_id": chat["session_id"]}).json()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert client.get("/api/v1/tickets").status_code == 401
    [ticket] = client.get("/api/v1/tickets", headers=auth).json()
    assert (ticket["id"], ticket["reason"]) == (yes["ticket_id"], "asked")
    shown = client.get(f"/api/v1/tickets/{ticket['id']}", headers=auth).json()
    assert [m["content"] for m in shown["transcript"]] == [
        "I want to talk to a human", prompts("en")["offer_human"], "yes"]
    closed = client.post(f"/api/v1/tickets/{ticket['id']}/close", json={"note": "called back"},
                         headers=auth).json()
    assert (closed["status"], closed["note"]) == ("closed", "called back")
    again = client.post(f"/api/v1/tickets/{ticket['id']}/close", json={}, headers=auth)
    assert (again.status_code, again.json()["code"]) == (409, "conflict")
    assert client.get("/api/v1/tickets", headers=auth).json() == []
    [conversation] = client.get("/api/v1/conversations", headers=auth).json()
    assert (conversation["id"], conversation["messages"]) == (chat["session_id"], 4)
    messages = client.get(f"/api/v1/conversations/{chat['session_id']}", headers=auth).json()
    assert [m["route"] for m in messages] == ["", "handoff", "", "handoff"]
    assert client.get("/api/v1/conversations/nope", headers=auth).status_code == 404


def test_the_openai_sdk_talks_to_kefu(client):
    sdk = OpenAI(base_url="http://testserver/v1", api_key="unused", http_client=client)
    completion = sdk.chat.completions.create(model="kefu", messages=[
        {"role": "system", "content": "You are a pirate."},
        {"role": "user", "content": "How long does shipping take?"}])
    assert completion.choices[0].message.content == "Orders arrive in 3-5 working days."
    assert completion.model == "kefu"
    stream = sdk.chat.completions.create(model="gpt-4o", stream=True, messages=[
        {"role": "user", "content": "多久能收到货？"}])
    assert "".join(c.choices[0].delta.content or "" for c in stream) == "下单后3-5个工作日送达。"
    assert [m.id for m in sdk.models.list()] == ["kefu"]


def test_openai_clients_that_name_the_user_keep_the_conversation(client):
    sdk = OpenAI(base_url="http://testserver/v1", api_key="unused", http_client=client)
    turns = [{"role": "user", "content": "I want to talk to a human"}]
    first = sdk.chat.completions.create(model="kefu", messages=turns, user="cust-42")
    turns += [{"role": "assistant", "content": first.choices[0].message.content},
              {"role": "user", "content": "yes"}]
    second = sdk.chat.completions.create(model="kefu", messages=turns, user="cust-42")
    assert second.choices[0].message.content.startswith(prompts("en")["handoff"])
    # Its conversation is named after `user`, which anyone may know: the customer API,
    # whose session ids are the caller's to choose, does not serve it.
    session = second.model_extra["kefu"]
    named = "oai-" + hashlib.sha256(b"cust-42").hexdigest()[:32]
    assert client.app.state.desk.conversations.exists(named)
    for method, path, body in [
            ("post", "/api/v1/chat", {"message": "what did I say?", "session_id": named}),
            ("post", "/api/v1/rating", {"session_id": named, "stars": 1}),
            ("post", "/api/v1/handoff", {"session_id": named}),
            ("get", f"/api/v1/chat/events?session_id={named}", None)]:
        refused = client.request(method.upper(), path, json=body)
        assert refused.status_code == 422, path
    assert session["route"] == "handoff"
    with pytest.raises(Exception, match="last message must be the customer's"):
        sdk.chat.completions.create(model="kefu", messages=[
            {"role": "assistant", "content": "hello"}])


def test_the_admin_page_needs_the_token(client, settings, tiny_kb):
    assert client.get("/admin/config").status_code == 401
    wrong = client.post("/admin/login", data={"username": "owner", "password": "guess"})
    assert wrong.status_code == 400
    right = client.post("/admin/login", data={"username": "owner", "password": TOKEN})
    assert right.json() == {"success": True}
    assert client.get("/admin/config").json()["mode"] == "blocks"
    settings = settings.model_copy(update={"server": ServerSettings(kb="tiny")})
    with TestClient(create_app(settings, build_agent(settings, kb=tiny_kb, chat_model=None),
                               warm=False)) as no_token:
        assert no_token.get("/api/v1/tickets", headers={
            "Authorization": "Bearer x"}).json()["code"] == "admin_disabled"
        assert no_token.get("/admin/config").status_code == 404  # no admin page at all


def test_sign_ins_are_limited_per_address_on_the_admin_page_and_the_inbox(client):
    for n in range(SIGN_INS_PER_MINUTE):
        page = ("/admin", "/inbox")[n % 2]
        guess = client.post(f"{page}/login", data={"username": "Li", "password": f"g{n}"})
        assert guess.status_code == 400  # wrong, and answered
    refused = client.post("/inbox/login", data={"username": "owner", "password": TOKEN})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert refused.json()["code"] == "rate_limited"
    assert client.post("/api/v1/chat", json={"message": "hello"}).status_code == 200


def test_no_request_the_schema_allows_makes_the_server_fail(settings, tiny_kb):
    """schemathesis generates requests from kefu's own OpenAPI schema (admin token included,
    so the admin endpoints are exercised too); none may get a 5xx."""
    app = _app(settings, tiny_kb, rate_per_ip=100_000, rate_per_session=100_000)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures, tried = [], []
    for result in schema.get_all_operations():
        operation = result.ok()
        tried.append(operation.label)

        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(max_examples=12, deadline=None, database=None,
                             suppress_health_check=list(hypothesis.HealthCheck))
        def call(case):
            response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
            if response.status_code >= 500:
                failures.append((case.method, case.formatted_path, response.status_code,
                                 response.text[:200]))

        call()
    assert len(tried) >= 15
    assert failures == []
