"""What a customer's message asks for beyond a question, and what a reply must never contain.

Checked in code, before retrieval and after generation, never left to the model: a small
model follows "ignore previous instructions" as readily as any other instruction.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Literal

from kefu.agent.figures import (
    NUMBER,
    changed_currencies,
    dropped_figures,
    figures,
    misread_discounts,
    prices,
)
from kefu.knowledge_base.text import CJK, detect_lang, has_cjk, is_cjk
from kefu.types import Lang, Message

MAX_QUESTION_CHARS = 1000  # the rest of a very long message is not read

Intent = Literal["injection", "private", "human", "accept", "angry", ""]

_INJECTION = re.compile("|".join([
    r"\b(ignore|disregard|forget|override|bypass)\b.{0,30}\b(instructions?|rules?|prompts?|"
    r"directions?|guidelines?|polic(y|ies))\b",
    r"\b(system|initial|hidden|original|secret|developer)\s+(prompt|instructions?|message|rules)",
    r"\b(reveal|print|repeat|show|output|leak|dump)\b.{0,30}\b(prompt|instructions|context|"
    r"(text|everything|words|messages?) above)\b",
    r"\byour (instructions|prompt|guidelines|programming|configuration)\b",
    r"\b(told|instructed|programmed|configured)\b.{0,30}\bbefore\b|\bbefore (this|our) "
    r"(conversation|chat)\b",
    r"^\W*(system|assistant|developer|admin)\s*:|\bnew (policy|rules?|instructions?)\b",
    r"\bjailbreak|\bdeveloper mode\b|(?-i:\bDAN\b)|\bdo anything now\b",
    r"\b(pretend|act|behave)\b.{0,12}\b(you are|to be|as if|as an?)\b",
    r"\byou are (now|no longer)\b|\bfrom now on,? you\b|\brole-?play\b",
    r"忽略.{0,12}(指令|指示|提示|规则|设定|要求)|无视.{0,12}(指令|规则|设定)",
    r"(系统|初始|隐藏|原始|内部).{0,3}(提示词?|指令|设定|规则)|提示词",
    r"越狱|开发者模式|假装你|扮演|角色扮演|你现在是|从现在(开始|起)你",
]), re.IGNORECASE)

_PRIVATE = re.compile("|".join([
    r"\b(other|another|all|every|someone else'?s?)\b.{0,12}\b(customers?|users?|buyers?|"
    r"people|members?)'?s?\b.{0,20}\b(orders?|address(es)?|phones?|numbers?|emails?|data|"
    r"details|information|info|names?|cards?)\b",
    r"\b(list|dump|export|give me|show me)\b.{0,20}\b(all|every)\b.{0,12}\b(customers?|users?|"
    r"orders|records|database|entries|ids)\b",
    r"\b(database|internal ids?|entry ids?|admin token|api key|password of)\b",
    r"\b(address(es)?|phone( numbers?)?|emails?|orders?|names?|details)\b.{0,30}\bof "
    r"(another|other|that|some|a different) (customers?|buyers?|users?|person|people)\b",
    r"\b(customers?|buyers?|users?|person|people)\b.{0,20}\b(before|after) me\b",
    r"(别人|他人|其他(顾客|客户|用户|买家|人)|所有(顾客|客户|用户|订单)).{0,10}"
    r"(订单|地址|电话|手机|信息|资料|数据|名字|姓名|邮箱)",
    r"(数据库|后台数据|内部编号|管理员密码|管理密钥)",
]), re.IGNORECASE)

_HUMAN = re.compile("|".join([
    r"\b(talk|speak|chat|connect|transfer|put)\b.{0,20}\b(human|person|agent|someone|"
    r"staff|representative|operator|manager)\b",
    r"^\W*(a )?(human|real person|live agent|agent|operator|representative)( please)?\W*$",
    r"转人工|人工客服|找人工|要人工|接人工|真人|人工服务|转接|^\W*人工\W*$",
]), re.IGNORECASE)

# "When can I talk to someone?" asks about the service hours; it is not a request for one.
_ASKS_ABOUT_SERVICE = re.compile(r"\b(when|what time|hours|open)\b|什么时候|几点|时间|上班|营业",
                                 re.IGNORECASE)

_ACCEPT = re.compile(
    r"^\W*(yes|yeah|yep|sure|ok|okay|please|yes please|please do|go ahead|do it|y)\W*$"
    r"|^\W*(好|好的|好啊|是|是的|需要|要|可以|行|嗯|嗯嗯|麻烦了|麻烦你了|转吧)\W*$",
    re.IGNORECASE)

_ANGRY = re.compile("|".join([
    r"\b(useless|stupid|idiot\w*|terrible|worst|scam\w*|ridiculous|hate|angry|furious|"
    r"pathetic|disgusting|wtf|damn\w*|shit\w*|fuck\w*|crap)\b",
    r"垃圾|骗子|骗人|太差|差劲|气死|投诉|什么玩意|废物|傻[逼瓜]|滚|坑人|恶心|无语|烂透|混蛋",
    r"[!！]{3,}",
]), re.IGNORECASE)

_CONTROL = re.compile(r"[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e"
                      r"\u2060-\u206f\ufeff]")
_TAG = re.compile(r"<[^>]{0,200}>")


def clean(text: str) -> str:
    """The message as kefu reads it: control and invisible characters and HTML tags gone,
    NFC, spaces squeezed, its last MAX_QUESTION_CHARS characters (a long story ends with
    its question)."""
    text = unicodedata.normalize("NFC", _CONTROL.sub(" ", text))
    text = _TAG.sub(" ", text)
    return " ".join(text.split())[-MAX_QUESTION_CHARS:].strip()


def intent(text: str, offered_human: bool) -> Intent:
    """What the message asks beyond a question; offered_human: the last reply offered one."""
    if _INJECTION.search(text):
        return "injection"
    if _PRIVATE.search(text):
        return "private"
    if _HUMAN.search(text) and not _ASKS_ABOUT_SERVICE.search(text):
        return "human"
    if offered_human and _ACCEPT.match(text):
        return "accept"
    if _ANGRY.search(text) or _shouting(text):
        return "angry"
    return ""


def _shouting(text: str) -> bool:
    words = re.findall(r"[A-Za-z]{2,}", text)
    return len(words) >= 3 and sum(w.isupper() for w in words) >= 0.8 * len(words)


# -- replies ----------------------------------------------------------------------------

_CITATION_MARK = re.compile(r"\s*\[\d{1,2}\]")


def strip_citation_marks(text: str) -> str:
    """'Refunds take 3 days [2].' -> 'Refunds take 3 days.' (sources are listed apart)."""
    return _CITATION_MARK.sub("", text).strip()


_PREAMBLE = re.compile(r"^[^\n]*(translat|译文|翻译)[^\n]*[:：]\s*\n", re.IGNORECASE)
_POSTSCRIPT = re.compile(r"\n\s*\n[^\n]*(translat|译文|翻译)[\s\S]*$", re.IGNORECASE)
_SPEAKER = re.compile(r"^(客服助手|customer[- ]service assistant|assistant)\s*[:：]\s*", re.I)


def strip_preamble(text: str) -> str:
    """The text without a small model's 'Here is the translation into English:' line, a
    speaker label ('客服助手：') before it, or a last paragraph about the translation
    ('This translation keeps ...') after it."""
    text = _POSTSCRIPT.sub("", _PREAMBLE.sub("", text.strip(), count=1))
    return _SPEAKER.sub("", text.strip()).strip()


def unsupported_numbers(answer: str, sources: Iterable[str]) -> list[str]:
    """Numbers in the answer that no source (nor the question) states: prices, days, times.

    A grounded answer may reword its source but not invent a figure; this is the cheap,
    exact half of a groundedness check, done on every LLM answer.
    """
    known = {figure for text in sources for figure in figures(text)}
    digits = {d for n in known for d in re.findall(r"\d+", n)}
    found = []
    for number in NUMBER.findall(answer):
        plain = number.replace(",", "")
        if plain not in known and not set(re.findall(r"\d+", plain)) <= digits:
            found.append(number)
    return found


_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+|(?:https?://|www\.)[^\s，。；、）)]+"
                      r"|\b[\w-]+(?:\.[\w-]+)*\.(?:com|cn|net|org|example)\b", re.ASCII)


def dropped_addresses(reply: str, source: str) -> list[str]:
    """The e-mail and web addresses of source that reply (its translation) does not write
    as they are ("warranty@shop.example" must not become "保修@shop.example")."""
    kept = reply.lower()
    return [a.rstrip(".") for a in _ADDRESS.findall(source) if a.rstrip(".").lower() not in kept]


def translation_faults(translation: str, source: str) -> list[str]:
    """What a translation of the shop's source text changed that it must not: a figure the
    source does not state or one it states left out, a sum in another currency, a discount
    read as that much off, an e-mail or web address not written as it is. Empty when it is
    faithful in these."""
    return [*(f"figure {n}" for n in unsupported_numbers(translation, [source])),
            *(f"dropped {n}" for n in dropped_figures(translation, source)),
            *(f"currency {c}" for c in changed_currencies(translation, source)),
            *(f"discount {d}" for d in misread_discounts(translation, source)),
            *(f"address {a}" for a in dropped_addresses(translation, source))]


_KEPT_IN_CHINESE = {"app", "vip", "wifi", "email", "pdf"}
_LOWER_WORD = re.compile(r"(?<![A-Za-z])[a-z][a-z'-]{2,}(?![A-Za-z])")


def untranslated_words(text: str, lang: Lang) -> list[str]:
    """The words a translation into lang left in the other language: Chinese characters in
    English (顺丰, 冲锋衣: a name too is put into English), ordinary lower-case English
    words in Chinese ("shipping", "mainland"; names, e-mail and web addresses, units and
    the few words Chinese writes in English aside)."""
    if lang == "en":
        return re.findall(f"[{CJK}]+", text)
    plain = _ADDRESS.sub(" ", text)
    return [w for w in _LOWER_WORD.findall(plain) if w not in _KEPT_IN_CHINESE]


def kept_as_written(source: str) -> list[str]:
    """What a translation of source must write as source does: its e-mail and web
    addresses and its prices."""
    addresses = [a.rstrip(".") for a in _ADDRESS.findall(source)]
    return list(dict.fromkeys([*addresses, *prices(source)]))


def leaks(answer: str, system_prompt: str, private_ids: Sequence[str]) -> bool:
    """True when the reply quotes the system prompt (any 8 words or 16 Chinese characters in
    a row) or names an internal entry id."""
    if any(i and i in answer for i in private_ids):
        return True
    plain = " ".join(re.findall(r"\w+", answer.lower()))
    prompt_words = re.findall(r"[a-z0-9']+", system_prompt.lower())
    for i in range(len(prompt_words) - 7):
        if " ".join(prompt_words[i:i + 8]) in plain:
            return True
    cjk = "".join(c for c in system_prompt if is_cjk(c))
    answer_cjk = "".join(c for c in answer if is_cjk(c))
    return any(cjk[i:i + 16] in answer_cjk for i in range(len(cjk) - 15))


def reply_lang(text: str, history: Sequence[Message] = ()) -> Lang:
    """The one answer to "which language does kefu reply in": the message's own, or when
    it has no words of either language (an emoji, a number, a lone '?'; no message, as
    for the handoff button) that of the customer's latest message that has some; English
    to start a conversation."""
    said = [text, *(m.content for m in reversed(history) if m.role == "user")]
    return next((detect_lang(t) for t in said if re.search(r"[A-Za-z]{2,}", t) or has_cjk(t)),
                "en")