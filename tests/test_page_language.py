"""The staff's pages and the owner's reports in Chinese and English: both languages say
the same things (same keys, same fields), and a page follows the person's choice, else
their browser."""

import string

import gradio as gr
import pytest
from starlette.requests import Request

from kefu.agent.prompts import prompts
from kefu.calibration.check import CheckReport
from kefu.ui.page_language import COOKIE, language, texts


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _flat(section: dict, prefix: str = "") -> dict[str, str]:
    out = {}
    for key, value in section.items():
        out.update(_flat(value, f"{prefix}{key}.") if isinstance(value, dict)
                   else {f"{prefix}{key}": value})
    return out


@pytest.mark.parametrize(("package", "section"), [
    ("kefu.ui.texts", "admin"), ("kefu.ui.texts", "inbox"),
    ("kefu.agent.prompts", "service_report"), ("kefu.calibration.prompts", "check")])
def test_both_languages_have_every_text_with_the_same_fields(package, section):
    en, zh = (_flat(prompts(lang, package)[section]) for lang in ("en", "zh"))
    assert set(en) == set(zh)
    assert {k: _fields(v) for k, v in en.items()} == {k: _fields(v) for k, v in zh.items()}
    assert all(zh.values())


def _request(**headers: str) -> gr.Request:
    scope = {"type": "http", "method": "GET", "path": "/admin/", "query_string": b"",
             "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]}
    return gr.Request(request=Request(scope))


def test_the_switch_wins_over_the_browser_which_wins_over_english():
    assert language(_request(accept_language="zh-CN,zh;q=0.9,en;q=0.8")) == "zh"
    assert language(_request(accept_language="en-GB,zh;q=0.5")) == "en"
    assert language(_request(accept_language="zh-TW", cookie=f"{COOKIE}=en")) == "en"
    assert language(_request(accept_language="en-US", cookie=f"{COOKIE}=zh")) == "zh"
    assert language(_request(cookie=f"{COOKIE}=fr")) == "en"  # not a choice it offers
    assert language(_request()) == language(None) == "en"
    assert texts("zh", "admin")["save"] == "保存条目"


def test_the_go_live_check_reads_in_chinese():
    report = CheckReport(answered=0.8, curated=0.5, suggested=0.1, handed_off=0.05, wrong=0.05,
                         generic_declined=1.0, probes=40, generic=10,
                         weak=[{"id": "ship", "question": "多久发货？", "missed": "啥时候发"}])
    assert report.lines("zh") == [
        "把您的问题改写成顾客的说法后，kefu 独立答对 80%（共 40 个改写，其中 50% 原文使用您写的"
        "答案），对 10% 给出“您是不是想问”，5% 转给人工；5% 得到了另一个条目的答案。",
        "10 个任何店铺都不回答的问题（天气、作业、医疗建议……）中，它拒绝回答了 100%。",
        "1 个条目很难被找到；请把顾客的说法加为相似问题：",
        "  ship“多久发货？”：没找到“啥时候发”"]
    assert report.lines()[2] == ("1 entries are hard to reach; add the customer's wording "
                                 "as a similar question:")


def test_the_admin_transcript_names_who_wrote_each_message_in_the_persons_language():
    from kefu.ui.admin_page import _transcript_rows

    messages = [{"role": "user", "author": "", "content": "有人吗", "route": ""},
                {"role": "move", "author": "", "content": "request", "route": "waiting"},
                {"role": "move", "author": "Li", "content": "claim", "route": "person"},
                {"role": "person", "author": "Li", "content": "在的", "route": ""},
                {"role": "assistant", "author": "kefu", "content": "没人接", "route": "handoff"}]
    shown = _transcript_rows(messages, texts("zh", "admin"))
    assert shown["headers"] == ["谁", "消息", "方式"]
    assert [row[0] for row in shown["data"]] == ["顾客", "转接", "转接 Li", "人工 Li", "kefu"]
