import json

from kefu.agent.prompts import prompts
from kefu.cli import main

from .conftest import DATA


def test_ingest_reports_bad_rows_and_imports_the_good_ones(capsys):
    assert main(["ingest", str(DATA / "bad_rows.csv"), "--kb", "shop"]) == 0
    out, err = capsys.readouterr()
    assert f"warning: {DATA / 'bad_rows.csv'}:3: empty answer; row skipped" in err
    assert out.splitlines() == [
        "file             added   updated unchanged   skipped",
        "bad_rows.csv         2         0         0         3",
        "total                2         0         0         3",
        "knowledge base 'shop': 2 entries"]
    assert main(["ingest", str(DATA / "bad_rows.csv"), "--kb", "shop"]) == 0
    assert "bad_rows.csv         0         0         2         3" in capsys.readouterr().out


def test_ingest_reports_an_unreadable_file_and_imports_the_rest(tmp_path, capsys):
    (tmp_path / "empty.csv").write_bytes(b"")
    assert main(["ingest", str(tmp_path / "empty.csv"), str(DATA / "faq.csv"),
                 "--kb", "shop"]) == 1
    out, err = capsys.readouterr()
    assert f"error: {tmp_path / 'empty.csv'}: empty file (0 bytes)" in err
    assert "empty.csv                            not imported" in out.splitlines()
    assert "knowledge base 'shop': 6 entries" in out


def test_ask_json_on_faq_and_unrelated_questions(capsys):
    assert main(["ingest", str(DATA / "faq.csv"), "--kb", "shop"]) == 0
    capsys.readouterr()
    assert main(["ask", "多久能收到货？", "--kb", "shop", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["route"] == "faq"
    assert (answer["answer"], answer["lang"]) == ("下单后3-5个工作日送达。", "zh")
    assert [s["id"] for s in answer["sources"]] == ["t-zh-ship"]
    assert main(["ask", "What's the weather on Mars?", "--kb", "shop", "--json"]) == 0
    declined = json.loads(capsys.readouterr().out)
    assert declined.pop("reason").startswith("confidence ")
    assert declined == {
        "answer": prompts("en")["abstain"], "route": "abstain", "lang": "en", "sources": [],
        "suggestions": [], "handoff": "", "rewritten": ""}


def test_missing_inputs_give_one_line_errors(capsys):
    assert main(["ask", "hi", "--kb", "nothing"]) == 2
    assert capsys.readouterr().err == (
        "error: no knowledge base 'nothing'; import one with `kefu ingest PATH --kb nothing`\n")
    assert main(["ingest", "/no/such/file.csv", "--kb", "shop"]) == 1
    assert "error: /no/such/file.csv: no such file or directory" in capsys.readouterr().err


def test_ingest_without_the_llm_keeps_the_entries_and_says_they_wait_for_translation(
        tmp_path, capsys):
    faq = tmp_path / "faq.csv"
    faq.write_text("id,question,answer\nzh-gift,有礼品卡吗？,有，100元起。\n"
                   "en-hours,What are your hours?,9:00 to 21:00 every day.\n", "utf-8")
    assert main(["ingest", str(faq), "--kb", "shop", "--no-translate"]) == 0
    assert "translated" not in capsys.readouterr().err
    assert main(["ingest", str(faq), "--kb", "shop"]) == 0  # no model installed here
    out, err = capsys.readouterr()
    assert "warning: 2 entries written in one language only were not translated" in err
    assert "knowledge base 'shop': 2 entries" in out
