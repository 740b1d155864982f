"""The Chroma adapter: the client (persistent, HTTP server, in-memory) is the only seam,
and the one place Chroma's errors (its own types, ValueError, a server gone away) become
KnowledgeBaseError."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from kefu.config import StoreSettings
from kefu.errors import EmbedderMismatch, KnowledgeBaseError


def build_chroma_client(cfg: StoreSettings, path: Path) -> Any:
    """PersistentClient under path, HttpClient to a `chroma run` server, or in-memory."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    try:
        if cfg.client == "persistent":
            path.mkdir(parents=True, exist_ok=True)
            return chromadb.PersistentClient(path=str(path), settings=settings)
        if cfg.client == "http":
            headers = {}
            if cfg.auth_header:
                name, _, value = cfg.auth_header.partition(":")
                headers[name.strip()] = value.strip()
            return chromadb.HttpClient(
                host=cfg.host, port=cfg.port, headers=headers, settings=settings
            )
        return chromadb.EphemeralClient(settings=settings)
    except Exception as exc:  # chromadb raises ValueError/ConnectionError/its own types
        where = f"{cfg.host}:{cfg.port}" if cfg.client == "http" else str(path)
        raise KnowledgeBaseError(
            f"cannot open the Chroma {cfg.client} store at {where}: {exc}"
        ) from exc


class VectorStore:
    """One Chroma collection of a knowledge base; many vectors per entry (max-pooled on
    query). part: '' for the collection searched (whole texts), else what the other holds
    (a knowledge base's sentences, read for rescoring only)."""

    def __init__(self, client: Any, kb_name: str, embedder_id: str, dim: int,
                 part: str = "") -> None:
        name = f"kefu_{kb_name}" + (f".{part}" if part else "")
        try:
            self._col = client.get_or_create_collection(
                name=name,
                metadata={"embedder": embedder_id, "dim": dim},
                configuration={"hnsw": {"space": "cosine"}},
            )
        except Exception as exc:
            raise KnowledgeBaseError(f"cannot open Chroma collection {name!r}: {exc}") from exc
        meta = self._col.metadata or {}
        if meta.get("embedder") != embedder_id or int(meta.get("dim", dim)) != dim:
            raise EmbedderMismatch(
                f"knowledge base {kb_name!r} was built with embedder "
                f"{meta.get('embedder')!r} (dim {meta.get('dim')}), but the configured embedder "
                f"is {embedder_id!r} (dim {dim}); use the same embedder, or re-import into a "
                f"new knowledge base with --kb"
            )

    def add(self, vectors: np.ndarray, owners: Sequence[tuple[str, str]]) -> None:
        """Upsert vectors; owners[i] is (entry id, field) of vectors[i], fields in entry order."""
        ids: list[str] = []
        metadatas: list[dict[str, str]] = []
        position: dict[str, int] = {}
        for entry_id, field in owners:
            position[entry_id] = position.get(entry_id, -1) + 1
            ids.append(f"{entry_id}::{position[entry_id]}")
            metadatas.append({"entry_id": entry_id, "field": field})
        if ids:
            with _translated("store vectors in"):
                self._col.upsert(ids=ids, embeddings=vectors.tolist(), metadatas=metadatas)

    def delete(self, entry_ids: Sequence[str]) -> None:
        if entry_ids:
            with _translated("delete vectors from"):
                self._col.delete(where={"entry_id": {"$in": list(entry_ids)}})

    def count(self) -> int:
        with _translated("count the vectors of"):
            return int(self._col.count())

    def query(self, vector: np.ndarray, n: int) -> list[tuple[str, float]]:
        """(entry_id, cosine similarity) of the n nearest vectors, best first."""
        total = self.count()
        if total == 0:
            return []
        with _translated("search"):
            result = self._col.query(
                query_embeddings=[vector.tolist()], n_results=min(n, total),
                include=["metadatas", "distances"],
            )
        return [
            (str(meta["entry_id"]), 1.0 - float(dist))
            for meta, dist in zip(result["metadatas"][0], result["distances"][0], strict=True)
        ]

    def iter_all(self, page: int = 5000) -> Iterator[tuple[list[tuple[str, str]], list[Any]]]:
        """Every stored vector in pages: ((entry id, field) per vector, vectors)."""
        for offset in range(0, self.count(), page):
            with _translated("read the vectors of"):
                batch = self._col.get(include=["metadatas", "embeddings"], limit=page,
                                      offset=offset)
            owners = [(str(m["entry_id"]), str(m["field"])) for m in batch["metadatas"]]
            yield owners, list(batch["embeddings"])


@contextmanager
def _translated(doing: str) -> Iterator[None]:
    try:
        yield
    except Exception as exc:  # chromadb raises its own types, ValueError, httpx errors
        raise KnowledgeBaseError(f"Chroma could not {doing} the collection: "
                                 f"{type(exc).__name__}: {exc}") from exc
