"""Token budgets: every prompt, with the reply it asks for, fits the model's context.

A prompt's variable part (a customer's message, a conversation, a text to translate) is cut
by the model's own tokenizer to the room the fixed part leaves (`ChatModel.prompt_tokens`,
llm.n_ctx less llm.max_tokens): a customer's message keeps its end (where the question
usually is), anything else its start, both at a sentence end where one is near. A text to
translate is never cut: it goes to the model a few sentences at a time (pieces()), so a
long answer does not outrun the reply's tokens either.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Literal

from kefu.knowledge_base.text import is_cjk, sentences
from kefu.types import ChatModel, Message

Keep = Literal["start", "end"]
TEMPLATE_TOKENS = 8  # per message: the chat template's role markers
SPARE_TOKENS = 16  # for the template's opening and the reply's first marker
PIECE_CHARS = 200  # of a text translated at once (whole sentences where they are shorter)
_SENTENCE_END = re.compile(r"[。！？!?.;；\n]")
_CLAUSE_END = re.compile(r"(?<=[，,、：:；; ])")


def estimated_tokens(text: str) -> int:
    """Tokens text takes, estimated on the safe side where there is no tokenizer to ask: one
    per Chinese character, one per three other characters."""
    cjk = sum(1 for char in text if is_cjk(char))
    return cjk + -(-(len(text) - cjk) // 3)


def prompt_size(model: ChatModel, messages: Sequence[Message]) -> int:
    return sum(model.count_tokens(m.content) + TEMPLATE_TOKENS for m in messages) + SPARE_TOKENS


def fitted(model: ChatModel, build: Callable[[str], list[Message]], text: str, keep: Keep,
           most: int | None = None) -> list[Message]:
    """build(text), with text cut so the whole prompt fits the model's context (and text
    takes at most `most` tokens)."""
    room = model.prompt_tokens - prompt_size(model, build(""))
    return build(cut(model, text, room if most is None else min(room, most), keep))


def cut(model: ChatModel, text: str, tokens: int, keep: Keep) -> str:
    """text in at most tokens: its longest start (or end) that fits, ending (or starting)
    at a sentence end when one is in the second half of what fits."""
    if model.count_tokens(text) <= tokens:
        return text
    if tokens <= 0:
        return ""
    low, high = 0, len(text)
    while low < high:  # the most characters that fit
        middle = (low + high + 1) // 2
        if model.count_tokens(_side(text, middle, keep)) <= tokens:
            low = middle
        else:
            high = middle - 1
    kept = _side(text, low, keep)
    ends = [m.end() for m in _SENTENCE_END.finditer(kept)]
    if keep == "start" and ends and ends[-1] >= len(kept) // 2:
        kept = kept[: ends[-1]]
    elif keep == "end":
        inside = [e for e in ends if e < len(kept)]
        if inside and inside[0] <= len(kept) // 2:
            kept = kept[inside[0]:]
    return kept.strip()


def _side(text: str, chars: int, keep: Keep) -> str:
    return text[:chars] if keep == "start" else text[len(text) - chars:]


def pieces(text: str) -> list[str]:
    """The text's sentences, in runs of at most PIECE_CHARS; a longer sentence in runs of
    its clauses, and a clause longer still in PIECE_CHARS slices."""
    out: list[str] = []
    for part in (p for s in sentences(text) for p in _short(s)):
        if out and len(out[-1]) + len(part) < PIECE_CHARS:
            out[-1] += (" " if out[-1][-1].isascii() and not out[-1].endswith(" ") else "") \
                + part
        else:
            out.append(part)
    return [p.strip() for p in out if p.strip()]


def _short(sentence: str) -> list[str]:
    if len(sentence) <= PIECE_CHARS:
        return [sentence]
    out = [""]
    for clause in _CLAUSE_END.split(sentence):
        for start in range(0, len(clause), PIECE_CHARS):
            piece = clause[start:start + PIECE_CHARS]
            if len(out[-1]) + len(piece) <= PIECE_CHARS:
                out[-1] += piece
            else:
                out.append(piece)
    return out
