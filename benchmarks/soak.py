"""Soak: simulated customers against `kefu serve` on loopback for --minutes, ordinary,
follow-up, streamed, malformed, hostile and very long messages mixed, while the server is
killed (SIGKILL) and restarted twice and, with --llm-server, the OpenAI-compatible LLM
server (`python -m llama_cpp.server`) is stopped for a minute. Loopback only; it stops by
itself.

    python benchmarks/soak.py --minutes 30 --customers 8 --llm-server
    python benchmarks/soak.py --minutes 5 --llm-server --workers 2   # several workers
    python benchmarks/soak.py --minutes 5 --scale-demo                # two "machines"

With --workers N, `kefu serve --workers N` answers with a `chroma run` server holding the
knowledge base, and each kill is of one worker (uvicorn starts another), not of the server.
With --scale-demo, `scripts/scale-demo.sh up` starts PostgreSQL, Redis, a Chroma server, the
LLM server, two kefu workers and nginx; the customers talk to nginx, and half-way through one
worker is killed for good (as a machine lost), nginx sending its share to the other.

What it measures: server errors (HTTP 5xx, a broken stream, a refused connection) outside
the kill windows; acknowledged replies (a reply with its message number) missing from the
conversation database afterwards; the server's resident memory at start, half-way, peak and
end of each run between kills; curated-answer p95; replies by route. Prints a table and writes
benchmarks/results/soak.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_results  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MODELS_DIR = Path(os.environ.get("KEFU_HOME", "~/.kefu")).expanduser() / "models"
LLM_BAND = ["春节期间发货吗？", "Do you ship during Chinese New Year?",
            "my parcel arrived crushed, what should I do?", "包裹压坏了怎么办？",
            "can I change the delivery address after ordering?", "下单后还能改地址吗？",
            "how long until the refund reaches my card?", "is the lamp warranty transferable?"]
FOLLOW_UPS = [("How much does shipping cost?", "and for express delivery?"),
              ("退货运费谁承担？", "那换货呢？")]
STORY = ("I bought a floor lamp from you last month for my mother's birthday and it was "
         "lovely at first, but then the switch started to flicker and now it is dead. ")
MALFORMED: list[tuple[str, Any]] = [
    ("raw", b"{not json"), ("json", {"message": 5}), ("json", {"message": ""}),
    ("json", {"message": "x" * 5000}), ("json", {"message": "hi", "session_id": "../etc"}),
    ("json", {"session_id": "abc"})]


@dataclass
class Request:
    kind: str
    start: float
    end: float
    status: int  # HTTP status; 0: no connection; -1: a stream without its answer
    route: str = ""
    session: str = ""
    message_id: int = 0
    by_llm: bool = False  # the LLM chose the entry the reply comes from


@dataclass
class Run:
    """One life of the server, from start to kill (or the end)."""

    pid: int
    started: float
    healthy: float = 0.0
    ended: float = 0.0
    rss_mb: list[float] = field(default_factory=list)


class Soak:
    def __init__(self, args: argparse.Namespace, home: Path) -> None:
        self.args = args
        self.home = home
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.rng = random.Random(args.seed)
        self.records: list[Request] = []
        self.lock = threading.Lock()
        self.runs: list[Run] = []
        self.kill_windows: list[tuple[float, float]] = []
        self.llm_down: list[tuple[float, float]] = []
        self.server: subprocess.Popen[bytes] | None = None
        self.llm: subprocess.Popen[bytes] | None = None
        self.llm_port = _free_port()
        self.stop = threading.Event()
        self.scale_workers: list[int] = []  # --scale-demo: the workers' process ids
        self.database_url = ""
        self.curated = _curated_questions()
        self.hostile = [json.loads(line)["text"] for line in
                        (REPO / "tests/data/hostile.jsonl").open(encoding="utf-8")]

    # -- processes ----------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        env = {**os.environ, "KEFU_HOME": str(self.home), "KEFU_SERVER__PORT": str(self.port),
               "KEFU_SERVER__RATE_PER_IP": "100000", "KEFU_LLM__TRANSLATE_ENTRIES": "false"}
        if self.args.workers > 1:
            env |= {"KEFU_STORE__CLIENT": "http", "KEFU_STORE__PORT": str(self.args.chroma_port)}
        if self.args.llm_server:
            env |= {"KEFU_LLM__BACKEND": "openai",
                    "KEFU_LLM__BASE_URL": f"http://127.0.0.1:{self.llm_port}/v1",
                    "KEFU_LLM__TIMEOUT_S": "30"}
        return env

    def start_server(self) -> None:
        log = (self.home / "server.log").open("ab")
        self.server = subprocess.Popen(
            [sys.executable, "-m", "kefu.cli", "serve", "--kb", "demo", "--workers",
             str(self.args.workers)], env=self.env(),
            stdout=log, stderr=log)
        run = Run(self.server.pid, time.monotonic())
        self.runs.append(run)
        _wait_for(f"{self.url}/healthz", self.server, 180)
        run.healthy = time.monotonic()

    def start_scale_demo(self) -> None:
        env = {**os.environ, "KEFU_HOME": str(self.home), "SCALE_DEMO_DIR":
               str(self.home / "scale"), "KEFU_SERVER__RATE_PER_IP": "100000",
               "KEFU_LLM__TRANSLATE_ENTRIES": "false", "KEFU_LLM__TIMEOUT_S": "30"}
        up = subprocess.run(["bash", str(REPO / "scripts/scale-demo.sh"), "up"], env=env,
                            capture_output=True, text=True, check=True)
        front = up.stdout.strip().splitlines()[-1].split()[0]
        self.url = front.removeprefix("front=")
        started = (self.home / "scale" / "started").read_text().split("\n")
        self.scale_workers = [int(line.split()[1]) for line in started
                              if line.startswith("worker")]
        self.database_url = next(
            line.split("'")[1] for line in (self.home / "scale" / "env").read_text()
            .splitlines() if line.startswith("export KEFU_STORE__DATABASE_URL="))
        self.runs.append(Run(self.scale_workers[0], time.monotonic(), time.monotonic()))

    def stop_scale_demo(self) -> None:
        if self.args.keep_logs:
            Path(self.args.keep_logs).mkdir(parents=True, exist_ok=True)
            for log in (self.home / "scale").glob("*.log"):
                shutil.copy(log, self.args.keep_logs)
        subprocess.run(["bash", str(REPO / "scripts/scale-demo.sh"), "down"],
                       env={**os.environ, "SCALE_DEMO_DIR": str(self.home / "scale")},
                       capture_output=True, check=False)

    def kill_a_machine(self) -> None:
        """SIGKILL the first worker for good; the window: until nginx has noticed."""
        killed = time.monotonic()
        os.kill(self.scale_workers.pop(0), signal.SIGKILL)
        self.kill_windows.append((killed, killed + 5.0))

    def start_llm(self) -> None:
        path = MODELS_DIR / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
        log = (self.home / "llm.log").open("ab")
        self.llm = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(path), "--host",
             "127.0.0.1", "--port", str(self.llm_port), "--n_ctx", "4096", "--n_threads", "2"],
            stdout=log, stderr=log)
        _wait_for(f"http://127.0.0.1:{self.llm_port}/v1/models", self.llm, 180)

    def kill_and_restart(self) -> None:
        assert self.server is not None
        if self.args.workers > 1:
            self.kill_a_worker()
            return
        killed = time.monotonic()
        self.server.send_signal(signal.SIGKILL)
        self.server.wait()
        self.runs[-1].ended = killed
        self.start_server()
        self.kill_windows.append((killed, time.monotonic()))

    def kill_a_worker(self) -> None:
        """SIGKILL one worker; the window lasts until uvicorn has started its replacement."""
        assert self.server is not None
        workers = _children(self.server.pid, workers_only=True)
        killed = time.monotonic()
        os.kill(workers[0], signal.SIGKILL)
        deadline = killed + 180
        while time.monotonic() < deadline:
            alive = [p for p in _children(self.server.pid, True) if p != workers[0]]
            if len(alive) >= self.args.workers:
                break
            time.sleep(0.1)
        _wait_for(f"{self.url}/healthz", self.server, 180)
        self.kill_windows.append((killed, time.monotonic()))

    def stop_llm_for(self, seconds: float) -> None:
        assert self.llm is not None
        stopped = time.monotonic()
        self.llm.terminate()
        self.llm.wait(30)
        self.stop.wait(seconds)
        self.start_llm()
        self.llm_down.append((stopped, time.monotonic()))

    # -- customers ----------------------------------------------------------------------
    def customer(self, number: int) -> None:
        rng = random.Random(self.args.seed * 1000 + number)
        with httpx.Client(base_url=self.url, timeout=120) as http:
            while not self.stop.is_set():
                kind = rng.choices(["curated", "llm", "follow-up", "stream", "hostile", "long",
                                    "malformed"], weights=[30, 12, 10, 12, 12, 8, 16])[0]
                self.visit(http, rng, kind)
                self.stop.wait(rng.uniform(0.2, 1.5))

    def visit(self, http: httpx.Client, rng: random.Random, kind: str) -> None:
        if kind == "malformed":
            how, body = rng.choice(MALFORMED)
            self.post(http, kind, body if how == "json" else None,
                      raw=body if how == "raw" else None)
        elif kind == "follow-up":
            first, then = rng.choice(FOLLOW_UPS)
            session = self.post(http, kind, {"message": first})
            if session:
                self.post(http, kind, {"message": then, "session_id": session})
        elif kind == "stream":
            self.stream(http, rng.choice(self.curated + LLM_BAND))
        else:
            message = {"curated": lambda: rng.choice(self.curated),
                       "llm": lambda: rng.choice(LLM_BAND),
                       "hostile": lambda: rng.choice(self.hostile),
                       "long": lambda: (STORY * 40)[:3800] + " Can I get it repaired?"}[kind]()
            self.post(http, kind, {"message": message})

    def post(self, http: httpx.Client, kind: str, body: Any, raw: bytes | None = None) -> str:
        start = time.monotonic()
        try:
            response = http.post("/api/v1/chat", json=body, content=raw,
                                 headers={"content-type": "application/json"})
            status, reply = response.status_code, _json(response)
        except httpx.HTTPError:
            status, reply = 0, {}
        self.note(_request(kind, start, status, reply))
        return str(reply.get("session_id", "")) if status == 200 else ""

    def stream(self, http: httpx.Client, message: str) -> None:
        start = time.monotonic()
        last: dict[str, Any] = {}
        status = 0
        try:
            with http.stream("POST", "/api/v1/chat/stream", json={"message": message}) as r:
                status = r.status_code
                kind = ""
                for line in r.iter_lines():
                    if line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("data: ") and kind == "answer":
                        last = json.loads(line[6:])
            if status == 200 and not last:
                status = -1  # the stream ended without its answer
        except httpx.HTTPError:
            status = 0 if status == 0 else -1
        self.note(_request("stream", start, status, last))

    def note(self, request: Request) -> None:
        with self.lock:
            self.records.append(request)

    # -- the run ------------------------------------------------------------------------
    def sample_memory(self) -> None:
        while not self.stop.is_set():
            run = self.runs[-1] if self.runs else None
            if run is not None and run.healthy and not run.ended:
                pids = self.scale_workers or [run.pid, *_children(run.pid)]
                rss = sum(_rss_mb(pid) for pid in pids)
                if rss:
                    run.rss_mb.append(rss)
            self.stop.wait(1.0)

    def run(self) -> dict[str, Any]:
        if self.args.scale_demo:
            self.start_scale_demo()
        else:
            if self.args.llm_server:
                self.start_llm()
            self.start_server()
        began = time.monotonic()
        duration = self.args.minutes * 60
        threads = [threading.Thread(target=self.customer, args=(i,), daemon=True)
                   for i in range(self.args.customers)]
        threads.append(threading.Thread(target=self.sample_memory, daemon=True))
        for thread in threads:
            thread.start()
        kill = ("SIGKILL a worker (uvicorn starts another)" if self.args.workers > 1
                else "SIGKILL the server, restart it")
        events = [(0.30, kill, self.kill_and_restart), (0.65, kill, self.kill_and_restart)]
        if self.args.scale_demo:
            events = [(0.5, "SIGKILL worker 1 for good (nginx sends its share to worker 2)",
                       self.kill_a_machine)]
        elif self.args.llm_server:
            outage = min(60.0, duration * 0.1)
            events.append((0.45, f"stop the LLM server for {outage:.0f} s",
                           lambda: self.stop_llm_for(outage)))
        for at, what, action in sorted(events, key=lambda e: e[0]):
            self.stop.wait(max(0.0, began + at * duration - time.monotonic()))
            print(f"[{time.monotonic() - began:5.0f} s] {what}", flush=True)
            action()
        self.stop.wait(max(0.0, began + duration - time.monotonic()))
        self.stop.set()
        for thread in threads:
            thread.join(150)
        ended = time.monotonic()
        self.runs[-1].ended = ended
        results = self.results(ended - began)
        if self.args.scale_demo:
            self.stop_scale_demo()
            return results
        assert self.server is not None
        self.server.terminate()
        self.server.wait(30)
        if self.llm is not None:
            self.llm.terminate()
            self.llm.wait(30)
        return results

    def results(self, seconds: float) -> dict[str, Any]:
        def in_window(r: Request, windows: list[tuple[float, float]]) -> bool:
            return any(r.start <= end and r.end >= start for start, end in windows)

        failed = [r for r in self.records if r.status in (0, -1) or r.status >= 500]
        outside = [r for r in failed if not in_window(r, self.kill_windows)]
        acknowledged = [r for r in self.records if r.status == 200 and r.message_id]
        stored = (_stored_postgres(self.database_url) if self.args.scale_demo
                  else _stored_sqlite(self.home / "conversations.sqlite"))
        lost = _lost(stored, acknowledged)
        curated = [r.end - r.start for r in self.records
                   if r.status == 200 and r.route == "faq" and r.kind == "curated"]
        during_llm_outage = [r for r in self.records if in_window(r, self.llm_down)]
        routes: dict[str, int] = {}
        for r in self.records:
            key = r.route or str(r.status)
            routes[key] = routes.get(key, 0) + 1
        return {
            "minutes": round(seconds / 60, 1), "customers": self.args.customers,
            "backend": "openai (llama_cpp.server)" if self.args.llm_server
            or self.args.scale_demo else "llama-cpp",
            "workers": "2 behind nginx (scale demo)" if self.args.scale_demo
            else self.args.workers,
            "requests": len(self.records),
            "server_errors_outside_kills": len(outside),
            "server_errors_in_kill_windows": len(failed) - len(outside),
            "kill_windows_s": [round(b - a, 1) for a, b in self.kill_windows],
            "acknowledged": len(acknowledged), "acknowledged_lost": lost,
            "integrity": "PostgreSQL" if self.args.scale_demo
            else _integrity(self.home / "conversations.sqlite"),
            "llm_outage_s": [round(b - a, 1) for a, b in self.llm_down],
            "requests_during_llm_outage": len(during_llm_outage),
            "errors_during_llm_outage": sum(r in failed for r in during_llm_outage),
            "curated_p50_ms": round(1000 * statistics.median(curated), 1) if curated else None,
            "curated_p95_ms": round(1000 * _p95(curated), 1) if curated else None,
            "llm_answers_per_minute": round(sum(r.by_llm for r in self.records)
                                            / (seconds / 60), 1),
            "replies": dict(sorted(routes.items())),
            "memory_mb": [{"start": run.rss_mb[0], "half": run.rss_mb[len(run.rss_mb) // 2],
                           "peak": max(run.rss_mb), "end": run.rss_mb[-1],
                           "minutes": round((run.ended - run.healthy) / 60, 1)}
                          for run in self.runs if run.rss_mb],
            "runs": [asdict(run) | {"rss_mb": len(run.rss_mb)} for run in self.runs],
        }


def _request(kind: str, start: float, status: int, reply: dict[str, Any]) -> Request:
    return Request(kind, start, time.monotonic(), status, str(reply.get("route", "")),
                   str(reply.get("session_id", "")), int(reply.get("message_id") or 0),
                   str(reply.get("reason", "")).startswith("the LLM chose"))


def _curated_questions() -> list[str]:
    from kefu.demo import demo_files
    from kefu.knowledge_base.loaders import load_path

    return [e.question for path in demo_files() for e in load_path(path).entries
            if e.kind == "faq"]


def _stored_sqlite(path: Path) -> set[tuple[str, int, str]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return set(db.execute("SELECT session_id, seq, role FROM messages"))


def _stored_postgres(url: str) -> set[tuple[str, int, str]]:
    import psycopg

    with psycopg.connect(url) as db:
        return {tuple(row) for row in db.execute("SELECT session_id, seq, role FROM messages")}


def _lost(stored: set[tuple[str, int, str]], acknowledged: list[Request]) -> int:
    """Acknowledged replies (and the customer's message before each) not in the database."""
    return sum((r.session, r.message_id, "assistant") not in stored
               or (r.session, r.message_id - 1, "user") not in stored for r in acknowledged)


def _integrity(path: Path) -> str:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


def _children(pid: int, workers_only: bool = False) -> list[int]:
    """The live processes whose parent is pid, oldest first; workers_only: uvicorn's
    workers (spawned by multiprocessing), not its resource tracker."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, parent = stat.read_text().rsplit(")", 1)[1].split()[:2]
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(parent) == pid and state != "Z" and (
                not workers_only or b"spawn_main" in command):
            found.append(int(stat.parent.name))
    return sorted(found)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(url: str, process: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[:4]} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer in {seconds:.0f} s")


def _print(results: dict[str, Any]) -> None:
    memory = results["memory_mb"]
    rows = [
        ("minutes, customers, LLM backend, workers",
         f"{results['minutes']}, {results['customers']}, {results['backend']}, "
         f"{results['workers']}"),
        ("requests", results["requests"]),
        ("server errors outside the kill windows", results["server_errors_outside_kills"]),
        ("failed requests inside the kill windows (s)",
         f"{results['server_errors_in_kill_windows']} ({results['kill_windows_s']})"),
        ("acknowledged replies / lost", f"{results['acknowledged']} / "
                                         f"{results['acknowledged_lost']}"),
        ("conversation database integrity", results["integrity"]),
        ("LLM server stopped (s): requests / errors",
         f"{results['llm_outage_s']}: {results['requests_during_llm_outage']} / "
         f"{results['errors_during_llm_outage']}"),
        ("curated answers p50 / p95 ms", f"{results['curated_p50_ms']} / "
                                         f"{results['curated_p95_ms']}"),
        ("LLM answers per minute", results["llm_answers_per_minute"]),
        ("memory MB per run between kills (start / half-way / peak / end, minutes)",
         "; ".join(f"{m['start']:.0f} / {m['half']:.0f} / {m['peak']:.0f} / {m['end']:.0f}, "
                   f"{m['minutes']}" for m in memory)),
        ("replies by route or status", results["replies"]),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--customers", type=int, default=8)
    parser.add_argument("--llm-server", action="store_true",
                        help="the LLM in `python -m llama_cpp.server`, stopped for a minute")
    parser.add_argument("--workers", type=int, default=1,
                        help="kefu serve --workers N, with a `chroma run` server")
    parser.add_argument("--scale-demo", action="store_true",
                        help="scripts/scale-demo.sh: two workers behind nginx, one killed")
    parser.add_argument("--keep-logs", metavar="DIR",
                        help="with --scale-demo: copy the servers' logs to DIR at the end")
    parser.add_argument("--seed", type=int, default=20261202)
    parser.add_argument("--out", default="benchmarks/results/soak.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kefu-soak-") as tmp:
        home = Path(tmp)
        (home / "models").symlink_to(MODELS_DIR)
        env = {**os.environ, "KEFU_HOME": str(home)}
        chroma = None
        if args.workers > 1:
            args.chroma_port = _free_port()
            chroma = subprocess.Popen(
                [str(Path(sys.executable).with_name("chroma")), "run", "--path",
                 str(home / "chroma-server"), "--host", "127.0.0.1", "--port",
                 str(args.chroma_port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            _wait_for(f"http://127.0.0.1:{args.chroma_port}/api/v2/heartbeat", chroma, 60)
            env |= {"KEFU_STORE__CLIENT": "http", "KEFU_STORE__PORT": str(args.chroma_port)}
        try:
            if not args.scale_demo:  # the scale demo imports the demo itself
                subprocess.run([sys.executable, "-m", "kefu.cli", "ingest", "--demo", "--kb",
                                "demo", "--no-translate"], env=env, check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            results = Soak(args, home).run()
        finally:
            if chroma is not None:
                chroma.terminate()
                chroma.wait(30)
    _print(results)
    write_results(args.out, results)
    return 0 if not results["server_errors_outside_kills"] and \
        not results["acknowledged_lost"] else 1


if __name__ == "__main__":
    sys.exit(main())
