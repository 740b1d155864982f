"""`kefu models|ingest|kb|ask|chat|tickets|agents|export|report|forget|eval|tune|check|
serve`: loads Settings, builds objects, prints results. One module per group of commands,
each adding its own subcommands to the parser."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from kefu.cli import calibration, conversations, evaluation, knowledge, models, serve, staff
from kefu.cli.common import settings_from
from kefu.errors import KefuError
from kefu.privacy import MaskingFormatter


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kefu", description=__doc__)
    parser.add_argument("--config", help="path to kefu.toml (default: $KEFU_CONFIG)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in (models, knowledge, conversations, staff, evaluation, calibration, serve):
        group.add_parsers(sub)
    return parser


def _log_to_stderr(args: argparse.Namespace) -> None:
    """Log lines on stderr, private data masked unless conversations.mask_logs is off (a
    config that does not load is reported by the command; masking stays on)."""
    try:
        masked = settings_from(args).conversations.mask_logs
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
