"""Is an LLM answer grounded in its sources, and does it say what the gold answer says?

Both are measured in code, the same way every run, so two runs compare:

    grounded   the share of the answer's sentences that a cited source supports: every
               figure in it stated by the source, and at least half of its content words
               (jieba tokens for Chinese, word stems for English) found in the source (for
               a source in the other language, translated as it was answered, its figures
               only: words do not carry across languages);
    agreement  1.0 when the answer contains a gold answer (after normalisation), else the
               cosine of their e5 embeddings (0.88 and up reads as the same statement).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from kefu.agent.guard import unsupported_numbers
from kefu.knowledge_base.text import normalize, tokenize
from kefu.types import Embedder

_SENTENCE_END = re.compile(r"(?<=[。！？!?；;])|(?<=\.)\s+")
MIN_WORDS = 2  # a sentence with fewer content words ("Yes.", "可以。") needs no support
SUPPORTED_SHARE = 0.5


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def supported(sentence: str, sources: Sequence[str], words_too: bool = True) -> bool:
    if unsupported_numbers(sentence, sources):
        return False
    if not words_too:
        return True
    words = set(tokenize(sentence))
    if len(words) < MIN_WORDS:
        return True
    known = {token for source in sources for token in tokenize(source)}
    return len(words & known) / len(words) >= SUPPORTED_SHARE


def groundedness(answer: str, sources: Sequence[str], words_too: bool = True) -> float:
    """The share of the answer's sentences its sources support (1.0 for an empty answer);
    words_too=False: their figures only (sources in another language than the answer)."""
    parts = sentences(answer)
    if not parts:
        return 1.0
    return sum(supported(s, sources, words_too) for s in parts) / len(parts)


def agreement(answer: str, golds: Sequence[str], embedder: Embedder | None) -> float:
    """1.0 when the answer contains a gold answer, else the best e5 cosine (0 without an
    embedder); -1 when there is no gold answer to compare with."""
    golds = [g for g in golds if g.strip()]
    if not golds:
        return -1.0
    plain = _squeeze(answer)
    if any(_squeeze(g) in plain for g in golds):
        return 1.0
    if embedder is None:
        return 0.0
    vectors = np.asarray(embedder.embed_passages([answer, *golds]))
    return float(max(vectors[0] @ v for v in vectors[1:]))


def _squeeze(text: str) -> str:
    return re.sub(r"[\s\W_]+", "", normalize(text))
