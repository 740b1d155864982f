"""Chinese-aware chunks for documents: split on headings, paragraphs and sentence ends."""

from __future__ import annotations

import re

from langchain_text_splitters import MarkdownHeaderTextSplitter, RecursiveCharacterTextSplitter

MAX_CHARS = 400
OVERLAP = 60
_SEPARATORS = ["\n\n", "\n", "。", "！", "？", "；", ". ", "! ", "? ", "; ", "，", ", ", " ", ""]


def _splitter() -> RecursiveCharacterTextSplitter:
    return RecursiveCharacterTextSplitter(
        chunk_size=MAX_CHARS, chunk_overlap=OVERLAP, separators=_SEPARATORS,
        keep_separator="end",
    )


def chunk_markdown(text: str) -> list[tuple[str, str]]:
    """(heading path, body) pairs, one or more per section."""
    headers = [("#", "h1"), ("##", "h2"), ("###", "h3")]
    sections = MarkdownHeaderTextSplitter(headers, strip_headers=True).split_text(text)
    splitter = _splitter()
    chunks: list[tuple[str, str]] = []
    for section in sections:
        heading = " > ".join(section.metadata[k] for k in ("h1", "h2", "h3")
                             if k in section.metadata)
        for body in splitter.split_text(section.page_content):
            if body.strip():
                chunks.append((heading, body.strip()))
    return chunks


def chunk_text(text: str) -> list[tuple[str, str]]:
    """Plain text: the first line names every chunk."""
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    title = re.sub(r"\s+", " ", first)[:80]
    return [(title, body) for body in chunk_plain(text)]


def chunk_plain(text: str) -> list[str]:
    """Text without headings (a PDF page) in overlapping chunks."""
    return [body.strip() for body in _splitter().split_text(text) if body.strip()]
