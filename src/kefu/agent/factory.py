"""Build the agent for a knowledge base from Settings: the one place that wires backends."""

from __future__ import annotations

from kefu.agent.chat_models import build_chat_model
from kefu.agent.ladder import Agent
from kefu.config import Settings
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
    retriever = Retriever(kb, settings.retrieval, build_reranker(settings.retrieval))
    return Agent(retriever, model, settings.ladder, shop=shop)
