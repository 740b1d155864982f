"""Retrieval latency on a 10k-entry knowledge base, with ratios to a dense-only query.

    python benchmarks/scale.py [--data ../shared/datasets] [--entries 10000] [--queries 300]
                               [--home ~/.kefu/bench-scale] [--out benchmarks/results/scale.json]

Builds (once; later runs reuse it) a bilingual knowledge base of real customer-style texts
from the shared datasets: every intent query of clinc150, banking77 and xsid becomes an FAQ
entry whose answer is its intent's answer, out-of-scope queries become entries with a polite
refusal, cmrc2018 questions become entries with their gold answer, and cmrc2018/crosswoz
documents become document entries (about 12k texts; the first 10k after a seeded shuffle).
Then it times, in the same run and on the same questions:

    embed    the query embedding alone (e5, one text)
    dense    embedding + the Chroma nearest-neighbour query (what a dense-only system does)
    bm25     the jieba BM25 search alone (tokenising included)
    hybrid   kefu's full Retriever.search (dense + BM25 candidates, rescored and fused)

It also measures ingest against its limit, the embedder: the raw embedder's throughput on
the texts of the first --ratio-entries entries (1,000 and 10,000), and a fresh knowledge
base ingesting those same entries (SQLite + Chroma + BM25 included), batch by batch in turn,
as entries/s and their ratio; the same for a --pdf-pages (100) page Chinese PDF written
with reportlab, in pages/s (PDF parsing included); the peak resident memory of the run; and
the on-disk size per 1,000 entries.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

from common import read_jsonl, write_results
from tqdm import tqdm

from kefu.config import load_settings
from kefu.evals.metrics import percentile
from kefu.knowledge_base.store import EMBED_BATCH, indexed_texts, open_knowledge_base
from kefu.knowledge_base.text import detect_lang, tokenize
from kefu.retrieval.hybrid import Retriever
from kefu.types import Entry

INTENT_SETS = ("clinc150", "banking77", "xsid")
DOC_SETS = ("cmrc2018", "crosswoz")


def corpus(data: Path, limit: int) -> tuple[list[Entry], list[str]]:
    """Up to `limit` entries, and held-apart question texts to time with."""
    entries: list[Entry] = []
    probes: list[str] = []
    for name in INTENT_SETS:
        answers = {row["id"]: row for row in read_jsonl(data / name / "faq.jsonl")}
        probes += [row["question"] for row in answers.values()]
        for row in read_jsonl(data / name / "queries.jsonl"):
            gold = answers.get(row["gold"][0]) if row.get("gold") else None
            if gold:
                entries.append(Entry(id=f"{name}-q-{row['id']}", question=row["query"],
                                     answer=gold["answer"], lang=detect_lang(row["query"]),
                                     category=gold.get("category", "")))
        for row in read_jsonl(data / name / "oos.jsonl"):  # off-topic questions a shop logged
            entries.append(Entry(id=f"{name}-o-{row['id']}", question=row["query"],
                                 answer="Sorry, we cannot help with that here.",
                                 lang=detect_lang(row["query"])))
    for row in read_jsonl(data / "cmrc2018" / "queries.jsonl"):  # reading questions with answers
        entries.append(Entry(id=f"cmrc-q-{row['id']}", question=row["query"],
                             answer=row["answers"][0], lang="zh"))
    for name in DOC_SETS:
        for row in read_jsonl(data / name / "docs.jsonl"):
            text = row["text"][:600]
            entries.append(Entry(id=f"{name}-d-{row['id']}", question=row.get("title", ""),
                                 answer=text, lang=detect_lang(text), kind="doc"))
    probes += [row["text"][:60] for row in read_jsonl(data / "crosswoz" / "docs.jsonl")][:200]
    random.Random(20240531).shuffle(entries)
    return entries[:limit], probes


def ingest_ratio(entries: list[Entry], embedder) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Raw embedder entries/s vs a fresh knowledge base's ingest entries/s, same entries.

    The two are interleaved batch by batch (embed a batch raw, then ingest it), so that
    anything else running on the machine slows both alike."""
    raw_s = ingest_s = 0.0
    with tempfile.TemporaryDirectory(prefix="kefu-scale-") as home:
        kb = open_knowledge_base(load_settings(environ={"KEFU_HOME": home}),
                                 f"ingest-{len(entries)}", embedder)
        for i in tqdm(range(0, len(entries), EMBED_BATCH), desc=f"ingest vs raw, "
                      f"{len(entries)} entries", unit="batch"):
            batch = entries[i:i + EMBED_BATCH]
            start = time.perf_counter()
            embedder.embed_passages([t for e in batch for t in indexed_texts(e)])
            raw_s += time.perf_counter() - start
            start = time.perf_counter()
            kb.ingest(batch)
            ingest_s += time.perf_counter() - start
        kb.close()
        size = sum(f.stat().st_size for f in Path(home).rglob("*") if f.is_file())
    raw, ingest = len(entries) / raw_s, len(entries) / ingest_s
    return {"entries": len(entries), "raw_embedder_per_s": round(raw, 1),
            "ingest_per_s": round(ingest, 1), "ratio": round(ingest / raw, 3),
            "disk_mb_per_1k": round(size / 2**20 * 1000 / len(entries), 1)}


