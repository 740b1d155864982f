import json
from dataclasses import asdict
from pathlib import Path

import pytest

from kefu.cli import main
from kefu.errors import IngestError
from kefu.evals.datasets import learn_phrasings, load_dataset
from kefu.evals.metrics import Record, calibrate, hit_curve, percentile, summarize
from kefu.evals.runner import build_eval_agent, evaluate

EVAL = Path(__file__).parent / "data" / "eval"


def _r(id, lang, kind, gold, ranked, route, ms, oos_kind=""):  # noqa: A002
    return Record(id, id, lang, kind, tuple(gold), tuple((i, 0.9 - n / 10)
                  for n, i in enumerate(ranked)), route, ms, oos_kind)


RECORDS = [
    _r("a", "en", "in", ["x"], ["x", "y"], "faq", 10),
    _r("b", "en", "in", ["x"], ["y", "x", "z"], "rag", 20),
    _r("c", "zh", "in", ["z"], ["x", "y"], "abstain", 30),
    _r("d", "zh", "in", ["y"], ["a", "b", "c", "d", "e", "y"], "rag", 40),
    _r("e", "en", "oos", [], ["x"], "abstain", 50, "far"),
    _r("f", "zh", "oos", [], ["y"], "rag", 60, "near"),
]


def test_refusals_and_handoffs_count_as_declining_and_suggestions_as_their_own_route():
    records = [_r("a", "en", "in", ["x"], ["x"], "suggest", 10),
               _r("b", "en", "in", ["x"], ["x"], "faq", 10),
               _r("e", "en", "oos", [], ["x"], "refuse", 10),
               _r("f", "en", "oos", [], ["x"], "handoff", 10),
               _r("g", "en", "oos", [], ["x"], "suggest", 10)]
    result = summarize(records)
    assert result["routes"] == {"faq": 0.5, "suggest": 0.5, "rag": 0.0, "abstain": 0.0}
    assert result["abstention"] == {"precision": 1.0, "recall": pytest.approx(2 / 3),
                                    "in_scope_abstain_rate": 0.0, "n_oos": 3}


def test_the_report_says_what_the_unanswerable_questions_got():
    from kefu.evals.report import verdict

    records = [_r("a", "en", "in", ["x"], ["x"], "faq", 10),
               _r("e", "en", "oos", [], ["x"], "abstain", 10),
               _r("f", "en", "oos", [], ["x"], "suggest", 10),
               _r("g", "en", "oos", [], ["x"], "faq", 10),
               _r("h", "en", "oos", [], ["x"], "handoff", 10)]
    results = summarize(records) | {"mode": "full", "counts": {"in_scope": 1, "oos": 4}}
    assert ("Of the questions it cannot answer, it declines 50% instead of guessing, offers "
            "'did you mean' questions for 25% and answers 25% from an entry that does not "
            "answer them.") in verdict(results)


def test_metrics_on_a_hand_checked_example():
    result = summarize(RECORDS)
    assert result["retrieval"] == {"hit_at_1": 0.25, "hit_at_5": 0.5,
                                   "mrr": pytest.approx((1 + 1 / 2 + 1 / 6) / 4), "n": 4}
    assert result["abstention"] == {"precision": 0.5, "recall": 0.5,
                                    "in_scope_abstain_rate": 0.25, "n_oos": 2}
    assert result["routes"] == {"faq": 0.25, "suggest": 0.0, "rag": 0.5, "abstain": 0.25}
    assert result["routes_oos"] == {"faq": 0.0, "suggest": 0.0, "rag": 0.5, "abstain": 0.5}
    assert result["latency"] == {"p50_ms": 30, "p95_ms": 60}
    assert result["abstention_by_kind"]["far"]["recall"] == 1.0
    assert result["abstention_by_kind"]["near"]["recall"] == 0.0
    en, zh = result["by_lang"]["en"], result["by_lang"]["zh"]
    assert en["retrieval"] == {"hit_at_1": 0.5, "hit_at_5": 1.0, "mrr": 0.75, "n": 2}
    assert en["abstention"] == {"precision": 1.0, "recall": 1.0, "in_scope_abstain_rate": 0.0,
                                "n_oos": 1}
    assert zh["retrieval"] == {"hit_at_1": 0.0, "hit_at_5": 0.0, "mrr": pytest.approx(1 / 12),
                               "n": 2}
    assert zh["abstention"] == {"precision": 0.0, "recall": 0.0, "in_scope_abstain_rate": 0.5,
                                "n_oos": 1}
    assert hit_curve(RECORDS[:4], 6) == [0.25, 0.5, 0.5, 0.5, 0.5, 0.75]


