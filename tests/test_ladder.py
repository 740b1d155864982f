import json
import re

import pytest

from kefu.agent.ladder import Agent
from kefu.agent.prompts import prompts
from kefu.agent.replies import asked_sentences, excerpt_of
from kefu.config import LadderSettings, RetrievalSettings
from kefu.knowledge_base.store import open_knowledge_base
from kefu.retrieval.hybrid import Retriever
from kefu.types import Entry, Hit, Message
from tests.conftest import LLM_CHOOSES, FakeModel


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


def _number(kb, question, entry_id):
    ranked = [h.entry.id for h in Retriever(kb, RetrievalSettings()).search(question)]
    return ranked.index(entry_id) + 1


def test_the_llm_chooses_an_entry_and_the_customer_reads_its_curated_answer(tiny_kb, scripted):
    question = "Can I send back something I bought?"
    number = _number(tiny_kb, question, "t-en-return")
    scripted.enqueue(f"[{number}]")
    events = list(_agent(tiny_kb, scripted, LLM_CHOOSES).answer(question))
    hits = events[0].hits
    assert events[0].kind == "hits"
    assert [e.kind for e in events] == ["hits", "answer"]  # nothing streamed that could change
    final = events[-1].answer
    assert (final.route, final.lang, final.answer, [s.id for s in final.sources]) == (
        "faq", "en", "You can return unused items within 30 days.", ["t-en-return"])
    assert final.reason.startswith(f"the LLM chose [{number}] t-en-return")
    [(system, user)] = scripted.prompts
    assert "Test Shop" in system.content
    for i, hit in enumerate(hits, 1):
        assert f"[{i}] {hit.entry.question} — " in user.content
    assert user.content.endswith("[0] None of them\n"
                                 "Customer question: Can I send back something I bought?\n"
                                 "Answer:")


class FirstComer(FakeModel):
    """A small model's habit at the process boundary: whatever the options say, it favours
    the first one it reads. Records the choosing prompts."""

    def __init__(self):
        self.asked = []

    def label_probs(self, messages, labels):
        self.asked.append(messages[-1].content)
        rest = len(labels) - 2
        return [0.1, 0.7, *[0.2 / rest] * rest]


def test_a_choice_asked_in_both_orders_is_less_sure_of_a_model_that_follows_the_order(
        tiny_kb):
    """ladder.choose_in_both_orders: the options shown once more, reversed, and the two
    answers averaged; a model that always picks the first option it reads then splits its
    probability between two entries, so kefu is less sure of its choice than asked once."""
    question = "Can I send back something I bought?"
    twice = LLM_CHOOSES.model_copy(update={"choose_in_both_orders": True})

    def asked(cfg):
        model = FirstComer()
        reason = _agent(tiny_kb, model, cfg).ask(question).reason
        return float(re.search(r"certainty (0\.\d+)", reason)[1]), model.asked

    (once_sure, [shown]), (twice_sure, [first, second]) = asked(LLM_CHOOSES), asked(twice)
    options = re.findall(r"^\[[1-9]\] (.*)$", first, re.M)
    assert first == shown and len(options) > 1
    assert re.findall(r"^\[[1-9]\] (.*)$", second, re.M) == options[::-1]
    assert twice_sure < once_sure - 0.1
    cut = {"choose_certainty": (once_sure + twice_sure) / 2}
    for cfg, route in ((LLM_CHOOSES, "faq"), (twice, "suggest")):
        final = _agent(tiny_kb, FirstComer(), cfg.model_copy(update=cut)).ask(question)
        assert final.route == route


def test_a_single_retrieved_entry_is_chosen_against_none_alone(tiny_kb, scripted):
    agent = Agent(Retriever(tiny_kb, RetrievalSettings(top_k=1)), scripted, LLM_CHOOSES, "Shop")
    scripted.enqueue("[0.2, 0.8]")
    final = agent.ask("Can I send back something I bought?")
    assert final.route == "faq" and "lead 0.80" in final.reason


@pytest.mark.parametrize("answer,shown", [
    ("word " * 100, "word " * 19 + "word…"),  # 100 characters wide
    ("退货" * 60, "退货" * 16 + "退…"),  # a Chinese character counts as three: 33 of them
    ("Short.", "Short."),
])
def test_a_long_answer_is_shown_to_the_chooser_cut_short(answer, shown):
    entry = Entry(id="x", question="Q?", answer=answer, lang="en")
    assert excerpt_of(entry, "anything?") == f"Q? — {shown}"


