"""Per-language prompt files (package data), rendered by Jinja with StrictUndefined."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml
from jinja2 import Environment, StrictUndefined

from kefu.types import Lang

_ENV = Environment(undefined=StrictUndefined, keep_trailing_newline=False, autoescape=False)


@cache
def prompts(lang: Lang, package: str = "kefu.agent.prompts") -> dict[str, Any]:
    """The keys of `package`'s {lang}.yaml (the agent's own prompts by default)."""
    text = resources.files(package).joinpath(f"{lang}.yaml").read_text("utf-8")
    return dict(yaml.safe_load(text))


def render(lang: Lang, key: str, package: str = "kefu.agent.prompts", **values: Any) -> str:
    return _ENV.from_string(prompts(lang, package)[key]).render(**values).strip()
