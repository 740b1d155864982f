import pytest
from fastapi.testclient import TestClient

from kefu.agent.conversations import ConversationStore
from kefu.agent.factory import build_agent
from kefu.agent.prompts import prompts
from kefu.types import Message
from kefu.ui.app import create_app


@pytest.fixture
def client(settings, tiny_kb, scripted):
    app = create_app(settings, build_agent(settings, kb=tiny_kb, chat_model=scripted), warm=False)
    with TestClient(app) as client:
        yield client


def test_health(client):
    assert client.get("/healthz").json() == {
        "status": "ok", "kb": "tiny", "entries": 8, "llm": "llama-cpp:default"}


def test_chat_returns_the_ask_json_plus_a_session(client):
    response = client.post("/api/v1/chat", json={"message": "How long does shipping take?"})
    assert response.status_code == 200
    body = response.json()
    session_id = body.pop("session_id")
    assert len(session_id) == 32
    assert body["route"] == "faq"
    assert body["answer"] == "Orders arrive in 3-5 working days."
    assert [s["id"] for s in body["sources"]] == ["t-en-ship"]

    again = client.post("/api/v1/chat",
                        json={"message": "今天股市怎么样", "session_id": session_id})
    assert again.json()["session_id"] == session_id
    assert (again.json()["route"], again.json()["answer"]) == ("abstain", prompts("zh")["abstain"])


@pytest.mark.parametrize("payload", [{}, {"message": ""}, {"message": "x" * 4001}])
def test_bad_requests_get_422(client, payload):
    assert client.post("/api/v1/chat", json=payload).status_code == 422


def test_chat_page_is_served(client):
    """The page at / is kefu's chat page for this shop: its title, the conversation and
    the input box (Gradio serves its components' config with the page)."""
    page = client.get("/")
    assert page.status_code == 200
    assert "our shop · kefu" in page.text
    components = client.get("/config").json()["components"]
    assert {"kefu-chat", "kefu-input", "kefu-send"} <= {
        c.get("props", {}).get("elem_id") for c in components}


def test_openapi_describes_the_chat_endpoint(client):
    schema = client.get("/openapi.json").json()
    assert set(schema["paths"]) >= {"/api/v1/chat", "/healthz"}
    assert client.get("/docs").status_code == 200


def test_conversations_survive_a_restart(settings, tiny_kb, scripted):
    def chat(message, session_id=None):
        app = create_app(settings, build_agent(settings, kb=tiny_kb, chat_model=scripted),
                         warm=False)
        with TestClient(app) as client:
            return client.post("/api/v1/chat",
                               json={"message": message, "session_id": session_id}).json()

    first = chat("How long does shipping take?")
    second = chat("多久能收到货？", first["session_id"])  # a new app: as after a restart
    assert second["session_id"] == first["session_id"]
    store = ConversationStore(settings.home / "conversations.sqlite")
    assert store.history(first["session_id"]) == [
        Message("user", "How long does shipping take?"),
        Message("assistant", "Orders arrive in 3-5 working days.", "faq"),
        Message("user", "多久能收到货？"), Message("assistant", "下单后3-5个工作日送达。", "faq")]
    transcript = store.transcript(first["session_id"])
    assert [(m["route"], [s["id"] for s in m["sources"]]) for m in transcript[1::2]] == [
        ("faq", ["t-en-ship"]), ("faq", ["t-zh-ship"])]
    assert store.history(first["session_id"], turns=1) == [
        Message("user", "多久能收到货？"), Message("assistant", "下单后3-5个工作日送达。", "faq")]
