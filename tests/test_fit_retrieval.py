"""`kefu tune`'s first step: the fusion weights fitted per knowledge base from the LLM's
questions about its own content (a scripted LLM), re-ranked exactly as retrieval ranks,
kept only when surely better, used afterwards."""

import json
import random
import re
from collections.abc import Iterator, Sequence

import numpy as np

from kefu.agent.factory import TUNED_RETRIEVAL, build_agent, retrieval_for
from kefu.calibration.fit_retrieval import (
    RetrievalProbe,
    Score,
    Weights,
    choose,
    crossing_probes,
    fit,
    probe_worth,
    probes_for,
    score_grid,
)
from kefu.cli import main
from kefu.config import RetrievalSettings, load_settings
from kefu.knowledge_base.store import open_knowledge_base
from kefu.knowledge_base.twins import other_language, twin_id
from kefu.retrieval.hybrid import Retriever
from kefu.types import Entry, Message
from tests.conftest import FakeModel

from .test_tune import REWORDINGS

SELLING_POINTS = (
    "Its battery lasts a whole weekend of parties.", "Pairs over Bluetooth in seconds.",
    "Waterproof enough for the pool and the shower.", "Deep bass from a small body.",
    "The app sets the sound to your room.", "Two of them play as a stereo pair.",
    "Charges over USB-C in two hours.", "A strap clips it to a backpack.",
    "The fabric comes in six colours.", "A microphone takes calls hands-free.",
    "It weighs less than a bottle of water.", "Sound fills a garden without distortion.",
)


def _speakers(n: int = 30) -> list[Entry]:
    """A product catalogue: one page per speaker, named by a model code and described in
    selling points that many pages share. A customer asks by the code: BM25 finds the page
    by it, an embedding of the whole page finds pages about the same selling point."""
    rng = random.Random(7)
    return [Entry(id=f"kx-{2200 + 7 * i}", kind="doc", lang="en",
                  question=f"KX-{2200 + 7 * i}",
                  answer=f"KX-{2200 + 7 * i}: " + " ".join(rng.sample(SELLING_POINTS, 5)))
            for i in range(n)]


class QuestionWriter(FakeModel):
    """The LLM at the process boundary: rewords an FAQ question (REWORDINGS), or asks about
    a speaker page the way customers do, by its model code."""

    def __init__(self) -> None:
        self.calls = 0

    def stream(self, messages: Sequence[Message]) -> Iterator[str]:
        self.calls += 1
        prompt = messages[-1].content
        code = re.search(r"KX-\d+", prompt)
        if code and "音箱" in prompt:  # a speaker page's Chinese twin
            yield f"{code[0]} 的电池能用多久\n{code[0]} 能连我的手机吗"
        elif code:
            yield f"how long does the {code[0]} battery last\ndoes the {code[0]} pair with my phone"
        else:
            yield next((v for k, v in REWORDINGS.items() if k in prompt), "")


def test_the_grid_ranks_every_probe_as_retrieval_with_those_weights_would(settings, tiny_kb):
    retriever = Retriever(tiny_kb, settings.retrieval)
    probes = [RetrievalProbe(text, gold, "faq") for text, gold in (
        ("when will my parcel arrive", "t-en-ship"), ("怎么付钱", "t-zh-pay"),
        ("can I send something back", "t-en-return"), ("my lamp broke, can I claim", "policy.md#2"),
        ("is a broken lamp covered", "t-en-return"))]
    scores = score_grid(retriever, probes, progress=False)
    assert len({score.weights.sentence_weight for score in scores[::37]}) > 1
    for score in scores[::37]:  # a spread of weightings, both centrings
        search = Retriever(tiny_kb, score.weights.applied(settings.retrieval)).search
        assert list(score.firsts) == [search(p.text)[0].entry.origin == p.gold
                                      for p in probes], score.weights
    assert 0 < sum(score.hits for score in scores) < len(scores) * len(probes)


