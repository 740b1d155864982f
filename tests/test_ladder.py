import pytest

from kefu.agent.ladder import Agent
from kefu.agent.prompts import prompts
from kefu.config import LadderSettings, RetrievalSettings
from kefu.retrieval.hybrid import Retriever
from kefu.types import Entry, Hit, Message

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
    question = "Can I send back something I bought?"
    ranked = [h.entry.id for h in Retriever(tiny_kb, RetrievalSettings()).search(question)]
    number = ranked.index("t-en-return") + 1
    scripted.enqueue(f"[{number}]")
    scripted.enqueue("Unused items can go back within 30 days.")
    agent = _agent(tiny_kb, scripted, FORCE_RAG)
    events = list(agent.answer(question))
    hits = events[0].hits
    assert events[0].kind == "hits"
    assert "".join(e.text for e in events if e.kind == "token") == (
        "Unused items can go back within 30 days.")
    final = events[-1].answer
    assert (final.route, final.lang, final.answer) == (
        "rag", "en", "Unused items can go back within 30 days.")
    assert [s.id for s in final.sources] == ["t-en-return"]
    system, user = scripted.prompts[0]
    assert "Test Shop" in system.content
    cited = hits[number - 1].entry
    assert f"[{number}] {cited.question}\n{cited.answer}" in user.content
    assert user.content.endswith("Customer question: Can I send back something I bought?\n"
                                 "(Write the source number, or [0] if none answers it.)")
    step_two = scripted.prompts[1]
    assert step_two[:2] == scripted.prompts[0]
    assert step_two[2].content == f"[{number}]"
    assert f"using only source [{number}]" in step_two[3].content


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


def test_two_replies_in_the_wrong_language_give_the_chosen_entrys_curated_answer(tiny_kb,
                                                                                 scripted):
    question = "Can I send back something I bought?"
    ranked = [h.entry.id for h in Retriever(tiny_kb, RetrievalSettings()).search(question)]
    number = ranked.index("t-en-return") + 1
    for reply in (f"[{number}]", "您可以在30天内退回。", "您可以在30天内退回。"):
        scripted.enqueue(reply)
    final = _agent(tiny_kb, scripted, FORCE_RAG).ask(question)
    assert (final.route, final.answer, [s.id for s in final.sources]) == (
        "faq", "You can return unused items within 30 days.", ["t-en-return"])


def test_two_replies_in_the_wrong_language_from_a_document_abstain(tiny_kb, scripted):
    question = "How long is the battery warranty?"
    ranked = [h.entry for h in Retriever(tiny_kb, RetrievalSettings()).search(question)]
    number = next(i for i, e in enumerate(ranked, 1) if e.kind == "doc")
    for reply in (f"[{number}]", "电池保修6个月。", "电池保修6个月。"):
        scripted.enqueue(reply)
    assert _agent(tiny_kb, scripted, FORCE_RAG).ask(question).route == "abstain"


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


def _hit(entry_id, lang, question, score=None, kind="faq"):
    entry = Entry(id=entry_id, question=f"question {entry_id}", answer=f"answer {entry_id}",
                  lang=lang, kind=kind)
    return Hit(entry=entry, score=question if score is None else score, dense=question,
               bm25=0.0, question=question)


@pytest.mark.parametrize("hits,expected", [
    # one clear curated match
    ([_hit("a", "en", 0.8), _hit("b", "en", 0.5)], ("faq", ["a"], False)),
    # two close FAQ matches, none sure: did you mean
    ([_hit("a", "en", 0.55), _hit("b", "en", 0.52), _hit("c", "en", 0.40)],
     ("suggest", ["a", "b"], False)),
    # three close ones, capped at max_suggestions
    ([_hit("a", "en", 0.55), _hit("b", "en", 0.54), _hit("c", "en", 0.53),
      _hit("d", "en", 0.52)], ("suggest", ["a", "b", "c"], False)),
    # one well ahead of the rest: the LLM decides, not a menu
    ([_hit("a", "en", 0.58), _hit("b", "en", 0.47)], ("rag", ["a", "b"], False)),
    # a document ranks first: the LLM answers from it
    ([_hit("doc", "en", 0.6, kind="doc"), _hit("a", "en", 0.55), _hit("b", "en", 0.53)],
     ("rag", ["doc", "a", "b"], False)),
    # only the other language's entry matches closely: its answer, translated
    ([_hit("zh-a", "zh", 0.7), _hit("b", "en", 0.3)], ("faq", ["zh-a"], True)),
    # the other language matches, but so does an entry in the customer's: no translation
    ([_hit("zh-a", "zh", 0.7), _hit("b", "en", 0.5)], ("rag", ["zh-a", "b"], False)),
    ([_hit("a", "en", 0.2)], ("abstain", [], False)),
])
def test_decide_picks_the_rung(tiny_kb, hits, expected):
    decision = _agent(tiny_kb, None).decide("en", hits)
    assert (decision.route, [h.entry.id for h in decision.hits], decision.translate) == expected


