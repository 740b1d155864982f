"""English typos read as the shop's words: "warrenty" as "warranty", "paypall" as "paypal".

Customers type fast. A misspelt word is a different token for BM25 and lands elsewhere in
the embedding ("how fast do you usualy awnser emails?" found a rental policy first). A
word is read as one of the shop's own words when it is in neither the knowledge base's
texts nor an English dictionary (pyspellchecker's) and one edit (a letter added, dropped,
changed, or two swapped) from a word the knowledge base uses, five letters or more. Real
words are never changed: without the dictionary "would" read as "mould" and "hikes" as
"bikes" in a shop selling bikes; and the correction is only ever a word the shop wrote, so
a misspelt word the shop never uses is left as typed.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from functools import cache

from kefu.types import Entry

MIN_LETTERS = 5  # four-letter words are one edit from too many others ("cost", "lost")
_WORD = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)*")  # "doesn't" is one word, not "doesn"


class Speller:
    """The knowledge base's English words, by every one-letter deletion of each (SymSpell):
    two words one edit apart share a deletion, so a typo's candidates are a few lookups."""

    def __init__(self, entries: Mapping[str, Entry]) -> None:
        self.source = entries  # the knowledge base hands out a new dict after each write
        self._counts = Counter(_folded(w) for entry in entries.values()
                               for w in _WORD.findall(_texts(entry)))
        self._by_deletion: dict[str, list[str]] = {}
        for word in sorted(self._counts):
            if len(word) >= MIN_LETTERS - 1:
                for key in _deletions(word):
                    self._by_deletion.setdefault(key, []).append(word)

    def __call__(self, text: str) -> str:
        """text with each misspelt English word replaced by the shop's word it stands for."""
        return _WORD.sub(lambda match: self._word(match.group()), text)

    def _known(self, word: str) -> bool:
        return word in self._counts or word in _dictionary()

    def _word(self, typed: str) -> str:
        word = _folded(typed)
        if len(word) < MIN_LETTERS or self._known(word) or (
                word.endswith("s") and self._known(word[:-1])):  # "lifes", "thats"
            return typed
        candidates = {c for key in _deletions(word) for c in self._by_deletion.get(key, ())
                      if _one_edit(word, c)}
        if not candidates:
            return typed
        return max(sorted(candidates), key=self._counts.__getitem__)


def _folded(word: str) -> str:
    """A word as the index and the dictionary hold it: lower case, a straight apostrophe."""
    return word.lower().replace("’", "'")


def _texts(entry: Entry) -> str:
    return " ".join((entry.question, *entry.alt_questions, entry.answer))


def _deletions(word: str) -> Iterable[str]:
    yield word
    for i in range(len(word)):
        yield word[:i] + word[i + 1:]


def _one_edit(a: str, b: str) -> bool:
    """Whether b is a letter added to, dropped from or changed in a, or two adjacent letters
    of a swapped."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        swapped = i + 1 < len(a) and a[i] == b[i + 1] and a[i + 1] == b[i]
        return a[i + 1:] == b[i + 1:] or (swapped and a[i + 2:] == b[i + 2:])
    return a[i + 1:] == b[i:] if len(a) > len(b) else a[i:] == b[i + 1:]


@cache
def _dictionary() -> frozenset[str]:
    """English words (about 160,000), loaded once per process on the first unknown word."""
    from spellchecker import SpellChecker

    return frozenset(SpellChecker(language="en", distance=1).word_frequency.dictionary)
