"""Raw dense, centred dense, BM25 alone, one mean, a mean per language, kefu: hit@1 and @5.

    python benchmarks/fusion.py [--data ../shared/datasets] [--limit 600] [--cmrc-docs 400]
                                [--sets PREFIX ...] [--tune [--llm small] [--fit-entries 60]]
                                [--twins] [--choice]
                                [--out benchmarks/results/fusion.json]

Each knowledge base is imported once into a throw-away KEFU_HOME (real Chroma, real BM25,
the configured embedder) and every column asks the same questions of it:

- dense_raw: plain cosine, no centring, no BM25 (the first 0.1 recipe);
- dense:     the retrieval settings with bm25_weight 0 (centred dense);
- bm25:      the jieba BM25 index alone;
- one_mean:  the retrieval settings with center_languages off (one knowledge-base mean);
- per_lang:  the retrieval settings with center_languages on (each language centred on its
             own mean);
- kefu:      the retrieval settings as configured (today one of the two above);
- tuned:     (--tune) the weights and centring `kefu tune` fits to this knowledge base from
             the LLM's questions about a spread of its entries (calibration/fit_retrieval.py; no
             question of the set is seen); the LLM's replies are cached in
             benchmarks/results/probes.json by knowledge base and entry, so a second
             run writes none;
- choice:    (--choice) the kefu column's first five reordered by the LLM's choice among
             them (--llm; Agent.choice: its probabilities weighted by 1 / retrieval's
             rank), one LLM call per question: the ladder's choice applied to every
             question, as a rerank.

Rows, each a seeded sample of at most --limit questions unless said otherwise:

- xsid, clinc150, banking77: the set's faq.jsonl, one question per entry; xsid zh / en:
  one language's questions of the same xsid knowledge base;
- "+30%": a seeded 30 % of the set's questions added to their entries as similar phrasings
  (`kefu eval --learn-share 0.3`), the other 70 % asked;
- xsid en->zh / zh->en: one language's 11 entries indexed, the other language's questions;
- xsid mixed: xsid's intents sorted by name, each kept in one language only (zh, en, zh, ...),
  all 764 questions of both languages asked (gold: the kept entry of the question's intent);
  same-lang / cross-lang: the questions in / not in the language of that entry;
- cmrc2018: a seeded 400 (--cmrc-docs; 0: all) of the 848 Chinese Wikipedia passages of
  docs.jsonl, one document entry each (read by kefu's eval loader; gold ids are the entry
  ids), and the questions about them, as shipped: all 848 take 11 minutes to embed on 2
  cores; cmrc2018 trad: the same passages and questions converted to traditional characters
  (OpenCC s2t);
- pinecone: kefu's second shop (evalsets/pinecone: 30 Chinese-only and 30 English-only FAQ
  entries, 15 policy sections), all 300 questions; cross-lang: the question's language is
  not that of its first gold entry;
- pinecone long: the same shop with each of its two policies pasted into one FAQ entry
  (2,924 and 1,743 characters: a shop's terms in one spreadsheet cell), the questions about
  a section asked of it;
- "+twins" (--twins): xsid mixed and pinecone again, after the LLM (--llm) made the twins
  kefu makes after an import (agent/translation.py: every FAQ entry written in one language
  only, and the policy sections of a shop written in both); a twin found counts as its
  source. The translations are cached in benchmarks/results/twins.json by entry content.

--sets runs the rows whose names start with one of the given prefixes (`--sets pinecone
xsid`); a knowledge base is imported only when one of its rows runs. Texts are embedded once
per run (the columns share the question's vector; sets share passages). Prints a hit@1 and a
hit@5 table and writes JSON (per row: hit@1 per column, "hit@5", "queries", "entries", and
with --tune "fitted": the weights fitted to its knowledge base).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from common import write_results
from opencc import OpenCC

from kefu.agent.chat_models import build_chat_model
from kefu.agent.factory import RETRIEVAL_TUNABLE, build_agent
from kefu.agent.ladder import Agent
from kefu.agent.translation import EntryTranslator
from kefu.calibration.fit_retrieval import PROBES as PROBES_SETTING
from kefu.calibration.fit_retrieval import describe, fit
from kefu.calibration.rewordings import rewording_llm
from kefu.config import LadderSettings, RetrievalSettings, load_settings
from kefu.evals.datasets import Dataset, Query, learn_phrasings, load_dataset
from kefu.knowledge_base import twins
from kefu.knowledge_base.embedders import build_embedder
from kefu.knowledge_base.store import KnowledgeBase, content_hash, open_knowledge_base
from kefu.knowledge_base.text import to_simplified, tokenize
from kefu.knowledge_base.twins import Translation
from kefu.retrieval.hybrid import Retriever
from kefu.types import ChatModel, Embedder, Entry, Lang

SEED = 20240531
COLUMNS = ("dense_raw", "dense", "bm25", "one_mean", "per_lang", "kefu", "tuned")
PROBES = Path(__file__).parent / "results" / "probes.json"  # the LLM's cached questions
TWINS = Path(__file__).parent / "results" / "twins.json"  # the LLM's cached translations
K = 5  # hit@K beside hit@1
PINECONE = Path(__file__).parents[1] / "evalsets" / "pinecone"

Rows = dict[str, list[Query]]
# A knowledge base to import: its row names (known before anything is read), how to build
# its entries and each row's questions, and whether it gets twins before it is asked.
Bench = tuple[tuple[str, ...], Callable[[], tuple[list[Entry], Rows]], bool]


class Tuner:
    """Fits the weights of a benchmark's knowledge base as `kefu tune` would, with the LLM's
    replies cached in one file, a section per knowledge base (they are thrown away; within
    a section the cache is keyed by entry id and checked against the entry's text, as kefu
    tune's is; cmrc2018 and its traditional copy share ids, and would evict each other)."""

    def __init__(self, model: ChatModel, model_id: str, entries: int) -> None:
        self.model, self.model_id, self.entries = model, model_id, entries

    def __call__(self, kb: KnowledgeBase, base: RetrievalSettings,
                 section: str) -> RetrievalSettings:
        cached = json.loads(PROBES.read_text("utf-8")) if PROBES.exists() else {}
        kb.set_setting(PROBES_SETTING, cached.get(section, {}))
        result = fit(Retriever(kb, base), self.model, self.model_id, self.entries)
        PROBES.parent.mkdir(parents=True, exist_ok=True)
        cached[section] = kb.setting(PROBES_SETTING)
        PROBES.write_text(json.dumps(cached, ensure_ascii=False), "utf-8")
        describe(result, lambda line: print(f"  {line}", file=sys.stderr, flush=True))
        return result.chosen.weights.applied(base)


class CachedLinguist:
    """The LLM's translations of entries as kefu makes them (EntryTranslator), remembered
    across runs by entry content, language and the revision of the checks they passed."""

    def __init__(self, model: ChatModel) -> None:
        self.model = model
        self.cached = json.loads(TWINS.read_text("utf-8")) if TWINS.exists() else {}

    def make_twins(self, kb: KnowledgeBase, base: RetrievalSettings) -> None:
        agent = Agent(Retriever(kb, base), self.model, LadderSettings(), "our shop")
        translate = EntryTranslator(agent)

        def linguist(entry: Entry, lang: Lang, partner: Entry | None) -> Translation | None:
            key = f"{content_hash(entry)}{lang}/checks-{twins.CHECKS_REVISION}"
            if key not in self.cached:
                made = translate(entry, lang, partner)
                self.cached[key] = made and [made.question, made.answer,
                                             list(made.alt_questions), made.covered_by]
                TWINS.parent.mkdir(parents=True, exist_ok=True)
                TWINS.write_text(json.dumps(self.cached, ensure_ascii=False), "utf-8")
            known = self.cached[key]
            return known and Translation(known[0], known[1], tuple(known[2]), known[3])

        report = twins.fill(kb, linguist, progress=True, documents=True)
        print(f"  twins: {report.made} made, {report.covered} covered, {report.failed} failed",
              file=sys.stderr, flush=True)


class RememberingEmbedder:
    """The embedder, remembering each text's vector for the run: the columns embed the same
    question, and the sets share passages (xsid's entries, a set and its "+30%" twin, the
    cmrc2018 passages that fold back to the same simplified text)."""

    def __init__(self, embedder: Embedder) -> None:
        self.model_id, self.dim = embedder.model_id, embedder.dim
        self._embedder = embedder
        self._seen: dict[tuple[str, str], np.ndarray] = {}

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed("query", texts, self._embedder.embed_queries)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed("passage", texts, self._embedder.embed_passages)

    def embed_ahead(self, queries: Sequence[str], batch: int = 64) -> None:
        """Embed questions in batches before they are asked one at a time (the vectors are
        the same; a batch of 64 takes about the time of 6 single questions)."""
        todo = sorted({t for t in queries if ("query", t) not in self._seen}, key=len)
        for start in range(0, len(todo), batch):
            self.embed_queries(todo[start:start + batch])

    def _embed(self, kind: str, texts: Sequence[str],
               embed: Callable[[Sequence[str]], np.ndarray]) -> np.ndarray:
        todo = list(dict.fromkeys(t for t in texts if (kind, t) not in self._seen))
        if todo:
            for text, vector in zip(todo, embed(todo), strict=True):
                self._seen[kind, text] = vector
        return np.stack([self._seen[kind, t] for t in texts])


def sample(queries: Sequence[Query], limit: int | None) -> list[Query]:
    """A seeded shuffle of the questions, the first `limit` of it (all when None)."""
    queries = list(queries)
    random.Random(SEED).shuffle(queries)
    return queries[:limit]


def asked(dataset: Dataset) -> list[Query]:
    return [q for q in dataset.queries if q.kind == "in"]


def cross_lingual(dataset: Dataset, query_lang: str, kb_lang: str) -> tuple[list[Entry],
                                                                               list[Query]]:
    """xsid's parallel entries: index one language's, ask with the other's questions."""
    entries = [e for e in dataset.entries if e.lang == kb_lang]
    queries = [replace(q, gold=tuple(g.replace(f"xsid-{query_lang}-", f"xsid-{kb_lang}-")
                                     for g in q.gold))
               for q in asked(dataset) if q.lang == query_lang]
    return entries, queries


def xsid_mixed(dataset: Dataset) -> Dataset:
    """xsid with each intent's entry in one language only, alternating zh, en, ... by intent
    name; every question of both languages kept, its gold the kept entry of its intent."""

    def intent(entry_id: str, lang: str) -> str:
        return entry_id.removeprefix(f"xsid-{lang}-")

    names = sorted({intent(e.id, e.lang) for e in dataset.entries})
    kept = {name: ("zh", "en")[i % 2] for i, name in enumerate(names)}
    entries = [e for e in dataset.entries if kept[intent(e.id, e.lang)] == e.lang]
    queries = []
    for query in asked(dataset):
        name = intent(query.gold[0], query.lang)
        queries.append(replace(query, gold=(f"xsid-{kept[name]}-{name}",)))
    return replace(dataset, entries=entries, queries=queries)


def long_entries(dataset: Dataset) -> Dataset:
    """The shop with each document pasted into one FAQ entry, as a shop that keeps its terms
    in one spreadsheet cell does: its question the document's title (before " — "), its
    answer the sections one after the other ("section: text"); a question whose gold was a
    section has that entry as its gold instead."""
    documents: dict[str, list[Entry]] = {}
    for entry in dataset.entries:
        if entry.kind == "doc":
            documents.setdefault(entry.id.rsplit("-", 1)[0], []).append(entry)
    whole = {name: Entry(
        f"{name}-whole", sections[0].question.split(" — ")[0],
        "\n\n".join(f"{s.question.split(' — ')[-1]}: {s.answer}" for s in sections),
        lang=sections[0].lang, source=sections[0].source)
        for name, sections in documents.items()}
    gold_of = {s.id: whole[name].id for name, sections in documents.items() for s in sections}
    queries = [replace(q, gold=tuple(dict.fromkeys(gold_of.get(g, g) for g in q.gold)))
               for q in dataset.queries]
    return replace(dataset, entries=[*(e for e in dataset.entries if e.kind != "doc"),
                                     *whole.values()], queries=queries)


def traditional(folder: Path, out: Path) -> Path:
    """A copy of a docs.jsonl + queries.jsonl folder in traditional characters (OpenCC s2t)."""
    s2t = OpenCC("s2t")
    out.mkdir(parents=True, exist_ok=True)
    for name, fields in (("docs.jsonl", ("title", "text")), ("queries.jsonl", ("query",))):
        rows = [json.loads(line) for line in (folder / name).read_text("utf-8").splitlines()
                if line.strip()]
        (out / name).write_text("".join(
            json.dumps(row | {f: s2t.convert(row[f]) for f in fields if f in row},
                       ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return out


def some_documents(dataset: Dataset, keep: int) -> Dataset:
    """A seeded `keep` of the entries and the questions whose gold entries are all among them;
    the whole set when keep is 0 or not less than its entries."""
    if not 0 < keep < len(dataset.entries):
        return dataset
    chosen = sorted(random.Random(SEED).sample(range(len(dataset.entries)), keep))
    entries = [dataset.entries[i] for i in chosen]
    ids = {e.id for e in entries}
    return replace(dataset, entries=entries,
                   queries=[q for q in dataset.queries if set(q.gold) <= ids])


def split_by_gold_lang(name: str, dataset: Dataset) -> tuple[list[Entry], Rows]:
    """All questions; same-lang / cross-lang by the language of the first gold entry."""
    lang_of = {e.id: e.lang for e in dataset.entries}
    queries = sample(asked(dataset), None)
    return dataset.entries, {
        f"{name} all": queries,
        f"{name} same-lang": [q for q in queries if q.lang == lang_of[q.gold[0]]],
        f"{name} cross-lang": [q for q in queries if q.lang != lang_of[q.gold[0]]],
    }


def benches(data: Path, limit: int, cmrc_docs: int, scratch: Path,
            with_twins: bool) -> list[Bench]:
    """Every knowledge base of the run, in table order; each reads its files when built."""

    def plain(name: str) -> Bench:
        def build() -> tuple[list[Entry], Rows]:
            dataset = load_dataset(data / name)
            rows = {name: sample(asked(dataset), limit)}
            if name == "xsid":
                for lang in ("zh", "en"):
                    rows[f"xsid {lang}"] = sample(
                        [q for q in asked(dataset) if q.lang == lang], limit)
            return dataset.entries, rows
        return ((name, "xsid zh", "xsid en") if name == "xsid" else (name,)), build, False

    def learned(name: str) -> Bench:
        def build() -> tuple[list[Entry], Rows]:
            dataset = learn_phrasings(load_dataset(data / name), 0.3)
            return dataset.entries, {f"{name} +30%": sample(asked(dataset), limit)}
        return (f"{name} +30%",), build, False

    def crossed(query_lang: str, kb_lang: str) -> Bench:
        def build() -> tuple[list[Entry], Rows]:
            entries, queries = cross_lingual(load_dataset(data / "xsid"), query_lang, kb_lang)
            return entries, {f"xsid {query_lang}->{kb_lang}": sample(queries, limit)}
        return (f"xsid {query_lang}->{kb_lang}",), build, False

    def cmrc(trad: bool) -> Bench:
        name = "cmrc2018 trad" if trad else "cmrc2018"

        def build() -> tuple[list[Entry], Rows]:
            folder = data / "cmrc2018"
            dataset = some_documents(load_dataset(
                traditional(folder, scratch / "cmrc2018-trad") if trad else folder), cmrc_docs)
            return dataset.entries, {name: sample(asked(dataset), limit)}
        return (name,), build, False

    def shop(name: str, load: Callable[[], Dataset], translated: bool) -> Bench:
        label = f"{name} +twins" if translated else name
        return (tuple(f"{label} {part}" for part in ("all", "same-lang", "cross-lang")),
                lambda: split_by_gold_lang(label, load()), translated)

    def mixed() -> Dataset:
        return xsid_mixed(load_dataset(data / "xsid"))

    return [
        plain("xsid"), plain("clinc150"), plain("banking77"),
        learned("xsid"), learned("clinc150"), learned("banking77"),
        crossed("en", "zh"), crossed("zh", "en"),
        shop("xsid mixed", mixed, False),
        cmrc(trad=False), cmrc(trad=True),
        shop("pinecone", lambda: load_dataset(PINECONE), False),
        shop("pinecone long", lambda: long_entries(load_dataset(PINECONE)), False),
        *([shop("xsid mixed", mixed, True), shop("pinecone", lambda: load_dataset(PINECONE),
                                                  True)] if with_twins else []),
    ]


def evaluate(entries: list[Entry], rows: Rows, embedder: RememberingEmbedder,
             tuner: Tuner | None = None, linguist: CachedLinguist | None = None,
             chooser: ChatModel | None = None,
             name: str = "") -> dict[str, dict]:  # type: ignore[type-arg]
    """Import the entries once (and make their twins, given a linguist); hit@1 and hit@K
    of every column on every row (tuned: the kefu column again without a tuner, its LLM
    replies cached under the knowledge base's name; choice only given a chooser)."""
    with tempfile.TemporaryDirectory(prefix="kefu-fusion-") as home:
        settings = load_settings(environ={"KEFU_HOME": home})
        kb = open_knowledge_base(settings, "bench", embedder)
        start = time.perf_counter()
        kb.ingest(entries)
        print(f"  imported {len(entries)} entries in {time.perf_counter() - start:.0f} s",
              file=sys.stderr, flush=True)
        base = settings.retrieval
        if linguist is not None:
            linguist.make_twins(kb, base)
        retrievers = {
            "dense_raw": Retriever(kb, base.model_copy(update={"bm25_weight": 0.0,
                                                                "center": False})),
            "dense": Retriever(kb, base.model_copy(update={"bm25_weight": 0.0})),
            "one_mean": Retriever(kb, base.model_copy(update={"center_languages": False})),
            "per_lang": Retriever(kb, base.model_copy(update={"center_languages": True})),
            "kefu": Retriever(kb, base),
        }
        tuned = tuner(kb, base, name) if tuner else base
        retrievers["tuned"] = Retriever(kb, tuned)
        fitted = {k: getattr(tuned, k) for k in RETRIEVAL_TUNABLE}
        columns = (*COLUMNS, *(("choice",) if chooser else ()))
        agent = build_agent(settings, kb=kb, chat_model=chooser) if chooser else None
        # The retriever embeds the question folded to simplified characters.
        embedder.embed_ahead([to_simplified(q.text) for qs in rows.values() for q in qs])
        ranked: dict[str, dict[str, list[str]]] = {}  # question -> column -> top K ids
        results = {}
        for row, queries in rows.items():
            start = time.perf_counter()
            hit1 = dict.fromkeys(columns, 0)
            hitk = dict.fromkeys(columns, 0)
            for query in queries:
                if query.text not in ranked:
                    ranked[query.text] = {
                        name: [h.entry.origin for h in retriever.search(query.text, K)]
                        for name, retriever in retrievers.items()
                    } | {"bm25": _origins(kb, kb.keyword_matches(tokenize(query.text), 3 * K))}
                    if agent is not None:
                        ranked[query.text]["choice"] = _chosen(agent, query.text)
                gold = set(query.gold)
                for column, ids in ranked[query.text].items():
                    hit1[column] += bool(ids) and ids[0] in gold
                    hitk[column] += bool(gold & set(ids))
            n = max(len(queries), 1)
            results[row] = {c: round(hit1[c] / n, 4) for c in columns} | {
                f"hit@{K}": {c: round(hitk[c] / n, 4) for c in columns},
                "queries": len(queries), "entries": len(entries)} | (
                {"fitted": fitted} if tuner else {})
            print(f"  {row}: {len(queries)} questions in {time.perf_counter() - start:.0f} s",
                  file=sys.stderr, flush=True)
        kb.close()
    return results


def _chosen(agent: Agent, question: str) -> list[str]:
    """The first K entries of the kefu column in the order of the LLM's choice among them."""
    hits = agent.retriever.search(question, K)
    with agent.queue.holding():
        order = agent.choice(question, [h.entry for h in hits]).order
    return list(dict.fromkeys(hits[i].entry.origin for i in order))


def _origins(kb: KnowledgeBase, found: list[tuple[str, float]]) -> list[str]:
    """The first K entries the shop wrote that BM25 found (a twin found stands for its
    source)."""
    entries = kb.entries()
    return list(dict.fromkeys(entries[i].origin for i, _ in found if i in entries))[:K]


def table(results: dict[str, dict], key: str | None) -> str:  # type: ignore[type-arg]
    """One line per row: questions, then each column's hit@1 (key None) or results[key]."""
    columns = [c for c in (*COLUMNS, "choice") if any(c in row for row in results.values())]
    lines = [f"{'set':<22} {'queries':>7} " + " ".join(f"{c:>9}" for c in columns)]
    for name, row in results.items():
        values = row if key is None else row[key]
        lines.append(f"{name:<22} {row['queries']:>7} "
                     + " ".join(f"{values[c]:>9.3f}" for c in columns))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).parents[2] / "shared" / "datasets"))
    parser.add_argument("--limit", type=int, default=600,
                        help="questions per row (seeded; not xsid mixed or pinecone: all)")
    parser.add_argument("--cmrc-docs", type=int, default=400,
                        help="cmrc2018 documents imported (seeded; 0: all 848)")
    parser.add_argument("--sets", nargs="+", default=[], metavar="PREFIX",
                        help="run only the rows whose names start with one of these")
    parser.add_argument("--tune", action="store_true",
                        help="fit the weights per knowledge base with the LLM (column tuned)")
    parser.add_argument("--llm", default="default", help="the LLM that writes the probes: "
                        "small, default, or a .gguf path")
    parser.add_argument("--fit-entries", type=int, default=60,
                        help="FAQ entries (an even spread) the LLM writes questions for")
    parser.add_argument("--twins", action="store_true", help="also the two mixed-language "
                        "knowledge bases with the twins the LLM (--llm) makes (+twins rows)")
    parser.add_argument("--choice", action="store_true", help="also the kefu column "
                        "reordered by the LLM's (--llm) choice among its first five")
    parser.add_argument("--out", default="benchmarks/results/fusion.json")
    args = parser.parse_args()
    tuner = linguist = chooser = None
    if args.tune or args.twins or args.choice:
        settings = load_settings()
        llm = settings.llm.model_copy(update={"model": args.llm})
        if args.choice:
            chooser = build_chat_model(llm, settings.models_dir)
        if args.tune:
            tuner = Tuner(build_chat_model(rewording_llm(llm), settings.models_dir),
                          f"{llm.backend}:{llm.model}", args.fit_entries)
        if args.twins:
            linguist = CachedLinguist(build_chat_model(llm, settings.models_dir))
    with tempfile.TemporaryDirectory(prefix="kefu-fusion-") as scratch:
        every = benches(Path(args.data), args.limit, args.cmrc_docs, Path(scratch), args.twins)
        chosen = [(names, build, translated) for names, build, translated in every
                  if not args.sets or any(n.startswith(tuple(args.sets)) for n in names)]
        if not chosen:
            parser.error(f"no row starts with {' or '.join(args.sets)}; the rows: "
                         + ", ".join(n for names, _, _ in every for n in names))
        settings = load_settings(environ={"KEFU_HOME": scratch})
        embedder = RememberingEmbedder(build_embedder(settings.embedder))
        results = {}
        for names, build, translated in chosen:
            print(f"{names[0]} ...", file=sys.stderr, flush=True)
            entries, rows = build()
            wanted = {n: q for n, q in rows.items()
                      if not args.sets or n.startswith(tuple(args.sets))}
            results |= evaluate(entries, wanted, embedder, tuner,
                                linguist if translated else None, chooser, names[0])
    print(f"hit@1\n{table(results, None)}\n\nhit@{K}\n{table(results, f'hit@{K}')}")
    if tuner:
        print("\nfitted (bm25 weight, name weight, a mean per language):")
        for name, row in results.items():
            print(f"{name:<22} " + ", ".join(f"{v:g}" for v in row["fitted"].values()))
    cmrc = [row for name, row in results.items() if name.startswith("cmrc2018")]
    if cmrc:
        print(f"\ncmrc2018: {cmrc[0]['entries']} of its 848 documents (--cmrc-docs) and "
              "questions about them")
    write_results(args.out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
