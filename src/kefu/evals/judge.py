"""An LLM judge with a fixed rubric (evals/prompts/): is an answer correct against the
reference? Asked only when `kefu eval --judge MODEL` names one; its verdict then decides
an LLM answer's outcome instead of the agreement score."""

from __future__ import annotations

import re

from kefu.agent.prompts import render
from kefu.types import ChatModel, Lang, Message

PROMPTS = "kefu.evals.prompts"
_VERDICT = re.compile(r"\b(CORRECT|WRONG)\b", re.IGNORECASE)


class Judge:
    def __init__(self, model: ChatModel) -> None:
        self.model = model

    def __call__(self, question: str, reference: str, answer: str, lang: Lang) -> str:
        """'correct', 'wrong', or '' when the judge's reply names neither."""
        messages = [Message("system", render(lang, "judge_system", PROMPTS)),
                    Message("user", render(lang, "judge", PROMPTS, question=question,
                                           reference=reference, answer=answer))]
        found = _VERDICT.search("".join(self.model.stream(messages)))
        return found.group(1).lower() if found else ""
