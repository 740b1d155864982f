"""Do the settings `kefu tune` chooses beat the defaults on the shared datasets?

    python benchmarks/tuning.py [--data ../shared/datasets] [--llm small] [--limit 150]
                                [--target 0.02] [--out benchmarks/results/tuning.json]

For each dataset its questions are split in two halves (seeded). The first half plays the
shop's conversation log: `kefu tune` sees its texts, never their answers. The second half is
evaluated in retrieval-only terms three times: with the default settings, with those tune
chose from the knowledge base's rewordings alone (a shop with no log yet), and with those it
chose when also given the log. Rewordings come from the LLM (up to --limit entries per
dataset, cached); generic questions to decline are bundled. Prints confidently-wrong rate,
coverage (answerable questions answered) and accuracy per setting, and writes JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import write_results

from kefu.agent.chat_models import build_chat_model
from kefu.agent.factory import TUNABLE, build_agent
from kefu.config import LLMSettings, load_settings
from kefu.evals.datasets import Dataset, load_dataset
from kefu.evals.metrics import summarize
from kefu.evals.runner import build_eval_agent, evaluate
from kefu.evals.tune import Asked, point_json, tune
from kefu.retrieval.hybrid import Retriever
from kefu.types import Hit

DATASETS = ("xsid", "clinc150", "banking77", "cmrc2018", "crosswoz")
KEYS = ("confidently_wrong", "coverage", "accuracy", "abstained", "suggested")
SETTINGS = ("default", "rewordings", "with_log")
SEED = 20261201


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).parents[2] / "shared" / "datasets"))
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS))
    parser.add_argument("--llm", default="small", help="the model that rewords (small/default)")
    parser.add_argument("--limit", type=int, default=150, help="entries reworded per dataset")
    parser.add_argument("--target", type=float, default=0.02)
    parser.add_argument("--out", default="benchmarks/results/tuning.json")
    args = parser.parse_args()

    settings = load_settings(environ={**os.environ, "KEFU_LADDER__USE_TUNED": "false"})
    model = build_chat_model(LLMSettings(model=args.llm), settings.models_dir)
    results = {"llm": args.llm, "limit": args.limit, "target": args.target, "seed": SEED,
               "datasets": {}}
    for name in args.datasets:
        start = time.perf_counter()
        dataset = load_dataset(Path(args.data) / name)
        log, held_out = split(dataset)
        agent = build_eval_agent(dataset, settings, retrieval_only=True)
        agent.retriever = SearchOnce(agent.retriever)  # type: ignore[assignment]
        row: dict = {"questions": len(held_out.queries), "log": len(log)}  # type: ignore[type-arg]
        points = {"default": agent.cfg}
        for label, asked in (("rewordings", []), ("with_log", log)):
            tuning = tune(agent, model, f"llama-cpp:{args.llm}", args.target,
                          limit=args.limit, asked=asked)
            points[label] = agent.cfg.model_copy(update={
                k: getattr(tuning.chosen, k) for k in TUNABLE})
            row[label + "_tuning"] = {"target_met": tuning.met, "probes": tuning.probes,
                                      "generic": tuning.generic,
                                      "now": point_json(tuning.current),
                                      "chosen": point_json(tuning.chosen)}
        for label, cfg in points.items():
            tuned_agent = build_agent(settings.model_copy(update={
                "ladder": cfg, "llm": LLMSettings(backend="none")}), kb=agent.retriever.kb)
            tuned_agent.retriever = agent.retriever
            block = summarize(evaluate(held_out, tuned_agent, True, progress=False))
            row[label] = {k: round(block["answers"][k], 4) for k in KEYS}
            row[label]["declined_oos"] = round(block["abstention"]["recall"], 4)
            row[label]["setting"] = [cfg.faq_threshold, cfg.rag_threshold, cfg.margin_weight]
        row["minutes"] = round((time.perf_counter() - start) / 60, 1)
        results["datasets"][name] = row
        write_results(args.out, results)
        print(f"{name}: done in {row['minutes']} min", flush=True)
    print(table(results))
    return 0


class SearchOnce:
    """The retriever, each search done once: the settings compared differ in the ladder
    only, so the three evaluations and two tunings of a dataset share their retrieval."""

    def __init__(self, retriever: Retriever) -> None:
        self._retriever = retriever
        self._done: dict[tuple[str, int | None, tuple[str, ...]], list[Hit]] = {}

    def search(self, query: str, k: int | None = None, also: Sequence[str] = ()) -> list[Hit]:
        key = (query, k, tuple(also))
        if key not in self._done:
            self._done[key] = self._retriever.search(query, k, also)
        return self._done[key]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._retriever, name)


def split(dataset: Dataset) -> tuple[list[Asked], Dataset]:
    """The first half of the questions (seeded) as a log of texts; the rest to evaluate."""
    queries = list(dataset.queries)
    random.Random(SEED).shuffle(queries)
    half = len(queries) // 2
    log = [Asked(q.text, q.lang, q.history) for q in queries[:half]]
    kept = {q.id for q in queries[half:]}
    return log, dataclasses.replace(dataset, queries=[q for q in dataset.queries
                                                      if q.id in kept])




def table(results: dict) -> str:  # type: ignore[type-arg]
    lines = [f"{'dataset':<10} {'setting':<11} {'faq/rag/margin':<16} {'conf. wrong':>11} "
             f"{'coverage':>9} {'accuracy':>9} {'OOS declined':>12}  vs default"]
    for name, row in results["datasets"].items():
        base = row["default"]
        for label in SETTINGS:
            r = row[label]
            verdict = "" if label == "default" else _verdict(base, r)
            lines.append(f"{name:<10} {label:<11} {'{:.3f}/{:.2f}/{:g}'.format(*r['setting']):<16} "
                         f"{r['confidently_wrong']:>11.2%} {r['coverage']:>9.1%} "
                         f"{r['accuracy']:>9.1%} {r['declined_oos']:>12.1%}  {verdict}")
    return "\n".join(lines)


def _verdict(base: dict, tuned: dict) -> str:  # type: ignore[type-arg]
    """better: less often wrong at equal or better coverage."""
    fewer_wrong = tuned["confidently_wrong"] < base["confidently_wrong"]
    as_many = tuned["coverage"] >= base["coverage"]
    if fewer_wrong and as_many:
        return "better"
    if tuned["confidently_wrong"] == base["confidently_wrong"] and as_many:
        return "as often wrong, answers more" if tuned["coverage"] > base["coverage"] \
            else "same"
    return "fewer wrong, answers less" if fewer_wrong else "worse"


if __name__ == "__main__":
    sys.exit(main())