@pytest.mark.parametrize("question,shown", [
    ("Do I have to wash my tent before sending it in for repair?",
     "… Tents must be dry and washed before you send them in. Repairs take 10 days."),
    ("How long does a repair take?", "… Repairs take 10 days."),
    ("Where do I email my claim?", "Email repair@shop.example with your order number and"),
    ("Can I pay with PayPal?", "Email repair@shop.example with your order number and"),  # none
])
def test_the_chooser_reads_a_long_answer_from_the_sentence_the_question_asks_about(
        question, shown):
    claim = ("Email repair@shop.example with your order number and a photo of the fault. "
             "Tents must be dry and washed before you send them in. Repairs take 10 days.")
    entry = Entry(id="x", question="How to claim", answer=claim, lang="en", kind="doc")
    assert excerpt_of(entry, question).startswith(f"How to claim — {shown}")
    faq = Entry(id="y", question="How to claim", answer=claim, lang="en")  # opens with it
    assert excerpt_of(faq, question).startswith("How to claim — Email repair@shop.example")


@pytest.mark.parametrize("question,shown", [
    ("Do you ship to Tenerife in the Canary Islands?",
     "Yes, we ship to all 27 EU countries. Standard ship… We cannot ship to the Canary "
     "Islands or the Åland Islands."),
    ("how much is standard shipping",  # the part begins within the opening: one stretch
     "Yes, we ship to all 27 EU countries. Standard shipping costs €16 (free over €140) "
     "and takes 8–14 business days; express costs €32 and tak…"),
])
def test_the_chooser_reads_an_faq_answer_from_its_start_and_from_the_part_asked_about(
        question, shown):
    """The fact asked about lies past the excerpt's 100 characters; the curated answer's
    opening (what its question asks) is shown before it."""
    answer = ("Yes, we ship to all 27 EU countries. Standard shipping costs €16 (free over "
              "€140) and takes 8–14 business days; express costs €32 and takes 4–7 business "
              "days. We cannot ship to the Canary Islands or the Åland Islands.")
    entry = Entry(id="eu", question="Do you ship to the EU?", answer=answer, lang="en")
    assert excerpt_of(entry, question) == f"Do you ship to the EU? — {shown}"


def test_the_part_asked_about_starts_where_the_text_has_the_word_not_inside_one():
    """Cut before 买, "购买" would read as a word 买 the question has, and the window
    would start after the 不能 that answers it."""
    answer = ("每100积分可抵扣¥1，单笔订单最多抵扣实付金额的20%。积分自获得之日起24个月有效，"
              "过期自动清零。积分不可兑换现金，也不能用于购买礼品卡或支付租赁押金。")
    entry = Entry(id="p", question="积分", answer=answer, lang="zh", kind="doc")
    assert excerpt_of(entry, "积分能买礼品卡吗") == "积分 — … 也不能用于购买礼品卡或支付租赁押金。"


