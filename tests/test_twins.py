"""Machine-translated twins: FAQ entries written in one language only, made bilingual."""

import json
import re
import sqlite3
import time

import pytest

from kefu.agent.budget import PIECE_CHARS, pieces
from kefu.agent.figures import (
    changed_currencies,
    discounts_as_off,
    dropped_figures,
    misread_discounts,
    respelled,
)
from kefu.agent.guard import strip_preamble, translation_faults
from kefu.agent.ladder import Agent
from kefu.agent.llm_queue import GenerationQueue
from kefu.agent.translation import EntryTranslator, TwinMaker
from kefu.config import LadderSettings, RetrievalSettings
from kefu.knowledge_base import twins
from kefu.knowledge_base.store import content_hash, open_knowledge_base
from kefu.knowledge_base.twins import Translation
from kefu.retrieval.hybrid import Retriever
from kefu.types import Entry
from tests.conftest import FakeModel

ZH_ONLY = Entry("zh-return-fee", "退货运费谁承担？",
                "质量问题的退货运费由我们承担；其他原因退货，运费由顾客承担。", "zh",
                alt_questions=("退货邮费谁出",))
EN_ONLY = Entry("en-canada", "Do you ship to Canada?",
                "Yes. Parcels to Canada take 6-9 working days; shipping is free over US$80.", "en")
PAIR = (Entry("en-password", "How do I reset my password?",
              "Click 'Forgot password' on the sign-in page and follow the email we send you.",
              "en"),
        Entry("zh-password", "怎么重置密码？",
              "在登录页点击“忘记密码”，然后按照我们发给您的邮件操作。", "zh"))
TRANSLATIONS = {
    "zh-return-fee": Translation("Who pays the shipping for a return?",
                                 "We pay the return shipping for quality problems; for other "
                                 "reasons the customer pays it.",
                                 ("Who covers return postage?",)),
    "en-canada": Translation("你们发货到加拿大吗？",
                             "是的。寄往加拿大的包裹需要6-9个工作日；满US$80包邮。"),
}


@pytest.fixture
def mixed_kb(settings, e5):
    kb = open_knowledge_base(settings, "mixed", embedder=e5)
    kb.ingest([ZH_ONLY, EN_ONLY, *PAIR])
    yield kb
    kb.close()


class Linguist(FakeModel):
    """The LLM's translations, scripted: an entry whose id differs from its partner's only
    by the language is covered by it; asked records the entries translated."""

    def __init__(self):
        self.asked = []

    def __call__(self, entry, lang, partner):
        self.asked.append(entry.id)
        if partner is not None and _topic(partner) == _topic(entry):
            return Translation(f"({entry.question})", covered_by=partner.id)
        return TRANSLATIONS.get(entry.id)


def _topic(entry):
    return re.sub(r"\b(zh|en)-", "", entry.id)


LINGUIST = Linguist()


def _translator(settings, e5, scripted, name, *entries):
    """A knowledge base named name holding entries, and the translator of an agent on it
    whose LLM is scripted, trying each text once (its checks are what these tests read)."""
    kb = open_knowledge_base(settings, name, embedder=e5)
    kb.ingest(list(entries))
    return kb, EntryTranslator(Agent(Retriever(kb, RetrievalSettings()), scripted,
                                     LadderSettings(), "Shop"), tries=1)


def test_entries_written_in_both_languages_get_no_twin(mixed_kb):
    assert twins.partners(mixed_kb)["zh-password"] == PAIR[0]
    assert len(twins.pending(mixed_kb)) == 4
    linguist = Linguist()
    report = twins.fill(mixed_kb, linguist)
    assert (report.made, report.covered, report.failed) == (2, 2, 0)
    assert {t.source.id: t.status for t in twins.twins(mixed_kb)} == {
        "zh-return-fee": "machine", "en-canada": "machine", "en-password": "covered",
        "zh-password": "covered"}
    assert mixed_kb.get("zh-password~en") is None and mixed_kb.get("en-password~zh") is None
    assert twins.pending(mixed_kb) == []
    twins.fill(mixed_kb, linguist)
    assert len(linguist.asked) == 4  # made once, kept with the knowledge base


