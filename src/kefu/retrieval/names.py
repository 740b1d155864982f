"""Documents a question names: "北京亚太花园酒店的电话?" names the document titled so.

A customer who names a hotel, a product or a policy by its title wants that document, yet
neither signal of the hybrid score sees it: the title is a few words of a long passage for
the embedding, and BM25 normalised over a long question gives the rare name little weight
(on crosswoz, where every follow-up leans on a hotel or restaurant named a turn earlier,
hit@1 was 0.03). A title found verbatim in the question, after the usual folding, marks
the document named.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from kefu.knowledge_base.text import has_cjk, is_cjk, normalize
from kefu.types import Entry

MIN_CJK = 2  # 天坛 and 故宫 are names
MIN_WORDS = 2  # "Warranty" is a topic; "Lumi Lamp" a name
MAX_NAME = 40
_BRACKETED = re.compile(r"\s*[（(][^）)]*[）)]\s*")


def names_of(entry: Entry) -> set[str]:
    """The names a document goes by: its title, with and without a bracketed branch or
    edition ("汉庭酒店(北京花园桥店)" also as "汉庭酒店"). A heading path ("Policy >
    Warranty") names nothing: its last part is a topic word, and customers do not type
    the whole path."""
    if entry.kind == "faq" or " > " in entry.question:
        return set()
    names = set()
    for name in (normalize(entry.question), normalize(_BRACKETED.sub(" ", entry.question))):
        long_enough = (len(name) >= MIN_CJK if has_cjk(name)
                       else len(name.split()) >= MIN_WORDS)
        if long_enough and len(name) <= MAX_NAME:
            names.add(name)
    return names


class NameIndex:
    """Document names by their first two characters, for a scan of the question."""

    def __init__(self, entries: Mapping[str, Entry]) -> None:
        self.source = entries  # the knowledge base hands out a new dict after each write
        self._by_start: dict[str, list[tuple[str, str]]] = {}
        for entry in entries.values():
            for name in sorted(names_of(entry)):  # the same order in every process
                self._by_start.setdefault(name[:2], []).append((name, entry.id))

    def named_in(self, text: str) -> set[str]:
        """The ids of documents whose name the text contains (Latin names as whole words)."""
        return {entry_id for _, entry_id in self._found(text)}

    def names_in(self, text: str) -> list[str]:
        """The names the text mentions, in order, the longest at each place."""
        names: list[str] = []
        for name, _ in self._found(text):
            if not any(name in other for other in names):
                names = [n for n in names if n not in name] + [name]
        return names

    def _found(self, text: str) -> list[tuple[str, str]]:
        text = normalize(text)
        found = []
        for start in range(len(text) - 1):
            for name, entry_id in self._by_start.get(text[start:start + 2], ()):
                if text.startswith(name, start) and _whole(text, start, len(name)):
                    found.append((name, entry_id))
        return found


def _whole(text: str, start: int, length: int) -> bool:
    """A Latin name must not start or end inside a word; CJK has no word boundaries."""
    before = text[start - 1] if start else " "
    after = text[start + length] if start + length < len(text) else " "
    return not ((before.isalnum() and not is_cjk(before) and not is_cjk(text[start]))
                or (after.isalnum() and not is_cjk(after)
                    and not is_cjk(text[start + length - 1])))
