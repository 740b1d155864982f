"""`kefu ask|chat|tickets|export|report|forget`: talking to kefu in the terminal, and what
it keeps of customers."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from typing import TYPE_CHECKING

from kefu.cli.common import serving_settings, settings_from
from kefu.errors import KefuError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from kefu.types import Answer, Event


def _print_reply(events: Iterable[Event], debug: bool) -> Answer:
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

    settings = serving_settings(args)
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

    settings = serving_settings(args)
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


def cmd_tickets(args: argparse.Namespace) -> int:
    from kefu.agent.factory import conversations_database
    from kefu.agent.tickets import TicketStore, WebhookNotifier

    settings = settings_from(args)
    store = TicketStore(conversations_database(settings))
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


def _conversations_since(args: argparse.Namespace) -> list[dict[str, object]] | None:
    """The conversations continued since --since (all without it); None (after saying why)
    when --since is not a date."""
    from kefu.agent.conversations import ConversationStore
    from kefu.agent.factory import conversations_database

    since = 0.0
    if args.since:
        try:
            since = datetime.fromisoformat(args.since).timestamp()
        except ValueError:
            print(f"error: --since {args.since!r} is not a date (2026-12-01) or a time "
                  "(2026-12-01T09:00)", file=sys.stderr)
            return None
    return ConversationStore(conversations_database(settings_from(args))).export(since)


def cmd_export(args: argparse.Namespace) -> int:
    """Conversations since a day (all by default) as CSV or JSON lines, to a file or
    stdout."""
    from kefu.agent.export import write_export

    chats = _conversations_since(args)
    if chats is None:
        return 2
    if args.out in (None, "-"):
        rows = write_export(chats, sys.stdout, args.format)
    else:
        with open(args.out, "w", encoding="utf-8", newline="") as out:
            rows = write_export(chats, out, args.format)
        print(f"{len(chats)} conversations ({rows} {'rows' if args.format == 'csv' else 'lines'})"
              f" written to {args.out}", file=sys.stderr)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """The support lead's numbers (agent/service_report.py), as text or JSON."""
    from dataclasses import asdict

    from kefu.agent.service_report import service_report

    chats = _conversations_since(args)
    if chats is None:
        return 2
    report = service_report(chats)
    if args.json:
        print(json.dumps(asdict(report), ensure_ascii=False, indent=1))
    else:
        print("\n".join(report.lines(args.lang)))
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    from kefu.agent.conversations import ConversationStore
    from kefu.agent.desk import forget_session
    from kefu.agent.factory import conversations_database
    from kefu.agent.tickets import TicketStore
    from kefu.errors import TicketError

    database = conversations_database(settings_from(args))
    conversations, tickets = ConversationStore(database), TicketStore(database)
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


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """The subcommands this module runs."""
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

    export = sub.add_parser("export", help="conversations with routes, sources, thumbs, "
                            "ratings and handoff times, as CSV or JSON lines")
    export.add_argument("--since", help="only conversations continued since this day or "
                        "time (local; 2026-12-01 or 2026-12-01T09:00)")
    export.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    export.add_argument("--out", help="the file to write (default: stdout)")
    export.set_defaults(func=cmd_export)

    report = sub.add_parser("report", help="the support lead's numbers: resolved without a "
                            "person, handoffs and why, waits, each person's times, ratings")
    report.add_argument("--since", help="only conversations continued since this day or time")
    report.add_argument("--json", action="store_true", help="print one JSON object")
    report.add_argument("--lang", choices=["en", "zh"], default="en",
                        help="the language of the text")
    report.set_defaults(func=cmd_report)

    forget = sub.add_parser("forget", help="erase a customer's conversation and its tickets "
                            "(an erasure request)")
    forget.add_argument("ids", nargs="+", metavar="SESSION_OR_TICKET",
                        help="a conversation's session id (the admin page's Conversations "
                        "tab, the widget's kefu.session in the browser) or a ticket id (T...)")
    forget.set_defaults(func=cmd_forget)