def test_close_entries_that_say_different_things_both_get_twins(tiny_kb):
    # t-en-pay (Visa, PayPal) and t-zh-pay (Alipay, WeChat Pay): one topic, not one entry
    assert twins.partners(tiny_kb)["t-zh-pay"].id == "t-en-pay"
    twins.fill(tiny_kb, lambda entry, lang, partner: (
        Translation("?", covered_by=partner.id) if "pay" not in entry.id
        else Translation(f"{entry.question}?", f"{entry.answer}!")))
    assert {t.source.id: t.status for t in twins.twins(tiny_kb)
            if t.status == "machine"} == {"t-zh-pay": "machine", "t-en-pay": "machine"}


def test_a_twin_answers_a_question_in_the_other_language_marked_translated(mixed_kb):
    report = twins.fill(mixed_kb, LINGUIST)
    assert (report.made, report.failed, twins.pending(mixed_kb)) == (2, 0, [])
    agent = Agent(Retriever(mixed_kb, RetrievalSettings()), None, LadderSettings(), "Shop")
    answer = agent.ask("who covers return postage")  # the twin's similar question
    assert (answer.route, answer.lang, answer.answer) == (
        "faq", "en", TRANSLATIONS["zh-return-fee"].answer)
    assert [(s.id, s.translated) for s in answer.sources] == [("zh-return-fee", True)]
    answer = agent.ask("退货邮费谁出？")  # the shop's own words in its own language
    assert (answer.answer, answer.sources[0].translated) == (ZH_ONLY.answer, False)


def test_an_entry_and_its_twin_are_retrieved_once_in_the_customers_language(mixed_kb):
    twins.fill(mixed_kb, LINGUIST)
    retriever = Retriever(mixed_kb, RetrievalSettings())
    hits = retriever.search("加拿大 运费")
    origins = [h.entry.origin for h in hits]
    assert len(origins) == len(set(origins))
    shown = retriever.in_language(hits, "zh")
    canada = next(h.entry for h in shown if h.entry.origin == "en-canada")
    assert (canada.id, canada.lang, canada.translated_from) == ("en-canada~zh", "zh", "en-canada")
    back = retriever.in_language(shown, "en")
    assert next(h.entry for h in back if h.entry.origin == "en-canada") == EN_ONLY


def test_an_entry_written_in_both_languages_is_shown_once_in_the_customers(mixed_kb):
    """Centred on each language's mean, an English question may rank the shop's Chinese
    entry before its English one: the two are one entry, as an entry and its twin are."""
    twins.fill(mixed_kb, LINGUIST)  # the password entries cover each other
    hits = {h.entry.id: h for h in Retriever(mixed_kb, RetrievalSettings()).search(
        "forgot my password", k=10)}
    chinese_first = [hits["zh-password"], hits["en-password"], hits["en-canada"]]
    shown = Retriever(mixed_kb, RetrievalSettings()).in_language(chinese_first, "en")
    assert [(h.entry.id, h.score) for h in shown] == [
        ("en-password", hits["zh-password"].score), ("en-canada", hits["en-canada"].score)]


def test_a_rejected_twin_stays_away_until_its_source_changes(mixed_kb):
    twins.fill(mixed_kb, LINGUIST)
    twins.reject(mixed_kb, "en-canada")
    assert mixed_kb.get("en-canada~zh") is None
    assert twins.pending(mixed_kb) == []
    assert {t.source.id: t.status for t in twins.twins(mixed_kb)} == {
        "zh-return-fee": "machine", "en-canada": "rejected", "en-password": "covered",
        "zh-password": "covered"}
    changed = Entry(EN_ONLY.id, EN_ONLY.question, EN_ONLY.answer + " Duties are included.", "en")
    mixed_kb.ingest([changed])
    assert [e.id for e in twins.pending(mixed_kb)] == ["en-canada"]


def test_a_corrected_twin_is_kept_as_checked(mixed_kb):
    twins.fill(mixed_kb, LINGUIST)
    fixed = Translation("你们寄到加拿大吗？", "寄。加拿大6-9个工作日送达，满US$80包邮。")
    twins.put_twin(mixed_kb, EN_ONLY, fixed, status="checked")
    twin = mixed_kb.get("en-canada~zh")
    assert (twin.question, twin.answer) == (fixed.question, fixed.answer)
    assert {t.source.id: t.status for t in twins.twins(mixed_kb)}["en-canada"] == "checked"