def test_probes_are_the_llms_questions_about_entries_and_chunks_and_each_twins_question(
        settings, tiny_kb):
    page = _speakers()[0]
    tiny_kb.ingest([Entry(id="t-en-ship~zh", question="运输需要多长时间？", answer="3-5 天。",
                          lang="zh", translated_from="t-en-ship"), page,
                    Entry(id=f"{page.id}~zh", question="音箱", answer=page.answer, lang="zh",
                          kind="doc", translated_from=page.id)])
    model = QuestionWriter()
    probes = probes_for(Retriever(tiny_kb, settings.retrieval), model, "scripted",
                        progress=False)
    faqs = [p for p in probes if p.group == "faq"]
    assert {p.gold for p in faqs} == {"t-en-ship", "t-en-return", "t-en-pay", "t-zh-ship",
                                      "t-zh-return", "t-zh-pay"}
    assert "when will my parcel arrive" in {p.text for p in faqs}
    # the LLM asks about the chunks the shop wrote, not about their twins
    assert {p.gold for p in probes if p.group == "document"} == {page.id}
    assert RetrievalProbe("运输需要多长时间？", "t-en-ship", "other language",
                          hide="t-en-ship~zh") in probes
    calls = model.calls
    probes_for(Retriever(tiny_kb, settings.retrieval), model, "scripted", progress=False)
    assert model.calls == calls  # cached with the knowledge base


def test_the_fit_finds_bm25_heavy_weights_for_a_catalogue_and_keeps_a_faqs(
        settings, e5, tiny_kb):
    catalogue = open_knowledge_base(settings, "catalogue", embedder=e5)
    catalogue.ingest(_speakers())
    base = settings.retrieval
    pages = fit(Retriever(catalogue, base), QuestionWriter(), "scripted", progress=False)
    assert pages.probes["document"] == 60
    assert pages.chosen.weights.bm25_weight > base.bm25_weight
    assert pages.hit_rate(pages.chosen, "document") > pages.hit_rate(pages.current, "document")
    catalogue.close()

    faq = fit(Retriever(tiny_kb, base), QuestionWriter(), "scripted", progress=False)
    assert faq.probes["faq"] == 12
    assert faq.chosen.weights.bm25_weight <= base.bm25_weight  # rewordings share no words


def test_a_weighting_must_beat_the_current_one_by_more_than_chance():
    now = Weights(1.0, 0.08, 0.2, False, 0.33)
    whole = np.ones(100)
    current = Score(now, {"faq": 50}, 0.6, np.array([True] * 50 + [False] * 50), whole)
    lucky = Score(Weights(0.0, 0.5, 0.2, False, 0.33), {"faq": 54}, 0.62,
                  np.array([True] * 46 + [False] * 4 + [True] * 8 + [False] * 42), whole)
    sure = Score(Weights(0.5, 0.3, 0.2, False, 0.33), {"faq": 70}, 0.75,
                 np.array([True] * 70 + [False] * 30), whole)
    assert choose([current, lucky], current) is current  # 4 more first, of 12 swapped
    assert choose([current, lucky, sure], current) is sure  # 20 more, of 20 swapped
    # 30 more of the last 50 first for 10 fewer of the first 50: better, unless the last
    # 50 are twins' questions worth a tenth each (the twins are there)
    trade = np.array([True] * 40 + [False] * 10 + [True] * 30 + [False] * 20)
    for worth, chosen in ((whole, "trade"), (np.array([1.0] * 50 + [0.1] * 50), "now")):
        now_ = Score(now, {"faq": 50}, 0.6, np.array([True] * 50 + [False] * 50), worth)
        other = Score(Weights(1.0, 0.0, 0.2, True, 0.33), {"faq": 40, "other language": 30},
                      0.7, trade, worth)
        assert choose([now_, other], now_) is {"trade": other, "now": now_}[chosen]


def _twins_of(entries: list[Entry]) -> list[Entry]:
    """A twin of each entry, its text copied as the LLM's translation stands in."""
    return [Entry(id=twin_id(e.id, other_language(e.lang)), question=e.question,
                  answer=e.answer, lang=other_language(e.lang), kind=e.kind,
                  translated_from=e.id) for e in entries]


