"""kefu tune's choice step: the choose threshold fitted from the LLM's own choices."""

import re

from kefu.agent.factory import TUNED, ladder_for
from kefu.agent.ladder import Agent
from kefu.calibration import fit_choice
from kefu.calibration.fit_choice import Chosen, choices, choose
from kefu.calibration.tune import Probe
from kefu.cli import main
from kefu.config import LadderSettings, RetrievalSettings, load_settings
from kefu.knowledge_base.store import open_knowledge_base
from kefu.retrieval.hybrid import Retriever
from tests.conftest import FakeModel

from .conftest import DATA
from .test_tune import REWORDINGS


def _chosen(n, lead, right=True):
    return [Chosen("a" if right else "b", lead, "a") for _ in range(n)]


def test_a_model_whose_wrong_choices_lead_less_gets_a_higher_threshold():
    # right choices lead by 0.9, wrong ones (the entry left out, another chosen) by 0.65
    probes = _chosen(40, 0.9) + _chosen(30, 0.65, right=False) + _chosen(10, 0.55)
    best, now, scores = choose(probes, current=0.6)
    assert (now.right, now.wrong) == (40, 30)
    assert best.threshold == 0.7  # the nearest threshold above the wrong ones' lead
    assert (best.right, best.wrong, best.declined) == (40, 0, 40)
    assert [s.threshold for s in scores] == list(fit_choice.CHOOSE_GRID)


def test_a_threshold_is_kept_unless_another_is_surely_better():
    probes = _chosen(40, 0.9) + _chosen(1, 0.62, right=False) + _chosen(2, 0.63)
    best, now, _ = choose(probes, current=0.6)
    assert best == now  # one wrong answer less at the cost of two right: chance
    nothing_wrong = _chosen(30, 0.55) + _chosen(20, 0.9)
    best, now, _ = choose(nothing_wrong, current=0.6)
    assert (best.threshold, best.right) == (0.55, 50)  # the nearest that answers them all


class Chooser(FakeModel):
    """The LLM at the process boundary: chooses the candidate that shares a keyword with
    the question, else "none of these"; counts its calls."""

    KEYWORDS = ("shipping", "return", "Visa", "退货", "付款")

    def __init__(self):
        self.calls = 0

    def label_probs(self, messages, labels):
        self.calls += 1
        options, question = messages[-1].content.rsplit("Customer question: ", 1)
        lines = options.splitlines()
        picks = []
        for label in labels[1:]:
            line = next((x for x in lines if x.startswith(f"[{label}] ")), "")
            picks.append(float(any(k in question and k in line for k in self.KEYWORDS)))
        return [float(not any(picks)), *picks]


def test_each_probe_is_asked_as_it_is_and_with_its_entry_left_out(tiny_kb):
    cfg = LadderSettings(faq_threshold=0.99, rag_threshold=0.0)  # everything reaches the LLM
    model = Chooser()
    agent = Agent(Retriever(tiny_kb, RetrievalSettings()), model, cfg, "Shop")
    probes = [Probe("how long until my shipping arrives", "en", ("t-en-ship",)),
              Probe("我想退货可以吗", "zh", ("t-zh-return",))]
    chosen = choices(agent, probes, progress=False)
    assert model.calls == 4
    assert [c.gold for c in chosen] == ["t-en-ship", "", "t-zh-return", ""]
    assert chosen[0].chosen == "t-en-ship" and chosen[0].lead > 0.6
    assert chosen[1].chosen != "t-en-ship"  # its entry was not among the candidates
    sure = Agent(agent.retriever, model, LadderSettings(faq_threshold=0.5, rag_threshold=0.0,
                                                        translate=False), "Shop")
    calls = model.calls
    choices(sure, [Probe("How long does shipping take?", "en", ("t-en-ship",))],
            progress=False)
    assert model.calls == calls + 1  # the curated match answers it as it is: no choice


def test_the_fitted_choose_threshold_is_what_the_ladder_uses(settings, tiny_kb):
    assert ladder_for(settings, tiny_kb).choose_threshold == settings.ladder.choose_threshold
    tiny_kb.set_setting(TUNED, {"faq_threshold": 0.7, "choose_threshold": 0.75})
    assert ladder_for(settings, tiny_kb).choose_threshold == 0.75
    tiny_kb.set_setting(TUNED, {"faq_threshold": 0.7})  # a tune from before this step
    assert ladder_for(settings, tiny_kb).choose_threshold == settings.ladder.choose_threshold


class WriterAndChooser(Chooser):
    """The LLM at the process boundary for a whole `kefu tune`: writes the rewordings and
    customer-style questions (test_tune.REWORDINGS) and chooses by keyword."""

    def stream(self, messages):
        prompt = messages[-1].content
        yield next((v for k, v in REWORDINGS.items() if k in prompt), "")


def test_kefu_tune_without_a_log_lets_the_llms_questions_stand_in_and_shows_the_choice(
        tmp_path, monkeypatch, capsys):
    assert main(["ingest", str(DATA / "faq.csv"), "--kb", "shop", "--no-translate"]) == 0
    monkeypatch.setattr("kefu.agent.chat_models.build_chat_model",
                        lambda *args, **kwargs: WriterAndChooser())
    # the LLM's choices as the fit sees them: its wrong ones lead less than its right ones
    monkeypatch.setattr(fit_choice, "choices", lambda *args, **kwargs:
                        _chosen(40, 0.9) + _chosen(30, 0.65, right=False))
    main(["tune", "--kb", "shop"])
    out = capsys.readouterr().out
    stood_in = re.search(r"(\d+) customers' questions from the LLM's customer-style", out)
    assert stood_in and int(stood_in[1]) > 0
    assert "choose thr." in out  # the choice step's table
    assert "favour choose threshold 0.70; written only with --choice" in out
    kb = open_knowledge_base(load_settings(), "shop")
    assert "choose_threshold" not in (kb.setting(TUNED) or {})  # shown, written with --choice
    kb.close()
    main(["tune", "--kb", "shop", "--choice"])
    kb = open_knowledge_base(load_settings(), "shop")
    assert kb.setting(TUNED)["choose_threshold"] == 0.7
    kb.close()