def test_deleting_a_source_deletes_its_twin_and_its_state(mixed_kb):
    twins.fill(mixed_kb, LINGUIST)
    assert mixed_kb.delete(["zh-return-fee"]) == 1
    assert mixed_kb.get("zh-return-fee~en") is None
    assert "zh-return-fee" not in mixed_kb.twin_states()
    assert Retriever(mixed_kb, RetrievalSettings()).search("who pays return shipping")[0] \
        .entry.origin != "zh-return-fee"


def test_a_twin_of_an_entry_written_later_in_both_languages_goes(mixed_kb):
    twins.fill(mixed_kb, LINGUIST)
    assert mixed_kb.get("zh-return-fee~en") is not None
    mixed_kb.ingest([Entry("en-return-fee", "Who pays for return shipping?",
                           "We pay the return shipping for quality problems; otherwise the "
                           "customer pays it.", "en")])
    report = twins.fill(mixed_kb, LINGUIST)
    assert report.covered == 1
    assert mixed_kb.get("zh-return-fee~en") is None
    assert {t.source.id: t.status for t in twins.twins(mixed_kb)}["zh-return-fee"] == "covered"
    mixed_kb.delete(["en-return-fee"])  # the counterpart goes: the twin is made again
    assert [e.id for e in twins.pending(mixed_kb)] == ["zh-return-fee"]


def test_a_translation_that_fails_its_checks_is_not_stored(mixed_kb, scripted):
    agent = Agent(Retriever(mixed_kb, RetrievalSettings()), scripted, LadderSettings(), "Shop")
    translate = EntryTranslator(agent)
    wrong = "是的。寄往加拿大需要6-9个工作日；满US$50包邮。"  # a figure it did not say
    right = "是的。寄往加拿大需要6-9个工作日；满US$80包邮。"
    wrong_second, right_second = wrong.removeprefix("是的。"), right.removeprefix("是的。")
    # two tries, each: the answer, asked again once; then its sentences one at a time
    refused = (wrong, wrong, "是的。", wrong_second, wrong_second)
    for reply in ("你们发货到加拿大吗？", *refused * 2):
        scripted.enqueue(reply)
    assert translate(EN_ONLY, "zh", None) is None and not scripted.replies
    assert "照资料 [1] 原样写出：US$80。" in scripted.prompts[-1][-1].content  # asked again
    alone = scripted.prompts[-2][-1].content  # the second sentence, asked alone
    assert "照资料" not in alone and "Parcels" in alone and "Yes." not in alone
    for reply in ("你们发货到加拿大吗？", wrong, right):
        scripted.enqueue(reply)
    assert translate(EN_ONLY, "zh", None) == Translation("你们发货到加拿大吗？", right)
    for reply in ("你们发货到加拿大吗？", wrong, wrong, "是的。", right_second):  # sentence by
        scripted.enqueue(reply)  # sentence, each checked, it passes
    assert translate(EN_ONLY, "zh", None) == Translation("你们发货到加拿大吗？", right)
    for reply in ("你们发货到加拿大吗？", *refused, right):  # the fresh try passes
        scripted.enqueue(reply)
    assert translate(EN_ONLY, "zh", None) == Translation("你们发货到加拿大吗？", right)
    asked = [p[-1].content for p in scripted.prompts]
    assert EN_ONLY.question in asked[0] and EN_ONLY.answer in asked[1]


def test_names_and_spelled_figures_copied_into_a_translation_pass_its_checks(settings, e5,
                                                                           scripted):
    """A Chinese translation that opens with the product names of its English source is not
    a drift, and 七天 / 95折 / 21:00 may become 7 days / 5 % off / 9 p.m."""
    cards = Entry("en-cards", "Which cards do you accept?",
                  "Visa, Mastercard and American Express; UnionPay on the China site.", "en")
    store = Entry("zh-store", "门店几点关门？", "每天21:00关门，会员享95折，七天内可退。", "zh")
    kb, translate = _translator(settings, e5, scripted, "names", cards, store)
    for reply in ("你们接受哪些卡？", "Visa、Mastercard 和 American Express；中国站可用银联。",
                  "What time does the store close?",
                  "It closes at 9 p.m. every day; members get 5% off, returns within 7 days."):
        scripted.enqueue(reply)
    assert translate(cards, "zh", None).answer.startswith("Visa、Mastercard")
    assert translate(store, "en", None).answer.endswith("within 7 days.")
    scripted.enqueue("Which cards do you accept?")  # the source copied: no translation
    scripted.enqueue("Which cards do you accept?")
    assert translate(cards, "zh", None) is None
    scripted.enqueue("What time does the store close?")  # 8 p.m. is not what it says
    eight = "It closes at 8 p.m. every day; members get 5% off, returns within 7 days."
    for _ in range(2):  # asked again once
        scripted.enqueue(eight)
    assert translate(store, "en", None) is None
    kb.close()


