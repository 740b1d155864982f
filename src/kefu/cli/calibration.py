"""`kefu tune` and `kefu check`: calibrate kefu on a knowledge base, and check it before it
goes live."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kefu.cli.common import settings_from
from kefu.cli.evaluation import eval_dataset
from kefu.config import Settings
from kefu.errors import KefuError

if TYPE_CHECKING:
    from kefu.agent.ladder import Agent
    from kefu.calibration.fit_choice import ChoiceFit
    from kefu.calibration.fit_retrieval import RetrievalProbe
    from kefu.calibration.tune import Asked, Tuning
    from kefu.types import ChatModel


def _tuning_agent(args: argparse.Namespace, settings: Settings) -> Agent:
    """The agent (LLM off) of the knowledge base to tune or check: --kb, or the evaluation
    knowledge base of --dataset DIR / --demo."""
    from kefu.agent.factory import build_agent
    from kefu.config import LLMSettings
    from kefu.evals.runner import build_eval_agent
    from kefu.knowledge_base.store import knowledge_base_exists, open_knowledge_base

    if args.dataset or args.demo:
        args.dir, args.sample = args.dataset, None
        return build_eval_agent(eval_dataset(args), settings, retrieval_only=True)
    kb_name = args.kb or settings.server.kb
    if not knowledge_base_exists(settings, kb_name):
        raise KefuError(f"no knowledge base {kb_name!r}; import one with `kefu ingest PATH "
                        f"--kb {kb_name}`")
    off = settings.model_copy(update={"llm": LLMSettings(backend="none")})
    return build_agent(off, kb=open_knowledge_base(settings, kb_name))


def _rewording_model(args: argparse.Namespace,
                     settings: Settings) -> tuple[ChatModel | None, str]:
    from kefu.agent.chat_models import build_chat_model
    from kefu.calibration.rewordings import rewording_llm

    llm = settings.llm.model_copy(update={"model": args.llm}) if args.llm else settings.llm
    return build_chat_model(rewording_llm(llm), settings.models_dir), \
        f"{llm.backend}:{llm.model}"


def _customer_questions(args: argparse.Namespace, settings: Settings,
                        kb: str) -> tuple[list[Asked], str]:
    """Customers' questions for kefu tune: --questions FILE, else the conversation log of
    the knowledge base."""
    from kefu.agent.conversations import ConversationStore
    from kefu.agent.factory import conversations_database
    from kefu.calibration.tune import MAX_ASKED, Asked, read_questions
    from kefu.knowledge_base.text import detect_lang

    if args.questions:
        asked, problems = read_questions(Path(args.questions))
        for problem in problems:
            print(problem, file=sys.stderr)
        return asked, args.questions
    database = conversations_database(settings)
    if isinstance(database, Path) and not database.exists():
        return [], "the conversation log"
    store = ConversationStore(database)
    texts = store.questions(kb, MAX_ASKED)
    store.close()
    return [Asked(t, detect_lang(t)) for t in texts if t], "the conversation log"


def _stand_in_questions(probes: Sequence[RetrievalProbe]) -> tuple[list[Asked], str]:
    """For a knowledge base with no customers' questions yet: the questions the LLM wrote
    as other customers for the first step (twins' own questions aside)."""
    from kefu.calibration.tune import Asked
    from kefu.knowledge_base.text import detect_lang

    return ([Asked(p.text, detect_lang(p.text)) for p in probes
             if p.group != "other language"],
            "the LLM's customer-style questions (none from customers yet)")


def _tune_retrieval(args: argparse.Namespace, agent: Agent, model: ChatModel | None,
                    model_id: str, probes: Sequence[RetrievalProbe]) -> None:
    """The first step of kefu tune: fit the fusion weights to the LLM's questions (probes),
    write them, use them for the thresholds."""
    from kefu.agent.factory import TUNED_RETRIEVAL
    from kefu.calibration.fit_retrieval import describe, fit

    retriever = agent.retriever
    result = fit(retriever, model, model_id, args.limit, probes=probes)
    print("\nretrieval: the share of probes whose entry comes first")
    describe(result)
    if not result.changed:
        print("no weighting ranks surely more probes first: the retrieval weights stay")
        return
    retriever.cfg = result.chosen.weights.applied(retriever.cfg)
    if args.dry_run:
        return
    retriever.kb.set_setting(TUNED_RETRIEVAL, result.to_setting())
    print(f"written to knowledge base {retriever.kb.name!r} (retrieval.use_tuned)")


def cmd_tune(args: argparse.Namespace) -> int:
    from kefu.agent.factory import TUNED
    from kefu.calibration.fit_retrieval import probes_for
    from kefu.calibration.tune import curve, tune

    settings = settings_from(args)
    agent = _tuning_agent(args, settings)
    model, model_id = _rewording_model(args, settings)
    if model is None:
        raise KefuError("kefu tune needs the LLM to write questions about the knowledge "
                        "base; set llm.backend (or use --llm small)")
    # The LLM's questions about the knowledge base (cached with it): every step uses them.
    probes = probes_for(agent.retriever, model, model_id, args.limit)
    _tune_retrieval(args, agent, model, model_id, probes)
    if args.retrieval:
        return 0
    asked, where = _customer_questions(args, settings, agent.kb.name)
    stand_in = not asked
    if stand_in:
        asked, where = _stand_in_questions(probes)
    result = tune(agent, model, model_id, args.target, args.per_entry, args.limit,
                  asked=asked)
    chosen, current = result.chosen, result.current
    print(f"\n{result.probes} rewordings of the knowledge base's questions, "
          f"{result.generic} generic questions to decline (rewordings by {model_id}), "
          f"{result.asked} customers' questions from {where}")
    if stand_in:
        print("no customers' questions yet: the LLM's customer-style questions (the first "
              "step's) stand in for them, being further from the FAQ's words than the "
              "rewordings (thresholds fitted on the rewordings alone declined too many real "
              "questions); tune again once the log holds a few hundred questions")
    print(f"trade-off at faq threshold {chosen.faq_threshold:.3f}, margin weight "
          f"{chosen.margin_weight:g}:")
    print(f"{'rag thr.':>8} {'rewordings answered':>19} {'correct':>8} {'conf. wrong':>11} "
          f"{'customers answered':>18} {'contested':>9} {'generic declined':>16}")
    for point in curve(result.points, chosen.faq_threshold, chosen.margin_weight):
        mark = "  <- chosen" if point == chosen else ""
        asked_share = f"{point.asked_answered:18.1%} {point.asked_contested:9.1%}" \
            if result.asked else f"{'-':>18} {'-':>9}"
        print(f"{point.rag_threshold:8.2f} {point.coverage:19.1%} {point.accuracy:8.1%} "
              f"{point.confidently_wrong:11.1%} {asked_share} "
              f"{point.declined_generic:16.1%}{mark}")
    if result.asked:
        print("contested: customers' questions answered where the signals disagree on what "
              "was asked (its FAQ question and its answer point to different entries, or BM25 "
              "overruled the embedding and no name backs it); likelier wrong")
    for name, point in (("now", current), ("tuned", chosen)):
        asked_share = (f", {point.asked_answered:.1%} of customers' questions answered "
                       f"({point.asked_contested:.1%} contested)") if result.asked else ""
        print(f"{name:>5}: faq {point.faq_threshold:.3f} rag {point.rag_threshold:.3f} "
              f"margin weight {point.margin_weight:g} -> answers {point.coverage:.1%} of the "
              f"rewordings ({point.accuracy:.1%} correctly){asked_share}, confidently wrong "
              f"{point.confidently_wrong:.1%} of all probes")
    if args.plot:
        from kefu.calibration.plot import tuning_plot

        Path(args.plot).write_bytes(tuning_plot(result))
    if not result.met:
        print(f"no setting that answers as much as now keeps confidently wrong "
              f"answers under {args.target:.1%}" + (
                  "; the chosen one is the least often wrong of them." if result.changed
                  else "; the current thresholds stay.") +
              " Add the rewordings kefu check lists as similar questions of their entries, "
              "merge the near-duplicates it lists, or allow more with --target.")
    choosing = _tune_choice(args, settings, agent, result, model, probes)
    if not args.choice:
        choosing = None  # shown, not written (--choice)
    if args.dry_run or not (result.changed or (choosing and choosing.changed)):
        print("dry run: nothing written" if args.dry_run else "nothing to change")
        return 0 if result.met else 1
    agent.kb.set_setting(TUNED, result.to_setting(args.target) | (
        choosing.to_setting() if choosing else {}))
    print(f"written to knowledge base {agent.kb.name!r}: kefu serve, ask, chat and "
          "eval use these thresholds (ladder.use_tuned); restart a running kefu serve")
    return 0 if result.met else 1


def _tune_choice(args: argparse.Namespace, settings: Settings, agent: Agent, tuning: Tuning,
                 model: ChatModel | None, probes: Sequence[RetrievalProbe]) -> ChoiceFit | None:
    """The last step of kefu tune: how likely the serving LLM's choice is right and how sure
    it must be (ladder.certainty_weights, ladder.choose_certainty), from its choices on the
    first step's questions (probes) under the thresholds just chosen. None without an LLM."""
    from kefu.agent.chat_models import build_chat_model
    from kefu.agent.ladder import Agent
    from kefu.calibration import fit_choice

    if settings.llm.backend == "none":
        print("no LLM (llm.backend none): the certainty stays")
        return None
    chooser = build_chat_model(settings.llm, settings.models_dir) if args.llm else model
    point = tuning.chosen
    cfg = agent.cfg.model_copy(update={"faq_threshold": point.faq_threshold,
                                       "rag_threshold": point.rag_threshold,
                                       "margin_weight": point.margin_weight})
    result = fit_choice.fit(Agent(agent.retriever, chooser, cfg, agent.shop), probes)
    print("\nthe LLM's choice: how the probes it chooses for end at each certainty cut-off")
    fit_choice.describe(result)
    if not result.changed:
        print("no certainty is surely better: it stays")
    elif not args.choice:
        print(f"the LLM's choices favour the fitted weights at cut-off "
              f"{result.chosen.certainty.cut:.2f}; written only with --choice")
    return result


def cmd_check(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from kefu.calibration.check import go_live_check

    settings = settings_from(args)
    agent = _tuning_agent(args, settings)
    model, model_id = _rewording_model(args, settings)
    report = go_live_check(agent, model, model_id, args.per_entry, args.limit)
    if args.json:
        print(json.dumps(asdict(report), ensure_ascii=False, indent=2))
    else:
        print("\n".join(report.lines(args.lang)))
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """The subcommands this module runs."""
    tune_cmd = sub.add_parser("tune", help="fit retrieval's weights, then the ladder's "
                              "thresholds, then how sure the LLM's choice must be, for a "
                              "knowledge base from its own content")
    check = sub.add_parser("check", help="before going live: what kefu answers well, what "
                           "it hands off, which entries repeat or contradict each other")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument("--lang", choices=["en", "zh"], default="en",
                       help="the language of the report")
    check.set_defaults(func=cmd_check)
    for command in (tune_cmd, check):
        which = command.add_mutually_exclusive_group()
        which.add_argument("--kb", help="knowledge base (default: server.kb)")
        which.add_argument("--dataset", metavar="DIR",
                           help="the evaluation knowledge base of a dataset folder")
        which.add_argument("--demo", action="store_true",
                           help="the evaluation knowledge base of the demo shop")
        command.add_argument("--llm", help="the model that rewords the questions: small, "
                             "default, or a .gguf path (default: llm.model)")
        command.add_argument("--per-entry", type=int,
                             help="rewordings per entry (default 2; a knowledge base of "
                             "under 100 entries gets more, up to 8, for 200 in all)")
        command.add_argument("--limit", type=int,
                             help="reword at most this many entries (an even spread)")
    tune_cmd.add_argument("--target", type=float, default=0.02,
                          help="most confidently wrong answers allowed (default 0.02 = 2%%)")
    tune_cmd.add_argument("--questions", metavar="FILE", help="customers' questions, a line "
                          "each or JSONL with \"query\" (default: the conversation log)")
    tune_cmd.add_argument("--retrieval", action="store_true", help="the first step only: "
                          "fit the retrieval weights, keep the thresholds")
    tune_cmd.add_argument("--plot", help="write the trade-off curve as a PNG here")
    tune_cmd.add_argument("--choice", action="store_true", help="also write the certainty "
                          "weights and cut-off the LLM's choices favour (without it the last "
                          "step only shows them: the probes hold as many near out-of-scope "
                          "questions as answerable ones, so the fitted cut-off is strict)")
    tune_cmd.add_argument("--dry-run", action="store_true", help="show, do not write")
    tune_cmd.set_defaults(func=cmd_tune)