def test_a_twins_question_counts_for_the_share_of_entries_that_have_no_twin(tiny_kb):
    probes = [RetrievalProbe("how long is delivery", "t-en-ship", "faq"),
              RetrievalProbe("运输需要多长时间？", "t-en-ship", "other language",
                             hide="t-en-ship~zh")]
    shop = list(tiny_kb.entries().values())  # FAQ in both languages: sections get twins too
    assert list(probe_worth(tiny_kb, probes)) == [1.0, 1.0]  # no twins yet: all lack one
    tiny_kb.ingest(_twins_of(shop[1:]))
    assert list(probe_worth(tiny_kb, probes)) == [1.0, 1 / len(shop)]


class CrossingWriter(QuestionWriter):
    """Asked in Chinese about the English shipping entry, writes Chinese questions."""

    def stream(self, messages: Sequence[Message]) -> Iterator[str]:
        prompt = messages[-1].content
        if "How long does shipping take?" in prompt and "简体中文" in prompt:
            self.calls += 1
            yield "快递几天能到\n下单后多久发货"
        else:
            yield from super().stream(messages)


def test_a_shop_in_both_languages_is_probed_across_languages_where_twins_are_missing(
        settings, e5, tiny_kb):
    retriever = Retriever(tiny_kb, settings.retrieval)
    probes = probes_for(retriever, CrossingWriter(), "scripted", progress=False)
    assert RetrievalProbe("快递几天能到", "t-en-ship", "other language") in probes
    assert RetrievalProbe("下单后多久发货", "t-en-ship", "other language") in probes
    shop = list(tiny_kb.entries().values())
    tiny_kb.ingest(_twins_of(shop))
    assert crossing_probes(tiny_kb, CrossingWriter(), "scripted", progress=False) == []
    catalogue = open_knowledge_base(settings, "catalogue", embedder=e5)  # English only
    catalogue.ingest(_speakers(3))
    writer = CrossingWriter()
    assert crossing_probes(catalogue, writer, "scripted", progress=False) == []
    assert writer.calls == 0
    catalogue.close()


def test_fitted_weights_are_used_unless_use_tuned_is_off(settings, tiny_kb):
    tiny_kb.set_setting(TUNED_RETRIEVAL, {"bm25_weight": 0.3, "name_weight": 0.0,
                                          "center_languages": True, "sentence_weight": 1.0,
                                          "probes": {"faq": 12}})
    tuned = retrieval_for(settings, tiny_kb)
    assert Weights.of(tuned) == Weights(settings.retrieval.answer_weight, 0.3, 0.0, True, 1.0)
    assert tuned.top_k == settings.retrieval.top_k
    off = settings.model_copy(update={"retrieval": RetrievalSettings(use_tuned=False)})
    assert retrieval_for(off, tiny_kb) == off.retrieval



def test_kefu_tune_retrieval_writes_the_fitted_weights_and_ask_uses_them(
        tmp_path, monkeypatch, capsys):
    pages = tmp_path / "speakers.jsonl"
    pages.write_text("".join(json.dumps({"id": e.id, "title": e.question, "text": e.answer,
                                         "lang": "en"}) + "\n" for e in _speakers()))
    assert main(["ingest", str(pages), "--kb", "catalogue", "--no-translate"]) == 0
    monkeypatch.setattr("kefu.agent.chat_models.build_chat_model",
                        lambda *args, **kwargs: QuestionWriter())
    assert main(["tune", "--kb", "catalogue", "--retrieval", "--dry-run"]) == 0
    assert "written to knowledge base" not in capsys.readouterr().out
    kb = open_knowledge_base(load_settings(), "catalogue")
    assert kb.setting(TUNED_RETRIEVAL) is None
    assert main(["tune", "--kb", "catalogue", "--retrieval"]) == 0
    out = capsys.readouterr().out
    assert "written to knowledge base 'catalogue' (retrieval.use_tuned)" in out
    assert "document hit@1" in out
    fitted = retrieval_for(load_settings(), kb)
    assert fitted.bm25_weight > RetrievalSettings().bm25_weight
    assert build_agent(load_settings(), kb=kb, chat_model=None).retriever.cfg == fitted
    kb.close()
