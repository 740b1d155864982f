"""`kefu serve`: the chat page, the widget and the HTTP APIs."""

from __future__ import annotations

import argparse
import os

from kefu.cli.common import serving_for, settings_from
from kefu.cli.knowledge import ingest_files
from kefu.config import check_serving
from kefu.errors import ConfigError


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from kefu.demo import DEMO_KB, demo_files
    from kefu.knowledge_base.editor import write_serving_note
    from kefu.ui.app import SETTINGS_ENV, create_app

    settings = settings_from(args)
    server = settings.server.model_copy(update={
        k: v for k, v in (("host", args.host), ("port", args.port), ("kb", args.kb)) if v})
    if args.demo:
        server = server.model_copy(update={"kb": args.kb or DEMO_KB})
        ingest_files(settings, server.kb, demo_files(), translate=False)  # serve translates
    settings = serving_for(settings, server)
    check_serving(settings)
    if args.workers > 1 and settings.store.client != "http":
        raise ConfigError("several workers need one Chroma server for the knowledge base: "
                          "start `chroma run --path DIR` and set store.client = \"http\" "
                          "(KEFU_STORE__CLIENT=http, KEFU_STORE__PORT)")
    url = f"http://{server.host}:{server.port}/"
    note = write_serving_note(settings.kb_dir / server.kb, url)
    print(f"kefu is serving knowledge base {server.kb!r} on {url}"
          + (f" with {args.workers} workers" if args.workers > 1 else ""), flush=True)
    try:
        if args.workers > 1:
            os.environ[SETTINGS_ENV] = settings.model_dump_json()
            uvicorn.run("kefu.ui.app:app_from_environment", factory=True,
                        workers=args.workers, host=server.host, port=server.port,
                        log_level="warning")
        else:
            uvicorn.run(create_app(settings), host=server.host, port=server.port,
                        log_level="warning")
    finally:
        note.unlink(missing_ok=True)
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """The subcommands this module runs."""
    serve = sub.add_parser("serve", help="start the chat page and the HTTP API")
    serve.add_argument("--kb", help="knowledge base to serve")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 7860)")
    serve.add_argument("--workers", type=int, default=1,
                       help="worker processes answering on the one port (default 1; more "
                       "need a Chroma server, store.client = http; conversations and tickets "
                       "in SQLite or PostgreSQL, rate limits in Redis to count across them)")
    serve.add_argument("--demo", action="store_true",
                       help="import the built-in demo first (fast when unchanged)")
    serve.set_defaults(func=cmd_serve)