@pytest.mark.parametrize("answer,asked_again", [
    # the prompt written back: asked again once to write only the translation
    ("请发邮件至 warranty@shop.example。所有数字、价格、日期、名称和邮箱保持原样。",
     "请只用简体中文回答。"),
    # the address translated: asked again once, naming it
    ("请发邮件至保修@shop.example，附上订单号。", "原样写出：warranty@shop.example。"),
])
def test_a_translation_that_echoes_its_prompt_or_changes_an_address_is_refused(
        settings, e5, scripted, answer, asked_again):
    claim = Entry("en-claim", "How do I claim?", "Email warranty@shop.example your order number.",
                  "en")
    kb, translate = _translator(settings, e5, scripted, "claims", claim)
    for reply in ("怎么申请保修？", answer, answer):
        scripted.enqueue(reply)
    assert translate(claim, "zh", None) is None
    assert scripted.prompts[-1][-1].content.endswith(asked_again)
    for reply in ("怎么申请保修？", "请发邮件至 warranty@shop.example，附上订单号。"):
        scripted.enqueue(reply)
    assert translate(claim, "zh", None).answer == "请发邮件至 warranty@shop.example，附上订单号。"
    kb.close()


@pytest.mark.parametrize("reply,misread", [
    ("Groups of 10 get a 92% discount.", True),
    ("Groups of 10 get 92% off.", True),
    ("Groups of 10 get a discount of 92%.", True),  # a twin of the Pinecone shop said so
    ("Groups of 10 pay 92% of the price: 8% off.", False),
])
def test_every_way_of_reading_a_discount_as_that_much_off_is_caught(reply, misread):
    assert misread_discounts(reply, "10件以上享92折。") == (["92折"] if misread else [])


def test_discounts_are_shown_to_the_llm_as_the_share_off():
    assert discounts_as_off("满10件享92折，会员9折，清仓8.5折。") == (
        "满10件享8% off，会员10% off，清仓15% off。")
    assert discounts_as_off("全场打折，满¥199包邮。") == "全场打折，满¥199包邮。"


def test_a_translation_that_reads_a_discount_as_that_much_off_is_refused(settings, e5,
                                                                         scripted):
    member = Entry("zh-member", "会员有折扣吗？", "会员全场享95折。", "zh")
    kb, translate = _translator(settings, e5, scripted, "discounts", member)
    wrong = "Members get a 95% discount on everything."  # 95折: the customer pays 95 %
    for reply in ("Do members get a discount?", wrong, wrong,
                  "Do members get a discount?", wrong, "Members get 5% off everything."):
        scripted.enqueue(reply)
    assert translate(member, "en", None) is None
    assert "会员全场享5% off。" in scripted.prompts[1][-1].content  # shown as the share off
    assert translate(member, "en", None).answer == "Members get 5% off everything."
    assert scripted.prompts[-1][-1].content.endswith(
        "95折 means the customer pays 95% of the price: 5% off.")
    for reply in ("Do members get a discount?", wrong,  # the added rule written back
                  "Members: the customer pays 95% of the price: 5% off."):
        scripted.enqueue(reply)
    assert translate(member, "en", None) is None
    kb.close()


@pytest.mark.parametrize(("reply", "shown"), [
    ("Orders of ¥1,000 or more get 3 interest-free instalments; zips cost ¥90 to ¥150.",
     "Orders of ¥1,000 or more get 3 interest-free instalments; zips cost ¥90–¥150."),
    ("Orders over 1000 yuan get 3 interest-free instalments; zips cost 90-150 RMB.",
     "Orders over ¥1,000 get 3 interest-free instalments; zips cost ¥90–¥150."),
    ("Orders over $1,000 get 3 interest-free instalments; zips cost $90–$150.", None),
])
def test_a_translation_keeps_the_shops_prices_as_written_and_their_currency(
        settings, e5, scripted, reply, shown):
    """A price keeps its currency (¥1,000 is not $1,000) and the shop's spelling."""
    instalments = Entry("zh-instalments", "可以分期吗？",
                        "订单满¥1,000可享3期免息；拉链更换¥90–¥150。", "zh")
    kb, translate = _translator(settings, e5, scripted, "money", instalments)
    for text in ("Can I pay in instalments?", reply, reply):  # a wrong one is asked again
        scripted.enqueue(text)
    made = translate(instalments, "en", None)
    assert (made.answer if made else None) == shown
    kb.close()


