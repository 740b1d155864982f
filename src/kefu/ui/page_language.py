"""The staff's pages (admin page, inbox) in Chinese or English: in the language the person
picked with the page's switch (kept in a cookie, so it holds on their next visit), else the
one their browser asks for first. Texts are the keys of a section of ui/texts/{lang}.yaml.

A page's labels are set on the server: in English when the page is built, in the person's
language when it loads (PageTexts); the page's messages and tables are written in the same
language (words). The switch keeps the choice and loads the page again."""

from __future__ import annotations

from typing import Any

import gradio as gr

from kefu.agent.prompts import prompts
from kefu.types import Lang

Table = dict[str, list[Any]]  # a Dataframe's value: its headers and rows
COOKIE = "kefu_lang"
CHOICES = [("中文", "zh"), ("English", "en")]
# The switch, in the browser: keep the choice, and load the page again in that language
# (its labels, tables, messages and plots alike).
_SWITCH = ("(lang) => { document.cookie = `" + COOKIE + "=${lang}; path=/; "
           "max-age=31536000; SameSite=Lax`; location.reload(); }")


def language(request: gr.Request | None) -> Lang:
    """The switch's choice (the cookie), else the browser's first language, else English."""
    if request is None:
        return "en"
    chosen = (request.cookies or {}).get(COOKIE, "")
    if chosen in ("zh", "en"):
        return chosen
    asked = request.headers.get("accept-language", "")
    return "zh" if asked.lower().startswith("zh") else "en"


def texts(lang: Lang, section: str) -> dict[str, Any]:
    return prompts(lang, "kefu.ui.texts")[section]


def words(request: gr.Request | None, section: str) -> dict[str, Any]:
    """The section's texts in the person's language."""
    return texts(language(request), section)


def table(said: dict[str, Any], columns: tuple[str, ...], rows: list[list[Any]]) -> Table:
    """A Dataframe's value, headed in the person's language (said: a section's texts)."""
    return {"headers": [said[c] for c in columns], "data": rows}


def english_headers(section: str, columns: tuple[str, ...]) -> list[str]:
    """An empty table's headers until a handler heads it in the person's language."""
    return [texts("en", section)[c] for c in columns]


def switch() -> gr.Radio:
    """The 中文 / English switch, where it is built (PageTexts.follow wires it)."""
    return gr.Radio(CHOICES, show_label=False, container=False, elem_id="page-language",
                    scale=0, min_width=200)


class PageTexts:
    """Which component shows which text of the section: as its label, value, placeholder,
    or its choices ({value: key}); shown in English when built, set in the person's
    language when the page loads (follow())."""

    def __init__(self, section: str) -> None:
        self.section = section
        self._shown: list[tuple[Any, dict[str, Any], dict[str, str]]] = []

    def show(self, component: Any, fields: dict[str, str] | None = None,
             **keys: str | dict[str, str]) -> Any:
        """component, with the texts of keys (prop=key; their {fields} filled in) from now
        on; English until the page loads."""
        for prop, value in self._props(texts("en", self.section), keys, fields or {}).items():
            setattr(component, prop, value)
        self._shown.append((component, keys, fields or {}))
        return component

    def updates(self, lang: Lang) -> list[Any]:
        said = texts(lang, self.section)
        return [gr.update(**self._props(said, keys, fields))
                for _, keys, fields in self._shown]

    def follow(self, page: gr.Blocks, choice: gr.Radio) -> None:
        """Set every shown text, and the switch (switch()), in the person's language when
        the page loads; called once the page is built."""
        shown = [component for component, _, _ in self._shown]

        def load(request: gr.Request) -> list[Any]:
            lang = language(request)
            return [lang, *self.updates(lang)]

        page.load(load, None, [choice, *shown])
        choice.input(None, choice, None, js=_SWITCH)

    @staticmethod
    def _props(said: dict[str, Any], keys: dict[str, Any], fields: dict[str, str]
               ) -> dict[str, Any]:
        return {prop: [(said[key], value) for value, key in key.items()]
                if isinstance(key, dict) else said[key].format(**fields) if fields
                else said[key] for prop, key in keys.items()}
