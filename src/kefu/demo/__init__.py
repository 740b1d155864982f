"""The built-in demo knowledge base: a fictional home-goods shop, Lumi Home (露米家居)."""

from importlib import resources
from pathlib import Path

DEMO_KB = "demo"
SHOP_NAME = {"en": "Lumi Home", "zh": "露米家居"}


def demo_files() -> list[Path]:
    """The demo's FAQ files and policy documents, as paths inside the installed package."""
    root = Path(str(resources.files("kefu.demo")))
    return [root / "faq_en.csv", root / "faq_zh.xlsx", *sorted((root / "docs").glob("*.md"))]


def demo_eval_dir() -> Path:
    """The demo shop's own test questions (queries, out-of-scope, follow-up dialogues)."""
    return Path(str(resources.files("kefu.demo"))) / "eval"
