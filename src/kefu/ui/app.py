"""create_app(): one FastAPI server with the HTTP API, the OpenAI-compatible endpoint, the
widget, the admin page at /admin, the staff's inbox at /inbox and the Gradio chat page at
/."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable

import gradio as gr
import httpx
from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware

from kefu import __version__
from kefu.agent.chat_models import build_chat_model
from kefu.agent.desk import SupportDesk, sweep
from kefu.agent.factory import build_agent, build_desk
from kefu.agent.ladder import Agent
from kefu.agent.translation import TwinMaker
from kefu.calibration.rewordings import rewording_llm
from kefu.config import Settings
from kefu.errors import KefuError
from kefu.types import Preloadable
from kefu.ui.admin_api import build_admin_router
from kefu.ui.admin_page import build_admin_page, check_login
from kefu.ui.agent_api import build_agent_router
from kefu.ui.api import build_router
from kefu.ui.chat_page import build_chat_page
from kefu.ui.errors import install_error_handlers
from kefu.ui.inbox_page import build_inbox_page
from kefu.ui.leader import runs_background_jobs
from kefu.ui.limits import limit_storage, sign_in_limit
from kefu.ui.openai_api import build_openai_router
from kefu.ui.widget import build_widget_router

log = logging.getLogger("kefu")
SWEEP_EVERY_S = 24 * 3600
LEAD_RETRY_S = 30  # how often a worker that does not run the background jobs asks again
SETTINGS_ENV = "KEFU_SERVE_SETTINGS"  # kefu serve --workers: the settings, as JSON
SIGN_INS_PER_MINUTE = 10  # per address, on the admin page and the inbox together


def create_app(settings: Settings, agent: Agent | None = None, warm: bool = True,
               webhook_transport: httpx.BaseTransport | None = None) -> FastAPI:
    agent = agent or build_agent(settings)
    desk = build_desk(settings, agent, webhook_transport)
    server = settings.server
    app = FastAPI(title="kefu", version=__version__,
                  description="Customer-service agent: chat API (JSON and server-sent events), "
                  "feedback, handoff, an OpenAI-compatible endpoint, the widget, the admin "
                  "API (bearer token), and the staff's API for taking over conversations "
                  "(a person's name and password, or the admin token).")
    app.state.desk = desk
    install_error_handlers(app)
    app.middleware("http")(_worker_header)
    counts = limit_storage(settings.store.redis_url)  # one count for every worker with Redis
    app.middleware("http")(sign_in_limit(SIGN_INS_PER_MINUTE, ("/admin", "/inbox"), counts))
    if server.origins:
        app.add_middleware(CORSMiddleware, allow_origins=server.origins,
                           allow_methods=["GET", "POST"],
                           allow_headers=["content-type", "last-event-id"],
                           max_age=600)
    llm = "none" if agent.chat_model is None else f"{settings.llm.backend}:{settings.llm.model}"
    app.include_router(build_router(desk, llm, server.rate_per_ip, server.rate_per_session,
                                    counts))
    app.include_router(build_openai_router(desk, server.rate_per_ip, counts))
    app.include_router(build_admin_router(desk, server.admin_token))
    app.include_router(build_agent_router(desk, server.admin_token, server.rate_per_ip, counts))
    app.include_router(build_widget_router(server, desk.kb_name, agent.shop))
    if warm and isinstance(agent.chat_model, Preloadable):
        # Load the LLM in the background so the first grounded answer does not wait for it.
        threading.Thread(target=_warm, args=(agent.chat_model.warm,), name="kefu-llm-warm-up",
                         daemon=True).start()
    if warm:
        _lead_or_wait(settings, desk)
    title = f"{agent.shop} · kefu"
    if server.admin_token:
        reworder = build_chat_model(rewording_llm(settings.llm), settings.models_dir) \
            if agent.chat_model is not None else None
        app = gr.mount_gradio_app(app, build_admin_page(desk, title, llm, reworder),
                                  path="/admin",
                                  auth=check_login(server.admin_token),
                                  auth_message="Sign in with any user name and the admin token "
                                  "(KEFU_SERVER__ADMIN_TOKEN) · 请用任意用户名和管理令牌登录")
    app = gr.mount_gradio_app(app, build_inbox_page(desk, title), path="/inbox",
                              auth=desk.staff.check,
                              auth_message="Sign in with your name and the password the "
                              "owner set (`kefu agents add NAME`) · 请用店主为您设置的名字和"
                              "密码登录")
    return gr.mount_gradio_app(app, build_chat_page(desk, title), path="/")


async def _worker_header(request: Request,
                         call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Which worker process answered (X-Kefu-Worker: its process id), for whoever runs a
    load balancer in front of several."""
    response = await call_next(request)
    response.headers["X-Kefu-Worker"] = str(os.getpid())
    return response


def app_from_environment() -> FastAPI:
    """One worker of `kefu serve --workers N` (uvicorn's app factory): the settings the CLI
    resolved, handed over in the environment."""
    return create_app(Settings.model_validate_json(os.environ[SETTINGS_ENV]))


def _lead_or_wait(settings: Settings, desk: SupportDesk) -> None:
    """Start the background jobs if this worker takes the lead; else try again every
    LEAD_RETRY_S in a thread, so a worker takes over when the one leading stops."""
    if runs_background_jobs(settings, desk.kb_name):
        _start_background_jobs(settings, desk)
        return

    def wait() -> None:
        leading = False  # once the lock is taken, only the start is tried again
        while True:
            time.sleep(LEAD_RETRY_S)
            try:
                leading = leading or runs_background_jobs(settings, desk.kb_name)
                if leading:
                    _start_background_jobs(settings, desk)
                    return
            except KefuError as exc:
                log.warning("the background jobs could not be started; next try in %d s: "
                            "%s", LEAD_RETRY_S, exc)

    threading.Thread(target=wait, name="kefu-lead-wait", daemon=True).start()


def _start_background_jobs(settings: Settings, desk: SupportDesk) -> None:
    """What runs once per box: webhooks to resend, the retention sweep, translations."""
    _resend_undelivered(desk)
    if settings.conversations.retention_days:
        threading.Thread(target=_sweep_daily, args=(desk, settings.conversations.retention_days),
                         name="kefu-retention", daemon=True).start()
    if desk.agent.chat_model is not None and settings.llm.translate_entries:
        desk.twins = TwinMaker(desk.agent, settings.llm.translate_documents).start()


def _warm(warm_up: Callable[[], object]) -> None:
    try:
        warm_up()
    except KefuError as exc:
        log.warning("the LLM is unavailable, questions in the middle band will be handed to "
                    "a human: %s", exc)


def _sweep_daily(desk: SupportDesk, retention_days: int) -> None:
    """conversations.retention_days, kept: a sweep at start and then every day."""
    while True:
        try:
            erased, tickets = sweep(desk.conversations, desk.tickets, retention_days)
            if erased:
                log.info("erased %d conversations older than %d days (%d closed tickets)",
                         erased, retention_days, tickets)
        except KefuError as exc:
            log.warning("the retention sweep failed; next try in a day: %s", exc)
        time.sleep(SWEEP_EVERY_S)


def _resend_undelivered(desk: SupportDesk) -> None:
    """Tickets whose webhook failed before a restart are announced again."""
    if desk.notifier is None or not desk.notifier.enabled:
        return
    for ticket in desk.tickets.undelivered():
        desk.notifier.deliver_in_background(ticket)
