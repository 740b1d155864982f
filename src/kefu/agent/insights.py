"""What the owner should look at: unanswered and disliked questions, grouped by meaning."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from kefu.knowledge_base.store import KnowledgeBase
from kefu.knowledge_base.text import to_simplified

# Centred cosine at which two questions ask the same thing. Measured with e5-small: "Do you
# sell gift cards?" ~ "can I buy a gift card" 0.74, but ~ "Do you sell iPhones?" 0.62.
SAME_QUESTION = 0.7


@dataclass
class QuestionGroup:
    question: str  # the group's first (newest) question
    others: list[str] = field(default_factory=list)  # other wordings, each once
    why: set[str] = field(default_factory=set)  # "not answered", "disliked"
    count: int = 1  # how often it was asked


def group_questions(rows: Sequence[dict[str, object]], kb: KnowledgeBase,
                    threshold: float = SAME_QUESTION) -> list[QuestionGroup]:
    """Questions that ask the same thing, together; biggest groups first.

    Greedy: each question joins the first group holding a question at least `threshold`
    similar to it (cosine after subtracting the knowledge base's mean vector, as retrieval
    does), else starts a group."""
    texts = [str(r["question"]) for r in rows]
    if not texts:
        return []
    vectors = kb.embedder.embed_queries([to_simplified(t) for t in texts]) - kb.mean_vector()
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
    groups: list[QuestionGroup] = []
    members: list[list[np.ndarray]] = []
    for row, text, vector in zip(rows, texts, vectors, strict=True):
        match = next((g for g, group in zip(groups, members, strict=True)
                      if max(float(m @ vector) for m in group) >= threshold), None)
        if match is None:
            groups.append(QuestionGroup(text, why={str(row["why"])}))
            members.append([vector])
        else:
            members[groups.index(match)].append(vector)
            if text != match.question and text not in match.others:
                match.others.append(text)
            match.why.add(str(row["why"]))
            match.count += 1
    return sorted(groups, key=lambda g: -g.count)
