import pytest

from kefu.agent.ladder import Agent
from kefu.agent.prompts import prompts
from kefu.config import LadderSettings, RetrievalSettings
from kefu.retrieval.hybrid import Retriever

FORCE_RAG = LadderSettings(faq_threshold=9.0, rag_threshold=0.0)


def _agent(kb, model, cfg=None):
    return Agent(Retriever(kb, RetrievalSettings()), model, cfg or LadderSettings(), "Test Shop")


@pytest.mark.parametrize("question,entry_id,answer", [
    ("How long does shipping take?", "t-en-ship", "Orders arrive in 3-5 working days."),
    ("多久能收到货？", "t-zh-ship", "下单后3-5个工作日送达。"),
    ("what is your return policy", "t-en-return", "You can return unused items within 30 days."),
])
def test_confident_match_returns_the_curated_answer_without_the_llm(
        tiny_kb, scripted, question, entry_id, answer):
    result = _agent(tiny_kb, scripted).ask(question)
    assert (result.route, result.answer, [s.id for s in result.sources]) == (
        "faq", answer, [entry_id])
    assert scripted.prompts == []


def test_medium_match_is_answered_by_the_llm_from_the_cited_entry(tiny_kb, scripted):
    scripted.enqueue("[2]")
    scripted.enqueue("Unused items can go back within 30 days.")
    agent = _agent(tiny_kb, scripted, FORCE_RAG)
    events = list(agent.answer("Can I send back something I bought?"))
    hits = events[0].hits
    assert events[0].kind == "hits"
    assert "".join(e.text for e in events if e.kind == "token") == (
        "Unused items can go back within 30 days.")
    final = events[-1].answer
    assert (final.route, final.lang, final.answer) == (
        "rag", "en", "Unused items can go back within 30 days.")
    assert [s.id for s in final.sources] == [hits[1].entry.id]
    system, user = scripted.prompts[0]
    assert "Test Shop" in system.content
    assert f"[2] {hits[1].entry.question}\n{hits[1].entry.answer}" in user.content
    assert user.content.endswith("Customer question: Can I send back something I bought?\n"
                                 "(Write the source number, or [0] if none answers it.)")
    step_two = scripted.prompts[1]
    assert step_two[:2] == scripted.prompts[0]
    assert step_two[2].content == "[2]"
    assert "using only source [2]" in step_two[3].content


@pytest.mark.parametrize("choice", ["[0]", "none of them", "[9]"])
def test_no_usable_source_number_abstains_without_generating(tiny_kb, scripted, choice):
    scripted.enqueue(choice)
    final = _agent(tiny_kb, scripted, FORCE_RAG).ask("Any discounts?")
    assert (final.route, final.answer, final.sources) == ("abstain", prompts("en")["abstain"], ())
    assert len(scripted.prompts) == 1


def test_reply_in_the_wrong_language_is_retried_then_kept(tiny_kb, scripted):
    replies = ("[1]", "您可以在30天内退回未使用的商品。",
               "You can return unused items within 30 days.")
    for reply in replies:
        scripted.enqueue(reply)
    final = _agent(tiny_kb, scripted, FORCE_RAG).ask("Can I send back something I bought?")
    assert (final.route, final.answer) == ("rag", "You can return unused items within 30 days.")
    assert len(scripted.prompts) == 3
    assert scripted.prompts[2][-1].content.endswith(prompts("en")["retry_rule"])


def test_two_replies_in_the_wrong_language_abstain(tiny_kb, scripted):
    for reply in ("[1]", "您可以在30天内退回未使用的商品。", "您可以在30天内退回未使用的商品。"):
        scripted.enqueue(reply)
    final = _agent(tiny_kb, scripted, FORCE_RAG).ask("Can I send back something I bought?")
    assert final.route == "abstain"


def test_chinese_question_gets_chinese_prompts(tiny_kb, scripted):
    scripted.enqueue("[1]")
    scripted.enqueue("商品未使用可在30天内退货。")
    final = _agent(tiny_kb, scripted, FORCE_RAG).ask("买的东西能退回去吗")
    assert (final.route, final.lang, final.answer) == ("rag", "zh", "商品未使用可在30天内退货。")
    assert scripted.prompts[0][1].content.endswith("（写出资料编号，没有就写 [0]）")


@pytest.mark.parametrize("question,lang", [
    ("What's the weather on Mars?", "en"),
    ("帮我写一首诗", "zh"),
    ("Who won the football world cup in 1998?", "en"),
    ("今天股市怎么样", "zh"),
])
def test_unrelated_questions_abstain_in_the_customers_language(tiny_kb, scripted, question, lang):
    final = _agent(tiny_kb, scripted).ask(question)
    assert (final.route, final.lang, final.answer) == ("abstain", lang, prompts(lang)["abstain"])
    assert scripted.prompts == []


def test_without_an_llm_the_middle_band_abstains(tiny_kb):
    final = _agent(tiny_kb, None, FORCE_RAG).ask("Can I send back something I bought?")
    assert final.route == "abstain"
