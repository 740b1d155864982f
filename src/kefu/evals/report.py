"""The results JSON (stable keys, docs/evaluation.md) and the shop owner's HTML report."""

from __future__ import annotations

import base64
import datetime as dt
import io
from collections.abc import Sequence
from importlib import resources
from typing import Any

from jinja2 import Environment, StrictUndefined

from kefu import __version__
from kefu.agent.ladder import Agent
from kefu.evals.datasets import Dataset
from kefu.evals.metrics import (
    K_MAX,
    OUTCOMES,
    Record,
    calibrate,
    hit_curve,
    outcome,
    percentile,
    summarize,
)
from kefu.evals.runner import iter_misses

WORST_MISSES = 20


def build_results(dataset: Dataset, records: Sequence[Record], agent: Agent,
                  retrieval_only: bool) -> dict[str, Any]:
    kb = agent.kb
    entries = kb.entries()

    def describe(entry_id: str) -> str:
        entry = entries.get(entry_id)
        return entry.question if entry else ""

    misses = []
    for record in list(iter_misses(list(records)))[:WORST_MISSES]:
        got = record.ranked[0] if record.ranked else ("", 0.0)
        misses.append({
            "id": record.id, "query": record.text, "lang": record.lang, "route": record.route,
            "expected": [{"id": g, "question": describe(g)} for g in record.gold[:2]],
            "retrieved": {"id": got[0], "question": describe(got[0]), "score": got[1]},
            "expected_rank": record.rank(),
        })
    return {
        "dataset": dataset.name,
        "mode": "retrieval-only" if retrieval_only else "full",
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "kefu_version": __version__,
        "embedder": kb.embedder.model_id,
        "thresholds": {"faq": agent.cfg.faq_threshold, "rag": agent.cfg.rag_threshold,
                       "margin_weight": agent.cfg.margin_weight},
        "counts": {
            "entries": len(entries),
            "in_scope": sum(r.kind == "in" for r in records),
            "oos": sum(r.kind == "oos" for r in records),
            "dialogues": sum(r.kind == "dialogue" for r in records),
            "learned_phrasings": dataset.learned,
        },
        **summarize(records),
        "hit_curve": hit_curve([r for r in records if r.kind == "in"]),
        "calibration": calibrate(records),
        "worst_misses": misses,
        "load_problems": dataset.problems[:50],
        "questions": [{"id": r.id, "query": r.text, "lang": r.lang, "kind": r.kind,
                       "route": r.route, "reason": r.reason, "outcome": outcome(r),
                       "gold": list(r.gold), "sources": list(r.sources),
                       "top": r.ranked[0][0] if r.ranked else "", "rank": r.rank(),
                       "answer": r.answer, "has_facts": r.states_facts() if r.facts else None}
                      for r in records],
    }


def timed(results: dict[str, Any]) -> str:
    """What the latency figures time: the search alone, or the whole answer with the LLM."""
    return "search" if results["mode"] == "retrieval-only" else "answer (LLM included)"


