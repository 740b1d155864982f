"""Chinese-aware chunks for documents: split on headings, paragraphs and sentence ends.

When a stretch of Chinese has no punctuation to split at, the split falls between two jieba
words (marked with a zero-width space that chunks never keep), never inside one.
"""

from __future__ import annotations

import re

from langchain_text_splitters import MarkdownHeaderTextSplitter, RecursiveCharacterTextSplitter

from kefu.knowledge_base.text import CJK, words
from kefu.types import Entry

MAX_CHARS = 400
OVERLAP = 60
LONG_ANSWER_CHARS = 800  # an FAQ answer longer than this is also indexed passage by passage
_WORD_BREAK = "\u200b"
_CJK_RUN = re.compile(f"[{CJK}]{{2,}}")
_SEPARATORS = ["\n\n", "\n", "。", "！", "？", "；", ". ", "! ", "? ", "; ", "，", ", ", " ",
               _WORD_BREAK, ""]


def _length(text: str) -> int:
    return len(text) - text.count(_WORD_BREAK)


def _split(text: str) -> list[str]:
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=MAX_CHARS, chunk_overlap=OVERLAP, separators=_SEPARATORS,
        keep_separator="end", length_function=_length,
    )
    marked = _CJK_RUN.sub(lambda run: _WORD_BREAK.join(words(run.group())),
                          text.replace(_WORD_BREAK, ""))
    chunks = (chunk.replace(_WORD_BREAK, "").strip() for chunk in splitter.split_text(marked))
    return [chunk for chunk in chunks if chunk]


def chunk_markdown(text: str) -> list[tuple[str, str]]:
    """(heading path, body) pairs, one or more per section."""
    headers = [("#", "h1"), ("##", "h2"), ("###", "h3")]
    sections = MarkdownHeaderTextSplitter(headers, strip_headers=True).split_text(text)
    chunks: list[tuple[str, str]] = []
    for section in sections:
        heading = " > ".join(section.metadata[k] for k in ("h1", "h2", "h3")
                             if k in section.metadata)
        chunks += [(heading, body) for body in _split(section.page_content)]
    return chunks


def chunk_text(text: str) -> list[tuple[str, str]]:
    """Plain text: the first line names every chunk."""
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    title = re.sub(r"\s+", " ", first)[:80]
    return [(title, body) for body in chunk_plain(text)]


def chunk_plain(text: str) -> list[str]:
    """Text without headings (a PDF page) in overlapping chunks."""
    return _split(text)


def reads_as_document(entry: Entry) -> bool:
    """A document section, or an FAQ answer long enough to be indexed passage by passage (a
    shop's whole terms in one cell): retrieval scores it by the passage that matches, and
    the customer gets the sentences of it the LLM picks, never the whole text."""
    return entry.kind == "doc" or len(entry.answer) > LONG_ANSWER_CHARS


def passages(answer: str) -> list[str]:
    """An FAQ answer as retrieval indexes it: whole, or a long one (a shop's full warranty
    terms pasted into one cell) in overlapping passages, so the part that answers a
    question is found and is what the ladder shows or translates."""
    return [answer] if len(answer) <= LONG_ANSWER_CHARS else chunk_plain(answer)