def test_percentile_is_nearest_rank():
    assert [percentile([1, 2, 3, 4], q) for q in (0.25, 0.5, 0.75, 0.95)] == [1, 2, 3, 4]
    assert percentile([], 0.5) == 0.0


def test_eval_command_writes_json_and_report(tmp_path, capsys):
    out, report = tmp_path / "out" / "r.json", tmp_path / "out" / "r.html"
    assert main(["eval", str(EVAL), "--retrieval-only", "--json", str(out),
                 "--report", str(report)]) == 0
    result = json.loads(out.read_text())
    assert result["counts"] == {"entries": 4, "in_scope": 4, "oos": 2, "dialogues": 0,
                                "learned_phrasings": 0}
    assert result["retrieval"]["hit_at_1"] == 1.0
    assert result["by_lang"]["zh"]["retrieval"]["hit_at_1"] == 1.0
    assert result["abstention"]["recall"] == 1.0
    assert result["routes"]["faq"] == 1.0
    assert set(result["latency"]) == {"p50_ms", "p95_ms"}
    html = report.read_text()
    assert "How well does kefu answer? · eval" in html
    assert html.count("data:image/png;base64,") == 4
    assert "A typical search takes" in html and "<th>search p50 / p95</th>" in html
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["r.html", "r.json"]
    assert "all   1.000  1.000  1.000" in capsys.readouterr().out


def test_in_full_mode_the_report_times_whole_answers_not_searches():
    from kefu.evals.report import timed, verdict

    results = {"mode": "full", "retrieval": {"hit_at_1": 1.0, "hit_at_5": 1.0},
               "abstention": {"recall": 1.0}, "routes": {"faq": 0.5, "suggest": 0.0, "rag": 0.5},
               "answers": {"accuracy": 1.0, "confidently_wrong": 0.0, "abstained": 0.0,
                           "suggested": 0.0}, "counts": {"in_scope": 0, "oos": 0},
               "calibration": {}, "latency": {"p50_ms": 2400.0, "p95_ms": 5100.0},
               "thresholds": {"rag": 0.34}}
    assert timed(results) == "answer (LLM included)"
    assert verdict(results)[-1] == \
        "A typical answer (LLM included) takes 2400 ms (95% within 5100 ms)."


def test_interrupted_eval_resumes_from_its_checkpoint(settings, tmp_path):
    dataset = load_dataset(EVAL)
    agent = build_eval_agent(dataset, settings, retrieval_only=True, progress=False)
    checkpoint = tmp_path / "run.partial.jsonl"
    stale = _r("q1", "en", "in", ["ship"], ["return"], "rag", 1.0)
    header = {"fingerprint": dataset.fingerprint, "mode": "retrieval-only", "judge": False}
    checkpoint.write_text(json.dumps(header) + "\n" + json.dumps(asdict(stale)) + "\n{\"cut")
    records = evaluate(dataset, agent, True, checkpoint, progress=False)
    assert [r.id for r in records] == ["q1", "q2", "q3", "q4", "o1", "o2"]
    assert records[0] == stale  # read back, not recomputed
    assert summarize(records)["retrieval"]["hit_at_1"] == 0.75

    checkpoint.write_text(json.dumps({"fingerprint": "other", "mode": "full"}) + "\n")
    records = evaluate(dataset, agent, True, checkpoint, progress=False)
    assert summarize(records)["retrieval"]["hit_at_1"] == 1.0


def test_a_folder_without_questions_is_refused(tmp_path):
    (tmp_path / "faq.jsonl").write_text("")
    with pytest.raises(IngestError, match="needs faq.jsonl or docs.jsonl, and at least one"):
        load_dataset(tmp_path)


def test_calibration_fits_on_a_split_and_reports_on_the_rest():
    records = [Record(f"i{n}", "", "en", "in", ("x",), (("x", 0.5 + n / 100),), "faq", 1)
               for n in range(20)]
    records += [Record(f"o{n}", "", "en", "oos", (), (("x", 0.2 + n / 100),), "rag", 1)
                for n in range(10)]
    result = calibrate(records, max_in_scope_abstain=0.0, fit_share=0.5, seed=1)
    assert result["fit_questions"] == 15
    assert result["test"]["n_in_scope"] + result["test"]["n_oos"] == 15
    # no answerable question in the fitting half scores below the chosen threshold
    assert 0.5 <= result["rag_threshold"] <= 0.69
    assert result["test"]["recall"] == 1.0
    assert calibrate([r for r in records if r.kind == "in"]) is None


