import hashlib
import json
from pathlib import Path

import pytest
from openpyxl import Workbook

from kefu.errors import IngestError
from kefu.knowledge_base.loaders import load_path

DATA = Path(__file__).parent / "data"


def _row_id(stem, question):
    return f"{stem}-{hashlib.sha1(question.encode()).hexdigest()[:8]}"


def test_csv_bad_rows_are_reported_with_line_and_good_rows_kept():
    result = load_path(DATA / "bad_rows.csv")
    assert [e.id for e in result.entries] == ["ok-1", "ok-2"]
    path = DATA / "bad_rows.csv"
    assert result.problems == [
        f"{path}:3: empty answer; row skipped",
        f"{path}:5: empty question; row skipped",
        f"{path}:6: duplicate id 'ok-1'; row skipped",
    ]


def test_csv_reads_alternatives_and_languages():
    entries = load_path(DATA / "faq.csv").entries
    assert [(e.id, e.lang) for e in entries][:4] == [
        ("t-en-ship", "en"), ("t-en-return", "en"), ("t-en-pay", "en"), ("t-zh-ship", "zh")]
    assert entries[0].alt_questions == ("When will my order arrive?",)
    assert entries[2].alt_questions == ()


def test_gbk_csv_with_chinese_headers(tmp_path):
    path = tmp_path / "faq.csv"
    path.write_bytes("问题,答案,相似问法\n包邮吗？,满99元包邮。,运费|邮费\n".encode("gbk"))
    [entry] = load_path(path).entries
    assert (entry.id, entry.question, entry.answer, entry.lang) == (
        _row_id("faq", "包邮吗？"), "包邮吗？", "满99元包邮。", "zh")
    assert entry.alt_questions == ("运费", "邮费")


def test_rows_without_ids_keep_their_id_when_moved_or_reanswered(tmp_path):
    path = tmp_path / "faq.csv"
    path.write_text("question,answer\nA?,1\nB?,2\n", encoding="utf-8")
    before = {e.question: e.id for e in load_path(path).entries}
    path.write_text("question,answer\nNew?,0\nB?,2\nA?,changed\n", encoding="utf-8")
    after = {e.question: e.id for e in load_path(path).entries}
    assert after["A?"] == before["A?"] and after["B?"] == before["B?"]


