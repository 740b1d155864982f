"""Multi-turn: follow-ups rewritten into standalone questions, then retrieved."""

from collections import deque

import pytest

from kefu.agent.decision import confidence
from kefu.agent.factory import build_agent
from kefu.agent.rewrite import follow_up_context, looks_like_follow_up, usable_rewrite
from kefu.config import LLMSettings
from kefu.types import Message

from .conftest import ScriptedChatModel


@pytest.mark.parametrize("text,lang,expected", [
    ("and for express delivery?", "en", True),
    ("what about Hong Kong?", "en", True),
    ("how long does it take?", "en", True),
    ("Express?", "en", True),
    ("Do you ship internationally?", "en", False),
    ("Which payment methods do you accept?", "en", False),
    ("那换货呢？", "zh", True),
    ("那电子发票呢？", "zh", True),
    ("这个能退吗", "zh", True),
    ("多久？", "zh", True),
    ("这家店的电话是多少？", "zh", True),
    ("该餐馆周边都有哪些景点？", "zh", True),
    ("我应该怎么申请退货？", "zh", False),
    ("退货运费谁承担？", "zh", False),
    ("支持哪些付款方式？", "zh", False),
    ("睡袋呢，一天多少？", "zh", True),  # a bare "…呢" before the question
    ("这件的保修期是多久？", "zh", True),  # "this one" by its measure word
    ("我是在新加坡下的单，也一样吗", "zh", True),
    ("我人在美国，运费也是你们出吗", "zh", True),
    ("which number do I call from the UK then?", "en", True),
    ("我也想问一下退货地址在哪里", "zh", False),
    ("Then how do I reset my password?", "en", True),
    ("When is the store open?", "en", False),
])
def test_follow_ups_are_told_from_standalone_questions(text, lang, expected):
    assert looks_like_follow_up(text, lang) is expected


def test_the_rule_context_walks_back_over_follow_ups_to_the_topic():
    history = [Message("user", "Do you ship internationally?"), Message("assistant", "Yes."),
               Message("user", "How much does shipping cost?"), Message("assistant", "US$6.90"),
               Message("user", "what about Hong Kong?"), Message("assistant", "…")]
    assert follow_up_context(history) == "How much does shipping cost? what about Hong Kong?"
    assert follow_up_context(history[:4]) == "How much does shipping cost?"


@pytest.mark.parametrize("raw,expected", [
    ("How much does express delivery cost?", "How much does express delivery cost?"),
    ("Standalone question: \"How much is express delivery?\"\nIt costs…",
     "How much is express delivery?"),
    ("", ""),
    ("快递要多少钱？", ""),  # the wrong language
    ("[0]", ""),
    ("x" * 400, ""),  # an essay, not a question
])
def test_an_llm_rewrite_is_used_only_when_it_is_a_plausible_question(raw, expected):
    assert usable_rewrite(raw, "and for express?", "en") == expected


@pytest.mark.parametrize("raw,question,expected", [
    ("顾客的新消息：买礼品卡也能用花呗分期吗", "买礼品卡也能这样分吗", "买礼品卡也能用花呗分期吗"),
    ("这个要多久能取？", "这个要多久能取？", ""),  # unchanged: nothing gained
    ("它补绒呢？", "那羽绒睡袋补绒呢？", ""),  # still leans on the conversation
    ("把“它”“这个”“那里”等词换成它们指代的内容。", "还的时候要先洗干净吗", ""),  # the prompt
    ("When do they open?", "what time are they open?", ""),
    ("Customer: How do I spend my Pinecone Club points?", "and how do I spend them?",
     "How do I spend my Pinecone Club points?"),
])
def test_a_rewrite_that_still_needs_the_conversation_is_left_to_the_rule(raw, question,
                                                                         expected):
    lang = "en" if question.isascii() else "zh"
    assert usable_rewrite(raw, question, lang) == expected