def verdict(results: dict[str, Any]) -> list[str]:
    """Plain sentences for the top of the report."""
    lines = []
    retrieval, abstention = results["retrieval"], results["abstention"]
    answers = results["answers"]
    lines.append(
        f"{answers['accuracy']:.0%} of the questions your knowledge base can answer get a "
        f"correct answer. {answers['confidently_wrong']:.1%} of all questions get a "
        f"confidently wrong one (the worst outcome: a wrong entry, an unsupported or "
        f"disagreeing translation, or an answer to a question that has none); "
        f"{answers['abstained']:.0%} are handed to a person and {answers['suggested']:.0%} "
        f"get 'did you mean' questions.")
    if results["counts"]["in_scope"]:
        lines.append(
            f"For {retrieval['hit_at_1']:.0%} of the questions your knowledge base can answer, "
            f"kefu's first pick is the right entry ({retrieval['hit_at_5']:.0%} are in its top 5).")
        lines.append(
            f"It answers {results['routes']['faq']:.0%} of them with your FAQ answers and "
            f"{results['routes']['rag']:.0%} with sentences of your documents, offers "
            f"'did you mean' questions for {results['routes']['suggest']:.0%}, and hands "
            f"{results['routes']['abstain']:.0%} to a human.")
    if "gold_facts" in answers:
        lines.append(
            f"Of the {answers['n_with_facts']} answerable questions that say what a right "
            f"reply contains, {answers['gold_facts']:.0%} got all of it; "
            f"{answers['answered_without_facts']:.0%} got an answer without it.")
    if results["counts"]["oos"]:
        oos = results["routes_oos"]
        lines.append(
            f"Of the questions it cannot answer, it declines {abstention['recall']:.0%} "
            f"instead of guessing, offers 'did you mean' questions for {oos['suggest']:.0%} "
            f"and answers {oos['faq'] + oos['rag']:.0%} from an entry that does not answer "
            "them.")
    calibration = results.get("calibration")
    if calibration:
        test = calibration["test"]
        lines.append(
            f"With an abstain threshold chosen for this knowledge base "
            f"({calibration['rag_threshold']:.2f} instead of {results['thresholds']['rag']:.2f},"
            f" fitted on {calibration['fit_questions']} questions and checked on the others), "
            f"it would decline {test['recall']:.0%} of the unanswerable questions and "
            f"{test['in_scope_abstain_rate']:.0%} of the answerable ones.")
    if "dialogues" in results:
        lines.append(f"In multi-turn conversations it finds the right entry first for "
                     f"{results['dialogues']['hit_at_1']:.0%} of the follow-up questions.")
    lines.append(f"A typical {timed(results)} takes {results['latency']['p50_ms']:.0f} ms "
                 f"(95% within {results['latency']['p95_ms']:.0f} ms).")
    return lines


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def plots(results: dict[str, Any], records: Sequence[Record]) -> dict[str, str]:
    """Base64 PNGs: what customers got per language, score distributions with thresholds,
    hit@k curve, latency histogram."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = {}
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    groups = [
        ("right entry first", [r.top_score for r in records if r.kind == "in" and r.rank() == 1],
         "#2f9e44"),
        ("wrong entry first", [r.top_score for r in records if r.kind == "in" and r.rank() != 1],
         "#f08c00"),
        ("cannot be answered", [r.top_score for r in records if r.kind == "oos"], "#c92a2a"),
    ]
    scores = [s for _, values, _ in groups for s in values] or [0.0, 1.0]
    bins = [min(scores) + i * (max(scores) - min(scores) + 1e-9) / 40 for i in range(41)]
    for label, values, color in groups:
        if values:
            ax.hist(values, bins=bins, alpha=0.55, label=f"{label} ({len(values)})", color=color)
    for name, style in (("faq", "-"), ("rag", "--")):
        ax.axvline(results["thresholds"][name], color="black", linestyle=style, linewidth=1.2,
                   label=f"{name} threshold {results['thresholds'][name]:.2f}")
    ax.set_xlabel("best match score")
    ax.set_ylabel("questions")
    ax.legend(fontsize=8, frameon=False)
    out["scores"] = _png(fig)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7.5, 1.2 + 0.45 * (1 + len(results["by_lang"]))))
    rows = [("all", list(records))] + [
        (lang, [r for r in records if r.lang == lang]) for lang in results["by_lang"]]
    colours = {"correct": "#2f9e44", "suggested": "#74b816", "declined": "#f08c00",
               "wrong": "#c92a2a"}
    for y, (_name, mine) in enumerate(reversed(rows)):
        counts = [sum(outcome(r) == o for r in mine) for o in OUTCOMES]
        left = 0.0
        for kind, count in zip(OUTCOMES, counts, strict=True):
            share = count / max(len(mine), 1)
            ax.barh(y, share, left=left, color=colours[kind],
                    label=kind if y == 0 else None)
            if share >= 0.06:
                ax.text(left + share / 2, y, f"{share:.0%}", ha="center", va="center",
                        color="white", fontsize=8)
            left += share
    ax.set_yticks(range(len(rows)), [name for name, _ in reversed(rows)])
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of questions")
    ax.legend(fontsize=8, frameon=False, ncols=4, loc="lower center",
              bbox_to_anchor=(0.5, 1.0))
    out["outcomes"] = _png(fig)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(4.2, 3.0))
    ks = list(range(1, K_MAX + 1))
    ax.plot(ks, results["hit_curve"], marker="o", color="#1971c2")
    ax.set_ylim(0, 1)
    ax.set_xticks(ks)
    ax.set_xlabel("k (entries looked at)")
    ax.set_ylabel("right entry within top k")
    ax.grid(alpha=0.3)
    out["hit_curve"] = _png(fig)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(4.2, 3.0))
    latencies = [r.latency_ms for r in records]
    cap = percentile(latencies, 0.99) * 1.5
    shown = [v for v in latencies if v <= cap]
    ax.hist(shown, bins=30, color="#7048e8")
    slower = len(latencies) - len(shown)
    ax.set_xlabel(timed(results).split(" (")[0] + " time (ms)"
                  + (f"; {slower} slower not shown" if slower else ""))
    ax.set_ylabel("questions")
    out["latency"] = _png(fig)
    plt.close(fig)
    return out


def render_html(results: dict[str, Any], records: Sequence[Record]) -> str:
    template = resources.files("kefu.evals").joinpath("templates/report.html.j2").read_text(
        "utf-8")
    env = Environment(undefined=StrictUndefined, autoescape=True)
    return env.from_string(template).render(
        r=results, verdict=verdict(results), images=plots(results, records),
        timed=timed(results))
