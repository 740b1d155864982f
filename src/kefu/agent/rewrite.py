"""Follow-ups ("那运费呢？", "and for Hong Kong?") rewritten into standalone questions.

Retrieval sees one question at a time, so a follow-up is rewritten before it: by the LLM
with a short prompt when one is configured, else (or when its rewrite is unusable) by a
rule that puts the earlier question in front of the follow-up. Retrieval then weighs the
rewrite and the customer's own words equally (Retriever.search's `also`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from kefu.knowledge_base.text import CJK, cjk_count, has_cjk, in_language
from kefu.types import Lang, Message

_LEAD_EN = re.compile(
    r"^(and|but|also|so|then|ok(ay)?,? (and|so|what about)|what about|how about|what if|"
    r"and if|and what about|same (for|with)|and how|and when|and where)\b[\s,]*",
    re.IGNORECASE)
_PRONOUN_EN = re.compile(r"\b(it|its|that|this|those|these|they|them|one|ones|there|same)\b",
                         re.IGNORECASE)
_LEAD_ZH = re.compile(r"^(那么?|那如果|还有|另外|如果是|要是|那要是|也|同样|其他的?|别的|"
                      r"这样的话|那样的话)[，,\s]*")
_PRONOUN_ZH = re.compile(r"它|(这|那)[个款件双台把顶辆张条套只种些家里]|上面|刚才|前面|"
                         f"这样|同样|(?<!应)该(?=[{CJK}])")
_ALSO_ZH = re.compile(r"一样|也(是|能|可以|行|要|算)")
_TRAILING_NE = re.compile(r"呢\s*[？?，,]?\s*$|呢[，,]")
_TRAILING_THEN = re.compile(r"\bthen\s*[?.!]*\s*$", re.IGNORECASE)
SHORT_EN_WORDS = 3
SHORT_ZH_CHARS = 5
PREVIOUS_QUESTIONS = 2  # earlier user turns the rule puts in front of a follow-up


def looks_like_follow_up(text: str, lang: Lang) -> bool:
    """True when the message leans on the conversation: a lead-in ('and', '那'), a pronoun
    (这件, 这双: "this one" by its measure word), 'also' / 'the same' (也是, 一样), a bare
    '…呢' (睡袋呢，一天多少？), a closing 'then?', or very few words."""
    if lang == "zh":
        return bool(points_back(text, lang) or _ALSO_ZH.search(text)
                    or _TRAILING_NE.search(text) or cjk_count(text) <= SHORT_ZH_CHARS)
    words = re.findall(r"[\w']+", text)
    return bool(points_back(text, lang) or len(words) <= SHORT_EN_WORDS
                or _TRAILING_THEN.search(text))


def points_back(text: str, lang: Lang) -> bool:
    """A lead-in ('and', '那') or a word that points at something said before (it, 这件):
    what a standalone question must not have."""
    if lang == "zh":
        return bool(_LEAD_ZH.match(text) or _PRONOUN_ZH.search(text))
    return bool(_LEAD_EN.match(text) or (_PRONOUN_EN.search(text)
                                         and len(re.findall(r"[\w']+", text)) <= 10))


def follow_up_context(history: Sequence[Message]) -> str:
    """The earlier questions a follow-up leans on, for the rule when no LLM rewrites it.

    Walks back over the customer's turns while they are follow-ups themselves, so a third
    turn still carries the topic of the first ("shipping cost? to Hong Kong? how long?").
    """
    earlier: list[str] = []
    for message in reversed(history):
        if message.role != "user":
            continue
        earlier.insert(0, message.content.strip())
        lang: Lang = "zh" if has_cjk(message.content) else "en"
        if len(earlier) >= PREVIOUS_QUESTIONS or not looks_like_follow_up(message.content, lang):
            break
    return " ".join(earlier)


def transcript(history: Sequence[Message], lang: Lang, turns: int = 3,
               reply_chars: int = 200) -> str:
    """The last few turns as plain lines for the rewrite prompt, long replies cut."""
    names = {"en": ("Customer", "Assistant"), "zh": ("顾客", "客服")}[lang]
    lines = []
    for message in [m for m in history if m.role in ("user", "assistant")][-2 * turns:]:
        text = " ".join(message.content.split())
        if message.role == "assistant" and len(text) > reply_chars:
            text = text[:reply_chars] + "…"
        lines.append(f"{names[message.role == 'assistant']}: {text}")
    return "\n".join(lines)


_LABEL = re.compile(r"^(standalone question|rewritten question|question|customer'?s new "
                    r"message|customer|独立问题|问题|顾客的新消息|新消息|顾客)\s*[:：]\s*",
                    re.IGNORECASE)


def usable_rewrite(rewrite: str, question: str, lang: Lang) -> str:
    """The model's rewrite cleaned up (a label copied from the prompt dropped), or '' when
    it is not a plausible standalone question: empty, an answer instead of a question, the
    wrong language, far too long, the customer's message unchanged, or still leaning on the
    conversation (a pronoun left, "When do they open?"; the prompt's own instruction
    copied). Then the rule reads the message with the questions before it."""
    lines = [line for line in rewrite.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    text = _LABEL.sub("", lines[0].strip()).strip(" \"'“”「」")
    wrong_language = not in_language(text, lang)
    too_long = len(text) > max(4 * len(question), 60) + 120
    unchanged = re.sub(r"\W", "", text.lower()) == re.sub(r"\W", "", question.lower())
    if (not text or wrong_language or too_long or "[0]" in text or unchanged
            or points_back(text, lang)):
        return ""
    return text
