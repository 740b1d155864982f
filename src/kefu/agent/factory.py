"""Build the agent and the support desk from Settings: the one place that wires backends."""

from __future__ import annotations

from pathlib import Path

import httpx

from kefu.agent.chat_models import build_chat_model
from kefu.agent.conversations import ConversationStore
from kefu.agent.desk import SupportDesk
from kefu.agent.ladder import Agent
from kefu.agent.llm_queue import GenerationQueue
from kefu.agent.tickets import TicketStore, WebhookNotifier
from kefu.config import LadderSettings, RetrievalSettings, Settings
from kefu.demo import DEMO_KB, SHOP_NAME
from kefu.knowledge_base.store import KnowledgeBase, open_knowledge_base
from kefu.retrieval.hybrid import Retriever
from kefu.retrieval.rerank import build_reranker
from kefu.types import ChatModel


def build_agent(settings: Settings, kb: KnowledgeBase | None = None,
                chat_model: ChatModel | None = None) -> Agent:
    kb = kb or open_knowledge_base(settings, settings.server.kb)
    model = chat_model or build_chat_model(settings.llm, settings.models_dir)
    shop = settings.shop_name or (
        f"{SHOP_NAME['en']} ({SHOP_NAME['zh']})" if kb.name == DEMO_KB else "our shop")
    retriever = Retriever(kb, retrieval_for(settings, kb), build_reranker(settings.retrieval))
    queue = GenerationQueue(settings.llm.parallel, settings.llm.queue_wait_s)
    return Agent(retriever, model, ladder_for(settings, kb), shop=shop, queue=queue,
                 rewrite_with_llm=settings.llm.rewrite_follow_ups,
                 abstains_before_offer=settings.handoff.abstains_before_offer)


TUNED = "ladder.tuned"  # the knowledge base setting `kefu tune` writes
TUNABLE = ("faq_threshold", "rag_threshold", "margin_weight", "choose_threshold")


def ladder_for(settings: Settings, kb: KnowledgeBase) -> LadderSettings:
    """The ladder's settings for kb: the thresholds (and margin weight) `kefu tune` chose
    for it, when it did and ladder.use_tuned is on; else the configured ones (each one it
    did not choose: an older tune chose no choose_threshold)."""
    tuned = kb.setting(TUNED) if settings.ladder.use_tuned else None
    if not tuned:
        return settings.ladder
    return settings.ladder.model_copy(update={k: float(tuned[k]) for k in
                                              TUNABLE if k in tuned})


TUNED_RETRIEVAL = "retrieval.tuned"  # the knowledge base setting `kefu tune` writes first
RETRIEVAL_TUNABLE = ("bm25_weight", "name_weight", "center_languages")


def retrieval_for(settings: Settings, kb: KnowledgeBase) -> RetrievalSettings:
    """The retrieval settings for kb: the weights and centring `kefu tune` fitted to it,
    when it did and retrieval.use_tuned is on; else the configured ones."""
    tuned = kb.setting(TUNED_RETRIEVAL) if settings.retrieval.use_tuned else None
    if not tuned:
        return settings.retrieval
    return settings.retrieval.model_copy(update={k: tuned[k] for k in RETRIEVAL_TUNABLE
                                                 if k in tuned})


def conversations_path(settings: Settings) -> Path:
    """Conversations and tickets share one SQLite file under KEFU_HOME."""
    return settings.home / "conversations.sqlite"


def build_desk(settings: Settings, agent: Agent,
               webhook_transport: httpx.BaseTransport | None = None) -> SupportDesk:
    path = conversations_path(settings)
    tickets = TicketStore(path)
    notifier = WebhookNotifier(settings.handoff, tickets, webhook_transport)
    return SupportDesk(agent, ConversationStore(path), tickets, notifier,
                       agent.retriever.kb.name)