def pdf_ratio(texts: list[str], embedder) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """A PDF with one text per page (written with reportlab): pages/s through load + ingest,
    against the raw embedder on the same chunks."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    from kefu.knowledge_base.loaders import load_path

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    with tempfile.TemporaryDirectory(prefix="kefu-scale-") as home:
        path = Path(home) / "manual.pdf"
        sheet = canvas.Canvas(str(path))
        for text in texts:
            lines = sheet.beginText(50, 800)
            lines.setFont("STSong-Light", 10)
            for i in range(0, len(text), 40):
                lines.textLine(text[i:i + 40])
            sheet.drawText(lines)
            sheet.showPage()
        sheet.save()
        kb = open_knowledge_base(load_settings(environ={"KEFU_HOME": home}), "pdf-pages",
                                 embedder)
        start = time.perf_counter()
        loaded = load_path(path)
        kb.ingest(loaded.entries)
        ingest = len(texts) / (time.perf_counter() - start)
        kb.close()
    embedded = [t for e in loaded.entries for t in indexed_texts(e)]
    start = time.perf_counter()
    for i in range(0, len(embedded), EMBED_BATCH):
        embedder.embed_passages(embedded[i:i + EMBED_BATCH])
    raw = len(texts) / (time.perf_counter() - start)
    return {"pages": len(texts), "chunks": len(loaded.entries),
            "raw_embedder_pages_per_s": round(raw, 2),
            "ingest_pages_per_s": round(ingest, 2), "ratio": round(ingest / raw, 3)}


def _timed(stages: dict, questions: list[str]) -> dict[str, list[float]]:  # type: ignore[type-arg]
    """Milliseconds per question for each stage, the stages interleaved question by question
    so that caches and CPU frequency treat them alike."""
    out: dict[str, list[float]] = {name: [] for name in stages}
    for question in questions:
        for name, fn in stages.items():
            start = time.perf_counter()
            fn(question)
            out[name].append((time.perf_counter() - start) * 1000)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).parents[2] / "shared" / "datasets"))
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--home", default=str(Path.home() / ".kefu" / "bench-scale"))
    parser.add_argument("--out", default="benchmarks/results/scale.json")
    parser.add_argument("--ratio-entries", type=int, nargs="+", default=[1000, 10_000],
                        help="sizes ingested into a fresh knowledge base vs the raw embedder")
    parser.add_argument("--pdf-pages", type=int, default=100)
    args = parser.parse_args()

    entries, probes = corpus(Path(args.data), args.entries)
    settings = load_settings(environ={"KEFU_HOME": args.home})
    kb = open_knowledge_base(settings, f"scale-{args.entries}")
    kb.delete([i for i in kb.entries() if i not in {e.id for e in entries}])
    start = time.perf_counter()
    report = kb.ingest(entries, progress=True)
    ingest_s = time.perf_counter() - start
    questions = random.Random(7).sample(probes, min(args.queries, len(probes)))
    retriever = Retriever(kb, settings.retrieval)
    retriever.search("warm-up")
    candidates = settings.retrieval.candidates

    def dense(question: str) -> None:
        kb.nearest(kb.embedder.embed_queries([question])[0], candidates)

    timings = _timed({
        "embed": lambda q: kb.embedder.embed_queries([q]),
        "dense": dense,
        "bm25": lambda q: kb.bm25.search(tokenize(q), candidates),
        "hybrid": retriever.search,
    }, questions)
    dense_p50 = percentile(timings["dense"], 0.5)
    dense_p95 = percentile(timings["dense"], 0.95)
    rows = {name: {"p50_ms": percentile(v, 0.5), "p95_ms": percentile(v, 0.95),
                   "p50_vs_dense": percentile(v, 0.5) / dense_p50,
                   "p95_vs_dense": percentile(v, 0.95) / dense_p95}
            for name, v in timings.items()}
    ratios = [ingest_ratio(entries[:n], kb.embedder) for n in args.ratio_entries]
    docs = [row["text"][:1200] for row in read_jsonl(Path(args.data) / "cmrc2018" / "docs.jsonl")]
    pages = pdf_ratio(docs[:args.pdf_pages], kb.embedder)
    result = {"entries": len(kb), "vectors": kb.vectors.count(), "queries": len(questions),
              "build": {"added": report.added, "unchanged": report.unchanged,
                        "seconds": round(ingest_s, 1)},
              "ingest": ratios,
              "pdf": pages,
              "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
              "latency": rows}
    kb.close()
    print(f"{result['entries']} entries, {result['vectors']} vectors, "
          f"{result['queries']} questions (zh+en)")
    print(f"{'stage':<8} {'p50 ms':>8} {'p95 ms':>8} {'p50/dense':>10} {'p95/dense':>10}")
    for name, row in rows.items():
        print(f"{name:<8} {row['p50_ms']:>8.1f} {row['p95_ms']:>8.1f} "
              f"{row['p50_vs_dense']:>10.2f} {row['p95_vs_dense']:>10.2f}")
    for ratio in ratios:
        print(f"ingest of {ratio['entries']} entries: {ratio['ingest_per_s']} entries/s vs the "
              f"raw embedder's {ratio['raw_embedder_per_s']} ({ratio['ratio']:.2f}x); "
              f"{ratio['disk_mb_per_1k']} MB on disk per 1k entries")
    print(f"peak memory {result['peak_rss_mb']} MB")
    print(f"PDF of {pages['pages']} pages ({pages['chunks']} chunks): "
          f"{pages['ingest_pages_per_s']} pages/s vs the raw embedder's "
          f"{pages['raw_embedder_pages_per_s']} ({pages['ratio']:.2f}x)")
    write_results(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
