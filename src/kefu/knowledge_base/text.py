"""Language detection, normalisation and jieba tokenisation shared by both indexes."""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections.abc import Iterable
from functools import cache

from kefu.types import Lang

# The one definition of "a Chinese character" (CJK unified ideographs, extension A, the
# compatibility block), as the body of a regex character class: f"[{CJK}]".
CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
ZH_SHARE = 0.3  # of a text's letters, the Chinese share at which it reads as Chinese
_CJK = re.compile(f"[{CJK}]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")
_WORD = re.compile(f"[^\\W\\d_{CJK}]+|[{CJK}]+")  # letters of one script
_TOKEN_CHARS = re.compile(f"[\\w{CJK}]+")

# Shop phrases jieba splits badly without help ("退货运费" -> "货运费").
SHOP_TERMS = (
    "七天无理由", "7天无理由", "无理由退货", "退货", "退款", "换货", "退换货", "运费", "退货运费",
    "包邮", "顺丰", "发票", "电子发票", "保修", "质保", "售后", "订单", "物流", "快递", "优惠券",
    "积分", "会员", "货到付款", "花呗", "支付宝", "微信支付", "银联", "修改地址", "收货地址",
    "取消订单", "预售", "缺货", "客服", "人工客服", "香港", "澳门", "台湾", "海外",
)

_EN_STOPWORDS_TEXT = """
a an the is are was were be been am do does did i you we my your our me it its of to in on for at
by with and or can could would should will how what when where which who why this that there
please hi hello
"""
EN_STOPWORDS = frozenset(_EN_STOPWORDS_TEXT.split())
ZH_STOPWORDS = frozenset(
    "的 了 吗 呢 吧 啊 是 我 你 我们 在 和 有 怎么 怎样 如何 请问 一下 可以 能".split()
)

_jieba_lock = threading.Lock()


def is_cjk(char: str) -> bool:
    """A Chinese character (the ranges detect_lang counts)."""
    return bool(_CJK.fullmatch(char))


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


def cjk_count(text: str) -> int:
    return len(_CJK.findall(text))


def in_language(text: str, lang: Lang, source: str = "") -> bool:
    """True when text reads as lang: the Chinese share of its letters reaches ZH_SHARE for
    zh, stays under it for en (text without letters reads as either).

    source: the text that text translates. Words copied from it (product names, e-mail
    addresses: "我们接受 Visa、Mastercard") are not counted, and a text whose letters all
    come from it reads as neither language (an untranslated copy)."""
    letters = _own_letters(text, source)
    if not letters:
        return not any(c.isalpha() for c in text)
    share = sum(1 for c in letters if is_cjk(c)) / len(letters)
    return share >= ZH_SHARE if lang == "zh" else share < ZH_SHARE


def _own_letters(text: str, source: str) -> list[str]:
    """The letters of text outside the words (a Latin word, a run of Chinese characters)
    that also occur in source."""
    copied = source.lower()
    return [c for word in _WORD.findall(text)
            if not (copied and word.lower() in copied) for c in word if c.isalpha()]


def lang_named(value: object) -> Lang | None:
    """'zh' or 'en' when value names one of them (a file's lang column), else None."""
    return "zh" if value == "zh" else "en" if value == "en" else None


def detect_lang(text: str) -> Lang:
    """'zh' when Chinese characters carry the text, else 'en'."""
    cjk = len(_CJK.findall(text))
    latin = len(_LATIN_WORD.findall(text))
    return "zh" if cjk and cjk >= latin else "en"


_SENTENCE_END = re.compile(f"(?<=[。！？!?])\\s*|(?<=[.])\\s+(?=[A-Z0-9{CJK}])|\\s*\\n\\s*")


def nonempty_lines(text: str) -> tuple[str, ...]:
    """The text's lines, stripped, blank ones dropped (a form's one-per-line field)."""
    return tuple(line.strip() for line in (text or "").splitlines() if line.strip())


def sentences(text: str) -> list[str]:
    """The text's sentences as written, end punctuation kept: 'US$9.90' and 'e.g. a tent'
    stay whole, and so does a clause after a semicolon (it may hold the condition)."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def joined(lang: Lang, sentences: Iterable[str]) -> str:
    """Sentences (or parts of a text) in lang as one text: Chinese ones run on, English
    ones are spaced."""
    return ("" if lang == "zh" else " ").join(sentences)


def to_simplified(text: str) -> str:
    """Fold traditional Chinese characters to simplified (OpenCC t2s); other text unchanged.

    Both indexes see folded text, so a Hong Kong or Taiwan customer writing 退貨 finds 退货
    (on xsid's Chinese questions written in traditional characters: hit@1 0.40 -> 0.90).
    """
    return _t2s().convert(text) if _CJK.search(text) else text


@cache
def _t2s():
    from opencc import OpenCC

    return OpenCC("t2s")


def normalize(text: str) -> str:
    """Traditional folded to simplified, NFKC (full-width letters, digits, punctuation),
    lower-case, spaces squeezed."""
    return " ".join(unicodedata.normalize("NFKC", to_simplified(text)).lower().split())


@cache
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    with _jieba_lock:
        jieba.initialize()
        for term in SHOP_TERMS:
            jieba.add_word(term, freq=20000)
    return jieba


def words(text: str) -> list[str]:
    """jieba's words of text in order, every character kept: ''.join(words(t)) == t."""
    return list(_jieba().cut(text, HMM=False)) if _CJK.search(text) else [text]


def tokenize(text: str) -> list[str]:
    """BM25 tokens: jieba search-mode words and character bigrams for Chinese, words for Latin."""
    text = normalize(text)
    tokens: list[str] = []
    for run in _TOKEN_CHARS.findall(text):
        if _CJK.search(run):
            words = _jieba().lcut_for_search(run)
            tokens.extend(w for w in words if w.strip() and w not in ZH_STOPWORDS)
            chars = [c for c in run if _CJK.match(c)]
            tokens.extend(a + b for a, b in zip(chars, chars[1:], strict=False))
        elif run not in EN_STOPWORDS:
            tokens.append(_stem(run))
    return tokens


def _stem(word: str) -> str:
    """A tiny English suffix folding: returns/returned/returning -> return."""
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word