def test_xlsx_every_sheet_with_blank_rows(tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.append(["编号", "问题", "答案"])
    sheet.append([None, None, None])
    sheet.append(["a1", "可以开发票吗？", "可以。"])
    second = book.create_sheet("en")
    second.append(["id", "Question", "Answer"])
    second.append(["b1", "Do you ship abroad?", "Yes."])
    second.append(["b2", "No answer here", None])
    book.save(tmp_path / "faq.xlsx")
    result = load_path(tmp_path / "faq.xlsx")
    assert [(e.id, e.lang) for e in result.entries] == [("a1", "zh"), ("b1", "en")]
    assert result.problems == [f"{tmp_path / 'faq.xlsx'}:en!3: empty answer; row skipped"]


def test_xlsx_merged_category_cells_fill_every_row(tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.append(["分类", "问题", "答案"])
    sheet.append(["配送", "几天到？", "3天。"])
    sheet.append([None, "包邮吗？", "满99包邮。"])
    sheet.merge_cells("A2:A3")
    book.save(tmp_path / "faq.xlsx")
    entries = load_path(tmp_path / "faq.xlsx").entries
    assert [(e.question, e.category) for e in entries] == [
        ("几天到？", "配送"), ("包邮吗？", "配送")]


def test_jsonl_in_dataset_format_with_a_broken_line(tmp_path):
    path = tmp_path / "faq.jsonl"
    rows = [{"id": "x1", "question": "播放音乐", "answer": "Play music", "lang": "zh",
             "alt_questions": ["放首歌"]}]
    path.write_text(json.dumps(rows[0], ensure_ascii=False) + "\n{oops\n", encoding="utf-8")
    result = load_path(path)
    assert [(e.id, e.alt_questions) for e in result.entries] == [("x1", ("放首歌",))]
    assert result.problems[0].startswith(f"{path}:2: invalid JSON")


def test_markdown_faq_headings():
    entries = load_path(DATA / "faq_md.md").entries
    assert [(e.id, e.question, e.answer, e.lang) for e in entries] == [
        (_row_id("faq_md", "Do you have a physical store?"), "Do you have a physical store?",
         "No, we only sell online.", "en"),
        (_row_id("faq_md", "有实体店吗？"), "有实体店吗？", "没有，我们只在网上销售。", "zh"),
    ]


def test_markdown_document_becomes_chunks_with_headings():
    entries = load_path(DATA / "policy.md").entries
    assert [(e.id, e.kind, e.question) for e in entries] == [
        ("policy.md#1", "doc", "Warranty policy > Coverage"),
        ("policy.md#2", "doc", "Warranty policy > Claims"),
    ]


@pytest.mark.parametrize("name,message", [
    ("missing.csv", "no such file"),
    ("notes.rtf", "unsupported file type '.rtf'"),
    ("broken.pdf", "cannot read as a PDF"),
    ("empty.csv", r"empty file \(0 bytes\)"),
    ("junk.csv", "binary data, not a text file"),
    ("junk.docx", "cannot open as a Word document"),
])
def test_unreadable_inputs_raise_clear_errors(tmp_path, name, message):
    path = tmp_path / name
    contents = {"notes.rtf": b"{\\rtf1}", "broken.pdf": b"%PDF-1.4 truncated", "empty.csv": b"",
                "junk.csv": bytes(range(256)) * 4, "junk.docx": b"PK\x03\x04 not a zip"}
    if name in contents:
        path.write_bytes(contents[name])
    with pytest.raises(IngestError, match=message):
        load_path(path)


def test_jsonl_passages_become_documents(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text(
        '{"id": "d1", "title": "故宫", "text": "名称：故宫\\n门票：60", "lang": "zh"}\n'
        '{"id": "d1", "title": "again", "text": "duplicate"}\n', encoding="utf-8")
    result = load_path(path)
    assert [(e.id, e.kind, e.question, e.answer, e.lang) for e in result.entries] == [
        ("d1", "doc", "故宫", "名称：故宫\n门票：60", "zh")]
    assert result.problems == [f"{path}:2: duplicate id 'd1'; row skipped"]


def test_chinese_without_punctuation_is_split_between_words_never_inside_one():
    from kefu.knowledge_base.chunking import MAX_CHARS, chunk_plain
    from kefu.knowledge_base.text import words

    text = "七天无理由退货退款到账时间顺丰包邮电子发票和" * 57  # 1,197 characters, no punctuation
    chunks = chunk_plain(text)
    assert len(chunks) >= 3 and all(len(c) <= MAX_CHARS for c in chunks)
    boundaries, position = {0}, 0
    for word in words(text):
        position += len(word)
        boundaries.add(position)
    for chunk in chunks:
        start = text.index(chunk)  # the pattern repeats: any occurrence shows alignment
        assert start in boundaries and start + len(chunk) in boundaries, chunk[:12]
    assert chunk_plain("第一段。\n\n第二段") == ["第一段。\n\n第二段"]


def test_each_section_of_a_bilingual_document_has_its_own_language(tmp_path):
    path = tmp_path / "policy.md"
    path.write_text("# Shipping\n\nOrders leave our Ningbo warehouse the same day.\n\n"
                    "# 配送\n\n下午三点前的订单当天从宁波仓库发出。\n\n# Sizes\n\n| 10 | 20 |\n",
                    encoding="utf-8")
    assert [(e.question, e.lang) for e in load_path(path).entries] == [
        ("Shipping", "en"), ("配送", "zh"), ("Sizes", "zh")]  # few letters: the document's
