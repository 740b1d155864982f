"""The real GGUF models through the LLM route (slow: seconds per question on 2 cores)."""

import pytest

from kefu.agent.chat_models import LlamaCppChatModel
from kefu.agent.ladder import Agent, in_language
from kefu.agent.model_files import MODELS, install_model
from kefu.config import LadderSettings, LLMSettings, RetrievalSettings
from kefu.retrieval.hybrid import Retriever

from .conftest import REAL_MODELS_DIR

pytestmark = pytest.mark.slow
LLM_ROUTE = LadderSettings(faq_threshold=9.0, rag_threshold=0.0)


def _model(name: str) -> LlamaCppChatModel:
    path = install_model(MODELS[name], REAL_MODELS_DIR, progress=False)
    return LlamaCppChatModel(path, LLMSettings(model=name, max_tokens=96, temperature=0.0))


def test_small_model_streams_an_answer_and_cites_a_retrieved_entry(demo_kb):
    agent = Agent(Retriever(demo_kb, RetrievalSettings()), _model("small"), LLM_ROUTE, "Lumi Home")
    events = list(agent.answer("How long will my refund take to arrive?"))
    hits = [h.entry.id for h in events[0].hits]
    tokens = [e.text for e in events if e.kind == "token"]
    final = events[-1].answer
    assert final.route == "rag", final
    assert len(tokens) > 3
    assert "".join(tokens).strip() == final.answer
    assert [s.id for s in final.sources][0] in hits[:3]


@pytest.mark.parametrize("question,lang", [
    ("do u take paypal", "en"),
    ("春节期间发货吗？", "zh"),
])
def test_default_model_answers_in_the_question_language_with_a_citation(demo_kb, question, lang):
    agent = Agent(Retriever(demo_kb, RetrievalSettings()), _model("default"), LLM_ROUTE,
                  "Lumi Home (露米家居)")
    final = agent.ask(question)
    assert (final.route, final.lang) == ("rag", lang), final
    assert in_language(final.answer, lang), final.answer
    assert final.sources and final.sources[0].id in demo_kb.entries()
