"""`kefu agents add|list|remove`: the shop's staff who answer customers in the same
conversation when kefu hands it over (the staff API, /api/v1/agent)."""

from __future__ import annotations

import argparse
import getpass
import sys

from kefu.cli.common import settings_from


def cmd_agents(args: argparse.Namespace) -> int:
    from kefu.agent.factory import conversations_database
    from kefu.agent.staff import StaffStore

    store = StaffStore(conversations_database(settings_from(args)))
    if args.agents_command == "list":
        for name in store.names():
            print(name)
        return 0
    if args.agents_command == "remove":
        if not store.remove(args.name):
            print(f"error: no person named {args.name!r}", file=sys.stderr)
            return 1
        print(f"removed {args.name}")
        return 0
    password = _password(args.password_stdin)
    if password is None:
        return 2
    new = store.add(args.name, password)
    print(f"{'added' if new else 'new password for'} {args.name.strip()}")
    return 0


def _password(from_stdin: bool) -> str | None:
    """The password from the first line of stdin, or typed twice at the terminal."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        print("error: the two passwords differ; nothing was changed", file=sys.stderr)
        return None
    return first


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """The subcommands this module runs."""
    agents = sub.add_parser("agents", help="the staff who take over conversations from kefu")
    agents_sub = agents.add_subparsers(dest="agents_command", required=True)
    add = agents_sub.add_parser("add", help="add a person, or set a new password for one")
    add.add_argument("name", help="shown to customers when this person joins (\"Li\")")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of stdin")
    agents_sub.add_parser("list", help="the staff's names")
    agents_sub.add_parser("remove", help="remove a person").add_argument("name")
    agents.set_defaults(func=cmd_agents)
