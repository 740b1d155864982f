"""`kefu eval --compare A.json B.json`: what got better, what got worse, and the questions
whose outcome changed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kefu.errors import KefuError

# (key path, +1 when higher is better, -1 when lower is better, 0 when neither)
METRICS = (
    ("answers.accuracy", 1), ("answers.confidently_wrong", -1), ("answers.coverage", 1),
    ("answers.abstained", 0), ("answers.suggested", 0),
    ("retrieval.hit_at_1", 1), ("retrieval.hit_at_5", 1), ("retrieval.mrr", 1),
    ("abstention.recall", 1), ("abstention.in_scope_abstain_rate", -1),
    ("latency.p50_ms", -1), ("latency.p95_ms", -1),
)
# How good an outcome is for a customer, by whether the question has an answer at all.
_RANK = {"in": {"correct": 3, "suggested": 2, "declined": 1, "wrong": 0},
         "oos": {"declined": 3, "suggested": 1, "correct": 0, "wrong": 0}}
NOISE = 1e-9


def load_results(path: Path) -> dict[str, Any]:
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise KefuError(f"cannot read {path} as kefu eval results: {exc}") from exc
    if not isinstance(results, dict) or "answers" not in results:
        raise KefuError(f"{path} is not the JSON of `kefu eval --json` (0.2 or later)")
    return results


def _get(results: dict[str, Any], path: str) -> float | None:
    node: Any = results
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return float(node) if isinstance(node, int | float) else None


def compare(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Metric by metric (overall and per language), and question by question."""
    rows = []
    for scope, left, right in [("all", a, b), *[
            (lang, a["by_lang"][lang], b["by_lang"][lang])
            for lang in a.get("by_lang", {}) if lang in b.get("by_lang", {})]]:
        for path, direction in METRICS:
            before, after = _get(left, path), _get(right, path)
            if before is None or after is None:
                continue
            change = after - before
            verdict = ("same" if abs(change) < NOISE or direction == 0 else
                       "better" if change * direction > 0 else "worse")
            rows.append({"scope": scope, "metric": path, "a": before, "b": after,
                         "change": change, "verdict": verdict})
    earlier = {q["id"]: q for q in a.get("questions", [])}
    changed: dict[str, list[dict[str, Any]]] = {"better": [], "worse": []}
    for question in b.get("questions", []):
        old = earlier.get(question["id"])
        if old is None or old["outcome"] == question["outcome"]:
            continue
        ranks = _RANK["oos" if question["kind"] == "oos" else "in"]
        side = "better" if ranks[question["outcome"]] > ranks[old["outcome"]] else "worse"
        changed[side].append({"id": question["id"], "query": question["query"],
                              "lang": question["lang"], "a": old["outcome"],
                              "b": question["outcome"]})
    return {"a": a["dataset"], "b": b["dataset"], "metrics": rows, "questions": changed,
            "compared_questions": len(set(earlier) & {q["id"] for q in b.get("questions", [])})}


def format_comparison(result: dict[str, Any], shown: int = 15) -> str:
    lines = [f"A: {result['a']}   B: {result['b']}   "
             f"({result['compared_questions']} questions in both)",
             f"{'scope':<5} {'metric':<36} {'A':>8} {'B':>8} {'change':>8}"]
    for row in result["metrics"]:
        mark = {"better": "  better", "worse": "  WORSE", "same": ""}[row["verdict"]]
        lines.append(f"{row['scope']:<5} {row['metric']:<36} {row['a']:>8.3f} {row['b']:>8.3f}"
                     f" {row['change']:>+8.3f}{mark}")
    for side in ("better", "worse"):
        changed = result["questions"][side]
        lines.append(f"\n{len(changed)} questions got {side}:")
        lines += [f"  {q['id']} [{q['lang']}] {q['a']} -> {q['b']}: {q['query'][:70]}"
                  for q in changed[:shown]]
        if len(changed) > shown:
            lines.append(f"  ... and {len(changed) - shown} more (in the JSON)")
    return "\n".join(lines)
