"""The admin page in a real browser: sign in with the token, fix an answer, write the answer
to a question kefu could not answer; the next customer question gets the change."""

import pytest
from fastapi.testclient import TestClient

from kefu.agent.factory import build_agent
from kefu.config import ServerSettings
from kefu.knowledge_base import twins
from kefu.knowledge_base.loaders import load_path
from kefu.knowledge_base.store import open_knowledge_base
from kefu.knowledge_base.twins import Translation
from kefu.ui.app import create_app

from .browser import ARTIFACTS, chromium, require_chromium, serving
from .conftest import DATA

require_chromium()
TOKEN = "owner-token"


@pytest.fixture
def admin(settings, e5):
    kb = open_knowledge_base(settings, "shop", e5)
    kb.ingest(load_path(DATA / "faq.csv").entries)
    settings = settings.model_copy(update={"server": ServerSettings(kb="shop",
                                                                    admin_token=TOKEN)})
    app = create_app(settings, build_agent(settings, kb=kb, chat_model=None), warm=False)
    with serving(app) as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1200, "height": 1000})
        page.goto(f"{url}/admin/")
        page.locator("input[type=password]").wait_for(timeout=60_000)
        page.locator("input[type=text]").first.fill("owner")
        page.locator("input[type=password]").fill(TOKEN)
        page.keyboard.press("Enter")
        page.locator("#admin-search").wait_for(timeout=60_000)
        page.locator("#admin-entries").get_by_text("t-en-ship").wait_for()  # entries loaded
        yield page, TestClient(app)
    kb.close()


def _ask(client, question):
    return client.post("/api/v1/chat", json={"message": question}).json()


def test_an_owner_fixes_an_answer_and_the_next_question_gets_it(admin):
    page, client = admin
    page.locator("#admin-search textarea, #admin-search input").first.fill("PayPal")
    cell = page.locator("#admin-entries").get_by_test_id("cell-0-0")
    cell.get_by_text("t-en-pay").wait_for()  # the search's one entry leads the table
    page.locator("#admin-entries").get_by_text("t-en-ship").wait_for(state="detached")
    cell.click()
    answer = page.locator("#admin-answer textarea")
    page.wait_for_function("document.querySelector('#admin-answer textarea').value"
                           ".startsWith('We accept Visa')")
    answer.fill("We accept Visa, PayPal and Alipay.")
    page.locator("#admin-save").click()
    page.locator("#admin-status").get_by_text("updated").wait_for()
    assert _ask(client, "Which payment methods do you accept?")["answer"] == (
        "We accept Visa, PayPal and Alipay.")


def test_an_owner_writes_the_answer_to_an_unanswered_question(admin):
    page, client = admin
    for question in ("Do you sell gift cards?", "can I buy a gift card"):
        assert _ask(client, question)["route"] == "abstain"
    page.get_by_role("tab", name="Unanswered and disliked").click()
    first = page.locator("#admin-unanswered").get_by_test_id("cell-0-1")
    first.get_by_text("can I buy a gift card").wait_for()
    first.click()
    page.get_by_role("tab", name="Knowledge base").click()
    page.wait_for_function("document.querySelector('#admin-alts textarea').value !== ''")
    question = page.locator("#admin-question textarea").input_value()
    alts = page.locator("#admin-alts textarea").input_value()
    assert {question, alts} == {"Do you sell gift cards?", "can I buy a gift card"}
    page.locator("#admin-answer textarea").fill("Yes: digital gift cards from US$20.")
    page.locator("#admin-save").click()
    page.locator("#admin-status").get_by_text("added").wait_for()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "admin-knowledge-base.png"), full_page=True)
    reply = _ask(client, "Do you sell gift cards?")
    assert (reply["route"], reply["answer"]) == ("faq", "Yes: digital gift cards from US$20.")


