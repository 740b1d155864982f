"""The default thresholds on the built-in demo: own questions answered, unrelated ones not."""

import pytest

from kefu.agent.factory import build_agent
from kefu.config import LLMSettings
from kefu.demo import demo_files
from kefu.knowledge_base.loaders import load_path
from kefu.knowledge_base.store import open_knowledge_base


@pytest.fixture(scope="module")
def demo_agent(tmp_path_factory, e5):
    from kefu.config import load_settings

    settings = load_settings(environ={"KEFU_HOME": str(tmp_path_factory.mktemp("home"))})
    kb = open_knowledge_base(settings, "demo", e5)
    for path in demo_files():
        kb.ingest(load_path(path).entries)
    yield build_agent(settings.model_copy(update={"llm": LLMSettings(backend="none")}), kb=kb)
    kb.close()


def test_demo_has_forty_faq_entries_per_language_and_two_documents(demo_agent):
    entries = demo_agent.retriever.kb.entries().values()
    faq = [e for e in entries if e.kind == "faq"]
    assert sum(e.lang == "en" for e in faq) >= 40 and sum(e.lang == "zh" for e in faq) >= 40
    assert {e.source for e in entries if e.kind == "doc"} == {
        "returns-and-warranty-policy.md", "配送与售后政策.md"}


def test_every_demo_question_gets_its_own_curated_answer(demo_agent):
    faq = [e for e in demo_agent.retriever.kb.entries().values() if e.kind == "faq"]
    wrong = []
    for entry in faq:
        answer = demo_agent.ask(entry.question)
        if (answer.route, [s.id for s in answer.sources]) != ("faq", [entry.id]):
            wrong.append((entry.id, answer.route, [s.id for s in answer.sources]))
    assert wrong == []


@pytest.mark.parametrize("question", [
    "What's the weather on Mars?", "What is the capital of France?", "Tell me a joke",
    "How do I bake a cake?", "Who won the world cup?", "Write me a poem about the sea",
    "帮我写一首诗", "今天股市怎么样", "给我推荐一部电影", "北京明天天气如何", "讲个笑话",
])
def test_unrelated_questions_abstain(demo_agent, question):
    assert demo_agent.ask(question).route == "abstain"
