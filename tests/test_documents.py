"""PDF, DOCX and HTML documents, broken inputs, and generated rows the loaders must survive."""

import csv
import json
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kefu.errors import IngestError
from kefu.knowledge_base.loaders import load_path


def _pdf(path, pages, password=None):
    from pypdf import PdfReader, PdfWriter
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    sheet = canvas.Canvas(str(path))
    for text in pages:
        sheet.setFont("STSong-Light", 12)
        sheet.drawString(72, 720, text)
        sheet.showPage()
    sheet.save()
    if password:
        writer = PdfWriter(clone_from=PdfReader(path))
        writer.encrypt(password)
        writer.write(path)


def test_pdf_pages_become_chunks_cited_by_page(tmp_path):
    path = tmp_path / "退货政策.pdf"
    _pdf(path, ["Shipping: orders leave within 48 hours.", "签收后七天内可以无理由退货。"])
    result = load_path(path)
    assert [(e.id, e.question, e.kind) for e in result.entries] == [
        ("退货政策.pdf#p1.1", "p.1", "doc"), ("退货政策.pdf#p2.1", "p.2", "doc")]
    assert result.entries[1].answer == "签收后七天内可以无理由退货。"
    assert result.entries[1].source == "退货政策.pdf"


def test_password_protected_and_image_only_pdfs_are_explained(tmp_path):
    locked = tmp_path / "locked.pdf"
    _pdf(locked, ["secret"], password="pw")
    with pytest.raises(IngestError, match="password-protected"):
        load_path(locked)
    blank = tmp_path / "scan.pdf"
    _pdf(blank, [""])
    assert load_path(blank).problems == [f"{blank}: no text found (a scanned PDF needs OCR first)"]


def test_docx_keeps_headings_and_tables(tmp_path):
    from docx import Document

    document = Document()
    document.add_heading("Returns", level=1)
    document.add_paragraph("Unused items can be returned within 30 days.")
    document.add_heading("Fees", level=2)
    table = document.add_table(rows=2, cols=2)
    cells = [("Region", "Fee"), ("Hong Kong", "HK$40")]
    for row, (region, fee) in zip(table.rows, cells, strict=True):
        row.cells[0].text, row.cells[1].text = region, fee
    path = tmp_path / "policy.docx"
    document.save(path)
    result = load_path(path)
    assert [(e.id, e.question, e.answer) for e in result.entries] == [
        ("policy.docx#1", "Returns", "Unused items can be returned within 30 days."),
        ("policy.docx#2", "Returns > Fees", "Region | Fee\nHong Kong | HK$40"),
    ]


def test_html_takes_the_main_content_not_the_menus(tmp_path):
    path = tmp_path / "help.html"
    path.write_text(
        "<html><head><style>p{color:red}</style><script>var menu=1;</script></head><body>"
        "<nav><ul><li>Home</li><li>Cart</li></ul></nav>"
        "<main><h1>配送说明</h1><p>下单后<b>48小时</b>内发货。</p>"
        "<h2>运费</h2><table><tr><td>香港</td><td>40元</td></tr></table></main>"
        "<footer>© Lumi Home</footer></body></html>", encoding="utf-8")
    result = load_path(path)
    assert [(e.question, e.answer) for e in result.entries] == [
        ("配送说明", "下单后 48小时 内发货。"), ("配送说明 > 运费", "香港 | 40元")]
    text = " ".join(e.answer for e in result.entries)
    assert "Home" not in text and "Lumi" not in text and "menu" not in text


def test_a_huge_cell_is_reported_and_the_other_rows_kept(tmp_path):
    path = tmp_path / "faq.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["question", "answer"])
        writer.writerow(["Big?", "x" * 5_000_000])
        writer.writerow(["Small?", "Yes."])
    result = load_path(path)
    assert [e.question for e in result.entries] == ["Small?"]
    assert result.problems == [f"{path}:2: a cell of 5,000,000 characters (FAQ cells hold up "
                               "to 20,000; put long text in a document); row skipped"]


_cell = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)


LOADER_FUZZ = {"deadline": None, "suppress_health_check": [HealthCheck.function_scoped_fixture]}


@settings(max_examples=60, **LOADER_FUZZ)
@given(rows=st.lists(st.tuples(_cell, _cell, st.sampled_from(["", "zh", "en", "fr"])),
                     max_size=8))
def test_generated_csv_and_jsonl_rows_never_crash_the_loaders(tmp_path, rows):
    with (tmp_path / "gen.csv").open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["question", "answer", "lang"])
        writer.writerows(rows)
    (tmp_path / "gen.jsonl").write_text("\n".join(
        json.dumps({"question": q, "answer": a, "lang": lang}) for q, a, lang in rows) + "\n{",
        encoding="utf-8")
    for name in ("gen.csv", "gen.jsonl"):
        try:
            result = load_path(tmp_path / name)
        except IngestError:
            continue  # a clear error for the whole file is a fine outcome
        assert all(e.question.strip() and e.answer.strip() for e in result.entries)
        assert len(result.entries) + len(result.problems) >= 1 or not rows


@settings(max_examples=40, **LOADER_FUZZ)
@given(data=st.binary(max_size=600),
       suffix=st.sampled_from([".csv", ".jsonl", ".json", ".md", ".txt", ".html", ".xlsx",
                               ".pdf", ".docx"]))
def test_arbitrary_bytes_give_entries_or_a_clear_error(tmp_path, data, suffix):
    path = tmp_path / f"junk{suffix}"
    path.write_bytes(data)
    try:
        result = load_path(path)
    except IngestError as exc:
        assert str(path) in str(exc)
    else:
        assert all(set(e.id) - set(string.whitespace) for e in result.entries)