def _dialogue(agent, turns):
    """Play the customer's turns; per turn: (rewritten question or '', top hit, route)."""
    history, seen = [], []
    for text in turns:
        events = list(agent.answer(text, history))
        rewrite = next((e.text for e in events if e.kind == "rewrite"), "")
        hits = next(e.hits for e in events if e.kind == "hits")
        final = events[-1].answer
        seen.append((rewrite, hits[0].entry.id, final.route))
        history += [Message("user", text), Message("assistant", final.answer, final.route,
                                                   final.handoff)]
    return seen


def _rewriting(settings):
    """settings with llm.rewrite_follow_ups on (off by default)."""
    return settings.model_copy(update={"llm": settings.llm.model_copy(
        update={"rewrite_follow_ups": True})})


@pytest.fixture
def rule_agent(settings, demo_kb):
    return build_agent(settings.model_copy(update={"llm": LLMSettings(backend="none")}),
                       kb=demo_kb)


@pytest.mark.parametrize("turns,expected", [
    (["How much does shipping cost?", "and for express delivery?"], [
        ("", "en-ship-02", "faq"),
        ("How much does shipping cost? and for express delivery?", "en-ship-06", "faq")]),
    (["Do you ship internationally?", "how long does it take?"], [
        ("", "en-ship-03", "faq"),
        ("Do you ship internationally? how long does it take?", "en-ship-01", "faq")]),
    (["退货运费谁承担？", "那换货呢？"], [
        ("", "zh-ret-03", "faq"), ("退货运费谁承担？ 那换货呢？", "zh-ret-05", "faq")]),
    (["支持哪些付款方式？", "可以分期吗"], [
        ("", "zh-pay-01", "faq"), ("支持哪些付款方式？ 可以分期吗", "zh-pay-03", "faq")]),
    (["How much does shipping cost?", "what about Hong Kong?", "how long does it take?"], [
        ("", "en-ship-02", "faq"),
        ("How much does shipping cost? what about Hong Kong?", "en-ship-03", "abstain"),
        ("How much does shipping cost? what about Hong Kong? how long does it take?",
         "en-ship-01", "faq")]),
    (["可以开发票吗？", "那电子发票呢？", "多久能收到？"], [
        ("", "zh-pay-05", "faq"), ("可以开发票吗？ 那电子发票呢？", "zh-pay-05", "faq"),
        ("可以开发票吗？ 那电子发票呢？ 多久能收到？", "zh-ship-01", "abstain")]),
])
def test_without_an_llm_the_rule_carries_the_topic_into_the_follow_up(rule_agent, turns,
                                                                      expected):
    assert _dialogue(rule_agent, turns) == expected


def test_the_follow_up_alone_would_lose_the_topic(rule_agent):
    """What the rewrite is for: without the conversation, 'what about Hong Kong?' finds
    nothing the ladder would answer from."""
    hits = rule_agent.retriever.search("what about Hong Kong?")
    assert hits[0].score < rule_agent.cfg.rag_threshold


def test_a_message_without_a_cue_that_alone_finds_nothing_sure_is_read_in_its_conversation(
        rule_agent):
    """"I need it fast, by express" names no earlier topic ('it' is too far in): alone it
    falls under rag_threshold; read with the question before it, it finds express delivery
    above it. A message that is sure alone is not read in its conversation."""
    alone = rule_agent.retriever.search("I need it fast, by express")
    assert confidence(rule_agent.cfg, alone) < rule_agent.cfg.rag_threshold
    reading, hits = rule_agent.search("I need it fast, by express", "en", [
        Message("user", "How much does shipping cost?"), Message("assistant", "US$6.90")])
    assert reading == "How much does shipping cost? I need it fast, by express"
    assert hits[0].entry.id == "en-ship-06"
    assert confidence(rule_agent.cfg, hits) >= rule_agent.cfg.rag_threshold
    reading, _ = rule_agent.search("支持哪些付款方式？", "zh", [
        Message("user", "How much does shipping cost?"), Message("assistant", "US$6.90")])
    assert reading == "支持哪些付款方式？"


