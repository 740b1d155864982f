from dataclasses import replace

import pytest

from kefu.errors import EmbedderMismatch, KnowledgeBaseError
from kefu.knowledge_base.embedders import HashEmbedder
from kefu.knowledge_base.loaders import load_path
from kefu.knowledge_base.store import open_knowledge_base

from .conftest import DATA


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