def test_the_chooser_reads_a_long_faq_answer_from_the_sentence_asked_about():
    """A shop's whole terms pasted into one FAQ cell are read like a document."""
    from kefu.knowledge_base.chunking import LONG_ANSWER_CHARS

    terms = "Our terms cover every order placed online. " * (LONG_ANSWER_CHARS // 40)
    entry = Entry(id="t", question="Terms", lang="en",
                  answer=terms + "Repair quotes are valid for 14 days.")
    assert excerpt_of(entry, "how long is a repair quote valid") == \
        "Terms — … Repair quotes are valid for 14 days."
    short = Entry(id="s", question="Terms", lang="en",
                  answer="Our terms cover every order. " * 3 + "Repair quotes last 14 days.")
    assert excerpt_of(short, "how long is a repair quote valid").startswith("Terms — Our terms")


def test_the_chooser_reads_a_chinese_section_from_the_sentence_asked_about():
    section = ("租期按天计算，最短两天。装备无需清洗，但帐篷必须晾干后再收纳打包。"
               "归还时请清点配件，地钉遗失每根收费¥5。")
    entry = Entry(id="x", question="归还", answer=section, lang="zh", kind="doc")
    shown = excerpt_of(entry, "地钉丢了一根要赔多少")
    assert shown == "归还 — … 地钉遗失每根收费¥5。"


def test_the_chooser_reads_the_end_of_a_long_sentence_when_the_question_asks_it():
    """The window starts where the question's words do, not at the sentence: the first 33
    characters of this one do not reach the deposit."""
    section = ("租期按天计算，最短两天。在成都旗舰店现场办理租赁手续时需出示本人护照原件并缴纳的"
               "帐篷押金为¥1,500，归还后三个工作日内退还。")
    entry = Entry(id="x", question="租赁", answer=section, lang="zh", kind="doc")
    assert excerpt_of(entry, "帐篷押金要交多少") == \
        "租赁 — … 帐篷押金为¥1,500，归还后三个工作日内退还。"


def test_the_chooser_looks_past_the_words_of_the_title():
    """Every sentence of a warranty section says "warranty"; the battery one answers."""
    section = ("The warranty covers frames for five years from the date of purchase. "
               "The warranty does not cover wear, crashes or misuse of any kind. "
               "Batteries are covered for two years.")
    entry = Entry(id="w", question="Warranty", answer=section, lang="en", kind="doc")
    assert excerpt_of(entry, "how long is the warranty on batteries?") == \
        "Warranty — … Batteries are covered for two years."


def test_a_long_page_offers_the_llm_the_run_of_sentences_that_speaks_to_the_question(
        settings, e5, scripted):
    """One-digit labels offer nine sentences; a page's 17th states what is asked."""
    written = [f"金关丈夫的第{i}项研究在{1920 + i}年发表。" for i in range(1, 21)]
    written[16] = "金关丈夫于1983年去世，享年八十六岁。"
    assert asked_sentences(written, "金关丈夫享年多少岁？", "金关丈夫", 9) == 8
    assert asked_sentences(written[:9], "金关丈夫享年多少岁？", "金关丈夫", 9) == 0
    kb = open_knowledge_base(settings, "page", embedder=e5)
    kb.ingest([Entry(id="page", question="金关丈夫", answer="".join(written), lang="zh",
                     kind="doc")])
    scripted.enqueue("[1]")  # the page
    scripted.enqueue("[9]")  # the ninth sentence offered
    answer = _agent(kb, scripted, LLM_CHOOSES).ask("金关丈夫享年多少岁？")
    kb.close()
    assert answer.answer == "金关丈夫于1983年去世，享年八十六岁。"
    assert "sentences [17]" in answer.reason


LEAD_ONLY = LLM_CHOOSES.model_copy(update={  # certainty >= 0.5 exactly when the lead >= 0.6
    "certainty_weights": (-60.0, 0.0, 100.0, 0.0, 0.0)})


@pytest.mark.parametrize("probs,route,why", [
    # [0] is "none of these"; here a choice must lead its strongest rival by a share of 0.6
    ("[0.1, 0.7, 0.2, 0.0, 0.0, 0.0]", "faq", "the LLM chose [1]"),  # 0.7 / 0.9 = 0.78
    ("[0.6, 0.3, 0.1, 0.0, 0.0, 0.0]", "abstain", "the LLM is unsure"),  # none leads
    ("[0.35, 0.45, 0.1, 0.1, 0.0, 0.0]", "abstain", "the LLM is unsure"),  # 0.45 / 0.8 = 0.56
])
def test_the_choice_is_read_as_probabilities_against_a_threshold(tiny_kb, scripted, probs,
                                                                   route, why):
    scripted.enqueue(probs)
    final = _agent(tiny_kb, scripted, LEAD_ONLY).ask("Can I send back something I bought?")
    assert final.route == route and final.reason.startswith(why)


def test_retrievals_confidence_never_overrules_the_llms_none(tiny_kb, scripted):
    trusting = LLM_CHOOSES.model_copy(update={"certainty_weights": (60.0, 0.0, 0.0, 0.0, 0.0)})
    scripted.enqueue("[0.55, 0.45, 0.0, 0.0, 0.0, 0.0]")  # "none of these" just ahead
    final = _agent(tiny_kb, scripted, trusting).ask("Can I send back something I bought?")
    assert final.route == "abstain" and "certainty 0.00" in final.reason
    scripted.enqueue("[0.45, 0.55, 0.0, 0.0, 0.0, 0.0]")
    final = _agent(tiny_kb, scripted, trusting).ask("Can I send back something I bought?")
    assert final.route == "faq" and "certainty 1.00" in final.reason


def test_an_unsure_choice_between_two_faq_entries_offers_both(tiny_kb, scripted):
    question = "Can I return an item or how long does shipping take?"
    ranked = [h.entry.id for h in Retriever(tiny_kb, RetrievalSettings()).search(question)]
    ship, back = ranked.index("t-en-ship") + 1, ranked.index("t-en-return") + 1
    probs = [0.1] + [0.0] * len(ranked)
    probs[back], probs[ship] = 0.25 * back, 0.24 * ship  # weighed by 1 / rank: 0.25, 0.24
    scripted.enqueue(json.dumps(probs))
    final = _agent(tiny_kb, scripted, LLM_CHOOSES).ask(question)
    assert (final.route, [s.id for s in final.sources]) == ("suggest",
                                                            ["t-en-return", "t-en-ship"])
    assert final.suggestions == ("Can I return an item?", "How long does shipping take?")


@pytest.mark.parametrize("none,route", [(0.24, "suggest"), (0.26, "abstain")])
def test_no_did_you_mean_when_the_llm_finds_none_likeliest(tiny_kb, scripted, none, route):
    """Two entries likely enough to offer (0.25 and 0.24 after the rank weights): offered
    while the LLM's "none of these" is less likely than the first, declined once it is
    likelier."""
    question = "Can I return an item or how long does shipping take?"
    ranked = [h.entry.id for h in Retriever(tiny_kb, RetrievalSettings()).search(question)]
    ship, back = ranked.index("t-en-ship") + 1, ranked.index("t-en-return") + 1
    probs = [none] + [0.0] * len(ranked)
    probs[back], probs[ship] = 0.25 * back, 0.24 * ship
    scripted.enqueue(json.dumps(probs))
    final = _agent(tiny_kb, scripted, LLM_CHOOSES).ask(question)
    assert final.route == route and bool(final.suggestions) == (route == "suggest")
    assert ("none leads" in final.reason) == (route == "abstain")


def test_the_retrievers_rank_weighs_the_llms_choice(tiny_kb, scripted):
    """0.45 for the first entry against 0.55 for the third: the first wins (0.45 against
    0.55 / 3) and leads by 0.71; how sure that makes kefu is certainty()'s to say."""
    question = "Can I send back something I bought?"
    ranked = [h.entry.id for h in Retriever(tiny_kb, RetrievalSettings()).search(question)]
    odds = json.dumps([0.0, 0.45, 0.0, 0.55] + [0.0] * (len(ranked) - 3))
    scripted.enqueue(odds)
    final = _agent(tiny_kb, scripted, LLM_CHOOSES).ask(question)
    sure = float(re.search(r"certainty (0\.\d+)", final.reason)[1])  # rounded to 0.01
    assert "lead 0.71" in final.reason and final.route == "abstain"
    scripted.enqueue(odds)
    trusting = LLM_CHOOSES.model_copy(update={"choose_certainty": sure - 0.005})
    final = _agent(tiny_kb, scripted, trusting).ask(question)
    assert (final.route, final.sources[0].id) == ("faq", ranked[0])


def test_a_chosen_document_answers_with_its_own_sentence(tiny_kb, scripted):
    question = "How long are batteries covered?"
    ranked = [h.entry for h in Retriever(tiny_kb, RetrievalSettings()).search(question)]
    number = next(i for i, e in enumerate(ranked, 1) if e.kind == "doc" and "6 months" in e.answer)
    scripted.enqueue(f"[{number}]")
    scripted.enqueue("[2]")  # the second sentence
    final = _agent(tiny_kb, scripted, LLM_CHOOSES).ask(question)
    assert (final.route, final.answer) == ("rag", "Batteries are covered for 6 months.")
    assert final.sources[0].id == ranked[number - 1].id
    extract = scripted.prompts[1][-1].content
    assert "[1] Electrical products carry a 2-year warranty against manufacturing defects." \
        in extract and "[2] Batteries are covered for 6 months." in extract


def test_no_sentence_of_the_chosen_document_answering_declines(tiny_kb, scripted):
    question = "How long are batteries covered?"
    ranked = [h.entry for h in Retriever(tiny_kb, RetrievalSettings()).search(question)]
    number = next(i for i, e in enumerate(ranked, 1) if e.kind == "doc" and "6 months" in e.answer)
    scripted.enqueue(f"[{number}]")
    scripted.enqueue("[0]")
    final = _agent(tiny_kb, scripted, LLM_CHOOSES).ask(question)
    assert final.route == "abstain" and "no sentence of it answers" in final.reason


def test_a_chosen_entry_in_the_other_language_is_translated_after_a_drift(tiny_kb, scripted):
    question = "Can I send back something I bought?"
    tiny_kb.delete(["t-en-return"])  # only the Chinese entry answers
    scripted.enqueue(f"[{_number(tiny_kb, question, 't-zh-return')}]")
    scripted.enqueue("您可以在30天内退回未使用的商品。")
    scripted.enqueue("Unused items can be returned within 30 days.")
    final = _agent(tiny_kb, scripted, LLM_CHOOSES).ask(question)
    assert (final.route, final.answer) == ("faq", "Unused items can be returned within 30 days.")
    assert [(s.id, s.translated) for s in final.sources] == [("t-zh-return", True)]
    assert scripted.prompts[2][-1].content.endswith(prompts("en")["retry_rule"])


def test_two_translations_in_the_wrong_language_decline(tiny_kb, scripted):
    question = "Can I send back something I bought?"
    tiny_kb.delete(["t-en-return"])  # only the Chinese entry answers
    scripted.enqueue(f"[{_number(tiny_kb, question, 't-zh-return')}]")
    for reply in ("您可以在30天内退回。", "您可以在30天内退回。"):
        scripted.enqueue(reply)
    final = _agent(tiny_kb, scripted, LLM_CHOOSES).ask(question)
    assert final.route == "abstain" and final.reason.endswith("translation rejected")


def test_a_chinese_question_is_chosen_for_under_the_one_choosing_prompt(tiny_kb, scripted):
    question = "买的东西能退回去吗"
    scripted.enqueue(f"[{_number(tiny_kb, question, 't-zh-return')}]")
    final = _agent(tiny_kb, scripted, LLM_CHOOSES).ask(question)
    assert (final.route, final.lang, final.answer) == ("faq", "zh", "商品未使用可在30天内退货。")
    system, user = scripted.prompts[0]  # choosing reads a label: one prompt for both languages
    assert system.content.startswith("You are the customer-service assistant of Test Shop.")
    assert user.content.endswith("Customer question: 买的东西能退回去吗\nAnswer:")


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
    final = _agent(tiny_kb, None, LLM_CHOOSES).ask("Can I send back something I bought?")
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
    # one ahead of the rest, but not enough for retrieval to be sure: the LLM decides
    ([_hit("a", "en", 0.52), _hit("b", "en", 0.45)], ("rag", ["a", "b"], False)),
    # one well ahead of the rest: retrieval is sure of it
    ([_hit("a", "en", 0.58), _hit("b", "en", 0.40)], ("faq", ["a"], False)),
    # a document ranks first: the LLM answers from it
    ([_hit("doc", "en", 0.6, kind="doc"), _hit("a", "en", 0.55), _hit("b", "en", 0.53)],
     ("rag", ["doc", "a", "b"], False)),
    # only the other language's entry matches closely: its answer, translated
    ([_hit("zh-a", "zh", 0.7), _hit("b", "en", 0.3)], ("faq", ["zh-a"], True)),
    # the other language matches, but so does an entry in the customer's: no translation
    # of the curated match; retrieval sure of it: translated; not sure: the LLM decides
    ([_hit("zh-a", "zh", 0.7), _hit("b", "en", 0.5)], ("faq", ["zh-a"], True)),
    ([_hit("zh-a", "zh", 0.55), _hit("b", "en", 0.5)], ("rag", ["zh-a", "b"], False)),
    ([_hit("a", "en", 0.2)], ("abstain", [], False)),
])
def test_decide_picks_the_rung(tiny_kb, hits, expected):
    cfg = LadderSettings(retrieval_certainty_weights=(-5.0, 5.0, 20.0))  # sure: 5s + 20 lead > 5
    decision = _agent(tiny_kb, None, cfg).decide("en", hits)
    assert (decision.route, [h.entry.id for h in decision.hits], decision.translate) == expected
    if decision.route == "faq" and hits[0].question < cfg.faq_threshold:
        assert decision.reason.startswith(f"retrieval is sure of {hits[0].entry.id} (certainty")


