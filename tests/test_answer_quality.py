"""Answer quality: outcomes of hand-made records with exact values, groundedness and
agreement, comparing two runs."""

import pytest

from kefu.evals.compare import compare, format_comparison
from kefu.evals.grounding import agreement, groundedness, sentences, supported
from kefu.evals.judge import Judge
from kefu.evals.metrics import Record, answer_metrics, outcome
from tests.conftest import FakeModel


def _r(id, kind, route, sources=(), gold=("g",), answer="", grounded=-1.0, agrees=-1.0,  # noqa: A002
       judge="", lang="en"):
    return Record(id, id, lang, kind, tuple(gold) if kind != "oos" else (), (("x", 0.5),),
                  route, 1.0, "", answer, tuple(sources), "", grounded, agrees, judge)


RECORDS = [
    _r("faq-right", "in", "faq", ["g"]),
    _r("faq-wrong", "in", "faq", ["other"]),
    _r("rag-right", "in", "rag", ["g"], answer="Refunds take 3 days.", grounded=1.0,
       agrees=0.93),
    _r("rag-unsupported", "in", "rag", ["g"], answer="x", grounded=0.5, agrees=0.95),
    _r("rag-disagrees", "in", "rag", ["g"], answer="x", grounded=1.0, agrees=0.7),
    _r("rag-judged-wrong", "in", "rag", ["g"], answer="x", grounded=1.0, agrees=0.99,
       judge="wrong"),
    _r("suggest-with-gold", "in", "suggest", ["g", "other"]),
    _r("declined", "in", "abstain"),
    _r("oos-declined", "oos", "abstain", lang="zh"),
    _r("oos-refused", "oos", "refuse", lang="zh"),
    _r("oos-answered", "oos", "faq", ["other"], lang="zh"),
    _r("dialogue-right", "dialogue", "faq", ["g"], lang="zh"),
]


def test_each_record_gets_the_outcome_a_customer_got():
    assert [outcome(r) for r in RECORDS] == [
        "correct", "wrong", "correct", "wrong", "wrong", "wrong", "suggested", "declined",
        "declined", "declined", "wrong", "correct"]


def test_answer_metrics_on_hand_checked_records():
    metrics = answer_metrics(RECORDS)
    # 9 answerable questions (8 in + 1 dialogue), 3 of them correct; 5 wrong of 12 in all
    assert metrics == {
        "accuracy": pytest.approx(3 / 9), "confidently_wrong": pytest.approx(5 / 12),
        "abstained": pytest.approx(3 / 12), "suggested": pytest.approx(1 / 12),
        "coverage": pytest.approx(7 / 9), "suggestion_hit": 1.0,
        "by_route": {"faq": {"n": 4, "correct": 2, "wrong": 2},
                     "rag": {"n": 4, "correct": 1, "wrong": 3},
                     "suggest": {"n": 1, "correct": 0, "wrong": 0}},
        "n": 12}


def test_groundedness_counts_the_sentences_a_source_supports():
    source = ["Refunds are issued within 3 working days after we receive your return."]
    assert sentences("Refunds take 3 days. Yes! 退款3天到账。") == [
        "Refunds take 3 days.", "Yes!", "退款3天到账。"]
    assert supported("Refunds are issued within 3 working days.", source)
    assert not supported("Refunds are issued within 5 working days.", source)  # a new figure
    assert not supported("We also give a free gift card with every return.", source)
    assert supported("Yes.", source)
    assert groundedness("Refunds are issued within 3 working days. We also give a free gift "
                        "card with every return.", source) == 0.5
    assert groundedness("", source) == 1.0
    assert not supported("退款3天到账。", source)  # no word of it in the English source
    assert supported("退款3天到账。", source, words_too=False)  # its figures are
    assert groundedness("退款5天到账。", source, words_too=False) == 0.0


def test_agreement_is_containment_first(e5):
    assert agreement("The phone number is 010-81528822.", ["010-81528822"], None) == 1.0
    assert agreement("打 010 8152 8822 就行", ["010-81528822"], None) == 1.0
    assert agreement("anything", [], e5) == -1.0
    same = agreement("Refunds arrive within three working days.",
                     ["Refunds are issued within 3 working days after we get the return."], e5)
    other = agreement("We ship to Canada and the US.",
                      ["Refunds are issued within 3 working days after we get the return."], e5)
    assert same > other


def _results(name, accuracy, wrong, outcomes):
    return {"dataset": name, "answers": {"accuracy": accuracy, "confidently_wrong": wrong},
            "retrieval": {"hit_at_1": 0.5}, "by_lang": {},
            "questions": [{"id": i, "query": f"q {i}", "lang": "en", "kind": kind,
                           "outcome": o} for i, kind, o in outcomes]}


