"""Run every question of a dataset through retrieval and the ladder; resumable."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

from tqdm import tqdm

from kefu.agent.chat_models import build_chat_model
from kefu.agent.factory import build_agent
from kefu.agent.ladder import Agent
from kefu.agent.translation import EntryTranslator
from kefu.config import LLMSettings, Settings
from kefu.evals.datasets import Dataset, Query
from kefu.evals.grounding import agreement, groundedness
from kefu.evals.judge import Judge
from kefu.evals.metrics import K_MAX, Record
from kefu.knowledge_base.store import open_knowledge_base
from kefu.knowledge_base.text import detect_lang
from kefu.knowledge_base.twins import twin_id
from kefu.types import Answer, ChatModel


def eval_settings(settings: Settings) -> Settings:
    """Evaluation knowledge bases live apart from the shop's own, under KEFU_HOME/evals."""
    return settings.model_copy(update={"home": settings.home / "evals"})


def build_eval_agent(dataset: Dataset, settings: Settings, retrieval_only: bool,
                     chat_model: ChatModel | None = None, progress: bool = True) -> Agent:
    """Import the dataset's entries (unchanged ones are skipped) and wire the agent; the
    LLM comes from the shop's own models folder."""
    kb_settings = eval_settings(settings)
    name = "eval-" + "".join(c if c.isalnum() else "-" for c in dataset.name.lower())[:40]
    kb = open_knowledge_base(kb_settings, name)
    wanted = {e.id for e in dataset.entries}
    kb.delete([e.id for e in kb.entries().values()
               if e.id not in wanted and not e.translated_from])  # a twin goes with its source
    kb.ingest(dataset.entries, progress=progress)
    if retrieval_only:
        kb_settings = kb_settings.model_copy(update={"llm": LLMSettings(backend="none")})
    elif chat_model is None:
        chat_model = build_chat_model(settings.llm, settings.models_dir)
    agent = build_agent(kb_settings, kb=kb, chat_model=chat_model)
    if not retrieval_only and settings.llm.translate_entries:
        EntryTranslator(agent).fill(kb, progress=progress,  # as the server does (cached)
                                    documents=settings.llm.translate_documents)
    return agent


def evaluate(dataset: Dataset, agent: Agent, retrieval_only: bool,
             checkpoint: Path | None = None, progress: bool = True,
             judge: Judge | None = None) -> list[Record]:
    """One Record per question, in dataset order; done questions are read from checkpoint."""
    mode = "retrieval-only" if retrieval_only else "full"
    header: dict[str, object] = {"fingerprint": dataset.fingerprint, "mode": mode,
              "judge": judge is not None}
    done = _read_checkpoint(checkpoint, header)
    if checkpoint is not None:
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
    out = open(checkpoint, "a", encoding="utf-8") if checkpoint else None  # noqa: SIM115
    try:
        if out is not None and not done:
            out.write(json.dumps(header) + "\n")
        todo = [q for q in dataset.queries if q.id not in done]
        agent.retriever.search("warm-up")  # load jieba and the embedder before timing
        for query in tqdm(todo, desc=f"evaluating {dataset.name}", unit="q",
                          disable=not progress, initial=len(done), total=len(dataset.queries)):
            record = _one(agent, query, retrieval_only, judge)
            done[query.id] = record
            if out is not None:
                out.write(json.dumps(asdict(record), ensure_ascii=False) + "\n")
                out.flush()
    finally:
        if out is not None:
            out.close()
    return [done[q.id] for q in dataset.queries]


def _one(agent: Agent, query: Query, retrieval_only: bool,
         judge: Judge | None = None) -> Record:
    """One question through the ladder. A dialogue's last turn is read in its conversation
    (the rule's rewrite without the LLM, the agent's own with it); the ranking is measured
    on what retrieval searched for."""
    lang = detect_lang(query.text)
    start = time.perf_counter()
    if retrieval_only:
        searched, hits = agent.search(query.text, lang, query.history, k=K_MAX)
        latency_ms = (time.perf_counter() - start) * 1000
        decision = agent.decide(lang, hits[: agent.retriever.cfg.top_k])
        route, answer, reason = decision.route, "", decision.reason
        sources = tuple(h.entry.origin for h in decision.hits[:1 if route == "rag" else None])
        grounded = agrees = -1.0
        verdict = ""
    else:
        rewrite, final = "", None
        for event in agent.answer(query.text, query.history):
            if event.kind == "rewrite":
                rewrite = event.text
            elif event.kind == "answer":
                final = event.answer
        latency_ms = (time.perf_counter() - start) * 1000
        assert final is not None
        searched, hits = agent.search(query.text, lang, query.history, rewrite, K_MAX)
        route, answer, reason = final.route, final.answer, final.reason
        sources = tuple(s.id for s in final.sources)
        grounded, agrees, verdict = _judged(agent, query, final, judge) if route == "rag" \
            else (-1.0, -1.0, "")
    ranked = tuple((h.entry.origin, round(h.score, 5)) for h in hits)
    rewritten = searched if searched != query.text else ""
    return Record(query.id, query.text, query.lang, query.kind, query.gold, ranked, route,
                  round(latency_ms, 3), query.oos_kind, answer, sources, rewritten,
                  round(grounded, 4), round(agrees, 4), verdict, reason, query.facts)


def _judged(agent: Agent, query: Query, final: Answer,
            judge: Judge | None) -> tuple[float, float, str]:
    """An LLM answer's groundedness in its cited entries, its agreement with the gold
    answer (the dataset's, else the gold entries'), and the judge's verdict if asked. A
    source the customer read translated is its twin in the answer's language where there
    is one (the text the answer was cut from), else the figures of the shop's own text; a
    gold entry's twin in that language is a gold answer too."""
    entries = agent.kb.entries()

    def read(entry_id: str) -> str:  # an entry's id, or its twin's in the answer's language
        twin = twin_id(entry_id, final.lang)
        return twin if twin in entries else entry_id

    cited = [entries[i] for i in (read(s.id) for s in final.sources) if i in entries]
    grounded = groundedness(final.answer, [t for e in cited for t in (e.question, e.answer)],
                            words_too=all(e.lang == final.lang for e in cited))
    golds = list(query.answers) or [entries[i].answer for g in query.gold
                                    for i in dict.fromkeys((g, read(g))) if i in entries]
    agrees = agreement(final.answer, golds, agent.kb.embedder)
    verdict = judge(query.text, " / ".join(golds), final.answer, final.lang) \
        if judge is not None and golds else ""
    return grounded, agrees, verdict


def _read_checkpoint(path: Path | None, header: dict[str, object]) -> dict[str, Record]:
    """Records of an interrupted run of the same dataset and mode; else a fresh start."""
    if path is None or not path.exists():
        return {}
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or _json(lines[0]) != header:
        path.unlink()
        return {}
    records = {}
    for line in lines[1:]:
        row = _json(line)
        if row:  # a line cut short by the interruption is simply redone
            row["gold"] = tuple(row["gold"])
            row["sources"] = tuple(row.get("sources", ()))
            row["facts"] = tuple(row.get("facts", ()))
            row["ranked"] = tuple(tuple(pair) for pair in row["ranked"])
            records[row["id"]] = Record(**row)
    return records


def _json(line: str) -> dict | None:
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def write_atomic(path: Path, text: str) -> None:
    """Write text to path through a temporary file, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)


def iter_misses(records: list[Record]) -> Iterator[Record]:
    """In-scope questions whose first answer was wrong, most confidently wrong first."""
    misses = [r for r in records if r.kind == "in" and r.rank() != 1]
    yield from sorted(misses, key=lambda r: -r.top_score)
