"""Documents a question names by their title: found verbatim, folded, whole words only."""

import pytest

from kefu.agent.factory import build_agent
from kefu.agent.ladder import Agent
from kefu.config import LLMSettings, RetrievalSettings
from kefu.knowledge_base.loaders import load_path
from kefu.knowledge_base.store import open_knowledge_base
from kefu.retrieval.hybrid import Retriever
from kefu.retrieval.names import NameIndex, names_of
from kefu.types import Entry, Message

from .conftest import DATA, LLM_CHOOSES


def doc(entry_id: str, title: str) -> Entry:
    return Entry(id=entry_id, question=title, answer="…", lang="zh", kind="doc")


@pytest.mark.parametrize("title,names", [
    ("汉庭酒店(北京花园桥店)", {"汉庭酒店(北京花园桥店)", "汉庭酒店"}),
    ("天坛", {"天坛"}),
    ("Lumi Lamp", {"lumi lamp"}),
    ("Warranty", set()),  # one word: a topic, not a name
    ("Lumi Home policy > Warranty", set()),  # a heading path
    ("店", set()),
])
def test_a_document_goes_by_its_title_with_and_without_the_branch(title, names):
    assert names_of(doc("d", title)) == names


def test_an_faq_entry_has_no_name():
    assert names_of(Entry(id="f", question="天坛门票多少钱？", answer="15元", lang="zh")) == set()


def test_names_are_found_folded_and_latin_names_only_as_whole_words():
    index = NameIndex({e.id: e for e in (doc("a", "天坛"), doc("b", "汉庭酒店(北京花园桥店)"),
                                         doc("c", "Lumi Lamp"), doc("d", "北京亚太花园酒店"))})
    assert index.named_in("天壇門票多少錢") == {"a"}  # traditional characters fold
    assert index.named_in("汉庭酒店北京花园桥店在哪") == {"b"}  # the brand alone names it
    assert index.named_in("Is the LUMI LAMP dimmable?") == {"c"}
    assert index.named_in("lumi lampshade price") == set()
    assert index.named_in("北京亚太花园酒店的电话") == {"d"}
    assert index.names_in("先去天坛，再住汉庭酒店(北京花园桥店)") == [
        "天坛", "汉庭酒店(北京花园桥店)"]  # the longest name at a place, not "汉庭酒店" too


def test_a_branch_named_in_full_or_a_title_named_exactly_is_not_every_branch_of_the_chain():
    index = NameIndex({e.id: e for e in (
        doc("zongdian", "护国寺小吃店（护国寺总店）"), doc("guangwai", "护国寺小吃店(广外店)"),
        doc("meizhou", "眉州东坡"), doc("lvdi", "眉州东坡(绿地店)"))})
    assert index.named_in("推荐您去护国寺小吃店（护国寺总店）。营业时间是?") == {"zongdian"}
    assert index.named_in("眉州东坡几点营业") == {"meizhou"}  # the title, not lvdi's brand
    assert index.named_in("护国寺小吃店几点开门") == {"zongdian", "guangwai"}  # the brand alone
    assert index.named_in("眉州东坡(绿地店)在哪") == {"lvdi"}


@pytest.fixture
def places_kb(settings, e5):
    kb = open_knowledge_base(settings, "places", embedder=e5)
    kb.ingest(load_path(DATA / "places.jsonl").entries)
    yield kb
    kb.close()


@pytest.fixture
def places_agent(settings, places_kb):
    return build_agent(settings.model_copy(update={"llm": LLMSettings(backend="none")}),
                       kb=places_kb)


def test_a_follow_up_reads_the_document_kefus_last_reply_named(places_agent):
    history = [Message("user", "推荐一家评分4分以上的餐馆"),
               Message("assistant", "推荐您去天兴居用餐。")]
    readings = places_agent.readings("这家店的电话是多少？", "zh", history)
    assert readings == ["推荐一家评分4分以上的餐馆 天兴居 这家店的电话是多少？",
                        "这家店的电话是多少？"]
    _, hits = places_agent.search("这家店的电话是多少？", "zh", history)
    assert hits[0].entry.id == "food-tianxingju"


def test_a_reply_that_lists_places_does_not_take_the_follow_up_from_the_place_asked_about(
        places_agent):
    history = [Message("user", "天坛的门票多少钱？"),
               Message("assistant", "门票15元。周边有天兴居、北京亚太花园酒店等。")]
    readings = places_agent.readings("那游玩时间要多久？", "zh", history)
    assert readings[0] == "天坛的门票多少钱？ 天坛 那游玩时间要多久？"
    _, hits = places_agent.search("那游玩时间要多久？", "zh", history)
    assert hits[0].entry.id == "sight-tiantan"


def test_the_name_lifts_the_named_hotel_over_ones_that_only_mention_it(places_agent):
    history = [Message("user", "你好，请问北京亚太花园酒店是哪种类型的酒店"),
               Message("assistant", "这个是高档型的酒店。")]
    _, hits = places_agent.search("那酒店电话是多少？", "zh", history)
    assert hits[0].entry.id == "hotel-yatai"
    named = hits[0].score - hits[0].dense - places_agent.retriever.cfg.bm25_weight * hits[0].bm25
    assert named == pytest.approx(places_agent.retriever.cfg.name_weight)


def test_the_named_document_is_chosen_in_its_conversation_and_its_sentences_for_the_message(
        places_kb, scripted):
    agent = Agent(Retriever(places_kb, RetrievalSettings()), scripted, LLM_CHOOSES, "Shop")
    history = [Message("user", "推荐一家评分4分以上的餐馆"),
               Message("assistant", "推荐您去天兴居用餐。")]
    scripted.enqueue("[1]")  # the choice: 天兴居, retrieval's first
    scripted.enqueue("[2]")  # its second sentence
    answer = agent.ask("这家店的电话是多少？", history)
    choose, pick = (prompt[-1].content for prompt in scripted.prompts)
    assert choose.endswith(  # the name leads, to choose among the places
        "Customer question: 推荐一家评分4分以上的餐馆 天兴居 这家店的电话是多少？\nAnswer:")
    assert 'Sentences of "天兴居"' in pick  # the earlier question would pull the pick to it
    assert pick.endswith("Customer question: 这家店的电话是多少？\nAnswer:")
    assert [s.id for s in answer.sources] == ["food-tianxingju"]
