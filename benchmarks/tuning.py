"""Do the thresholds `kefu tune` chooses beat the defaults on the shared datasets?

    python benchmarks/tuning.py [--data ../shared/datasets] [--llm small] [--limit 150]
                                [--target 0.02] [--out benchmarks/results/tuning.json]

For each dataset: its questions through the ladder in retrieval-only terms with the default
thresholds; then `kefu tune` on the dataset's knowledge base (the LLM rewords up to --limit
entries; generic questions to decline are bundled) and the same questions again with the
chosen thresholds. Tuning never sees the dataset's questions. Prints confidently-wrong rate,
coverage (answerable questions answered) and accuracy, default vs tuned, and writes JSON.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from common import write_results

from kefu.agent.chat_models import build_chat_model
from kefu.agent.factory import TUNED, build_agent
from kefu.config import LadderSettings, LLMSettings, load_settings
from kefu.evals.datasets import load_dataset
from kefu.evals.metrics import summarize
from kefu.evals.runner import build_eval_agent, evaluate
from kefu.evals.tune import point_json, tune

DATASETS = ("xsid", "clinc150", "banking77", "cmrc2018", "crosswoz")
KEYS = ("confidently_wrong", "coverage", "accuracy", "abstained", "suggested")


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
    results = {"llm": args.llm, "limit": args.limit, "target": args.target, "datasets": {}}
    for name in args.datasets:
        start = time.perf_counter()
        dataset = load_dataset(Path(args.data) / name)
        agent = build_eval_agent(dataset, settings, retrieval_only=True)
        default = summarize(evaluate(dataset, agent, True, progress=False))
        tuning = tune(agent, model, f"llama-cpp:{args.llm}", args.target, limit=args.limit)
        agent.retriever.kb.set_setting(TUNED, tuning.to_setting(args.target) if tuning.met
                                       else None)
        chosen = LadderSettings(faq_threshold=tuning.chosen.faq_threshold,
                                rag_threshold=tuning.chosen.rag_threshold)
        tuned_agent = build_agent(settings.model_copy(update={
            "ladder": chosen, "llm": LLMSettings(backend="none")}), kb=agent.retriever.kb)
        tuned = summarize(evaluate(dataset, tuned_agent, True, progress=False))
        row = {"thresholds": {"default": [agent.cfg.faq_threshold, agent.cfg.rag_threshold],
                              "tuned": [chosen.faq_threshold, chosen.rag_threshold]},
               "probes": tuning.probes, "generic": tuning.generic, "target_met": tuning.met,
               "on_probes": {"default": point_json(tuning.current),
                             "tuned": point_json(tuning.chosen)},
               "questions": default["answers"]["n"], "minutes": 0.0}
        for label, block in (("default", default), ("tuned", tuned)):
            row[label] = {k: round(block["answers"][k], 4) for k in KEYS}
            row[label]["declined_oos"] = round(block["abstention"]["recall"], 4)
        row["minutes"] = round((time.perf_counter() - start) / 60, 1)
        results["datasets"][name] = row
        write_results(args.out, results)
        print(_line(name, row), flush=True)
    print(table(results))
    return 0


def _line(name: str, row: dict) -> str:  # type: ignore[type-arg]
    d, t = row["default"], row["tuned"]
    kept = "" if row["target_met"] else " (target out of reach: kept)"
    return (f"{name:<10} faq/rag {row['thresholds']['default']} -> {row['thresholds']['tuned']}"
            f"{kept}"
            f"  confidently wrong {d['confidently_wrong']:.1%} -> {t['confidently_wrong']:.1%}"
            f"  coverage {d['coverage']:.1%} -> {t['coverage']:.1%}"
            f"  accuracy {d['accuracy']:.1%} -> {t['accuracy']:.1%}")


def table(results: dict) -> str:  # type: ignore[type-arg]
    lines = [f"{'dataset':<10} {'thresholds (faq/rag)':<24} {'conf. wrong':>16} "
             f"{'coverage':>16} {'accuracy':>16} {'OOS declined':>16}"]
    for name, row in results["datasets"].items():
        d, t = row["default"], row["tuned"]
        thresholds = "{:.3f}/{:.2f} -> {:.3f}/{:.2f}".format(*row["thresholds"]["default"],
                                                             *row["thresholds"]["tuned"])
        lines.append(f"{name:<10} {thresholds:<24} "
                     f"{d['confidently_wrong']:>7.1%} -> {t['confidently_wrong']:<6.1%} "
                     f"{d['coverage']:>7.1%} -> {t['coverage']:<6.1%} "
                     f"{d['accuracy']:>7.1%} -> {t['accuracy']:<6.1%} "
                     f"{d['declined_oos']:>7.1%} -> {t['declined_oos']:<6.1%}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
