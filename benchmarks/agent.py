"""Agent benchmark: time to first visible text and total time per route, and the prefix cache.

    python benchmarks/agent.py [--models small default] [--server small] [--limit 20]
                               [--out benchmarks/results/agent.json]

On the built-in demo shop (a throw-away KEFU_HOME), 20 customer questions per language go
through the whole ladder with each installed model: curated FAQ answers, "did you mean",
LLM answers from documents and reworded questions, and out-of-scope questions. Per route it
reports the median time to the first visible text (the first streamed token, or the whole
answer for routes without the LLM) and the median total time.

Prefix cache: every LLM call starts with the same system prompt, which llama.cpp keeps in
its KV cache. Each question is asked twice: once as it comes (the cache holds the question
before, which shares only the system prompt with it) and once right after the cache was
cleared; over the questions both runs send to the LLM route, the ratio of the medians is
the cache's gain.

--server runs the same questions through the OpenAI-compatible backend against a real
`python -m llama_cpp.server` with that model on a loopback port.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from common import write_results

from kefu.agent.chat_models import LlamaCppChatModel, OpenAIChatModel
from kefu.agent.factory import build_agent
from kefu.agent.model_files import MODELS, installed_path
from kefu.config import LLMSettings, load_settings
from kefu.demo import demo_files
from kefu.knowledge_base.loaders import load_path
from kefu.knowledge_base.store import open_knowledge_base

QUESTIONS = {
    "en": [
        # the FAQ's own wording or close to it
        "How much does shipping cost?", "Do you ship internationally?",
        "How do I start a return?", "Which payment methods do you accept?",
        "Can I get an invoice?", "How do I reset my password?",
        # reworded, or answered by a policy document: the LLM's band
        "do u take paypal", "How fast is a refund after I ship it back?",
        "Can I get faster shipping to Singapore?", "Is a scratched lamp covered?",
        "Do you ship during Chinese New Year?", "Can I send back an engraved lamp?",
        "What happens if my parcel is lost?", "Do I pay customs to Canada?",
        "Can I return an item or how long does shipping take?",
        # nothing in the knowledge base
        "What's the weather on Mars?", "Do you have a Christmas sale?",
        "Can you recommend a good lawyer?", "Tell me a joke", "Do you sell iPhones?",
    ],
    "zh": [
        "运费怎么算？", "可以开发票吗？", "退货运费谁承担？", "支持哪些付款方式？",
        "怎么修改收货地址？", "忘记密码怎么办？",
        "春节期间发货吗？", "新疆几天能到", "坏了能换新吗", "刻字的台灯能退吗",
        "退款多久到账", "包裹丢了怎么办", "可以货到付款吗", "保修期是多久",
        "换货和退货哪个快",
        "今天股市怎么样", "帮我写一首诗", "圣诞节有打折活动吗？", "北京明天天气如何",
        "你们卖苹果手机吗？",
    ],
}


def _timed(agent, question: str) -> tuple[str, float, float]:  # type: ignore[no-untyped-def]
    """(route, ms to the first visible text: the answer, kefu sends no text before it has
    checked it; total ms) of one question."""
    start = time.perf_counter()
    first = None
    route = ""
    for event in agent.answer(question):
        if event.kind == "answer" and event.answer is not None:
            first, route = time.perf_counter(), event.answer.route
    end = time.perf_counter()
    return route, ((first or end) - start) * 1000, (end - start) * 1000


def per_route(agent, questions: list[str]) -> dict[str, dict[str, float]]:  # type: ignore[no-untyped-def]
    runs: dict[str, list[tuple[float, float]]] = {}
    for question in questions:
        route, first, total = _timed(agent, question)
        runs.setdefault(route, []).append((first, total))
    return {route: {"n": len(v), "first_text_p50_ms": statistics.median(f for f, _ in v),
                    "total_p50_ms": statistics.median(t for _, t in v)}
            for route, v in sorted(runs.items())}


def prefix_cache(agent, model: LlamaCppChatModel, questions: list[str]) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Time to first token with the system prompt cached (the cache holds the question
    before, which shares only the system prompt) vs cleared, interleaved."""
    warm, cold = [], []
    for question in questions:
        route, first, _ = _timed(agent, question)
        model.reset_cache()
        route_cold, first_cold, _ = _timed(agent, question)
        if route == route_cold == "rag":
            warm.append(first)
            cold.append(first_cold)
    if not warm:
        return {}
    return {"questions": len(warm), "ttft_cached_p50_ms": statistics.median(warm),
            "ttft_cleared_p50_ms": statistics.median(cold),
            "cleared_over_cached": statistics.median(cold) / statistics.median(warm)}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(path: Path, log: Path) -> tuple[subprocess.Popen, str]:  # type: ignore[type-arg]
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(path), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "4096", "--n_threads", "2", "--n_batch", "512"],
        stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                return server, url
        except httpx.HTTPError:
            time.sleep(0.5)
    server.terminate()
    raise SystemExit(f"llama_cpp.server did not start; see {log}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=["small", "default"])
    parser.add_argument("--server", nargs="*", default=["small"],
                        help="models to run behind python -m llama_cpp.server")
    parser.add_argument("--limit", type=int, default=20, help="questions per language")
    parser.add_argument("--out", default="benchmarks/results/agent.json")
    args = parser.parse_args()

    models_dir = load_settings().models_dir
    questions = {lang: qs[: args.limit] for lang, qs in QUESTIONS.items()}
    results: dict[str, object] = {"questions_per_lang": args.limit}
    with tempfile.TemporaryDirectory(prefix="kefu-bench-agent-") as home:
        os.environ["KEFU_HOME"] = home
        settings = load_settings()
        kb = open_knowledge_base(settings, "demo")
        kb.ingest([e for path in demo_files() for e in load_path(path).entries])
        for name in args.models:
            path = installed_path(MODELS[name], models_dir)
            if path is None:
                print(f"skipping {name}: not installed (kefu models install --llm {name})")
                continue
            model = LlamaCppChatModel(path, LLMSettings(model=name))
            agent = build_agent(settings, kb=kb, chat_model=model)
            _timed(agent, "do u take paypal")  # load the weights into the page cache
            results[f"llama-cpp:{name}"] = {
                "routes": {lang: per_route(agent, qs) for lang, qs in questions.items()},
                "prefix_cache": prefix_cache(agent, model, questions["en"] + questions["zh"]),
            }
        for name in args.server:
            path = installed_path(MODELS[name], models_dir)
            if path is None:
                continue
            server, url = start_server(path, Path(home) / "server.log")
            try:
                cfg = LLMSettings(backend="openai", base_url=url, model=name)
                agent = build_agent(settings, kb=kb, chat_model=OpenAIChatModel(cfg))
                _timed(agent, "do u take paypal")
                results[f"openai:{name}"] = {
                    "routes": {lang: per_route(agent, qs) for lang, qs in questions.items()}}
            finally:
                server.terminate()
                server.wait(30)
        kb.close()
    print(table(results))
    write_results(args.out, results)
    return 0


def table(results: dict[str, object]) -> str:
    lines = [f"{'backend':<20} {'lang':<4} {'route':<8} {'n':>3} {'first ms':>9} {'total ms':>9}"]
    for backend, block in results.items():
        if not isinstance(block, dict):
            continue
        for lang, routes in block["routes"].items():
            for route, row in routes.items():
                lines.append(f"{backend:<20} {lang:<4} {route:<8} {row['n']:>3} "
                             f"{row['first_text_p50_ms']:>9.0f} {row['total_p50_ms']:>9.0f}")
        cache = block.get("prefix_cache")
        if cache:
            lines.append(f"{backend:<20} prefix cache: first token "
                         f"{cache['ttft_cached_p50_ms']:.0f} ms cached vs "
                         f"{cache['ttft_cleared_p50_ms']:.0f} ms cleared "
                         f"({cache['cleared_over_cached']:.2f}x, {cache['questions']} questions)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