def test_only_sums_of_money_are_held_to_their_currency():
    assert changed_currencies("Orders over $1,000", "订单满¥1,000") == ["$1,000"]
    assert changed_currencies("Orders over US$1,000", "Orders over $1,000") == []
    assert changed_currencies("It weighs 5 pounds; 4.5% a month", "重5磅，每月4.5%") == []
    assert respelled("open 9:00 to 21:00, 3 to 7 days", "9:00–21:00营业，3–7天") == (
        "open 9:00–21:00, 3–7 days")


def test_a_translation_that_leaves_words_untranslated_is_asked_again_naming_them(
        settings, e5, scripted):
    """"寄往加拿大的 parcels" is not Chinese, nor "Can冲锋衣 be washed?" English: asked again
    once, naming the words; the attempt that leaves fewer is kept."""
    jacket = Entry("zh-jacket", "冲锋衣可以机洗吗？", "可以，用30°C以下冷水机洗。", "zh")
    kb, translate = _translator(settings, e5, scripted, "words", jacket, EN_ONLY)
    for reply in ("Can冲锋衣 be machine washed?", "Can the shell jacket be machine washed?",
                  "Yes, machine wash it in cold water below 30°C."):
        scripted.enqueue(reply)
    assert translate(jacket, "en", None).question == "Can the shell jacket be machine washed?"
    assert scripted.prompts[1][-1].content.endswith("write them in English too: 冲锋衣.")
    fewer = "是的。寄往加拿大的 parcels 需要6-9个工作日；满US$80包邮。"
    for reply in ("你们发货到加拿大吗？", "是的。寄往加拿大需要6-9个 working days；满US$80包邮。",
                  fewer):
        scripted.enqueue(reply)
    assert translate(EN_ONLY, "zh", None).answer == fewer
    assert scripted.prompts[-1][-1].content.endswith("请把它们也译成中文：working、days。")
    kb.close()


def test_the_naming_rule_written_back_is_no_translation(settings, e5, scripted):
    """Asked to put the words it left into English, the 1.5B model writes the rule back with
    its own glossary ("顺丰" as "FedEx"): that reply is no attempt, the first is kept."""
    gas = Entry("zh-gas", "气罐能寄吗？", "气罐只能走陆运，不能选顺丰空运。", "zh")
    kb, translate = _translator(settings, e5, scripted, "echo", gas)
    first = "Gas canisters only go by陆运; they cannot go by顺丰 air."
    for reply in ("Can gas canisters be shipped?", first, "These words of your translation "
                  "are not English yet; write them in English too: land, FedEx."):
        scripted.enqueue(reply)
    assert translate(gas, "en", None).answer == first
    kb.close()


@pytest.mark.parametrize("translation,dropped", [
    ("Members pay 95% of the price from ¥2,000 a year.", []),
    ("Members get 5% off.", ["2,000"]),  # the sum left out; 95折 as the share off
    ("**松苗、松枝**", ["95折", "2,000"]),  # names alone: every figure dropped
])
def test_a_translation_that_drops_a_figure_is_refused(translation, dropped):
    source = "年消费满¥2,000升级松枝会员，享全场95折。"
    assert dropped_figures(translation, source) == dropped
    assert dropped_figures("open 10 a.m. to 9 p.m. daily; 3–7 days; two years",
                           "open 10:00–21:00 daily; 3–7 days; 2 years") == []
    assert [f for f in translation_faults(translation, source) if f.startswith("dropped")] \
        == [f"dropped {d}" for d in dropped]


