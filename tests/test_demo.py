"""The default thresholds on the built-in demo: own questions answered, unrelated ones not."""

import pytest

from kefu.agent.factory import build_agent
from kefu.config import LLMSettings


@pytest.fixture
def demo_agent(settings, demo_kb):
    return build_agent(settings.model_copy(update={"llm": LLMSettings(backend="none")}),
                       kb=demo_kb)


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


# Out-of-scope questions of the kind a tutorial RAG chain answered with invented sales and
# medical advice (10 of 10); kefu must decline at least 9 of 10 before any LLM call.
OUT_OF_SCOPE = {
    "en": ["Do you have a Christmas sale?", "Is there a Black Friday discount this year?",
           "I have a rash after lighting your candle, which cream should I use?",
           "My child swallowed a battery, what should I do?",
           "Can you recommend a good divorce lawyer?", "What is your company's stock price?",
           "Do you sell iPhones?", "What's the phone number of your CEO?",
           "How do I fix the brakes on my car?", "Should I invest in your company?"],
    "zh": ["圣诞节有打折活动吗？", "双十一有什么优惠？",
           "点了你们的香薰蜡烛后皮肤过敏，该涂什么药膏？", "孩子误吞了电池怎么办？",
           "能推荐一个离婚律师吗？", "你们公司的股价是多少？", "你们卖苹果手机吗？",
           "你们老板的电话是多少？", "汽车刹车坏了怎么修？", "我应该投资你们公司吗？"],
}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_out_of_scope_questions_are_declined_before_the_llm_is_asked(demo_agent, lang):
    declined = [q for q in OUT_OF_SCOPE[lang]
                if demo_agent.decide(lang, demo_agent.retriever.search(q)).route == "abstain"]
    assert len(declined) >= 9, set(OUT_OF_SCOPE[lang]) - set(declined)
