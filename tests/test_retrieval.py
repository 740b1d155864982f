import pytest

from kefu.config import RetrievalSettings
from kefu.knowledge_base.loaders import load_path
from kefu.knowledge_base.store import open_knowledge_base
from kefu.knowledge_base.text import sentences, to_simplified, tokenize
from kefu.retrieval.hybrid import Retriever

from .conftest import DATA


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


def test_a_section_is_found_by_the_one_sentence_that_answers(settings, e5, tmp_path):
    """The section says much besides whether rented gear must be washed; alone, its whole
    text lost to an FAQ entry about washing a jacket (Pinecone shop, docs/retrieval.md)."""
    (tmp_path / "租赁条款.md").write_text(
        "# 租赁条款\n\n## 配送与归还\n租赁装备可到门店自取，也可选择顺丰寄送，往返运费每单¥30。"
        "快递订单我们会在起租日前1天送达。归还时请在租期最后一天18:00前将装备交给顺丰上门取件，"
        "或送回门店。装备无需清洗，但帐篷必须晾干后再收纳打包。寄回时请使用原包装箱。\n",
        encoding="utf-8")
    (tmp_path / "faq.csv").write_text(
        "question,answer\n"
        "冲锋衣防水吗？怎么清洗？,冲锋衣防水指数20000毫米。可以机洗，请用30°C以下冷水和专用洗涤剂，"
        "不要使用柔顺剂或漂白剂。\n"
        "帐篷可以租吗？多少钱？,可以。双人帐¥39/天，四人帐¥69/天，最少租2天。\n", encoding="utf-8")
    kb = open_knowledge_base(settings, "rental", embedder=e5)
    kb.ingest([e for name in ("租赁条款.md", "faq.csv") for e in load_path(tmp_path / name).entries]
              + load_path(DATA / "faq.csv").entries)
    first = Retriever(kb, RetrievalSettings()).search("还帐篷之前需要自己洗干净吗？")[0]
    assert first.entry.id == "租赁条款.md#1"
    kb.close()
