"""kefu against a real `chroma run` server: same code path as the embedded store."""

import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from kefu.config import RetrievalSettings, load_settings
from kefu.errors import KnowledgeBaseError
from kefu.knowledge_base.loaders import load_path
from kefu.knowledge_base.store import open_knowledge_base
from kefu.retrieval.hybrid import Retriever
from tests.servers import free_port

DATA = Path(__file__).parent / "data"
CHROMA = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))



@pytest.fixture
def chroma_server(tmp_path):
    port = free_port()
    server = subprocess.Popen([CHROMA, "run", "--path", str(tmp_path / "chroma-server"),
                               "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        server.kill()
        pytest.fail("chroma run did not start within 60 s")
    yield port
    server.terminate()
    server.wait(timeout=30)


def test_ingest_and_query_through_a_chroma_server(chroma_server, isolated_home, e5):
    settings = load_settings(environ={
        "KEFU_HOME": str(isolated_home), "KEFU_STORE__CLIENT": "http",
        "KEFU_STORE__HOST": "127.0.0.1", "KEFU_STORE__PORT": str(chroma_server)})
    kb = open_knowledge_base(settings, "served", embedder=e5)
    report = kb.ingest(load_path(DATA / "faq.csv").entries)
    assert report.added == 6 and kb.vectors.count() > 6
    hits = Retriever(kb, RetrievalSettings()).search("多久能收到货？")
    assert hits[0].entry.id == "t-zh-ship"
    kb.delete(["t-zh-ship"])
    assert all(h.entry.id != "t-zh-ship" for h in Retriever(kb, RetrievalSettings()).search(
        "多久能收到货？"))
    kb.close()


def test_an_unreachable_server_is_a_clear_error(isolated_home, e5):
    settings = load_settings(environ={
        "KEFU_HOME": str(isolated_home), "KEFU_STORE__CLIENT": "http",
        "KEFU_STORE__HOST": "127.0.0.1", "KEFU_STORE__PORT": str(free_port())})
    with pytest.raises(KnowledgeBaseError, match="cannot open the Chroma http store at 127.0.0.1"):
        open_knowledge_base(settings, "served", embedder=e5)
