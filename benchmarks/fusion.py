"""Dense-only vs BM25-only vs kefu's fused score, hit@1 on the shared FAQ datasets.

    python benchmarks/fusion.py [--data ../shared/datasets] [--limit 600] [--out ...json]

Imports each dataset's faq.jsonl into a throw-away knowledge base (real Chroma, real BM25)
and asks a seeded sample of its queries.jsonl. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

from kefu.config import load_settings
from kefu.knowledge_base.loaders import load_path
from kefu.knowledge_base.store import open_knowledge_base
from kefu.knowledge_base.text import tokenize
from kefu.retrieval.hybrid import Retriever

DATASETS = ("xsid", "clinc150", "banking77")


def evaluate(folder: Path, limit: int) -> dict[str, float]:
    queries = [json.loads(line) for line in (folder / "queries.jsonl").open(encoding="utf-8")]
    random.Random(20240531).shuffle(queries)
    queries = queries[:limit]
    with tempfile.TemporaryDirectory(prefix="kefu-fusion-") as home:
        settings = load_settings(environ={"KEFU_HOME": home})
        kb = open_knowledge_base(settings, "bench")
        kb.ingest(load_path(folder / "faq.jsonl").entries)
        hybrid = Retriever(kb, settings.retrieval)
        dense = Retriever(kb, settings.retrieval.model_copy(update={"bm25_weight": 0.0}))
        hits = {"dense": 0, "bm25": 0, "hybrid": 0}
        for query in queries:
            gold = set(query["gold"])
            hits["dense"] += dense.search(query["query"], 1)[0].entry.id in gold
            top = kb.bm25.search(tokenize(query["query"]), 1)
            hits["bm25"] += bool(top) and top[0][0] in gold
            hits["hybrid"] += hybrid.search(query["query"], 1)[0].entry.id in gold
        kb.close()
    return {name: count / len(queries) for name, count in hits.items()} | {"queries": len(queries)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).parents[2] / "shared" / "datasets"))
    parser.add_argument("--limit", type=int, default=600, help="queries per dataset (seeded)")
    parser.add_argument("--out", default="benchmarks/results/fusion.json")
    args = parser.parse_args()
    results = {name: evaluate(Path(args.data) / name, args.limit) for name in DATASETS}
    print(f"{'dataset':<10} {'queries':>7} {'dense':>7} {'bm25':>7} {'hybrid':>7}")
    for name, row in results.items():
        print(f"{name:<10} {row['queries']:>7} {row['dense']:>7.3f} {row['bm25']:>7.3f} "
              f"{row['hybrid']:>7.3f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