def test_retrieval_sure_of_its_first_entry_answers_without_the_llm(tiny_kb, scripted):
    """The sure band needs no LLM call: the first entry's curated answer, in the customer's
    language; a weaker lead goes to the LLM's choice."""
    question = "Can I send back something I bought?"
    hits = Retriever(tiny_kb, RetrievalSettings()).search(question)
    lead = hits[0].score - hits[1].score
    sure = LLM_CHOOSES.model_copy(update={  # certainty 0.5 exactly at this lead, less below
        "retrieval_certainty_weights": (-100.0 * lead, 0.0, 100.0)})
    final = _agent(tiny_kb, scripted, sure).ask(question)
    assert (final.route, final.sources[0].id) == ("faq", hits[0].entry.id)
    assert final.answer == hits[0].entry.answer and scripted.prompts == []
    unsure = LLM_CHOOSES.model_copy(update={
        "retrieval_certainty_weights": (-100.0 * lead - 1.0, 0.0, 100.0)})
    scripted.enqueue("[1]")
    final = _agent(tiny_kb, scripted, unsure).ask(question)
    assert final.reason.startswith("the LLM chose [1]") and len(scripted.prompts) == 1


@pytest.mark.parametrize("weight,threshold,expected", [
    (0.0, 0.34, ["rag", "rag"]),  # the best score alone: both go to the LLM
    (2.0, 0.50, ["abstain", "rag"]),  # 0.40 + 2 x 0.02 = 0.44 declined; + 2 x 0.20 = 0.80 kept
])
def test_a_clear_lead_counts_towards_the_rag_threshold(weight, threshold, expected):
    from kefu.agent.decision import decide

    cfg = LadderSettings(margin_weight=weight, rag_threshold=threshold)
    close = [_hit("a", "en", 0.40, kind="doc"), _hit("b", "en", 0.38, kind="doc")]
    ahead = [_hit("a", "en", 0.40, kind="doc"), _hit("b", "en", 0.20, kind="doc")]
    assert [decide(cfg, "en", hits).route for hits in (close, ahead)] == expected


