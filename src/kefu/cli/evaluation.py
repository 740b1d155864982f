"""`kefu eval`: measure retrieval, routing and answers on a dataset folder."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from kefu.cli.common import settings_from
from kefu.config import load_settings
from kefu.errors import KefuError

if TYPE_CHECKING:
    from kefu.evals.datasets import Dataset


def cmd_eval(args: argparse.Namespace) -> int:
    from kefu.evals.datasets import learn_phrasings
    from kefu.evals.report import build_results, render_html
    from kefu.evals.runner import build_eval_agent, evaluate, write_atomic

    if args.compare:
        from kefu.evals.compare import compare, format_comparison, load_results

        print(format_comparison(compare(*(load_results(Path(p)) for p in args.compare))))
        return 0
    settings = load_settings(Path(args.kb_config)) if args.kb_config else settings_from(args)
    dataset = eval_dataset(args)
    if args.learn_share:
        dataset = learn_phrasings(dataset, args.learn_share)
    for problem in dataset.problems:
        print(f"warning: {problem}", file=sys.stderr)
    agent = build_eval_agent(dataset, settings, args.retrieval_only)
    judge = None
    if args.judge:
        from kefu.agent.chat_models import build_chat_model
        from kefu.evals.judge import Judge

        model = build_chat_model(settings.llm.model_copy(update={"model": args.judge}),
                                 settings.models_dir)
        judge = Judge(model) if model is not None else None
    json_out = Path(args.json) if args.json else None
    checkpoint = (json_out or Path(f"kefu-eval-{dataset.name}.json")).with_suffix(".partial.jsonl")
    records = evaluate(dataset, agent, args.retrieval_only, checkpoint, judge=judge)
    results = build_results(dataset, records, agent, args.retrieval_only)
    if json_out:
        write_atomic(json_out, json.dumps(results, ensure_ascii=False, indent=2))
    if args.report:
        write_atomic(Path(args.report), render_html(results, records))
    checkpoint.unlink(missing_ok=True)
    _print_summary(results)
    return 0


def eval_dataset(args: argparse.Namespace) -> Dataset:
    """The dataset named by DIR, or the demo shop's own questions with --demo."""
    from kefu.demo import demo_eval_dir, demo_files
    from kefu.evals.datasets import load_dataset

    if args.demo:
        return load_dataset(demo_eval_dir(), sample=args.sample, kb_files=demo_files(),
                            name="demo-shop")
    if not args.dir:
        raise KefuError("name a dataset folder (e.g. ../shared/datasets/xsid) or use --demo")
    return load_dataset(Path(args.dir), sample=args.sample)


def _print_summary(results: dict) -> None:
    rows = [("all", results), *results["by_lang"].items()]
    print(f"\n{results['dataset']} ({results['mode']}): {results['counts']}")
    print(f"{'':4} {'hit@1':>6} {'hit@5':>6} {'MRR':>6} {'abst.P':>6} {'abst.R':>6} "
          f"{'in-abst':>7} {'p50ms':>6} {'p95ms':>6}")
    for name, block in rows:
        r, a, lat = block["retrieval"], block["abstention"], block["latency"]
        print(f"{name:4} {r['hit_at_1']:6.3f} {r['hit_at_5']:6.3f} {r['mrr']:6.3f} "
              f"{a['precision']:6.3f} {a['recall']:6.3f} {a['in_scope_abstain_rate']:7.3f} "
              f"{lat['p50_ms']:6.1f} {lat['p95_ms']:6.1f}")
    if results.get("calibration"):
        c = results["calibration"]
        print(f"per-KB abstain threshold {c['rag_threshold']:.3f} (fitted on "
              f"{c['fit_questions']} questions): held-out OOS declined {c['test']['recall']:.3f}, "
              f"answerable declined {c['test']['in_scope_abstain_rate']:.3f}")
    if "dialogues" in results:
        d = results["dialogues"]
        print(f"dialogues (last turn, read in its conversation): hit@1 {d['hit_at_1']:.3f} "
              f"hit@5 {d['hit_at_5']:.3f} MRR {d['mrr']:.3f}, correct answers "
              f"{d['answers']['accuracy']:.3f}")
    print(f"{'':4} {'correct':>7} {'wrong':>6} {'declined':>8} {'did-you':>7} {'answered':>8}")
    for name, block in rows:
        a = block["answers"]
        print(f"{name:4} {a['accuracy']:7.3f} {a['confidently_wrong']:6.3f} "
              f"{a['abstained']:8.3f} {a['suggested']:7.3f} {a['coverage']:8.3f}")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """The subcommands this module runs."""
    evaluate = sub.add_parser("eval", help="measure retrieval, routing and abstention on a "
                              "dataset folder (faq/docs + queries/oos/dialogues .jsonl)")
    evaluate.add_argument("dir", nargs="?", help="dataset folder, e.g. ../shared/datasets/xsid")
    evaluate.add_argument("--demo", action="store_true",
                          help="the demo shop's own test questions (kefu/demo/eval)")
    evaluate.add_argument("--judge", metavar="MODEL",
                          help="also let an LLM judge each LLM answer against the reference "
                          "with a fixed rubric: small, default or a .gguf path")
    evaluate.add_argument("--compare", nargs=2, metavar=("A.json", "B.json"),
                          help="compare two --json results: metrics and changed questions")
    evaluate.add_argument("--kb-config", help="kefu.toml with the thresholds to evaluate")
    evaluate.add_argument("--json", help="write the results here (keys: docs/evaluation.md)")
    evaluate.add_argument("--report", help="write the HTML report here")
    evaluate.add_argument("--retrieval-only", action="store_true",
                          help="skip the LLM; routes are the ladder's decision before it")
    evaluate.add_argument("--sample", type=int, help="evaluate a seeded sample of N questions")
    evaluate.add_argument("--learn-share", type=float, metavar="SHARE",
                          help="add a seeded SHARE (e.g. 0.3) of the answerable questions to "
                          "their entries as similar phrasings, as an owner would from the chat "
                          "log, and evaluate on the rest")
    evaluate.set_defaults(func=cmd_eval)
