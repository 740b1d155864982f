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
from dataclasses import dataclass

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
        self._by_start: dict[str, list[_Name]] = {}
        for entry in entries.values():
            title = normalize(entry.question)
            for name in sorted(names_of(entry)):  # the same order in every process
                self._by_start.setdefault(name[:2], []).append(
                    _Name(name, entry.id, name == title))

    def named_in(self, text: str) -> set[str]:
        """The ids of documents the text names (Latin names as whole words). A name counts
        where no longer name found in the text covers it, and a document's title outranks
        the same words as another's name without its branch: "护国寺小吃店(护国寺总店)" names
        that branch, not also 护国寺小吃店(广外店), and "眉州东坡" the document of that title,
        not 眉州东坡(绿地店); "护国寺小吃店" alone names every branch. Without this, every
        branch of a chain took the name's weight and the embedding chose among them
        (crosswoz, docs/retrieval.md)."""
        found = self._found(text)
        spans = {(start, start + len(n.name)) for start, n in found}
        kept = [(start, n) for start, n in found
                if not any(s <= start and start + len(n.name) <= e
                           and e - s > len(n.name) for s, e in spans)]
        titles = {(start, n.name) for start, n in kept if n.is_title}
        return {n.entry_id for start, n in kept if n.is_title or (start, n.name) not in titles}

    def names_in(self, text: str) -> list[str]:
        """The names the text mentions, in order, the longest at each place."""
        names: list[str] = []
        for _, found in self._found(text):
            if not any(found.name in other for other in names):
                names = [n for n in names if n not in found.name] + [found.name]
        return names

    def _found(self, text: str) -> list[tuple[int, _Name]]:
        """(where in the folded text, the name found there), in order."""
        text = normalize(text)
        found = []
        for start in range(len(text) - 1):
            for name in self._by_start.get(text[start:start + 2], ()):
                if text.startswith(name.name, start) and _whole(text, start, len(name.name)):
                    found.append((start, name))
        return found


@dataclass(frozen=True)
class _Name:
    name: str  # folded
    entry_id: str
    is_title: bool  # the document's whole title, not its title without the branch


def _whole(text: str, start: int, length: int) -> bool:
    """A Latin name must not start or end inside a word; CJK has no word boundaries."""
    before = text[start - 1] if start else " "
    after = text[start + length] if start + length < len(text) else " "
    return not ((before.isalnum() and not is_cjk(before) and not is_cjk(text[start]))
                or (after.isalnum() and not is_cjk(after)
                    and not is_cjk(text[start + length - 1])))
