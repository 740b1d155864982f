"""How well the LLM chooses among retrieved entries, per model and number of candidates.

    python benchmarks/choice.py DATA_DIR [--models default small] [--among 3 5 8]
                                [--sample 80] [--out benchmarks/results/choice.json]

For each seeded single-turn question of DATA_DIR (a `kefu eval` folder; its evaluation
knowledge base, with the twins a full-mode run made) the retrieved entries are shown to the
LLM's choice as the ladder shows them (`Agent.choice`, `ladder.choose_in_both_orders` as
configured), the first 3, 5 and 8 in turn. Prints, per model and count: answerable
questions whose gold entry is among the candidates, how often the LLM's choice is that
entry (and how often retrieval's first is: the baseline it must beat), how often it finds
"none of these" likelier for out-of-scope questions, and the time of one choice (median,
p90; its system prompt already cached). Every question goes to the choice, also those the
ladder would answer or decline before it. The questions are only asked, never fitted on.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from common import write_results

from kefu.agent.chat_models import build_chat_model
from kefu.agent.factory import build_agent
from kefu.agent.ladder import Agent
from kefu.config import load_settings
from kefu.evals.datasets import Query, load_dataset
from kefu.evals.metrics import percentile
from kefu.evals.runner import build_eval_agent, eval_settings
from kefu.types import Entry


def _measure(agent: Agent, asked: list[tuple[Query, list[Entry]]], among: int) -> dict[str, Any]:
    """One count of candidates: the choice for each question, its outcome and its time."""
    shown = right = first = oos = declined = 0
    seconds = []
    agent.choice("warm-up", asked[0][1][:among])  # the system prompt into the KV cache
    for query, entries in asked:
        candidates = entries[:among]
        started = time.perf_counter()
        picked = agent.choice(query.text, candidates)
        seconds.append(time.perf_counter() - started)
        origins = [e.origin for e in candidates]
        if not query.gold:
            oos += 1
            declined += not picked.beats_none
        elif any(o in query.gold for o in origins):
            shown += 1
            right += origins[picked.best] in query.gold
            first += origins[0] in query.gold
    return {"candidates": among, "gold_shown": shown, "chose_gold": right,
            "retrieval_first_gold": first, "oos": oos, "oos_none_likeliest": declined,
            "seconds_median": statistics.median(seconds), "seconds_p90": percentile(seconds, 0.9)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--models", nargs="+", default=["default", "small"])
    parser.add_argument("--among", nargs="+", type=int, default=[3, 5, 8])
    parser.add_argument("--sample", type=int, default=80)
    parser.add_argument("--out", default="benchmarks/results/choice.json")
    args = parser.parse_args(argv)
    if max(args.among) > 9:
        parser.error("--among: at most 9 (one-digit labels)")
    settings = load_settings()
    dataset = load_dataset(args.data_dir, sample=args.sample)
    retrieval = build_eval_agent(dataset, settings, retrieval_only=True, progress=False)
    most = max(args.among)
    asked = [(q, [h.entry for h in retrieval.search(q.text, q.lang, [], k=most)[1]])
             for q in dataset.queries if not q.history]
    asked = [(q, entries) for q, entries in asked if entries]
    rows = []
    for model in args.models:
        chat_model = build_chat_model(settings.llm.model_copy(update={"model": model}),
                                      settings.models_dir)
        agent = build_agent(eval_settings(settings), kb=retrieval.kb, chat_model=chat_model)
        for among in args.among:
            rows.append({"model": model, **_measure(agent, asked, among)})
    print(f"{dataset.name}: {len(asked)} single-turn questions "
          f"(both orders: {settings.ladder.choose_in_both_orders})")
    print(f"{'model':8} {'cands':>5} {'gold shown':>10} {'LLM chose it':>13} "
          f"{'retrieval 1st':>13} {'oos: none':>10} {'s median':>9} {'s p90':>6}")
    for r in rows:
        share = r["chose_gold"] / max(r["gold_shown"], 1)
        base = r["retrieval_first_gold"] / max(r["gold_shown"], 1)
        print(f"{r['model']:8} {r['candidates']:>5} {r['gold_shown']:>10} "
              f"{r['chose_gold']:>5} ({share:4.0%}) {r['retrieval_first_gold']:>5} "
              f"({base:4.0%}) {r['oos_none_likeliest']:>4}/{r['oos']:<5} "
              f"{r['seconds_median']:>9.2f} {r['seconds_p90']:>6.2f}")
    write_results(args.out, {"data_dir": str(args.data_dir), "sample": args.sample,
                             "both_orders": settings.ladder.choose_in_both_orders,
                             "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
