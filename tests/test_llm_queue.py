"""One generation at a time: later questions wait in order, know their place, and one that
waits too long gets the apology and the offer of a human, never a time-out."""

import threading
import time
from collections.abc import Iterator, Sequence

import pytest

from kefu.agent.ladder import Agent
from kefu.agent.llm_queue import GenerationQueue
from kefu.agent.prompts import prompts
from kefu.config import RetrievalSettings
from kefu.errors import QueueTimeout
from kefu.retrieval.hybrid import Retriever
from kefu.types import Message
from tests.conftest import LLM_CHOOSES, FakeModel


def _positions(turn, out, started):
    for ahead in turn.acquire():
        out.append(ahead)
        started.set()


def test_waiting_questions_are_served_in_order_and_know_how_many_are_ahead():
    queue = GenerationQueue(slots=1, max_wait_s=10)
    first, second, third = queue.turn(), queue.turn(), queue.turn()
    list(first.acquire())
    seen = {"second": [], "third": []}
    ready = {name: threading.Event() for name in seen}
    threads = {}
    for name, turn in (("second", second), ("third", third)):
        threads[name] = threading.Thread(target=_positions, args=(turn, seen[name],
                                                                   ready[name]))
        threads[name].start()
        assert ready[name].wait(5)
    assert (seen["second"], seen["third"], queue.waiting) == ([1], [2], 2)
    first.release()
    threads["second"].join(5)
    assert second.held and not third.held
    deadline = time.monotonic() + 5
    while seen["third"] != [2, 1] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen["third"] == [2, 1]
    second.release()
    threads["third"].join(5)
    assert third.held
    third.release()


def test_a_question_that_waits_too_long_gives_up_its_place():
    queue = GenerationQueue(slots=1, max_wait_s=0.2)
    holder, waiter = queue.turn(), queue.turn()
    list(holder.acquire())
    with pytest.raises(QueueTimeout):
        list(waiter.acquire())
    assert queue.waiting == 0
    holder.release()
    later = queue.turn()
    list(later.acquire())
    assert later.held


def test_a_customer_who_leaves_while_waiting_frees_the_place():
    queue = GenerationQueue(slots=1, max_wait_s=10)
    holder, leaver = queue.turn(), queue.turn()
    list(holder.acquire())
    waiting = leaver.acquire()
    assert next(waiting) == 1
    waiting.close()
    assert queue.waiting == 0


def test_two_slots_run_two_generations_at_once():
    queue = GenerationQueue(slots=2, max_wait_s=0.2)
    a, b = queue.turn(), queue.turn()
    list(a.acquire())
    list(b.acquire())
    assert a.held and b.held


class BlockingChatModel(FakeModel):
    """Holds the LLM until released: a long generation in another request."""

    def __init__(self) -> None:
        self.inside = threading.Event()
        self.release = threading.Event()

    def stream(self, messages: Sequence[Message]) -> Iterator[str]:
        self.inside.set()
        self.release.wait(10)
        yield "[0]"

    def label_probs(self, messages: Sequence[Message], labels: Sequence[str]) -> list[float]:
        self.inside.set()
        self.release.wait(10)
        return [float(label == "0") for label in labels]


def test_the_agent_answers_busy_with_a_human_offer_after_the_limit(tiny_kb):
    model = BlockingChatModel()
    queue = GenerationQueue(slots=1, max_wait_s=0.3)
    agent = Agent(Retriever(tiny_kb, RetrievalSettings()), model, LLM_CHOOSES, queue=queue)
    busy = threading.Thread(target=agent.ask, args=("Can I return an item?",))
    busy.start()
    assert model.inside.wait(10)
    events = list(agent.answer("Which payment methods do you accept?"))
    model.release.set()
    busy.join(10)
    assert [e.position for e in events if e.kind == "queue"] == [1]
    final = events[-1].answer
    assert (final.route, final.handoff, final.answer) == ("abstain", "offer",
                                                          prompts("en")["busy"])
    assert queue.waiting == 0
