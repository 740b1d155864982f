"""kefu tune's choice step: the certainty of the LLM's choice fitted from its own choices."""

import math
import re

from kefu.agent.decision import CERTAINTY_FEATURES, certainty, retrieval_certainty
from kefu.agent.factory import TUNED, ladder_for
from kefu.agent.ladder import Agent
from kefu.calibration import fit_choice
from kefu.calibration.fit_choice import Certainty, Chosen, choices, choose, fit_weights
from kefu.calibration.tune import Probe
from kefu.cli import main
from kefu.config import LadderSettings, RetrievalSettings, load_settings
from kefu.knowledge_base.store import open_knowledge_base
from kefu.retrieval.hybrid import Retriever
from tests.conftest import FakeModel

from .conftest import DATA
from .test_tune import REWORDINGS

DEFAULT = Certainty(LadderSettings().certainty_weights, LadderSettings().choose_certainty)
SURE = (0.5, 0.95, 0.9, 1.0)  # retrieval confidence, lead, probability, retrieval's first
DOUBTFUL = (0.38, 0.62, 0.45, 0.0)


def _chosen(n, features, right=True):
    return [Chosen("a" if right else "b", features, "a") for _ in range(n)]


def test_wrong_choices_that_look_doubtful_are_declined_by_the_fitted_certainty():
    # right choices are sure on every signal; wrong ones (another entry chosen) are not
    probes = _chosen(40, SURE) + _chosen(30, DOUBTFUL, right=False)
    best, now, scores = choose(probes, Certainty((5.0, 0, 0, 0, 0), 0.5))  # answers all
    assert (now.right, now.wrong) == (40, 30)
    assert (best.right, best.wrong, best.declined) == (40, 0, 30)
    assert [s.certainty.cut for s in scores] == list(fit_choice.CUT_GRID)
    weights = best.certainty.weights
    assert certainty(weights, SURE) > 0.9 > 0.1 > certainty(weights, DOUBTFUL)


def test_retrieval_alone_answers_where_its_lead_tells_right_from_wrong():
    """The LLM's choices look alike whether right or not; retrieval's first entry is right
    when it leads the second clearly, and its entry was left out when it does not."""
    clear = [Chosen("a", DOUBTFUL, "a", "a", (0.6, 0.2)) for _ in range(30)]
    close = [Chosen("a", DOUBTFUL, "", "a", (0.45, 0.01)) for _ in range(30)]
    best, now, _ = choose(clear + close, Certainty((-60.0, 0, 0, 0, 0), 0.5))  # all declined
    assert (now.right, now.wrong) == (0, 0)
    assert (best.right, best.wrong) == (30, 0)
    weights = best.certainty.retrieval_weights
    assert retrieval_certainty(weights, (0.6, 0.2)) > 0.9 > 0.1 > retrieval_certainty(
        weights, (0.45, 0.01))
    assert fit_choice.ChoiceFit(best, now, [], 30, 30).to_setting()[
        "retrieval_certainty_weights"] == list(weights)


def test_a_certainty_is_kept_unless_another_is_surely_better():
    probes = _chosen(40, SURE) + _chosen(5, DOUBTFUL, right=False) + _chosen(8, DOUBTFUL)
    best, now, _ = choose(probes, Certainty((5.0, 0, 0, 0, 0), 0.5))  # answers all
    assert best == now  # five wrong answers less at the cost of eight right: chance


def test_too_few_wrong_choices_to_fit_from_keep_the_weights():
    probes = _chosen(40, SURE) + _chosen(4, DOUBTFUL, right=False)
    best, now, scores = choose(probes, DEFAULT)
    assert {s.certainty.weights for s in scores} == {DEFAULT.weights}
    assert best.certainty.weights == DEFAULT.weights


def test_of_equally_good_cut_offs_the_strictest_is_chosen():
    probes = _chosen(40, SURE) + _chosen(30, DOUBTFUL, right=False)
    best, _, scores = choose(probes, Certainty((5.0, 0, 0, 0, 0), 0.5))
    ties = [s for s in scores if s.utility == best.utility]
    assert len(ties) > 1 and best.certainty.cut == max(s.certainty.cut for s in ties)