def test_an_owner_corrects_a_machine_translation_and_rejects_another(admin):
    page, client = admin
    kb = client.app.state.desk.agent.retriever.kb
    pay, ship = kb.get("t-zh-pay"), kb.get("t-zh-ship")
    twins.put_twin(kb, pay, Translation("Which payment methods do you accept?",
                                        "We accept 支付宝 and WeChat."))
    twins.put_twin(kb, ship, Translation("How long until it arrives?", "3-5 working days."))
    page.get_by_role("tab", name="Translations").click()
    page.locator("#admin-translations-progress").get_by_text("2 to review").wait_for()
    page.locator("#admin-translations-progress").get_by_text(
        "words left untranslated in 1 of those to review").wait_for()
    first = page.locator("#admin-translations").get_by_test_id("cell-0-0")  # to review first
    first.get_by_text("t-zh-pay").wait_for()
    page.locator("#admin-translations").get_by_test_id("cell-0-1").get_by_text(
        "words left untranslated: 支付宝").wait_for()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "admin-translations-to-review.png"), full_page=True)
    first.click()
    page.wait_for_function("document.querySelector('#admin-twin-answer textarea').value"
                           " === 'We accept 支付宝 and WeChat.'")
    page.locator("#admin-twin-answer textarea").fill("We accept Alipay and WeChat Pay.")
    page.locator("#admin-twin-keep").click()
    page.locator("#admin-twin-status").get_by_text("Kept").wait_for()
    first.get_by_text("t-zh-ship").wait_for()
    first.click()
    page.wait_for_function("document.querySelector('#admin-twin-answer textarea').value"
                           " === '3-5 working days.'")
    page.locator("#admin-twin-reject").click()
    page.locator("#admin-twin-status").get_by_text("Rejected").wait_for()
    page.locator("#admin-translations-progress").get_by_text("1 rejected").wait_for()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "admin-translations.png"), full_page=True)
    assert kb.get("t-zh-ship~en") is None
    assert {t.source.id: t.status for t in twins.twins(kb)} == {
        "t-zh-pay": "checked", "t-zh-ship": "rejected"}
    assert kb.get("t-zh-pay~en").answer == "We accept Alipay and WeChat Pay."


def test_the_admin_page_speaks_chinese_to_a_chinese_browser_and_switches(admin):
    page, client = admin
    zh = page.context.browser.new_context(locale="zh-CN",
                                          viewport={"width": 1200, "height": 1000}).new_page()
    zh.goto(page.url)
    zh.locator("input[type=password]").wait_for(timeout=60_000)
    zh.locator("input[type=text]").first.fill("owner")
    zh.locator("input[type=password]").fill(TOKEN)
    zh.keyboard.press("Enter")
    zh.get_by_role("tab", name="知识库").wait_for(timeout=60_000)
    zh.get_by_text("保存条目").wait_for()
    zh.get_by_text("our shop · kefu 管理后台").wait_for()
    zh.locator("#admin-entries").get_by_text("问题").first.wait_for()  # the table's header
    zh.locator("#admin-search textarea, #admin-search input").first.fill("PayPal")
    first = zh.locator("#admin-entries").get_by_test_id("cell-0-0")
    first.get_by_text("t-en-pay").wait_for()  # the search's one entry leads the table
    zh.locator("#admin-entries").get_by_text("t-en-ship").wait_for(state="detached")
    first.click()
    zh.wait_for_function("document.querySelector('#admin-answer textarea').value !== ''")
    zh.locator("#admin-answer textarea").fill("We accept Visa, PayPal and Alipay.")
    zh.locator("#admin-save").click()
    zh.locator("#admin-status").get_by_text("已更新").wait_for()
    _ask(client, "Which payment methods do you accept?")
    zh.get_by_role("tab", name="数据看板").click()
    zh.locator("#admin-service").get_by_text("对话数：1").wait_for()
    ARTIFACTS.mkdir(exist_ok=True)
    zh.screenshot(path=str(ARTIFACTS / "admin-zh.png"), full_page=True)

    zh.locator("#page-language").get_by_text("English").click()
    zh.get_by_role("tab", name="Knowledge base").wait_for()
    zh.get_by_role("tab", name="Dashboard").click()
    zh.locator("#admin-service").get_by_text("conversations: 1").wait_for()
    zh.reload()  # the choice is kept
    zh.get_by_role("tab", name="Knowledge base").wait_for(timeout=60_000)
    zh.get_by_text("Save entry").wait_for()
    zh.context.close()