def test_a_twin_made_under_older_checks_is_checked_again_and_kept_or_made_anew(
        settings, e5, scripted):
    canada = Entry("en-canada", "Do you ship to Canada?",
                   "Parcels to Canada take 6–9 working days; free over US$80.", "en")
    gift = Entry("en-gift", "Which gift cards are there?", "US$25 and US$50 cards.", "en")
    kb = open_knowledge_base(settings, "rechecks", embedder=e5)
    kb.ingest([canada, gift])
    twins.put_twin(kb, canada, Translation("你们发货到加拿大吗？",
                                           "寄往加拿大需要6-9个工作日；满80美元包邮。"))
    twins.put_twin(kb, gift, Translation("有哪些礼品卡？", "有25元和50元的卡。"))  # ¥, not US$
    for source in (canada, gift):  # as a twin made before this revision of the checks
        kb.set_twin_state(source.id, content_hash(source) + "/checks-2", "machine")
    assert {e.id for e in twins.pending(kb)} == {"en-canada", "en-gift"}
    for text in ("有哪些礼品卡？", "有25美元和50美元的卡。"):
        scripted.enqueue(text)  # only the failing twin asks the LLM again
    translator = EntryTranslator(Agent(Retriever(kb, RetrievalSettings()), scripted,
                                       LadderSettings(), "Shop"))
    report = translator.fill(kb)
    assert (report.kept, report.made, report.failed, twins.pending(kb)) == (1, 1, 0, [])
    assert kb.get("en-canada~zh").answer == "寄往加拿大需要6–9个工作日；满US$80包邮。"
    assert kb.get("en-gift~zh").answer == "有US$25和US$50的卡。"
    assert len(scripted.prompts) == 2
    kb.close()


def test_an_entry_that_failed_older_checks_is_translated_again(mixed_kb):
    twins.fill(mixed_kb, lambda entry, lang, partner: None)
    assert twins.pending(mixed_kb) == []  # failed under these checks: not tried again
    states = mixed_kb.twin_states()
    for source_id, (digest, status, _) in states.items():
        older = digest.replace(f"/checks-{twins.CHECKS_REVISION}", "/checks-1")
        mixed_kb.set_twin_state(source_id, older, status)
    assert {e.id for e in twins.pending(mixed_kb)} == set(states) == {
        "zh-return-fee", "en-canada", "en-password", "zh-password"}


def test_an_entry_the_llm_finds_its_partner_answers_is_covered(mixed_kb, scripted):
    agent = Agent(Retriever(mixed_kb, RetrievalSettings()), scripted, LadderSettings(), "Shop")
    scripted.enqueue("How do I reset my password?")
    scripted.enqueue("[1]")  # asked as a customer's question, the LLM chooses en-password
    assert EntryTranslator(agent)(PAIR[1], "en", PAIR[0]) == Translation(
        "How do I reset my password?", covered_by="en-password")
    assert "[1] How do I reset my password? — Click" in scripted.prompts[-1][-1].content
    scripted.enqueue("How do I reset my password?")
    scripted.enqueue("[0.6, 0.4, 0.0]")  # "none of them" ahead: retrieval's sureness aside
    scripted.enqueue("Click 'Forgot password' on the sign-in page.")
    assert EntryTranslator(agent)(PAIR[1], "en", PAIR[0]).answer == (
        "Click 'Forgot password' on the sign-in page.")
    asked = len(scripted.prompts)
    scripted.enqueue("How do I reset my password?")  # en-canada is no curated match for it:
    scripted.enqueue("Click 'Forgot password'.")  # translated without asking the LLM to choose
    assert EntryTranslator(agent)(PAIR[1], "en", EN_ONLY).answer == "Click 'Forgot password'."
    assert len(scripted.prompts) == asked + 2


class DictionaryModel(FakeModel):
    """An LLM at the process boundary that translates from a dictionary."""

    def __init__(self, words):
        self.words = words

    def stream(self, messages):
        prompt = messages[-1].content
        yield next(out for text, out in self.words.items() if text in prompt)

    def label_probs(self, messages, labels):
        """Chooses the entry on passwords for a question on passwords, else none."""
        options, question = messages[-1].content.rsplit("Customer question: ", 1)
        words = ("password", "密码")
        probs = [float(any(w in question for w in words) and any(w in line for w in words))
                 for line in options.splitlines()[1:len(labels)]]  # [1] .. [n]
        return [float(not any(probs)), *probs]


