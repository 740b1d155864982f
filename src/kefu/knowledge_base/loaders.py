"""Read FAQ files (CSV, XLSX, JSON/JSONL, Markdown Q&A) and documents (PDF, DOCX, HTML,
Markdown, TXT).

A bad row is reported as 'file:line: reason' and skipped; the good rows are kept.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kefu.errors import IngestError
from kefu.knowledge_base.chunking import chunk_markdown, chunk_plain, chunk_text
from kefu.knowledge_base.documents import docx_markdown, html_markdown, pdf_pages
from kefu.knowledge_base.text import detect_lang, lang_named
from kefu.types import Entry, Lang

FAQ_SUFFIXES = (".csv", ".xlsx", ".json", ".jsonl")
DOC_SUFFIXES = (".md", ".markdown", ".txt", ".pdf", ".docx", ".html", ".htm")

MAX_ANSWER_CHARS = 20_000
MIN_LETTERS_FOR_LANG = 20  # a document chunk with fewer takes the document's language
# Header names shop owners use, in English and Chinese.
COLUMN_ALIASES = {
    "id": ("id", "编号", "序号", "faq_id"),
    "question": ("question", "q", "问题", "标准问题", "问"),
    "answer": ("answer", "a", "答案", "回答", "答"),
    "lang": ("lang", "language", "语言"),
    "category": ("category", "分类", "类别"),
    "alt_questions": ("alt_questions", "similar questions", "similar", "相似问法", "相似问题"),
    "title": ("title", "标题"),
    "text": ("text", "正文", "内容"),
}
_ALT_SPLIT = re.compile(r"\s*(?:\n|\||；|;)\s*")
_MD_FAQ_HEADING = re.compile(r"^#{1,6}\s*(?:q\s*[:：]|问\s*[:：]|Q\s*[:：])\s*(.+)$", re.I)


@dataclass
class LoadResult:
    entries: list[Entry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def load_path(path: Path) -> LoadResult:
    """Load one FAQ or document file; IngestError if the file cannot be read at all."""
    if not path.exists():
        raise IngestError(f"{path}: no such file or directory")
    if path.is_file() and path.stat().st_size == 0:
        raise IngestError(f"{path}: empty file (0 bytes)")
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return _document(path, [
            (f"p.{page}", body, f"p{page}.{i}")
            for page, text in pdf_pages(path)
            for i, body in enumerate(chunk_plain(text), start=1)])
    if suffix == ".docx":
        return _markdown_document(path, docx_markdown(path))
    if suffix in (".html", ".htm"):
        return _markdown_document(path, html_markdown(path, _read_text(path)))
    if suffix == ".csv":
        return _load_rows(path, _csv_rows(path))
    if suffix == ".xlsx":
        return _load_rows(path, _xlsx_rows(path))
    if suffix in (".json", ".jsonl"):
        return _load_rows(path, _json_rows(path))
    if suffix in DOC_SUFFIXES:
        text = _read_text(path)
        if suffix != ".txt" and any(_MD_FAQ_HEADING.match(ln.strip()) for ln in text.splitlines()):
            faq = _markdown_faq(path, text)
            if faq.entries:
                return faq
        if suffix == ".txt":
            return _document(path, [(title, body, str(i)) for i, (title, body)
                                    in enumerate(chunk_text(text), start=1)])
        return _markdown_document(path, text)
    supported = ", ".join(FAQ_SUFFIXES + DOC_SUFFIXES)
    raise IngestError(f"{path}: unsupported file type {suffix!r}; kefu imports {supported}")


def _stable_id(path: Path, question: str) -> str:
    """An id for a row without one: file and question, so moving rows or editing the answer
    keeps it (the entry is updated, not re-added)."""
    return f"{path.stem}-{hashlib.sha1(question.encode()).hexdigest()[:8]}"


def _markdown_document(path: Path, text: str) -> LoadResult:
    return _document(path, [(heading, body, str(i)) for i, (heading, body)
                            in enumerate(chunk_markdown(text), start=1)])


def _document(path: Path, chunks: list[tuple[str, str, str]]) -> LoadResult:
    """One doc entry per (heading or page, text, position) chunk, cited as file#position,
    in the language of its text (a shop's policy may have an English and a Chinese half);
    a chunk of few letters (a table of figures) in the document's."""
    whole = detect_lang(" ".join(body for _, body, _ in chunks[:20]))
    entries = [Entry(id=f"{path.name}#{position}", question=heading, answer=body,
                     lang=_chunk_lang(f"{heading} {body}", whole), kind="doc",
                     source=path.name) for heading, body, position in chunks]
    return LoadResult(entries, [] if entries else [
        f"{path}: no text found (a scanned PDF needs OCR first)" if path.suffix.lower() == ".pdf"
        else f"{path}: no text found"])


def _chunk_lang(text: str, document: Lang) -> Lang:
    letters = sum(1 for char in text if char.isalpha())
    return detect_lang(text) if letters >= MIN_LETTERS_FOR_LANG else document


def iter_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Expand directories into the importable files below them, sorted."""
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and child.suffix.lower() in FAQ_SUFFIXES + DOC_SUFFIXES:
                    yield child
        else:
            yield path


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text" export
        return data.decode("utf-16")
    if b"\x00" in data[:8192]:
        raise IngestError(f"{path}: binary data, not a text file (is it really "
                          f"{path.suffix or 'text'}?)")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise IngestError(f"{path}: not UTF-8 or GB18030 text; save it as UTF-8 and try again")


def _csv_rows(path: Path) -> Iterator[tuple[int, Mapping[str, object]]]:
    csv.field_size_limit(1 << 30)  # an oversized cell is reported by _load_rows, not fatal
    reader = csv.DictReader(io.StringIO(_read_text(path)))
    try:
        for row in reader:
            yield reader.line_num, row
    except csv.Error as exc:
        yield reader.line_num, {"__error__": f"malformed CSV ({exc}); the rest of the file"}


def _xlsx_rows(path: Path) -> Iterator[tuple[int | str, Mapping[str, object]]]:
    """Rows of every sheet, cited as 'sheet!row'; a merged cell's value fills its whole range."""
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a broken file
        raise IngestError(f"{path}: cannot open as an Excel workbook ({exc})") from exc
    for sheet in book.worksheets:
        for merged in list(sheet.merged_cells.ranges):
            value = sheet.cell(merged.min_row, merged.min_col).value
            sheet.unmerge_cells(str(merged))
            for row in sheet.iter_rows(min_row=merged.min_row, max_row=merged.max_row,
                                       min_col=merged.min_col, max_col=merged.max_col):
                for cell in row:
                    cell.value = value
        header: list[str] | None = None
        for line, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            if all(v is None or str(v).strip() == "" for v in values):
                continue
            if header is None:
                header = [str(v or "").strip() for v in values]
                continue
            yield f"{sheet.title}!{line}", {h: v for h, v in zip(header, values, strict=False) if h}
    book.close()


def _json_rows(path: Path) -> Iterator[tuple[int, Mapping[str, object]]]:
    text = _read_text(path)
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise IngestError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from exc
        rows = data if isinstance(data, list) else data.get("entries", []) if isinstance(
            data, dict) else []
        for i, row in enumerate(rows, start=1):
            yield i, row if isinstance(row, dict) else {}
        return
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as exc:
            yield line, {"__error__": f"invalid JSON ({exc.msg})"}
            continue
        yield line, row if isinstance(row, dict) else {"__error__": "not a JSON object"}


def _canonical(row: Mapping[str, object]) -> dict[str, object]:
    lowered = {str(k).strip().lower(): v for k, v in row.items() if k is not None}
    out: dict[str, object] = {}
    for name, aliases in COLUMN_ALIASES.items():
        for alias in aliases:
            if alias in lowered and lowered[alias] not in (None, ""):
                out[name] = lowered[alias]
                break
    return out


def _load_rows(path: Path, rows: Iterable[tuple[int | str, Mapping[str, object]]]
               ) -> LoadResult:
    result = LoadResult()
    seen: set[str] = set()
    for line, raw in rows:
        where = f"{path}:{line}"
        if "__error__" in raw:
            result.problems.append(f"{where}: {raw['__error__']}; row skipped")
            continue
        row = _canonical(raw)
        if "question" not in row and "text" in row:
            entry = _document_row(path, line, row)
            if entry.id in seen:
                result.problems.append(f"{where}: duplicate id {entry.id!r}; row skipped")
            else:
                seen.add(entry.id)
                result.entries.append(entry)
            continue
        question = str(row.get("question", "")).strip()
        answer = str(row.get("answer", "")).strip()
        if not question:
            result.problems.append(f"{where}: empty question; row skipped")
            continue
        if not answer:
            result.problems.append(f"{where}: empty answer; row skipped")
            continue
        if len(answer) > MAX_ANSWER_CHARS or len(question) > MAX_ANSWER_CHARS:
            result.problems.append(
                f"{where}: a cell of {max(len(answer), len(question)):,} characters (FAQ cells "
                f"hold up to {MAX_ANSWER_CHARS:,}; put long text in a document); row skipped")
            continue
        entry_id = str(row.get("id", "")).strip() or _stable_id(path, question)
        if entry_id in seen:
            result.problems.append(f"{where}: duplicate id {entry_id!r}; row skipped")
            continue
        named = str(row.get("lang", "")).strip().lower() or detect_lang(question)
        lang = lang_named(named)
        if lang is None:
            result.problems.append(f"{where}: unknown lang {named!r} (use zh or en); row skipped")
            continue
        alts = row.get("alt_questions", ())
        if isinstance(alts, str):
            alts = [a for a in _ALT_SPLIT.split(alts) if a]
        elif not isinstance(alts, list | tuple):
            alts = ()
        seen.add(entry_id)
        result.entries.append(
            Entry(
                id=entry_id, question=question, answer=answer, lang=lang,
                category=str(row.get("category", "")).strip(),
                alt_questions=tuple(str(a).strip() for a in alts if str(a).strip()),
                source=path.name,
            )
        )
    return result


def _document_row(path: Path, line: int | str, row: Mapping[str, object]) -> Entry:
    """A passage given as a row with `title` and `text` (the datasets' docs.jsonl)."""
    text = str(row["text"]).strip()
    title = str(row.get("title", "")).strip() or text[:40]
    lang = lang_named(str(row.get("lang", "")).strip().lower()) or detect_lang(text)
    return Entry(id=str(row.get("id", "")).strip() or f"{path.stem}-{line}", question=title,
                 answer=text, lang=lang, kind="doc", source=path.name)


def _markdown_faq(path: Path, text: str) -> LoadResult:
    """'## Q: question' (or '## 问：') headings, each followed by its answer."""
    result = LoadResult()
    question: str | None = None
    line_no = 0
    body: list[str] = []

    def flush() -> None:
        if question is None:
            return
        answer = "\n".join(body).strip()
        if not answer:
            result.problems.append(f"{path}:{line_no}: empty answer; entry skipped")
            return
        result.entries.append(Entry(
            id=_stable_id(path, question), question=question, answer=answer,
            lang=detect_lang(question), source=path.name))

    for number, line in enumerate(text.splitlines(), start=1):
        match = _MD_FAQ_HEADING.match(line.strip())
        if match:
            flush()
            question, line_no, body = match.group(1).strip(), number, []
        elif question is not None and not line.startswith("#"):
            body.append(line)
    flush()
    return result
