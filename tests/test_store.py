import sqlite3
from dataclasses import replace
from functools import partial

import pytest
from sqlalchemy import delete, select

from kefu.agent.conversations import ConversationStore
from kefu.config import StoreSettings
from kefu.errors import EmbedderMismatch, KnowledgeBaseError
from kefu.knowledge_base.loaders import load_path
from kefu.knowledge_base.store import knowledge_base_exists, open_knowledge_base
from kefu.storage import database
from kefu.storage.tables import kb_entries, kb_meta
from kefu.types import Entry
from tests.conftest import HashEmbedder
from tests.postgres import fresh_database

from .conftest import DATA


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request, settings):
    """Every test here runs on both homes of a knowledge base's bookkeeping: its own SQLite
    file, and a schema of its own in a real PostgreSQL server."""
    if request.param == "sqlite":
        return settings
    url = fresh_database(request.getfixturevalue("postgres"))
    return settings.model_copy(update={"store": StoreSettings(database_url=url)})


def test_a_knowledge_base_exists_once_opened_and_an_edit_reaches_every_process(
        settings, hash_embedder):
    """A second KnowledgeBase on the same stores stands for another worker: its cached
    entries and BM25 statistics are dropped when the generation mark changes."""
    assert not knowledge_base_exists(settings, "shop")
    entries = load_path(DATA / "faq.csv").entries
    writer = open_knowledge_base(settings, "shop", embedder=hash_embedder)
    assert knowledge_base_exists(settings, "shop")
    assert not knowledge_base_exists(settings, "other")
    writer.ingest(entries[:3])
    reader = open_knowledge_base(settings, "shop", embedder=hash_embedder)
    assert list(reader.entries()) == [e.id for e in entries[:3]]
    before = reader.generation()
    writer.ingest(entries)
    assert reader.generation() != before
    assert list(reader.entries()) == [e.id for e in entries]
    assert reader.keyword_matches(["1"], 5) == []
    writer.ingest([replace(entries[0], answer="Orders arrive in 1-2 working days.")])
    assert reader.get(entries[0].id).answer == "Orders arrive in 1-2 working days."
    assert [i for i, _ in reader.keyword_matches(["1"], 5)] == [entries[0].id]
    writer.set_setting("ladder", {"faq_threshold": 0.7})
    assert reader.setting("ladder") == {"faq_threshold": 0.7}
    writer.set_twin_state(entries[0].id, "hash", "done", "x")
    assert reader.twin_states() == {entries[0].id: ("hash", "done", "x")}
    writer.close()
    reader.close()


def test_reingest_of_unchanged_entries_changes_nothing(settings, hash_embedder):
    entries = load_path(DATA / "faq.csv").entries
    kb = open_knowledge_base(settings, "shop", embedder=hash_embedder)
    first = kb.ingest(entries)
    vectors = kb.vectors.count()
    assert (first.added, first.updated, first.unchanged) == (6, 0, 0)
    assert vectors == 6 * 2 + 4  # question + answer each, plus 4 alternatives
    kb.close()

    kb = open_knowledge_base(settings, "shop", embedder=hash_embedder)
    again = kb.ingest(entries)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 6)
    assert kb.vectors.count() == vectors
    assert list(kb.entries()) == [e.id for e in entries]


def test_an_entry_with_a_nul_character_is_stored_without_it(settings, hash_embedder):
    kb = open_knowledge_base(settings, "shop", embedder=hash_embedder)
    kb.ingest([Entry("nul", "Gift\x00 cards?", "Yes\x00, from US$20.", "en")])
    assert (kb.get("nul").question, kb.get("nul").answer) == ("Gift cards?", "Yes, from US$20.")
    kb.close()


def test_a_knowledge_base_named_like_a_database_schema_leaves_the_conversations_alone(
        settings, hash_embedder):
    """On PostgreSQL a knowledge base's tables live in a schema of their own, named so
    that 'public' or the user's name cannot be the conversation tables' schema."""
    for name in ("public", "kefu", "pg_shop"):
        kb = open_knowledge_base(settings, name, embedder=hash_embedder)
        kb.ingest([Entry("gift", "Gift cards?", "Yes.", "en")])
        kb.close()
    store = ConversationStore(settings.store.database_url or settings.home / "c.sqlite")
    assert store.append(store.open(None, "public"), "user", "hi") == 1
    assert list(open_knowledge_base(settings, "public", embedder=hash_embedder).entries()) == [
        "gift"]