@pytest.mark.parametrize("turns,replies,expected", [
    (["How much does shipping cost?", "and for express delivery?"],
     ["How much does express delivery cost?"],
     [("", "en-ship-02", "faq"), ("How much does express delivery cost?", "en-ship-06", "faq")]),
    (["退货运费谁承担？", "那换货呢？"], ["换货的运费谁承担？"],
     [("", "zh-ret-03", "faq"), ("换货的运费谁承担？", "zh-ret-05", "faq")]),
    (["Do you ship internationally?", "and to Hong Kong?", "how long does it take?"],
     ["Do you ship to Hong Kong?", "How long does delivery to Hong Kong take?"],
     [("", "en-ship-03", "faq"), ("Do you ship to Hong Kong?", "en-ship-03", "faq"),
      ("How long does delivery to Hong Kong take?", "en-ship-01", "faq")]),
])
def test_with_an_llm_its_rewrite_is_what_is_retrieved(settings, demo_kb, turns, replies,
                                                      expected):
    model = ScriptedChatModel(*replies)
    agent = build_agent(_rewriting(settings), kb=demo_kb, chat_model=model)
    assert _dialogue(agent, turns) == expected
    assert model.replies == deque()
    rewrite_prompts = [p[-1].content for p in model.prompts if "standalone" in p[-1].content
                       or "独立问题" in p[-1].content]
    assert len(rewrite_prompts) == len(turns) - 1
    assert f"{'Customer' if turns[0].isascii() else '顾客'}: {turns[0]}" in rewrite_prompts[0]
    assert rewrite_prompts[-1].rstrip().endswith(("Write only the question.",
                                                   "只写改写后的问题。"))
    assert turns[-1] in rewrite_prompts[-1]


def test_by_default_the_rule_reads_a_follow_up_even_with_an_llm(settings, demo_kb):
    model = ScriptedChatModel()
    seen = _dialogue(build_agent(settings, kb=demo_kb, chat_model=model),
                     ["退货运费谁承担？", "那换货呢？"])
    assert seen == [("", "zh-ret-03", "faq"), ("退货运费谁承担？ 那换货呢？", "zh-ret-05", "faq")]
    assert not model.prompts  # neither a rewrite nor a choice: both curated matches


def test_an_unusable_llm_rewrite_falls_back_to_the_rule(settings, demo_kb):
    model = ScriptedChatModel("Sure! Express delivery costs US$15 and arrives in 1-2 days. " * 9)
    seen = _dialogue(build_agent(_rewriting(settings), kb=demo_kb, chat_model=model),
                     ["How much does shipping cost?", "and for express delivery?"])
    assert seen[1] == ("How much does shipping cost? and for express delivery?", "en-ship-06",
                       "faq")


def test_a_language_switch_mid_conversation_is_answered_in_the_new_language(rule_agent):
    history = [Message("user", "How much does shipping cost?"),
               Message("assistant", "Shipping is free on orders over US$49.", "faq")]
    final = rule_agent.ask("可以开发票吗？", history)
    assert (final.lang, final.route, [s.id for s in final.sources]) == ("zh", "faq",
                                                                        ["zh-pay-05"])
    assert rule_agent.ask("👍", [Message("user", "可以开发票吗？")]).lang == "zh"


def test_to_choose_the_llm_reads_a_follow_up_first_and_what_came_before_after_it(
        rule_agent):
    history = [Message("user", "租的装备能寄到家里吗"), Message("assistant", "可以，顺丰寄送。")]
    text = "还的时候要先洗干净吗"
    standalone, _ = rule_agent.search(text, "zh", history)
    assert standalone == "租的装备能寄到家里吗 还的时候要先洗干净吗"  # what is searched
    assert rule_agent.choosing_question(text, standalone, "", history) == (
        "还的时候要先洗干净吗 (earlier in the conversation: 租的装备能寄到家里吗)")
    rewrite = "租的装备归还前要先洗干净吗？"
    assert rule_agent.choosing_question(text, rewrite, rewrite, history) == rewrite
    assert rule_agent.choosing_question("Do you ship to Chile?", "Do you ship to Chile?",
                                        "", []) == "Do you ship to Chile?"
