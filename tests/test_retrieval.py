import pytest

from kefu.config import RetrievalSettings
from kefu.knowledge_base.text import sentences, to_simplified, tokenize
from kefu.retrieval.hybrid import Retriever


def test_traditional_and_full_width_text_fold_to_the_same_tokens():
    assert to_simplified("請問退貨運費誰付？") == "请问退货运费谁付？"
    assert tokenize("退貨運費") == tokenize("退货运费")
    assert tokenize("ＰａｙＰａｌ　ＯＫ？") == tokenize("paypal ok?")
    assert to_simplified("plain English stays") == "plain English stays"


def test_a_question_in_traditional_characters_finds_the_simplified_entry(tiny_kb):
    hits = Retriever(tiny_kb, RetrievalSettings()).search("幾天能到貨？")
    assert hits[0].entry.id == "t-zh-ship"
    assert hits[0].bm25 > 0


@pytest.mark.parametrize("text,expected", [
    ("Refunds take 3 days. Shipping is US$9.90, e.g. to Canada; not to Japan!\nAsk us.",
     ["Refunds take 3 days.", "Shipping is US$9.90, e.g. to Canada; not to Japan!", "Ask us."]),
    ("运费¥12，满¥199包邮。新疆运费¥25；不参与包邮。仅限大陆",
     ["运费¥12，满¥199包邮。", "新疆运费¥25；不参与包邮。", "仅限大陆"]),
    ("", []),
])
def test_a_document_is_cut_into_its_sentences_as_written(text, expected):
    assert sentences(text) == expected