def test_learned_phrasings_move_questions_into_their_entries_and_out_of_the_test():
    dataset = load_dataset(EVAL)
    learned = learn_phrasings(dataset, 0.5)
    assert learned.learned == 2  # half of the four answerable questions
    asked = {q.id for q in learned.queries}
    moved = [q for q in dataset.queries if q.id not in asked]
    assert [q.kind for q in moved] == ["in", "in"]
    assert {"o1", "o2"} <= asked and len(asked) == 4
    entries = {e.id: e for e in learned.entries}
    for query in moved:
        assert entries[query.gold[0]].alt_questions[-1] == query.text
    assert learned.fingerprint != dataset.fingerprint
    with pytest.raises(IngestError, match="between 0 and 1"):
        learn_phrasings(dataset, 1.0)


def test_answer_facts_are_read_as_a_list_or_one_string_and_bad_ones_name_their_line(tmp_path):
    from kefu.evals.datasets import load_dataset

    (tmp_path / "faq.jsonl").write_text(
        '{"id": "a", "question": "Shipping?", "answer": "US$5, 3 days.", "lang": "en"}\n')
    (tmp_path / "queries.jsonl").write_text(
        '{"id": "q1", "query": "postage?", "gold": ["a"], "answer_facts": ["US$5", 3]}\n'
        '{"id": "q2", "query": "how long?", "gold": ["a"], "answer_facts": "3 days"}\n'
        '{"id": "q3", "query": "cost?", "gold": ["a"], "answer_facts": {"x": 1}}\n')
    dataset = load_dataset(tmp_path)
    assert [(q.id, q.facts) for q in dataset.queries] == [("q1", ("US$5", "3")),
                                                           ("q2", ("3 days",))]
    [problem] = dataset.problems
    assert problem.startswith(f"{tmp_path / 'queries.jsonl'}:3: ")
    assert '"answer_facts" must be a list of strings' in problem


def test_answer_facts_a_gold_entry_in_the_question_language_does_not_state_are_named(tmp_path):
    """A right answer from such an entry could never count as stating the facts; an entry
    in the other language is translated, so it is not held to the facts' words."""
    (tmp_path / "faq.jsonl").write_text(
        '{"id": "a", "question": "Shipping?", "answer": "US$5, 3 days.", "lang": "en"}\n'
        '{"id": "b", "question": "Delivery time?", "answer": "Three days.", "lang": "en"}\n'
        '{"id": "c", "question": "运费？", "answer": "运费5美元。", "lang": "zh"}\n')
    (tmp_path / "queries.jsonl").write_text(
        '{"id": "q1", "query": "how long?", "gold": ["a", "b"], "answer_facts": ["3 days"]}\n'
        '{"id": "q2", "query": "postage?", "gold": ["a", "c"], "answer_facts": ["us$5"]}\n'
        '{"id": "q3", "query": "多少天？", "gold": ["a"], "answer_facts": ["3天"]}\n')
    dataset = load_dataset(tmp_path)
    assert len(dataset.queries) == 3
    assert dataset.problems == ["q1: answer facts ['3 days'] are not in the answer of its gold "
                                "entry b; an answer from it counts as without them"]


def test_a_dialogue_gold_may_be_a_list_of_ids_as_in_queries(tmp_path):
    """The form queries.jsonl uses, in dialogues.jsonl: read, not an AttributeError."""
    from kefu.evals.datasets import load_dataset

    (tmp_path / "faq.jsonl").write_text(
        '{"id": "a", "question": "Shipping?", "answer": "US$5, 3 days.", "lang": "en"}\n')
    turns = ('[{"role": "user", "text": "do you ship to Canada?"}, '
             '{"role": "assistant", "text": "Yes."}, {"role": "user", "text": "how much?"}]')
    (tmp_path / "dialogues.jsonl").write_text(
        f'{{"id": "d1", "turns": {turns}, "gold": ["a"]}}\n'
        f'{{"id": "d2", "turns": {turns}, "gold": "a"}}\n'
        f'{{"id": "d3", "turns": {turns}, "gold": {{"ids": ["a"], "values": ["US$5"]}}}}\n'
        '{"id": "d4", "turns": [{"role": "assistant", "text": "Hi"}], "gold": ["a"]}\n'
        '["not", "a", "row"]\n')
    dataset = load_dataset(tmp_path)
    assert [(q.id, q.text, q.gold, len(q.history)) for q in dataset.queries] == [
        (d, "how much?", ("a",), 2) for d in ("d1", "d2", "d3")]
    assert dataset.queries[2].answers == ("US$5",)
    assert [p.split(": ", 1)[1] for p in dataset.problems] == [
        '"turns" has no turn with role "user"; skipped',
        "a JSON object per line, not list; skipped"]
    assert dataset.problems[0].startswith(f"{tmp_path / 'dialogues.jsonl'}:4:")
