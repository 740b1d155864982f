"""Documents (PDF, DOCX, HTML) as (location, text) sections, through well-kept libraries.

PDF pages come from pypdf's text layer ("p.2"); DOCX (python-docx) and HTML (BeautifulSoup)
are turned into Markdown with their headings and tables, then chunked like Markdown, so
every chunk keeps its heading path.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from kefu.errors import IngestError

_SKIP_HTML = ("script", "style", "noscript", "nav", "header", "footer", "aside", "form",
              "template", "svg", "iframe")


def pdf_pages(path: Path) -> list[tuple[int, str]]:
    """(page number, text) for every page with a text layer."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise IngestError(f"{path}: the PDF is password-protected; save an unprotected "
                              "copy and import that")
        return [(number, page.extract_text() or "")
                for number, page in enumerate(reader.pages, start=1)]
    except IngestError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise IngestError(f"{path}: cannot read as a PDF ({exc})") from exc


def docx_markdown(path: Path) -> str:
    """Headings as Markdown headings, paragraphs and table rows in document order."""
    from docx import Document
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = Document(str(path))
    except Exception as exc:  # not a zip, a zip without a document, broken XML: all unreadable
        raise IngestError(f"{path}: cannot open as a Word document ({exc})") from exc
    lines: list[str] = []
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            text = block.text.strip()
            style = (block.style.name if block.style is not None else "") or ""
            if text and style.lower().startswith(("heading", "title", "标题")):
                level = int(style[-1]) if style[-1].isdigit() else 1
                lines.append(f"{'#' * min(level, 3)} {text}")
            elif text:
                lines.append(text)
        elif isinstance(block, Table):
            lines += [_table_row(cell.text for cell in row.cells) for row in block.rows]
        lines.append("")
    return "\n".join(lines)


def html_markdown(path: Path, text: str) -> str:
    """The page's main content (main/article when marked, menus and scripts dropped)."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text, "html.parser")
    for tag in soup(_SKIP_HTML):
        tag.decompose()
    root = soup.find("main") or soup.find("article") or soup.body or soup
    lines: list[str] = []
    for element in root.find_all(["h1", "h2", "h3", "h4", "p", "li", "tr", "pre", "dd", "dt"]):
        if element.find_parent(["li", "tr", "p"]) not in (None, element):
            continue  # nested inside a block already taken whole
        if element.name == "tr":
            lines.append(_table_row(c.get_text(" ", strip=True)
                                    for c in element.find_all(["td", "th"])))
            continue
        content = element.get_text(" ", strip=True)
        if not content:
            continue
        if element.name in ("h1", "h2", "h3", "h4"):
            lines += ["", f"{'#' * min(int(element.name[1]), 3)} {content}"]
        else:
            lines.append(content)
    if not lines:  # a page without block tags: its plain text
        lines = [root.get_text("\n", strip=True)]
    return "\n".join(lines)


def _table_row(cells: Iterable[str]) -> str:
    return " | ".join(c.strip() for c in cells if c and c.strip())
