"""What every command shares: the settings it loads and the knowledge base it serves."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kefu.config import ServerSettings, Settings, load_settings


def settings_from(args: argparse.Namespace) -> Settings:
    return load_settings(Path(args.config) if args.config else None)


def serving_settings(args: argparse.Namespace) -> Settings | None:
    """Settings with server.kb set from --kb; None (after saying why) when it is missing."""
    from kefu.knowledge_base.store import knowledge_base_exists

    settings = settings_from(args)
    kb_name = args.kb or settings.server.kb
    if not knowledge_base_exists(settings, kb_name):
        print(f"error: no knowledge base {kb_name!r}; import one with `kefu ingest PATH "
              f"--kb {kb_name}`", file=sys.stderr)
        return None
    return serving_for(settings, settings.server.model_copy(update={"kb": kb_name}))


def serving_for(settings: Settings, server: ServerSettings) -> Settings:
    """settings serving server's knowledge base; the demo's speaks for its shop (Lumi Home)
    unless shop_name says otherwise."""
    from kefu.demo import DEMO_KB, SHOP_NAME

    demo_shop = f"{SHOP_NAME['en']} ({SHOP_NAME['zh']})" if server.kb == DEMO_KB else ""
    return settings.model_copy(update={"server": server,
                                       "shop_name": settings.shop_name or demo_shop})
