"""The widget in a real browser (Debian's chromium driven by Playwright): a plain page on
another port carries only the snippet and gets answers from a real kefu server.

Screenshots go to test-artifacts/. Without /usr/bin/chromium these tests are skipped, unless
REQUIRE_BROWSER_TESTS=1 (CI sets it) makes that a failure.
"""

from __future__ import annotations

import threading
import time
from functools import partial
from http.server import HTTPServer, SimpleHTTPRequestHandler

import pytest

from kefu.agent.factory import build_agent
from kefu.config import ServerSettings
from kefu.knowledge_base.loaders import load_path
from kefu.knowledge_base.store import open_knowledge_base
from kefu.types import Entry
from kefu.ui.app import create_app
from tests.conftest import LLM_CHOOSES

from .browser import ARTIFACTS, chromium, require_chromium, serving
from .conftest import DATA, EchoSourceChatModel
from .servers import free_port

require_chromium()
XSS_ANSWER = 'Gift wrap is free. <img src=x onerror="window.__xss=1"><b>bold?</b>'


HOST_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Lumi Home</title>
<style>
  /* a shop's heavy-handed CSS: none of it may reach the widget */
  * {{ color: red !important; font-size: 31px !important; }}
  button {{ display: none !important; }}
  div {{ border: 5px dashed green !important; }}
</style></head>
<body><h1>Lumi Home</h1><p id="host-text">Our lamps, made by hand.</p>
<script src="{kefu}/widget.js" data-kb="browser" data-lang="{lang}"
        data-title="Lumi Home help" async></script>