def test_reading_never_waits_for_a_writer_in_another_process(settings, hash_embedder,
                                                            monkeypatch):
    if settings.store.database_url:
        pytest.skip("SQLite's locks")
    monkeypatch.setattr(database, "BUSY_TIMEOUT_S", 0.2)
    kb = open_knowledge_base(settings, "locked", embedder=hash_embedder)
    kb.ingest([Entry("gift", "Gift cards?", "Yes.", "en")])
    writer = sqlite3.connect(settings.kb_dir / "locked" / "kb.sqlite")
    writer.execute("BEGIN IMMEDIATE")  # kefu ingest, mid-batch
    try:
        other = open_knowledge_base(settings, "locked", embedder=hash_embedder)
        assert list(other.entries()) == ["gift"] and other.setting("x") is None
        assert other.keyword_matches(["gift"], 1)[0][0] == "gift"
    finally:
        writer.rollback()
        writer.close()


def test_changed_entry_is_replaced_not_duplicated(settings, hash_embedder):
    entries = load_path(DATA / "faq.csv").entries
    kb = open_knowledge_base(settings, "shop", embedder=hash_embedder)
    kb.ingest(entries)
    edited = replace(entries[0], answer="Orders arrive in 1-2 working days.", alt_questions=())
    report = kb.ingest([edited, *entries[1:]])
    assert (report.added, report.updated, report.unchanged) == (0, 1, 5)
    assert kb.get("t-en-ship").answer == "Orders arrive in 1-2 working days."
    assert kb.vectors.count() == 6 * 2 + 3
    assert [i for i, _ in kb.bm25.search(["1"], 5)] == ["t-en-ship"]


def test_delete_removes_entry_from_every_index(settings, hash_embedder):
    kb = open_knowledge_base(settings, "shop", embedder=hash_embedder)
    kb.ingest(load_path(DATA / "faq.csv").entries)
    assert kb.delete(["t-zh-pay"]) == 1
    assert "t-zh-pay" not in kb.entries()
    assert [i for i, _ in kb.bm25.search(["微信支付"], 5)] == []
    assert kb.vectors.count() == 5 * 2 + 4


def test_embedder_mismatch_names_both(settings, hash_embedder):
    kb = open_knowledge_base(settings, "shop", embedder=hash_embedder)
    kb.ingest(load_path(DATA / "faq.csv").entries[:1])
    kb.close()
    with pytest.raises(EmbedderMismatch) as err:
        open_knowledge_base(settings, "shop", embedder=HashEmbedder(dim=32))
    assert "built with embedder 'hash-64' (dim 64)" in str(err.value)
    assert "configured embedder is 'hash-32' (dim 32)" in str(err.value)


def test_invalid_name_is_refused(settings, hash_embedder):
    with pytest.raises(KnowledgeBaseError, match="invalid knowledge base name 'A b'"):
        open_knowledge_base(settings, "A b", embedder=hash_embedder)


def test_in_memory_vectors_follow_writes_and_match_a_fresh_load(settings, hash_embedder,
                                                                 monkeypatch):
    entries = load_path(DATA / "faq.csv").entries
    kb = open_knowledge_base(settings, "shop", embedder=hash_embedder)
    kb.ingest(entries[:3])
    kb.mean_vector()  # loads the cache; the writes below must keep it in step
    kb.ingest([replace(entries[0], alt_questions=("Another way to ask?",)), *entries[3:]])
    kb.delete([entries[1].id])
    assert sorted(f for f, _ in kb.vectors_of([entries[0].id])[entries[0].id]) == [
        "alt0", "answer", "question"]
    assert entries[1].id not in kb.vectors_of([entries[1].id])
    live_mean = kb.mean_vector()
    live_means = {lang: kb.mean_vector(lang) for lang in ("zh", "en")}
    kb.close()
    fresh = open_knowledge_base(settings, "shop", embedder=hash_embedder)
    # pages of 4 vectors: entries with 3-4 vectors each span two pages
    monkeypatch.setattr(fresh.vectors, "iter_all", partial(fresh.vectors.iter_all, page=4))
    assert fresh.mean_vector() == pytest.approx(live_mean, abs=1e-6)
    for lang, mean in live_means.items():
        assert fresh.mean_vector(lang) == pytest.approx(mean, abs=1e-6)
    assert sum(len(v) for v in fresh.vectors_of(list(fresh.entries())).values()) == \
        fresh.vectors.count()


