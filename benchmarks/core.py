"""Core benchmark: ingest rate, retrieval latency, FAQ-route latency, LLM speed.

    python benchmarks/core.py [--out benchmarks/results/core.json] [--skip-llm]

Prints a table and writes JSON. Runs in a throw-away KEFU_HOME; the LLM part uses the
models installed by `kefu models install --llm all` in the real KEFU_HOME.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import write_results

from kefu.agent.chat_models import LlamaCppChatModel
from kefu.agent.factory import build_agent
from kefu.agent.model_files import MODELS, installed_path
from kefu.cli import main as kefu_main
from kefu.config import LadderSettings, LLMSettings, load_settings
from kefu.demo import demo_files
from kefu.evals.metrics import percentile
from kefu.knowledge_base.loaders import load_path
from kefu.knowledge_base.store import open_knowledge_base
from kefu.types import Message

TRANSLATIONS = 8  # curated answers translated to time showing only checked text
LLM_QUESTIONS = [
    "do u take paypal", "春节期间发货吗？", "How fast is a refund after I ship it back?",
    "新疆几天能到", "Can I get faster shipping to Singapore?", "坏了能换新吗",
]


def bench_llm(name: str, models_dir: Path, settings, kb) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """The LLM route's answer time (retrieval, the choosing turn and, for a document, the
    sentence-picking turn: what the customer waits for), what showing only checked text
    costs a translation, and the model's own speed (time to first token, tokens/s)."""
    path = installed_path(MODELS[name], models_dir)
    if path is None:
        return {}
    start = time.perf_counter()
    model = LlamaCppChatModel(path, LLMSettings(model=name, max_tokens=96))
    load_s = time.perf_counter() - start
    forced = settings.model_copy(update={"ladder": LadderSettings(faq_threshold=9.0,
                                                                   rag_threshold=0.0)})
    agent = build_agent(forced, kb=kb, chat_model=model)
    answer_ms, ttft, rates, answered = [], [], [], 0
    for question in LLM_QUESTIONS:
        start = time.perf_counter()
        answered += agent.ask(question).route in ("faq", "rag")
        answer_ms.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        first, count = None, 0
        for _ in model.stream([Message("user", f"Translate into Chinese: {question}")]):
            first = first or time.perf_counter()
            count += 1
        if first is not None:
            ttft.append((first - start) * 1000)
            rates.append(count / max(time.perf_counter() - first, 1e-9))
    first_ms, checked_ms = _checked_translations(agent, kb)
    return {"load_s": load_s, "questions": len(LLM_QUESTIONS), "answered": answered,
            "translation_first_token_p50_ms": statistics.median(first_ms),
            "translation_checked_p50_ms": statistics.median(checked_ms),
            "checked_over_first_token": statistics.median(
                c / f for c, f in zip(checked_ms, first_ms, strict=True)),
            "answer_first_question_ms": answer_ms[0],
            "answer_p50_ms": statistics.median(answer_ms),
            "ttft_p50_ms": statistics.median(ttft) if ttft else float("nan"),
            "tokens_per_s": statistics.median(rates) if rates else float("nan")}


class FirstToken:
    """A chat model that notes when the first token of each reply came."""

    def __init__(self, model: LlamaCppChatModel) -> None:
        self.model = model
        self.prompt_tokens = model.prompt_tokens
        self.first: float | None = None

    def stream(self, messages):  # type: ignore[no-untyped-def]
        for token in self.model.stream(messages):
            self.first = self.first or time.perf_counter()
            yield token

    def label_probs(self, messages, labels):  # type: ignore[no-untyped-def]
        return self.model.label_probs(messages, labels)

    def count_tokens(self, text: str) -> int:
        return self.model.count_tokens(text)


def _checked_translations(agent, kb) -> tuple[list[float], list[float]]:  # type: ignore[no-untyped-def]
    """What showing only checked text costs: for English curated answers put into Chinese
    (the one text the LLM writes), ms to the first token, which an unchecked stream would
    show, and ms to the checked translation, which kefu shows."""
    timed = FirstToken(agent.chat_model)
    agent.chat_model = timed
    first_ms, checked_ms = [], []
    answers = [e.answer for e in kb.entries().values() if e.kind == "faq" and e.lang == "en"]
    try:
        for answer in answers[:TRANSLATIONS]:
            timed.first = None
            start = time.perf_counter()
            agent.translated("zh", answer)
            checked_ms.append((time.perf_counter() - start) * 1000)
            first_ms.append(((timed.first or time.perf_counter()) - start) * 1000)
    finally:
        agent.chat_model = timed.model
    return first_ms, checked_ms


def run(skip_llm: bool) -> dict[str, object]:
    real_models = load_settings().models_dir
    with tempfile.TemporaryDirectory(prefix="kefu-bench-") as home:
        os.environ["KEFU_HOME"] = home
        settings = load_settings()
        kb = open_knowledge_base(settings, "demo")
        entries = [e for path in demo_files() for e in load_path(path).entries]
        start = time.perf_counter()
        kb.ingest(entries)
        ingest_s = time.perf_counter() - start
        agent = build_agent(settings.model_copy(update={"llm": LLMSettings(backend="none")}),
                            kb=kb)
        questions = [e.question for e in entries if e.kind == "faq"]
        questions += [a for e in entries for a in e.alt_questions]
        retrieval_ms = []
        for question in questions:
            start = time.perf_counter()
            agent.retriever.search(question)
            retrieval_ms.append((time.perf_counter() - start) * 1000)
        faq_ms, routes = [], []
        for question in questions[:40]:
            start = time.perf_counter()
            routes.append(agent.ask(question).route)
            faq_ms.append((time.perf_counter() - start) * 1000)
        cli_ms = []
        for question in questions[:5]:
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                kefu_main(["ask", question, "--kb", "demo", "--json"])
            cli_ms.append((time.perf_counter() - start) * 1000)
        results: dict[str, object] = {
            "ingest": {"entries": len(entries), "seconds": ingest_s,
                       "entries_per_s": len(entries) / ingest_s},
            "retrieval": {"queries": len(retrieval_ms),
                          "p50_ms": statistics.median(retrieval_ms),
                          "p95_ms": percentile(retrieval_ms, 0.95)},
            "faq_route": {"questions": len(faq_ms), "share_faq": routes.count("faq") / len(routes),
                          "agent_p50_ms": statistics.median(faq_ms),
                          "kefu_ask_in_process_p50_ms": statistics.median(cli_ms)},
        }
        if not skip_llm:
            results["llm"] = {name: bench_llm(name, real_models, settings, kb) for name in MODELS}
        kb.close()
    return results


def table(results: dict[str, object]) -> str:
    rows = []
    for group, values in results.items():
        for key, value in values.items():  # type: ignore[attr-defined]
            if isinstance(value, dict):
                rows += [(f"{group}.{key}.{k}", v) for k, v in value.items()]
            else:
                rows.append((f"{group}.{key}", value))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value:>10.2f}" if isinstance(value, float)
                     else f"{name:<{width}}  {value:>10}" for name, value in rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/core.json")
    parser.add_argument("--skip-llm", action="store_true")
    args = parser.parse_args()
    results = run(args.skip_llm)
    print(table(results))
    write_results(args.out, results)
    print(f"\nwritten to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