</body></html>"""


@pytest.fixture(scope="module")
def kefu_url(tmp_path_factory, e5):
    """A real kefu server (uvicorn, in this process) on a free loopback port."""
    from kefu.config import load_settings

    home = tmp_path_factory.mktemp("browser-home")
    settings = load_settings(environ={"KEFU_HOME": str(home)})
    kb = open_knowledge_base(settings, "browser", e5)
    kb.ingest(load_path(DATA / "faq.csv").entries + load_path(DATA / "policy.md").entries + [
        Entry(id="t-en-gift", question="Do you gift wrap?", answer=XSS_ANSWER, lang="en")])
    host_port = free_port()
    settings = settings.model_copy(update={"server": ServerSettings(
        kb="browser", allowed_origins=f"http://127.0.0.1:{host_port}")})
    app = create_app(settings, build_agent(settings, kb=kb, chat_model=EchoSourceChatModel()),
                     warm=False)
    with serving(app) as url:
        yield url, host_port, app
    kb.close()


@pytest.fixture(scope="module")
def host_site(kefu_url, tmp_path_factory):
    """The shop's own site on another port: plain pages with only the snippet."""
    kefu, host_port, _app = kefu_url
    root = tmp_path_factory.mktemp("shop-site")
    for lang in ("en", "zh"):
        (root / f"{lang}.html").write_text(HOST_PAGE.format(kefu=kefu, lang=lang),
                                           encoding="utf-8")
    handler = partial(SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    server = HTTPServer(("127.0.0.1", host_port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{host_port}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


def _ask(page, text: str, replies: int) -> None:
    page.locator("textarea").fill(text)
    page.keyboard.press("Enter")
    page.wait_for_function(
        f"document.querySelector('#kefu-widget').shadowRoot.querySelectorAll('.bot').length "
        f">= {replies} && !document.querySelector('#kefu-widget').shadowRoot"
        f".querySelector('.send').disabled", timeout=30_000)


def test_a_shop_page_with_only_the_snippet_gets_checked_answers_with_sources(
        browser, host_site, kefu_url):
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"{host_site}/en.html")
    bubble = page.locator(".bubble")
    bubble.wait_for()
    assert page.locator("#host-text").evaluate("e => getComputedStyle(e).fontSize") == "31px"
    assert bubble.is_visible()  # the page's `button {display: none}` does not reach it
    bubble.click()
    panel = page.locator(".panel")
    assert panel.is_visible()
    assert page.locator("header").inner_text().startswith("Lumi Home help")
    assert panel.evaluate("e => getComputedStyle(e).fontSize") == "14px"

    _ask(page, "How long does shipping take?", 2)
    bot = page.locator(".bot").last
    assert bot.inner_text().startswith("Orders arrive in 3-5 working days.")
    page.evaluate("""() => {  // record every text the replies show
        // (each token would replace the reply's text node, so every added node is one
        // state, even when the browser delivers several mutations to one callback)
        window.__frames = [];
        const log = document.querySelector('#kefu-widget').shadowRoot.querySelector('.log');
        new MutationObserver(records => records.forEach(r => r.addedNodes.forEach(
            n => window.__frames.push(n.textContent))))
            .observe(log, {childList: true, subtree: true});
    }""")
    _ask(page, "Tell me about the battery warranty", 3)
    bot = page.locator(".bot").last
    whole = ("Electrical products carry a 2-year warranty against manufacturing defects. "
             "Batteries are covered for 6 months.")
    assert bot.inner_text().startswith(whole)
    shown = {f for f in page.evaluate("window.__frames") if f.startswith("Electrical")}
    assert shown == {whole}, shown  # the document's own sentences, whole, never a draft
    bot.locator("summary").first.click()
    assert "6 months" in bot.locator(".snippet").first.inner_text()
    thumb = bot.locator(".thumb[data-rating=up]")
    thumb.click()
    page.wait_for_function("document.querySelector('#kefu-widget').shadowRoot"
                           ".querySelector('.bot:last-child .thumb[data-rating=up]')"
                           ".getAttribute('aria-pressed') === 'true'")
    time.sleep(0.5)
    page.screenshot(path=str(ARTIFACTS / "widget-desktop.png"))
    desk = kefu_url[2].state.desk
    deadline = time.monotonic() + 5
    while not sum(d["up"] for d in desk.conversations.daily()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sum(d["up"] for d in desk.conversations.daily()) == 1

    page.reload()  # the conversation survives a page load
    page.locator(".bubble").click()
    assert page.locator(".user").all_inner_texts() == [
        "How long does shipping take?", "Tell me about the battery warranty"]
    page.close()


def test_on_a_phone_the_panel_fills_the_screen_and_speaks_chinese(browser, host_site):
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                            is_mobile=True, has_touch=True)
    page.goto(f"{host_site}/zh.html")
    page.locator(".bubble").click()
    box = page.locator(".panel").bounding_box()
    assert (box["width"], box["height"]) == (390, 844)
    assert page.locator("textarea").get_attribute("placeholder") == "请输入您的问题…"
    _ask(page, "多久能收到货？", 2)
    assert page.locator(".bot").last.inner_text().startswith("下单后3-5个工作日送达。")
    page.screenshot(path=str(ARTIFACTS / "widget-phone.png"))
    page.close()


def test_what_anyone_writes_is_shown_as_text_never_run(browser, host_site):
    page = browser.new_page()
    page.goto(f"{host_site}/en.html")
    page.locator(".bubble").click()
    _ask(page, "<script>window.__xss=2</script><img src=y onerror='window.__xss=3'>", 2)
    _ask(page, "Do you gift wrap?", 3)
    assert page.locator(".bot").last.inner_text().startswith(XSS_ANSWER)
    assert page.locator(".user").first.inner_text().startswith("<script>window.__xss=2")
    assert page.evaluate("window.__xss") is None
    assert page.locator("#kefu-widget").evaluate(
        "host => host.shadowRoot.querySelectorAll('img, script, b').length") == 0
    page.close()


def test_the_widget_works_from_the_keyboard(browser, host_site):
    page = browser.new_page()
    page.goto(f"{host_site}/en.html")
    page.locator(".bubble").wait_for()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "kefu-widget"
    page.keyboard.press("Enter")
    assert page.locator(".panel").is_visible()
    assert page.evaluate("document.querySelector('#kefu-widget').shadowRoot"
                         ".activeElement.tagName") == "TEXTAREA"
    _ask(page, "Which payment methods do you accept?", 2)
    assert page.locator(".bot").last.inner_text().startswith("We accept Visa and PayPal.")
    page.keyboard.press("Escape")
    assert not page.locator(".panel").is_visible()
    assert page.evaluate("document.querySelector('#kefu-widget').shadowRoot"
                         ".activeElement.className") == "bubble"
    page.close()


def test_no_frame_the_customer_sees_holds_text_the_checks_rejected(browser, tmp_path_factory,
                                                                   e5):
    """A model that quotes its rules, states a figure no entry does, or drifts into the
    other language halfway, while translating an English entry for a Chinese question:
    every text the widget ever shows (each DOM state recorded) is free of it, and the
    replies are the polite declines (the second offers a human)."""
    from kefu.agent.prompts import prompts
    from kefu.config import load_settings

    from .conftest import MisbehavingChatModel

    home = tmp_path_factory.mktemp("misbehaving-home")
    settings = load_settings(environ={"KEFU_HOME": str(home)})
    kb = open_knowledge_base(settings, "english", e5)
    kb.ingest([e for e in load_path(DATA / "faq.csv").entries if e.lang == "en"])
    settings = settings.model_copy(update={
        "server": ServerSettings(kb="english"),
        "ladder": LLM_CHOOSES})
    model = MisbehavingChatModel()
    app = create_app(settings, build_agent(settings, kb=kb, chat_model=model), warm=False)
    with serving(app) as url:
        page = browser.new_page()
        page.goto(f"{url}/widget/demo")
        page.locator(".bubble").click()
        page.evaluate("""() => {
            window.__frames = [];
            const log = document.querySelector('#kefu-widget').shadowRoot.querySelector('.log');
            new MutationObserver(records => records.forEach(r => {
                if (r.type === 'characterData') window.__frames.push(r.target.textContent);
                r.addedNodes.forEach(n => window.__frames.push(n.textContent));
            })).observe(log, {childList: true, subtree: true, characterData: true});
        }""")
        for replies in (2, 3, 4):
            _ask(page, "可以退货吗？多久内？", replies)
        frames = page.evaluate("window.__frames")
        shown = page.locator(".bot").all_inner_texts()
        page.close()
    kb.close()
    assert model.written >= 3 and frames
    assert [f for f in frames if any(s in f for s in MisbehavingChatModel.SHOWN_NEVER)] == []
    declines = (prompts("zh")["abstain"], prompts("zh")["abstain_again"])
    assert all(text.startswith(declines) for text in shown[1:]), shown


def _say(page, text: str) -> None:
    """A message sent while a person holds the conversation: no reply from the bot."""
    before = page.locator(".user").count()
    page.locator("textarea").fill(text)
    page.keyboard.press("Enter")
    page.wait_for_function(
        f"document.querySelector('#kefu-widget').shadowRoot.querySelectorAll('.user').length "
        f"> {before} && !document.querySelector('#kefu-widget').shadowRoot"
        f".querySelector('.send').disabled", timeout=30_000)


def _shown(page, selector: str, count: int) -> list[str]:
    page.wait_for_function(
        f"document.querySelector('#kefu-widget').shadowRoot.querySelectorAll('{selector}')"
        f".length >= {count}", timeout=30_000)
    return page.locator(selector).all_inner_texts()


def _inbox(browser, kefu: str, name: str, password: str):
    """A person signed in to the inbox, in a browser context of their own."""
    inbox = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    inbox.goto(f"{kefu}/inbox/")
    inbox.locator("input[type=password]").wait_for(timeout=60_000)
    inbox.locator("input[type=text]").first.fill(name)
    inbox.locator("input[type=password]").fill(password)
    inbox.keyboard.press("Enter")
    inbox.locator("#inbox-queue").wait_for(timeout=60_000)
    return inbox


def _transcript(inbox, needle: str) -> None:
    inbox.locator("#inbox-transcript").get_by_text(needle).last.wait_for(timeout=30_000)


def test_a_person_takes_over_the_widget_conversation_live_and_gives_it_back(
        browser, host_site, kefu_url):
    """A customer in the widget on the shop's page, Li in the inbox (another browser
    context): the conversation is handed over, three messages go each way, the customer's
    connection drops and nothing is lost or repeated, Li releases it, kefu answers again."""
    kefu, _, app = kefu_url
    app.state.desk.staff.add("Li", "li-password")
    inbox = _inbox(browser, kefu, "Li", "li-password")  # Li is at work
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"{host_site}/en.html")
    page.locator(".bubble").click()
    _ask(page, "Which payment methods do you accept?", 2)
    page.locator(".human").click()  # "Talk to a human": Li is in, so Li is called
    assert _shown(page, ".bot", 3)[-1].startswith("I've asked a member of our team")
    inbox.locator("#inbox-queue").get_by_text("Which payment methods").filter(
        visible=True).first.click()
    _transcript(inbox, "Which payment methods do you accept?")
    inbox.locator("#inbox-suggestion").get_by_text("We accept Visa and PayPal.").wait_for(
        timeout=30_000)  # kefu's suggestion for the customer's last question
    inbox.locator("#inbox-claim").click()
    assert _shown(page, ".move", 1) == ["Li joined the conversation"]
    for n in (1, 2, 3):  # three messages each way, each answered after it is read
        inbox.locator("#inbox-reply textarea").fill(f"Hello, Li here ({n})")
        inbox.locator("#inbox-send").click()
        assert _shown(page, ".person", n)[-1].split("\n")[-1] == f"Hello, Li here ({n})"
        _say(page, f"customer message {n}")
        _transcript(inbox, f"customer message {n}")
    assert page.locator(".bot").count() == 3  # the bot stayed silent
    assert not page.locator(".human").is_visible()  # a person is here already
    page.screenshot(path=str(ARTIFACTS / "widget-person.png"))
    inbox.screenshot(path=str(ARTIFACTS / "inbox.png"))

    page.goto("about:blank")  # the customer's connection drops; Li writes meanwhile
    inbox.locator("#inbox-reply textarea").fill("Are you still there?")
    inbox.locator("#inbox-send").click()
    _transcript(inbox, "Are you still there?")
    page.goto(f"{host_site}/en.html")
    page.locator(".bubble").click()
    persons = _shown(page, ".person", 4)
    assert [t.split("\n")[-1] for t in persons] == [
        *(f"Hello, Li here ({n})" for n in (1, 2, 3)), "Are you still there?"]
    inbox.locator("#inbox-release").click()
    assert _shown(page, ".move", 2)[-1] == "Li handed the conversation back to the shop assistant"
    assert page.locator(".human").is_visible()
    rating = page.locator(".rating")  # the customer rates the conversation
    rating.locator(".star[data-stars='4']").click()
    rating.locator("textarea").fill("Li was quick")
    rating.get_by_text("Send rating").click()
    page.locator(".rating", has_text="Thank you for your rating!").wait_for()
    [chat] = [c for c in app.state.desk.conversations.export() if c["claimed_by"] == "Li"]
    assert (chat["rating"], chat["rating_comment"]) == (4, "Li was quick")
    _ask(page, "How long does shipping take?", 5)
    assert page.locator(".bot").last.inner_text().startswith("Orders arrive in 3-5 working days.")
    assert page.locator(".person").count() == 4  # nothing shown twice after the reload
    page.close()
    inbox.context.close()