@pytest.mark.parametrize("weight,threshold,expected", [
    (0.0, 0.34, [["a", "b"], ["a"]]),  # the best score alone: both answered
    (2.0, 0.50, [[], ["a"]]),  # 0.40 + 2 x 0.02 = 0.44 declined; 0.40 + 2 x 0.20 = 0.80 kept
])
def test_a_clear_lead_counts_towards_the_rag_threshold(weight, threshold, expected):
    from kefu.agent.ladder import decide

    cfg = LadderSettings(margin_weight=weight, rag_threshold=threshold)
    close = [_hit("a", "en", 0.40, kind="doc"), _hit("b", "en", 0.38, kind="doc")]
    ahead = [_hit("a", "en", 0.40, kind="doc"), _hit("b", "en", 0.20, kind="doc")]
    assert [[h.entry.id for h in decide(cfg, "en", hits).hits]
            for hits in (close, ahead)] == expected


def test_did_you_mean_offers_the_entries_questions(tiny_kb, scripted):
    final = _agent(tiny_kb, scripted).ask("Can I return an item or how long does shipping take?")
    assert (final.route, final.answer) == ("suggest", prompts("en")["suggest"])
    assert [s.id for s in final.sources] == ["t-en-return", "t-en-ship"]
    assert final.suggestions == ("Can I return an item?", "How long does shipping take?")
    assert scripted.prompts == []


def test_a_curated_answer_in_the_other_language_is_translated_and_marked(tiny_kb, scripted):
    tiny_kb.delete(["t-en-pay"])
    scripted.enqueue("We accept Alipay and WeChat Pay.")
    final = _agent(tiny_kb, scripted, LadderSettings(faq_threshold=0.4)).ask(
        "Which payment methods do you support?")
    assert (final.route, final.answer) == ("faq", "We accept Alipay and WeChat Pay.")
    assert [(s.id, s.translated) for s in final.sources] == [("t-zh-pay", True)]
    assert "支持支付宝和微信支付。" in scripted.prompts[0][-1].content


def test_an_invented_figure_is_never_shown(tiny_kb, scripted):
    question = "Can I send back something I bought?"
    ranked = [h.entry.id for h in Retriever(tiny_kb, RetrievalSettings()).search(question)]
    scripted.enqueue(f"[{ranked.index('t-en-return') + 1}]")
    scripted.enqueue("Yes, within 90 days, and we pay the postage.")
    final = _agent(tiny_kb, scripted, FORCE_RAG).ask(question)
    assert (final.route, final.answer) == ("abstain", prompts("en")["abstain"])


def test_a_reply_resting_on_another_given_source_cites_that_one(tiny_kb, scripted):
    question = "Can I send back something I bought?"
    ranked = [h.entry.id for h in Retriever(tiny_kb, RetrievalSettings()).search(question)]
    assert "t-en-return" in ranked[:3]
    wrong = next(i for i, entry_id in enumerate(ranked[:3], 1) if entry_id != "t-en-return")
    scripted.enqueue(f"[{wrong}]")
    scripted.enqueue("Yes, unused items can go back within 30 days.")
    final = _agent(tiny_kb, scripted, FORCE_RAG).ask(question)
    assert (final.route, [s.id for s in final.sources]) == ("rag", ["t-en-return"])


def test_an_invented_figure_from_a_document_abstains(tiny_kb, scripted):
    question = "How long is the battery warranty?"
    ranked = [h.entry for h in Retriever(tiny_kb, RetrievalSettings()).search(question)]
    number = next(i for i, e in enumerate(ranked, 1) if e.kind == "doc" and "6 months" in e.answer)
    scripted.enqueue(f"[{number}]")
    scripted.enqueue("Batteries are covered for 12 months.")
    assert _agent(tiny_kb, scripted, FORCE_RAG).ask(question).route == "abstain"


@pytest.mark.parametrize("text,route,handoff,key", [
    ("I want to talk to a human", "handoff", "offer", "offer_human"),
    ("转人工", "handoff", "offer", "offer_human"),
    ("this shop is useless!!!", "handoff", "offer", "angry"),
])
def test_a_human_is_offered_when_asked_for_or_when_the_customer_is_angry(
        tiny_kb, scripted, text, route, handoff, key):
    final = _agent(tiny_kb, scripted).ask(text)
    lang = "zh" if key and not text.isascii() else "en"
    assert (final.route, final.handoff, final.answer) == (route, handoff, prompts(lang)[key])


def test_an_angry_customer_with_a_real_question_gets_the_answer_and_the_offer(tiny_kb):
    final = _agent(tiny_kb, None, LadderSettings(faq_threshold=0.5)).ask(
        "How long does shipping take??? this is ridiculous")
    assert (final.route, final.handoff) == ("faq", "offer")
    assert final.answer == "Orders arrive in 3-5 working days."


def test_two_abstentions_in_a_row_offer_a_human_and_yes_accepts(tiny_kb):
    agent = _agent(tiny_kb, None)
    first = agent.ask("What's the weather on Mars?")
    history = [Message("user", "What's the weather on Mars?"),
               Message("assistant", first.answer, first.route, first.handoff)]
    second = agent.ask("Who won the football world cup in 1998?", history)
    assert (first.route, first.handoff) == ("abstain", "")
    assert (second.route, second.handoff, second.answer) == (
        "abstain", "offer", prompts("en")["abstain_again"])
    history += [Message("user", "Who won?"),
                Message("assistant", second.answer, second.route, second.handoff)]
    accepted = agent.ask("yes please", history)
    assert (accepted.route, accepted.handoff) == ("handoff", "accepted")
    # "yes" without an offer before it is just a message (here: a second abstention)
    assert agent.ask("yes please", history[:2]).handoff != "accepted"
