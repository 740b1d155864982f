"""Raw dense vs centred dense vs BM25-only vs kefu's fused score: hit@1 on the FAQ datasets.

    python benchmarks/fusion.py [--data ../shared/datasets] [--limit 600] [--out ...json]

Imports each dataset's faq.jsonl into a throw-away knowledge base (real Chroma, real BM25)
and asks a seeded sample of its queries.jsonl. Each dataset runs twice: as shipped (one
question per entry) and "+30%", with a seeded 30 % of its questions added to their entries
as similar phrasings (`kefu eval --learn-share 0.3`), asking only the other 70 %.
Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

from common import read_jsonl, write_results

from kefu.config import load_settings
from kefu.evals.datasets import learn_phrasings, load_dataset
from kefu.knowledge_base.loaders import load_path
from kefu.knowledge_base.store import open_knowledge_base
from kefu.knowledge_base.text import tokenize
from kefu.retrieval.hybrid import Retriever

DATASETS = ("xsid", "clinc150", "banking77")


def cross_lingual(folder: Path, query_lang: str, kb_lang: str) -> tuple[list, list]:  # type: ignore[type-arg]
    """xsid's parallel entries: index one language's, ask with the other's questions."""
    faq = [row for row in read_jsonl(folder / "faq.jsonl") if row["lang"] == kb_lang]
    queries = [dict(q, gold=[g.replace(f"xsid-{query_lang}-", f"xsid-{kb_lang}-")
                             for g in q["gold"]])
               for q in read_jsonl(folder / "queries.jsonl") if q["lang"] == query_lang]
    return faq, queries


def evaluate(faq: list, queries: list, limit: int) -> dict[str, float]:  # type: ignore[type-arg]
    with tempfile.TemporaryDirectory(prefix="kefu-fusion-") as home:
        faq_file = Path(home) / "faq.jsonl"
        faq_file.write_text("\n".join(json.dumps(row, ensure_ascii=False) for row in faq))
        return _evaluate(load_path(faq_file).entries, queries, limit)


def _evaluate(entries: list, queries: list, limit: int) -> dict[str, float]:  # type: ignore[type-arg]
    queries = list(queries)
    random.Random(20240531).shuffle(queries)
    queries = queries[:limit]
    with tempfile.TemporaryDirectory(prefix="kefu-fusion-") as home:
        settings = load_settings(environ={"KEFU_HOME": home})
        kb = open_knowledge_base(settings, "bench")
        kb.ingest(entries)
        base = settings.retrieval
        retrievers = {
            "dense_raw": Retriever(kb, base.model_copy(update={"bm25_weight": 0.0,
                                                                "center": False})),
            "dense": Retriever(kb, base.model_copy(update={"bm25_weight": 0.0})),
            "hybrid": Retriever(kb, base),
        }
        hits = dict.fromkeys([*retrievers, "bm25"], 0)
        for query in queries:
            gold = set(query["gold"])
            for name, retriever in retrievers.items():
                hits[name] += retriever.search(query["query"], 1)[0].entry.id in gold
            top = kb.bm25.search(tokenize(query["query"]), 1)
            hits["bm25"] += bool(top) and top[0][0] in gold
        kb.close()
    return {name: count / len(queries) for name, count in hits.items()} | {"queries": len(queries)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).parents[2] / "shared" / "datasets"))
    parser.add_argument("--limit", type=int, default=600, help="queries per dataset (seeded)")
    parser.add_argument("--out", default="benchmarks/results/fusion.json")
    args = parser.parse_args()
    data = Path(args.data)
    results = {}
    for name in DATASETS:
        results[name] = evaluate(read_jsonl(data / name / "faq.jsonl"),
                                 read_jsonl(data / name / "queries.jsonl"), args.limit)
        learned = learn_phrasings(load_dataset(data / name), 0.3)
        asked = [{"query": q.text, "gold": list(q.gold)} for q in learned.queries
                 if q.kind == "in"]
        results[f"{name} +30%"] = _evaluate(learned.entries, asked, args.limit)
    for lang in ("zh", "en"):
        asked = [q for q in read_jsonl(data / "xsid" / "queries.jsonl") if q["lang"] == lang]
        results[f"xsid {lang}"] = evaluate(read_jsonl(data / "xsid" / "faq.jsonl"), asked,
                                           args.limit)
    for query_lang, kb_lang in (("en", "zh"), ("zh", "en")):
        faq, queries = cross_lingual(data / "xsid", query_lang, kb_lang)
        results[f"xsid {query_lang}->{kb_lang}"] = evaluate(faq, queries, args.limit)
    columns = ("dense_raw", "dense", "bm25", "hybrid")
    print(f"{'dataset':<16} {'queries':>7} " + " ".join(f"{c:>9}" for c in columns))
    for name, row in results.items():
        print(f"{name:<16} {row['queries']:>7} " + " ".join(f"{row[c]:>9.3f}" for c in columns))
    write_results(args.out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