def test_the_server_translates_in_the_background_after_each_write(mixed_kb):
    words = {ZH_ONLY.question: "Who pays the shipping for a return?",
             ZH_ONLY.answer: "We pay for quality problems.",
             ZH_ONLY.alt_questions[0]: "Who covers return postage?",
             EN_ONLY.question: "你们发货到加拿大吗？",
             EN_ONLY.answer: "是的，6-9个工作日，满US$80包邮。",
             "有礼品卡吗？": "Do you sell gift cards?", "有，US$10起。": "Yes, from US$10.",
             PAIR[0].question: PAIR[1].question, PAIR[1].question: PAIR[0].question}
    agent = Agent(Retriever(mixed_kb, RetrievalSettings()), DictionaryModel(words),
                  LadderSettings(), "Shop", queue=GenerationQueue())
    maker = TwinMaker(agent).start()
    try:
        _until(lambda: not twins.pending(mixed_kb))
        assert mixed_kb.get("en-canada~zh").answer == "是的，6-9个工作日，满US$80包邮。"
        assert mixed_kb.get("en-password~zh") is None
        mixed_kb.ingest([Entry("zh-gift", "有礼品卡吗？", "有，US$10起。", "zh")])
        _until(lambda: mixed_kb.get("zh-gift~en") is not None)
        assert mixed_kb.get("zh-gift~en").question == "Do you sell gift cards?"
    finally:
        maker.stop()
    assert maker.progress.state == "idle"


def _until(condition, seconds=20.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_knowledge_base_file_made_before_twins_is_taken_over_in_its_order(settings, e5):
    """kefu 0.2 made these tables by hand (no translated_from, no twins, no position: the
    order was SQLite's rowid)."""
    path = settings.kb_dir / "old" / "kb.sqlite"
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as db:
        db.executescript("""
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
            CREATE TABLE entries (id TEXT PRIMARY KEY, kind TEXT, lang TEXT, question TEXT,
                answer TEXT, category TEXT, alt_questions TEXT, source TEXT, hash TEXT);
            CREATE TABLE bm25 (entry_id TEXT PRIMARY KEY, tokens TEXT);
        """)
        for entry in (ZH_ONLY, EN_ONLY):
            db.execute("INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (entry.id, entry.kind, entry.lang, entry.question, entry.answer,
                        entry.category, json.dumps(list(entry.alt_questions)), entry.source,
                        "old-hash"))
    kb = open_knowledge_base(settings, "old", embedder=e5)
    assert list(kb.entries().values()) == [ZH_ONLY, EN_ONLY]
    assert [e.id for e in twins.pending(kb)] == ["zh-return-fee", "en-canada"]
    kb.ingest([EN_ONLY])  # re-indexed (its hash is not this kefu's), now written last
    assert list(kb.entries()) == ["zh-return-fee", "en-canada"]
    kb.ingest([ZH_ONLY])
    assert list(kb.entries()) == ["en-canada", "zh-return-fee"]
    kb.close()


@pytest.mark.parametrize("reply,shown", [
    ("Here is the translation of the source into English:\n\nShipping is free.",
     "Shipping is free."),
    ("以下是译文：\n满99元包邮。", "满99元包邮。"),
    ("客服助手：您好！满99元包邮。", "您好！满99元包邮。"),
    ("Translation matters: we keep every figure.", "Translation matters: we keep every figure."),
    ('"Your order number is enough."\n\nThis translation maintains the meaning.',
     '"Your order number is enough."'),
])
def test_a_small_models_preamble_is_not_part_of_the_translation(reply, shown):
    assert strip_preamble(reply) == shown


def test_a_translated_question_that_answers_instead_is_refused(mixed_kb, scripted):
    agent = Agent(Retriever(mixed_kb, RetrievalSettings()), scripted, LadderSettings(), "Shop")
    scripted.enqueue("Yes, we ship to Canada.")
    assert agent.translated("en", "你们发货到加拿大吗？", kind="question") == ""
    scripted.enqueue("Sure! Here is the translation:\nDo you ship to Canada?")
    assert agent.translated("en", "你们发货到加拿大吗？",
                            kind="question") == "Do you ship to Canada?"


@pytest.mark.parametrize("question", ["who pays for returning an item?", "return postage cost"])
def test_per_language_centring_finds_an_entry_written_only_in_the_other_language(mixed_kb,
                                                                                 question):
    """Without twins (no LLM): one knowledge-base mean leaves the language offset and an
    English question finds some English entry; each language centred on its own mean finds
    the Chinese-only entry that answers it."""
    def top(center_languages):
        cfg = RetrievalSettings(center_languages=center_languages)
        return Retriever(mixed_kb, cfg).search(question)[0].entry.id

    assert (top(False), top(True)) == ("en-canada", "zh-return-fee")


POLICY = Entry("warranty.md#2", "Warranty — Periods by product",
               "Tents carry a 5-year warranty. Sleeping bags carry a 2-year warranty. Stoves "
               "and cookware carry a 1-year warranty, and gift cards carry none.", "en",
               kind="doc", source="warranty.md")