def test_there_is_a_default_weight_for_every_feature():
    assert len(LadderSettings().certainty_weights) == 1 + len(CERTAINTY_FEATURES)


def test_the_weights_follow_the_signal_that_tells_right_from_wrong():
    # only the LLM's lead separates them; retrieval's confidence is the same noise in both
    noise = (0.3, 0.4, 0.5)
    probes = [Chosen("a", (r, 0.9, 0.7, 1.0), "a") for r in noise * 10] + \
        [Chosen("b", (r, 0.6, 0.7, 1.0), "a") for r in noise * 10]
    weights = fit_weights(probes)
    assert len(weights) == 1 + len(CERTAINTY_FEATURES)
    lead = weights[1 + CERTAINTY_FEATURES.index("the LLM's lead")]
    assert lead > 5 and abs(weights[1]) < 1
    assert all(math.isfinite(w) for w in weights)  # separable, yet regularised


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
    assert chosen[0].chosen == "t-en-ship" and chosen[0].features[1] > 0.6  # its lead
    assert chosen[1].chosen != "t-en-ship"  # its entry was not among the candidates
    sure = Agent(agent.retriever, model, LadderSettings(faq_threshold=0.5, rag_threshold=0.0,
                                                        translate=False), "Shop")
    calls = model.calls
    choices(sure, [Probe("How long does shipping take?", "en", ("t-en-ship",))],
            progress=False)
    assert model.calls == calls + 1  # the curated match answers it as it is: no choice


def test_the_fitted_certainty_is_what_the_ladder_uses(settings, tiny_kb):
    configured = settings.ladder
    assert ladder_for(settings, tiny_kb).certainty_weights == configured.certainty_weights
    weights = [-3.0, 2.0, 4.0, 1.0, 0.5]
    tiny_kb.set_setting(TUNED, {"faq_threshold": 0.7, "certainty_weights": weights,
                                "choose_certainty": 0.55})
    tuned = ladder_for(settings, tiny_kb)
    assert (list(tuned.certainty_weights), tuned.choose_certainty) == (weights, 0.55)
    tiny_kb.set_setting(TUNED, {"faq_threshold": 0.7, "choose_threshold": 0.8})  # before
    older = ladder_for(settings, tiny_kb)  # the lead's cut-off of an older tune: ignored
    assert (older.certainty_weights, older.choose_certainty) == (
        configured.certainty_weights, configured.choose_certainty)
    tiny_kb.set_setting(TUNED, {"certainty_weights": [1.0, 2.0]})  # damaged: all ignored
    assert ladder_for(settings, tiny_kb).certainty_weights == configured.certainty_weights


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
    # the LLM's choices as the fit sees them, in a shop unlike the default weights': its
    # right choices are seldom retrieval's first, its wrong ones are
    right, wrong = (0.3, 0.95, 0.9, 0.0), (0.55, 0.7, 0.6, 1.0)
    assert certainty(DEFAULT.weights, right) < DEFAULT.cut <= certainty(DEFAULT.weights, wrong)
    monkeypatch.setattr(fit_choice, "choices", lambda *args, **kwargs:
                        _chosen(40, right) + _chosen(30, wrong, right=False))
    main(["tune", "--kb", "shop"])
    out = capsys.readouterr().out
    stood_in = re.search(r"(\d+) customers' questions from the LLM's customer-style", out)
    assert stood_in and int(stood_in[1]) > 0
    assert "fitted certainty weights: intercept" in out  # the choice step's table
    favoured = re.search(r"favour the fitted weights at cut-off (0\.\d+); written only with "
                         r"--choice", out)
    assert favoured
    kb = open_knowledge_base(load_settings(), "shop")
    assert "certainty_weights" not in (kb.setting(TUNED) or {})  # shown, written with --choice
    kb.close()
    main(["tune", "--kb", "shop", "--choice"])
    kb = open_knowledge_base(load_settings(), "shop")
    tuned = kb.setting(TUNED)
    assert tuned["choose_certainty"] == float(favoured[1])
    assert certainty(tuned["certainty_weights"], right) > 0.9 > 0.1 > certainty(
        tuned["certainty_weights"], wrong)
    kb.close()
