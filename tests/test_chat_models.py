"""Chat model backends: the OpenAI-compatible client against a scripted transport and against
a real `python -m llama_cpp.server`; the factory's choices."""

import json
import subprocess
import sys
import time

import httpx
import pytest

from kefu.agent.chat_models import OpenAIChatModel, build_chat_model
from kefu.agent.factory import build_agent
from kefu.agent.model_files import MODELS, install_model
from kefu.config import LLMSettings
from kefu.errors import ConfigError, LLMError
from kefu.types import Message
from tests.conftest import LLM_CHOOSES

from .conftest import REAL_MODELS_DIR
from .servers import free_port

CFG = LLMSettings(backend="openai", base_url="http://llm.local/v1", model="qwen",
                  api_key="sk-test", max_tokens=64, temperature=0.0)


def _sse(*deltas: str) -> bytes:
    events = [{"choices": [{"delta": {"role": "assistant"}}]}]
    events += [{"choices": [{"delta": {"content": d}}]} for d in deltas]
    lines = [f"data: {json.dumps(e)}\n\n" for e in events] + ["data: [DONE]\n\n"]
    return "".join(lines).encode()


def test_the_openai_backend_streams_the_deltas_and_sends_the_request():
    seen = []

    def server(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=_sse("Refunds ", "take 3 days."),
                              headers={"content-type": "text/event-stream"})

    model = OpenAIChatModel(CFG, httpx.MockTransport(server))
    chunks = list(model.stream([Message("system", "rules"), Message("user", "refund?")]))
    assert chunks == ["Refunds ", "take 3 days."]
    [request] = seen
    assert (request.method, str(request.url)) == ("POST", "http://llm.local/v1/chat/completions")
    assert request.headers["authorization"] == "Bearer sk-test"
    assert json.loads(request.content) == {
        "model": "qwen", "stream": True, "max_tokens": 64, "temperature": 0.0,
        "messages": [{"role": "system", "content": "rules"},
                     {"role": "user", "content": "refund?"}]}


def test_the_openai_backend_reads_label_probabilities_from_top_logprobs():
    seen = []

    def server(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        top = [{"token": "2", "logprob": -0.2}, {"token": "1", "logprob": -1.9},
               {"token": "0", "logprob": -3.0}, {"token": "the", "logprob": -4.0},
               {"token": " 2", "logprob": -5.0}]  # one label, another token: added up
        return httpx.Response(200, json={"choices": [{"message": {"content": "[2]"},
                                                      "logprobs": {"content": [
            {"token": "[", "logprob": 0.0, "top_logprobs": []},
            {"token": "2", "logprob": -0.2, "top_logprobs": top}]}}]})

    probs = OpenAIChatModel(CFG, httpx.MockTransport(server)).label_probs(
        [Message("user", "which?")], ["0", "1", "2", "3"])
    weights = [0.0498, 0.1496, 0.8187 + 0.0067, 0.0]  # e^-3, e^-1.9, e^-0.2 + e^-5, absent
    assert probs == pytest.approx([w / sum(weights) for w in weights], abs=1e-3)
    assert (seen[0]["logprobs"], seen[0]["top_logprobs"], seen[0]["stream"]) == (True, 20, False)


def test_a_server_that_refuses_logprobs_is_asked_again_for_the_label_alone():
    bodies = []

    def server(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        if "logprobs" in bodies[-1]:
            return httpx.Response(500, text="logprobs is not supported")
        return httpx.Response(200, json={"choices": [{"message": {"content": "[3]"}}]})

    model = OpenAIChatModel(CFG, httpx.MockTransport(server))
    probs = model.label_probs([Message("user", "which?")], ["0", "1", "2", "3"])
    assert probs == [0.0, 0.0, 0.0, 1.0] and len(bodies) == 2
    model.label_probs([Message("user", "which?")], ["0", "1", "2", "3"])
    assert len(bodies) == 3  # not asked for log-probabilities again


def test_a_seed_is_sent_only_when_one_is_set():
    bodies = []

    def server(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, content=_sse("ok"),
                              headers={"content-type": "text/event-stream"})

    for cfg in (CFG, CFG.model_copy(update={"seed": 7})):
        list(OpenAIChatModel(cfg, httpx.MockTransport(server)).stream([Message("user", "hi")]))
    assert [b.get("seed") for b in bodies] == [None, 7]


@pytest.mark.parametrize("response,message", [
    (httpx.Response(503, text="model loading"), "answered 503: model loading"),
    (httpx.Response(200, content=b"data: {not json}\n\n"), "unreadable event"),
])
def test_server_errors_become_llm_errors(response, message):
    model = OpenAIChatModel(CFG, httpx.MockTransport(lambda request: response))
    with pytest.raises(LLMError, match=message):
        list(model.stream([Message("user", "hi")]))


def test_an_unreachable_server_is_an_llm_error_and_the_customer_gets_the_abstain_answer(
        settings, tiny_kb):
    def down(request):
        raise httpx.ConnectError("connection refused", request=request)

    model = OpenAIChatModel(CFG, httpx.MockTransport(down))
    with pytest.raises(LLMError, match="cannot reach the LLM server at http://llm.local/v1"):
        list(model.stream([Message("user", "hi")]))
    forced = settings.model_copy(update={"ladder": LLM_CHOOSES})
    events = list(build_agent(forced, kb=tiny_kb, chat_model=model).answer("Any discounts?"))
    assert [e.kind for e in events][-2:] == ["error", "answer"]
    assert events[-1].answer.route == "abstain"


def test_the_factory_builds_each_backend(tmp_path):
    assert build_chat_model(LLMSettings(backend="none"), tmp_path) is None
    assert type(build_chat_model(CFG, tmp_path)).__name__ == "OpenAIChatModel"
    assert type(build_chat_model(LLMSettings(), tmp_path)).__name__ == "LazyChatModel"
    with pytest.raises(ConfigError, match="needs llm.base_url"):
        build_chat_model(LLMSettings(backend="openai"), tmp_path)


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    """`python -m llama_cpp.server` with the small GGUF on a loopback port."""
    path = install_model(MODELS["small"], REAL_MODELS_DIR, progress=False)
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(path), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "4096", "--n_threads", "2", "--n_batch", "512"],
        stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                raise RuntimeError(log.read_text(errors="replace")[-2000:])
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("llama_cpp.server did not start in 120 s")
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(30)


@pytest.mark.slow
def test_a_real_openai_compatible_server_answers_through_the_ladder(llama_server, settings,
                                                                    demo_kb):
    cfg = LLMSettings(backend="openai", base_url=llama_server, model="small", max_tokens=96,
                      temperature=0.0)
    forced = settings.model_copy(update={"llm": cfg, "ladder": LLM_CHOOSES})
    agent = build_agent(forced, kb=demo_kb)
    events = list(agent.answer("How long will my refund take to arrive?"))
    hits = [h.entry.id for h in events[0].hits]
    final = events[-1].answer
    assert final.reason.startswith("the LLM "), final  # it chose (this server sends no
    # log-probabilities without --logits_all, so its reply's label takes them all)
    if final.route in ("rag", "faq"):
        assert final.sources[0].id in hits