POLICY_ZH = Translation("保修 — 各类产品的保修期",
                        "帐篷保修5年。睡袋保修2年。炉具和炊具保修1年，礼品卡不保修。")


def test_document_sections_get_twins_only_in_a_shop_written_in_both_languages(settings, e5):
    kb = open_knowledge_base(settings, "policies", embedder=e5)
    kb.ingest([EN_ONLY, POLICY])  # one language: the FAQ entry is translated, not the policy
    assert [e.id for e in twins.pending(kb, documents=True)] == ["en-canada"]
    kb.ingest([ZH_ONLY])
    assert [e.id for e in twins.pending(kb)] == ["en-canada", "zh-return-fee"]
    assert [e.id for e in twins.pending(kb, documents=True)] == [
        "en-canada", "warranty.md#2", "zh-return-fee"]
    twins.fill(kb, lambda entry, lang, partner: POLICY_ZH if entry.kind == "doc"
               else TRANSLATIONS[entry.id], documents=True)
    twin = kb.get("warranty.md#2~zh")
    assert (twin.kind, twin.source, twin.question, twin.translated_from) == (
        "doc", "warranty.md", POLICY_ZH.question, "warranty.md#2")
    hit = Retriever(kb, RetrievalSettings()).search("睡袋的保修期是多久？")[0]
    assert (hit.entry.id, hit.entry.origin) == ("warranty.md#2~zh", "warranty.md#2")
    kb.close()


def test_a_section_is_translated_a_few_sentences_at_a_time_each_checked(mixed_kb, scripted):
    assert pieces(POLICY.answer) == [POLICY.answer]  # short enough for one reply
    for text, joiner in ((" ".join(f"Sentence {i} is about tents." for i in range(20)), " "),
                         ("".join(f"第{i}句讲的是帐篷的保修期限。" for i in range(30)), "")):
        parts = pieces(text)
        assert len(parts) > 1 and all(len(p) <= PIECE_CHARS for p in parts)
        assert joiner.join(parts) == text  # whole sentences, none lost
    unbroken = "保修条款" * 300 + "，" + "warranty terms " * 40  # no sentence end at all
    parts = pieces(unbroken)
    assert all(len(p) <= PIECE_CHARS for p in parts)
    assert "".join(parts).replace(" ", "") == unbroken.replace(" ", "")  # nothing lost
    agent = Agent(Retriever(mixed_kb, RetrievalSettings()), scripted, LadderSettings(), "Shop")
    translate = EntryTranslator(agent, tries=1)
    scripted.enqueue(POLICY_ZH.question)
    scripted.enqueue(POLICY_ZH.answer)
    assert translate(POLICY, "zh", None) == POLICY_ZH
    asked = [p[-1].content for p in scripted.prompts]
    assert POLICY.question in asked[0] and "标题" in asked[0] and POLICY.answer in asked[1]
    scripted.enqueue(POLICY_ZH.question)
    for _ in range(2):  # asked again once
        scripted.enqueue("帐篷保修3年。睡袋保修2年。")  # a figure the section does not state
    for _ in range(2):  # then its first sentence alone, asked again once: no more is asked
        scripted.enqueue("帐篷保修3年。")
    assert translate(POLICY, "zh", None) is None and not scripted.replies


def test_the_owner_reviews_first_the_translations_that_left_words_untranslated(mixed_kb):
    from kefu.ui.admin_translations import review_table
    from kefu.ui.page_language import texts

    twins.put_twin(mixed_kb, ZH_ONLY, Translation("Who pays the 运费 for a return?",
                                                  "We pay it for quality problems."))
    twins.put_twin(mixed_kb, EN_ONLY, TRANSLATIONS["en-canada"])
    shown = review_table(twins.twins(mixed_kb), texts("en", "admin"))["data"]
    assert [row[:2] for row in shown] == [
        ["zh-return-fee", "to review — words left untranslated: 运费"],
        ["en-canada", "to review"]]  # by id alone, en-canada would lead
    twins.put_twin(mixed_kb, ZH_ONLY, TRANSLATIONS["zh-return-fee"], status="checked")
    shown = review_table(twins.twins(mixed_kb), texts("zh", "admin"))["data"]
    assert [row[:2] for row in shown] == [["en-canada", "待审阅"], ["zh-return-fee", "已保留"]]
