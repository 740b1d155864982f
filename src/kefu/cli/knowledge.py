"""`kefu ingest` and `kefu kb`: importing files and editing single entries."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kefu.cli.common import settings_from
from kefu.config import Settings
from kefu.errors import KefuError

if TYPE_CHECKING:
    from kefu.knowledge_base.editor import EntryEditor
    from kefu.knowledge_base.store import KnowledgeBase
    from kefu.knowledge_base.sync import SyncReport


def ingest_files(settings: Settings, kb_name: str, paths: Sequence[Path], prune: bool = False,
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


def _print_ingest_report(report: SyncReport, prune: bool) -> None:
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
        report = EntryTranslator(build_agent(settings, kb=kb)).fill(kb, progress=True,
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
          f"were written in both languages already; {report.failed} failed their checks"
          + (f"; {report.kept} made before passed today's checks" if report.kept else "")
          + ". Review them on the admin page (Translations)")


def _print_ingest_table(report: SyncReport) -> None:
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
    return ingest_files(settings_from(args), args.kb or (DEMO_KB if args.demo else "default"),
                        paths, prune=args.prune, translate=not args.no_translate)


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

    settings = settings_from(args)
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
            for problem in report.problems:
                print(f"warning: {problem}", file=sys.stderr)
            [file] = report.files
            print(f"{file.name}: {file.added} added, {file.updated} updated, "
                  f"{file.unchanged} unchanged, {report.removed} removed, "
                  f"{len(report.problems)} skipped")
    elif action == "delete-file":
        print(f"{args.name}: {editor.delete_file(args.name)} entries deleted")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """The subcommands this module runs."""
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