def test_compare_says_what_got_better_and_which_questions_changed():
    a = _results("defaults", 0.60, 0.10, [("1", "in", "wrong"), ("2", "in", "correct"),
                                          ("3", "oos", "wrong"), ("4", "in", "declined")])
    b = _results("tuned", 0.55, 0.04, [("1", "in", "declined"), ("2", "in", "suggested"),
                                       ("3", "oos", "declined"), ("4", "in", "declined")])
    result = compare(a, b)
    assert [(m["metric"], round(m["change"], 3), m["verdict"]) for m in result["metrics"]] == [
        ("answers.accuracy", -0.05, "worse"), ("answers.confidently_wrong", -0.06, "better"),
        ("retrieval.hit_at_1", 0.0, "same")]
    assert [(q["id"], q["a"], q["b"]) for q in result["questions"]["better"]] == [
        ("1", "wrong", "declined"), ("3", "wrong", "declined")]
    assert [(q["id"], q["a"], q["b"]) for q in result["questions"]["worse"]] == [
        ("2", "correct", "suggested")]
    text = format_comparison(result)
    assert "all   answers.confidently_wrong               0.100    0.040   -0.060  better" in text
    assert "1 questions got worse:\n  2 [en] correct -> suggested: q 2" in text


class JudgeModel(FakeModel):
    """The judge at the process boundary: replies from a queue, keeps the prompts."""

    def __init__(self, *replies):
        self.replies = list(replies)
        self.prompts = []

    def stream(self, messages):
        self.prompts.append(messages)
        yield self.replies.pop(0)


def test_the_judge_reads_a_verdict_from_its_reply_with_the_fixed_rubric():
    model = JudgeModel("CORRECT - same refund time", "wrong: it invents a fee", "maybe?")
    judge = Judge(model)
    assert judge("How fast are refunds?", "3 working days", "Within 3 days.", "en") == "correct"
    assert judge("退货运费谁付？", "我们承担", "您需要付10元。", "zh") == "wrong"
    assert judge("q", "r", "a", "en") == ""
    system, user = model.prompts[0]
    assert system.content.startswith("You grade answers of a shop's customer-service assistant")
    assert "Reference answer: 3 working days\nCandidate answer: Within 3 days." in user.content
    assert "参考答案：我们承担" in model.prompts[1][1].content


def test_a_judged_llm_answer_takes_the_judges_verdict(settings, tiny_kb):
    from kefu.agent.factory import build_agent
    from kefu.evals.datasets import Query
    from kefu.evals.runner import _one

    from .conftest import EchoSourceChatModel

    forced = settings.model_copy(update={"ladder": settings.ladder.model_copy(
        update={"faq_threshold": 9.0, "rag_threshold": 0.0})})
    agent = build_agent(forced, kb=tiny_kb, chat_model=EchoSourceChatModel())
    text = "What does the warranty cover for electrical products?"
    [first, *_] = agent.retriever.search(text)
    assert first.entry.kind == "doc"  # the echo model chooses [1], sentences [1] and [2]
    query = Query("q1", text, "en", "in", (first.entry.id,))
    record = _one(agent, query, retrieval_only=False, judge=Judge(JudgeModel("WRONG")))
    assert (record.route, record.sources, record.grounded, record.judge) == (
        "rag", (first.entry.id,), 1.0, "wrong")
    assert record.answer == "Electrical products carry a 2-year warranty against " \
        "manufacturing defects. Batteries are covered for 6 months."
    assert outcome(record) == "wrong"
    assert _one(agent, query, retrieval_only=False).judge == ""


def test_a_translated_answer_is_grounded_in_its_twin(settings, tiny_kb):
    """A Chinese customer reads the sentences of an English document's Chinese twin: they
    are grounded in the twin (not, word for word, in the English), and the gold's twin is
    a gold answer."""
    from kefu.agent.factory import build_agent
    from kefu.evals.datasets import Query
    from kefu.evals.runner import _one
    from kefu.knowledge_base.twins import Translation, put_twin

    from .conftest import EchoSourceChatModel

    forced = settings.model_copy(update={"ladder": settings.ladder.model_copy(
        update={"faq_threshold": 9.0, "rag_threshold": 0.0})})
    agent = build_agent(forced, kb=tiny_kb, chat_model=EchoSourceChatModel())
    [first, *_] = agent.retriever.search("What does the warranty cover for electrical products?")
    put_twin(tiny_kb, first.entry,
             Translation("电器产品的保修范围", "电器产品的制造缺陷保修2年。电池保修6个月。"))
    agent = build_agent(forced, kb=tiny_kb, chat_model=EchoSourceChatModel())
    record = _one(agent, Query("q1", "电器产品的保修范围是什么？", "zh", "in", (first.entry.id,)),
                  retrieval_only=False)
    assert (record.route, record.sources) == ("rag", (first.entry.id,))
    assert record.answer == "电器产品的制造缺陷保修2年。电池保修6个月。"
    assert (record.grounded, record.agreement) == (1.0, 1.0)
    assert outcome(record) == "correct"