def test_without_an_llm_close_matches_are_offered_as_did_you_mean(tiny_kb):
    final = _agent(tiny_kb, None).ask("Can I return an item or how long does shipping take?")
    assert (final.route, final.answer) == ("suggest", prompts("en")["suggest"])
    assert [s.id for s in final.sources] == ["t-en-return", "t-en-ship"]
    assert final.suggestions == ("Can I return an item?", "How long does shipping take?")


def test_a_curated_answer_in_the_other_language_is_translated_and_marked(tiny_kb, scripted):
    tiny_kb.delete(["t-en-pay"])
    scripted.enqueue("We accept Alipay and WeChat Pay.")
    final = _agent(tiny_kb, scripted, LadderSettings(faq_threshold=0.4)).ask(
        "Which payment methods do you support?")
    assert (final.route, final.answer) == ("faq", "We accept Alipay and WeChat Pay.")
    assert [(s.id, s.translated) for s in final.sources] == [("t-zh-pay", True)]
    assert "支持支付宝和微信支付。" in scripted.prompts[0][-1].content


def test_a_translation_with_a_figure_the_entry_does_not_state_is_never_shown(tiny_kb,
                                                                            scripted):
    question = "Can I send back something I bought?"
    tiny_kb.delete(["t-en-return"])  # only the Chinese entry answers
    scripted.enqueue(f"[{_number(tiny_kb, question, 't-zh-return')}]")
    for _ in range(2):  # asked again once
        scripted.enqueue("Yes, within 90 days, and we pay the postage.")
    final = _agent(tiny_kb, scripted, LLM_CHOOSES).ask(question)
    assert (final.route, final.answer) == ("abstain", prompts("en")["abstain"])


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
