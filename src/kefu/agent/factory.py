"""Build the agent and the support desk from Settings: the one place that wires backends."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TypeVar

import httpx
from pydantic import ValidationError

from kefu.agent.chat_models import build_chat_model
from kefu.agent.conversations import ConversationStore
from kefu.agent.desk import SupportDesk
from kefu.agent.hours import OpeningHours
from kefu.agent.ladder import Agent
from kefu.agent.llm_queue import GenerationQueue
from kefu.agent.staff import StaffStore
from kefu.agent.tickets import TicketStore, WebhookNotifier
from kefu.config import LadderSettings, RetrievalSettings, Settings
from kefu.knowledge_base.store import KnowledgeBase, open_knowledge_base
from kefu.retrieval.hybrid import Retriever
from kefu.retrieval.rerank import build_reranker
from kefu.types import ChatModel

log = logging.getLogger(__name__)
Tuned = TypeVar("Tuned", LadderSettings, RetrievalSettings)


def build_agent(settings: Settings, kb: KnowledgeBase | None = None,
                chat_model: ChatModel | None = None) -> Agent:
    kb = kb or open_knowledge_base(settings, settings.server.kb)
    model = chat_model or build_chat_model(settings.llm, settings.models_dir)
    shop = settings.shop_name or "our shop"
    retriever = Retriever(kb, retrieval_for(settings, kb), build_reranker(settings.retrieval))
    queue = GenerationQueue(settings.llm.parallel, settings.llm.queue_wait_s)
    return Agent(retriever, model, ladder_for(settings, kb), shop=shop, queue=queue,
                 rewrite_with_llm=settings.llm.rewrite_follow_ups,
                 abstains_before_offer=settings.handoff.abstains_before_offer)


TUNED = "ladder.tuned"  # the knowledge base setting `kefu tune` writes
TUNABLE = ("faq_threshold", "rag_threshold", "margin_weight", "certainty_weights",
           "retrieval_certainty_weights", "choose_certainty")


def ladder_for(settings: Settings, kb: KnowledgeBase) -> LadderSettings:
    """The ladder's settings for kb: the thresholds (and margin weight) `kefu tune` chose
    for it, when it did and ladder.use_tuned is on; else the configured ones (each one it
    did not choose: an older tune chose no certainty)."""
    tuned = kb.setting(TUNED) if settings.ladder.use_tuned else None
    return _with_tuned(settings.ladder, tuned, TUNABLE, f"{kb.name}'s {TUNED}")


TUNED_RETRIEVAL = "retrieval.tuned"  # the knowledge base setting `kefu tune` writes first
RETRIEVAL_TUNABLE = ("bm25_weight", "name_weight", "center_languages", "sentence_weight")


def retrieval_for(settings: Settings, kb: KnowledgeBase) -> RetrievalSettings:
    """The retrieval settings for kb: the weights and centring `kefu tune` fitted to it,
    when it did and retrieval.use_tuned is on; else the configured ones."""
    tuned = kb.setting(TUNED_RETRIEVAL) if settings.retrieval.use_tuned else None
    return _with_tuned(settings.retrieval, tuned, RETRIEVAL_TUNABLE,
                       f"{kb.name}'s {TUNED_RETRIEVAL}")


def _with_tuned(configured: Tuned, tuned: object, keys: tuple[str, ...], where: str) -> Tuned:
    """The configured settings with the tuned values of keys, validated as the configured
    ones are; a stored value that is not valid (a hand-edited or damaged database) is
    logged and the configured settings kept."""
    if not tuned:
        return configured
    if not isinstance(tuned, dict):
        log.warning("ignored %s: not a table of settings (%r)", where, tuned)
        return configured
    picked = {k: tuned[k] for k in keys if k in tuned}
    try:
        return type(configured).model_validate(configured.model_dump() | picked)
    except ValidationError as exc:
        log.warning("ignored %s, which is not valid: %s", where,
                    "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors()))
        return configured


def conversations_database(settings: Settings) -> Path | str:
    """Where conversations, tickets and feedback live: store.database_url, else one SQLite
    file under KEFU_HOME."""
    return settings.store.database_url or settings.home / "conversations.sqlite"


def build_desk(settings: Settings, agent: Agent,
               webhook_transport: httpx.BaseTransport | None = None) -> SupportDesk:
    database = conversations_database(settings)
    tickets = TicketStore(database)
    notifier = WebhookNotifier(settings.handoff, tickets, webhook_transport)
    return SupportDesk(agent, ConversationStore(database, settings.conversations.mask_stored),
                       tickets, notifier, StaffStore(database), OpeningHours(settings.handoff),
                       settings.handoff.wait_s)
