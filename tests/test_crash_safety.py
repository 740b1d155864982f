"""kill -9 in the middle of an ingest, then run it again: as if it had run once."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from kefu.config import load_settings
from kefu.knowledge_base.store import open_knowledge_base

ROWS = 3000


def _ingest(home, csv_path):
    env = {**os.environ, "KEFU_HOME": str(home)}
    return subprocess.Popen([sys.executable, "-m", "kefu.cli", "ingest", str(csv_path),
                             "--kb", "crash"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _rows(home):
    try:
        with sqlite3.connect(f"file:{home}/kb/crash/kb.sqlite?mode=ro", uri=True) as db:
            return db.execute("SELECT count(*) FROM entries").fetchone()[0]
    except sqlite3.Error:
        return 0


def _kill_after(home, csv_path, at_least):
    process = _ingest(home, csv_path)
    deadline = time.monotonic() + 120
    while _rows(home) < at_least and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert process.poll() is None, "the ingest finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    return _rows(home)


def _state(home):
    settings = load_settings(environ={"KEFU_HOME": str(home)})
    kb = open_knowledge_base(settings, "crash")
    db = sqlite3.connect(home / "kb" / "crash" / "kb.sqlite")
    state = {
        "entries": sorted(db.execute("SELECT id, hash FROM entries")),
        "bm25": sorted(db.execute("SELECT entry_id, tokens FROM bm25")),
        "vectors": sorted(kb.vectors._col.get(include=[])["ids"]),
    }
    kb.close()
    return state


@pytest.mark.slow
def test_kill_9_during_ingest_then_rerun_equals_one_clean_run(tmp_path):
    csv_path = tmp_path / "faq.csv"
    lines = ["id,question,answer,alt_questions"]
    lines += [f"e{i},Question number {i} about item {i % 97}?,Answer {i}.,Q{i} again|Q{i} more"
              for i in range(ROWS)]
    csv_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    crashed, clean = tmp_path / "crashed", tmp_path / "clean"

    first = _kill_after(crashed, csv_path, at_least=200)
    second = _kill_after(crashed, csv_path, at_least=first + 300)
    assert 0 < first < second < ROWS
    assert _ingest(crashed, csv_path).wait(timeout=300) == 0
    assert _ingest(clean, csv_path).wait(timeout=300) == 0

    after_crashes, reference = _state(crashed), _state(clean)
    assert len(reference["entries"]) == ROWS
    assert len(reference["vectors"]) == ROWS * 4  # question, two alternatives, answer
    assert after_crashes == reference