def test_each_language_has_the_mean_of_its_texts_vectors(settings, hash_embedder):
    """An entry's texts may be in two languages (a Chinese question, an English answer):
    each vector counts towards its own text's language."""
    kb = open_knowledge_base(settings, "shop", embedder=hash_embedder)
    kb.ingest([Entry("a", "多久能到？", "2-4 working days.", "zh"),
               Entry("b", "How long is shipping?", "2-4 working days.", "en")])
    vectors = hash_embedder.embed_passages(["多久能到？", "2-4 working days.",
                                            "How long is shipping?", "2-4 working days."])
    assert kb.mean_vector("zh") == pytest.approx(vectors[0], abs=1e-6)
    assert kb.mean_vector("en") == pytest.approx(vectors[1:].mean(axis=0), abs=1e-6)
    assert kb.mean_vector() == pytest.approx(vectors.mean(axis=0), abs=1e-6)
    assert (kb.vector_lang("a", "question"), kb.vector_lang("a", "answer")) == ("zh", "en")
    kb.delete(["b"])
    assert kb.mean_vector("en") == pytest.approx(vectors[1], abs=1e-6)


SAYS_TWO = Entry("two", "How long is shipping?", "Orders ship in 2 days. Express takes 1 day.",
                 "en")
SAYS_ONE = Entry("one", "Do you ship to Canada?", "Yes, to every province.", "en")
# A record of labelled fields is matched whole: every record has these lines (hybrid.py).
A_RECORD = Entry("place", "麦当劳", "名称：麦当劳\n地址：府前街31号\n电话：89993325\n"
                 "周边餐馆：金百万烤鸭店、巧大嫂", "zh", kind="doc")


def _sentence_fields(kb, ids):
    return {i: [field for field, _, _ in rows] for i, rows in kb.sentence_vectors_of(ids).items()}


def test_the_sentences_of_an_answer_are_vectors_apart_never_searched_nor_in_the_mean(
        settings, hash_embedder):
    """Each sentence of an answer that says several things gets a vector of its own, for
    rescoring (retrieval/hybrid.py); an answer of one sentence gets none."""
    kb = open_knowledge_base(settings, "shop", embedder=hash_embedder)
    kb.ingest([SAYS_TWO, SAYS_ONE, A_RECORD])
    assert _sentence_fields(kb, ["two", "one", "place"]) == {
        "two": ["sentence.0", "sentence.1"]}
    assert kb.vectors.count() == 5 and kb.sentence_vectors.count() == 2
    kb.delete(["place"])
    whole = hash_embedder.embed_passages([SAYS_TWO.question, SAYS_TWO.answer,
                                          SAYS_ONE.question, SAYS_ONE.answer])
    assert kb.mean_vector() == pytest.approx(whole.mean(axis=0), abs=1e-6)
    kb.ingest([replace(SAYS_TWO, answer="Orders ship in 2 days."), SAYS_ONE])
    assert _sentence_fields(kb, ["two"]) == {}  # the cache in step with the edit
    assert kb.sentence_vectors.count() == 0
    kb.ingest([SAYS_TWO])
    kb.delete(["two"])
    assert kb.sentence_vectors.count() == 0


def _hashes(kb):
    with kb._db.read() as connection:
        return dict(connection.execute(select(kb_entries.c.id, kb_entries.c.hash)).all())


def test_a_knowledge_base_indexed_before_sentences_gets_them_at_its_next_import(
        settings, hash_embedder):
    """Every stored entry, one the import does not name too (a twin), is embedded anew in
    its order; its content hash, which a twin's state is kept against, stays."""
    kb = open_knowledge_base(settings, "shop", embedder=hash_embedder)
    kb.ingest([SAYS_TWO, SAYS_ONE])
    hashes = _hashes(kb)
    with kb._db.begin() as connection:  # as kefu 0.3 left it
        connection.execute(delete(kb_meta).where(kb_meta.c.key == "sentences"))
    kb.sentence_vectors.delete(["two", "one"])
    kb.close()
    kb = open_knowledge_base(settings, "shop", embedder=hash_embedder)
    assert _sentence_fields(kb, ["two"]) == {}
    report = kb.ingest([SAYS_ONE])
    assert (report.added, report.updated, report.unchanged) == (0, 0, 1)
    assert _sentence_fields(kb, ["two"]) == {"two": ["sentence.0", "sentence.1"]}
    assert list(kb.entries()) == ["two", "one"]
    assert _hashes(kb) == hashes
    kb.ingest([SAYS_ONE])  # once only
    assert kb.sentence_vectors.count() == 2
