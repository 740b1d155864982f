"""Do the settings `kefu tune` chooses beat the defaults on the shared datasets?

    python benchmarks/tuning.py [--data ../shared/datasets] [--llm default] [--limit 150]
                                [--target 0.02] [--out benchmarks/results/tuning.json]

Two-fold: each dataset's questions are split in two halves (seeded). In turn, one half plays
the shop's conversation log (`kefu tune` sees its texts, never their answers) and the other
is evaluated in retrieval-only terms, so every question is evaluated once, by a setting
chosen without it. Three settings are compared: the defaults, what tune chose from the
knowledge base's rewordings alone (a shop with no log yet) and what it chose when also given
the log. Rewordings come from the LLM (up to --limit entries per dataset, cached); generic
questions to decline are bundled. Prints confidently-wrong rate, coverage (answerable
questions answered) and accuracy per setting, and writes JSON.
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
from kefu.calibration.rewordings import rewording_llm
from kefu.calibration.tune import Asked, point_json, tune
from kefu.config import LadderSettings, LLMSettings, load_settings
from kefu.evals.datasets import Dataset, Query, load_dataset
from kefu.evals.metrics import summarize
from kefu.evals.runner import build_eval_agent, evaluate
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
    parser.add_argument("--llm", default="default",
                        help="the model that rewords (default/small)")
    parser.add_argument("--limit", type=int, default=150, help="entries reworded per dataset")
    parser.add_argument("--target", type=float, default=0.02)
    parser.add_argument("--out", default="benchmarks/results/tuning.json")
    args = parser.parse_args()

    settings = load_settings(environ={**os.environ, "KEFU_LADDER__USE_TUNED": "false"})
    model = build_chat_model(rewording_llm(LLMSettings(model=args.llm)), settings.models_dir)
    results = {"llm": args.llm, "limit": args.limit, "target": args.target, "seed": SEED,
               "datasets": {}}
    for name in args.datasets:
        start = time.perf_counter()
        dataset = load_dataset(Path(args.data) / name)
        halves = split(dataset)
        agent = build_eval_agent(dataset, settings, retrieval_only=True)
        agent.retriever = SearchOnce(agent.retriever)  # type: ignore[assignment]
        row: dict = {"questions": len(dataset.queries)}  # type: ignore[type-arg]
        chosen: dict[str, list[LadderSettings]] = {"default": [agent.cfg, agent.cfg]}
        for label, folds in (("rewordings", (None,)), ("with_log", (0, 1))):
            chosen[label] = []
            for fold in folds:
                asked = [] if fold is None else log_of(halves[fold])
                tuning = tune(agent, model, f"llama-cpp:{args.llm}", args.target,
                              limit=args.limit, asked=asked)
                chosen[label].append(agent.cfg.model_copy(update={
                    k: getattr(tuning.chosen, k) for k in TUNABLE}))
                row.setdefault(label + "_tuning", []).append({
                    "target_met": tuning.met, "probes": tuning.probes,
                    "generic": tuning.generic, "log": len(asked), "log_read": tuning.asked,
                    "now": point_json(tuning.current), "chosen": point_json(tuning.chosen)})
        chosen["rewordings"] *= 2  # the same choice for both halves: no log
        for label, cfgs in chosen.items():
            records, per_half = [], []
            for fold, cfg in enumerate(cfgs):  # the setting tuned on one half, on the other
                tuned_agent = build_agent(settings.model_copy(update={
                    "ladder": cfg, "llm": LLMSettings(backend="none")}), kb=agent.retriever.kb)
                tuned_agent.retriever = agent.retriever
                held_out = dataclasses.replace(dataset, queries=halves[1 - fold])
                records.append(evaluate(held_out, tuned_agent, True, progress=False))
                per_half.append({k: round(summarize(records[-1])["answers"][k], 4)
                                 for k in ("confidently_wrong", "coverage")})
            block = summarize(records[0] + records[1])
            row[label] = {k: round(block["answers"][k], 4) for k in KEYS}
            row[label]["evaluated_half"] = per_half  # [second half, first half]
            row[label]["declined_oos"] = round(block["abstention"]["recall"], 4)
            row[label]["settings"] = [[c.faq_threshold, c.rag_threshold, c.margin_weight]
                                      for c in cfgs]
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


def split(dataset: Dataset) -> tuple[list[Query], list[Query]]:
    """The questions in two halves, seeded."""
    queries = list(dataset.queries)
    random.Random(SEED).shuffle(queries)
    half = len(queries) // 2
    return queries[:half], queries[half:]


def log_of(queries: Sequence[Query]) -> list[Asked]:
    """Questions as a conversation log holds them: texts, no answers."""
    return [Asked(q.text, q.lang, q.history) for q in queries]


def table(results: dict) -> str:  # type: ignore[type-arg]
    lines = [f"{'dataset':<10} {'setting':<11} {'faq/rag/margin (per half)':<32} "
             f"{'conf. wrong':>11} {'coverage':>9} {'accuracy':>9} {'OOS declined':>12}  "
             "vs default"]
    for name, row in results["datasets"].items():
        base = row["default"]
        for label in SETTINGS:
            r = row[label]
            verdict = "" if label == "default" else _verdict(base, r)
            shown = " | ".join(dict.fromkeys("{:.3f}/{:.2f}/{:g}".format(*s)
                                             for s in r["settings"]))
            lines.append(f"{name:<10} {label:<11} {shown:<32} "
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
