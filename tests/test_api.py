import pytest
from fastapi.testclient import TestClient

from kefu.agent.factory import build_agent
from kefu.agent.prompts import prompts
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
    page = client.get("/")
    assert page.status_code == 200
    assert "<title>" in page.text.lower() or "gradio" in page.text.lower()


def test_openapi_describes_the_chat_endpoint(client):
    schema = client.get("/openapi.json").json()
    assert set(schema["paths"]) >= {"/api/v1/chat", "/healthz"}
    assert client.get("/docs").status_code == 200
