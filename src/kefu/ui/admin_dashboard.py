"""The admin page's Dashboard tab: questions per day by how kefu answered them and the
thumbs, then the support lead's numbers (agent/service_report.py) with conversations per
day; in the person's language (ui/texts `admin`)."""

from __future__ import annotations

import time
from functools import cache
from typing import Any

import gradio as gr
from matplotlib import font_manager
from matplotlib.figure import Figure

from kefu.agent.desk import SupportDesk
from kefu.agent.service_report import ServiceReport, service_report
from kefu.types import Lang
from kefu.ui.page_language import language, texts

DAYS = 30
ROUTES = ("faq", "suggest", "rag", "declined")
# Glyphs a font lacks come from the next: Chinese words from the first of these installed.
CHINESE_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "WenQuanYi Zen Hei",
                 "WenQuanYi Micro Hei", "Droid Sans Fallback")


@cache
def fonts() -> list[str]:
    """Matplotlib's own font, then one installed with Chinese glyphs (if any)."""
    installed = {font.name for font in font_manager.fontManager.ttflist}
    return ["DejaVu Sans", *[name for name in CHINESE_FONTS if name in installed][:1]]


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height))
    figure.set_layout_engine("tight")
    return figure


def _style(axes: Any) -> None:
    """The axes' words (title, axis labels, legend; the ticks are dates and numbers) in
    fonts()."""
    for text in (axes.title, axes.xaxis.label, axes.yaxis.label):
        text.set_fontfamily(fonts())
    if axes.get_legend() is not None:
        for text in axes.get_legend().get_texts():
            text.set_fontfamily(fonts())


def dashboard_figure(days: list[dict[str, Any]], lang: Lang = "en") -> Figure:
    """Questions per day by how they were answered, and the thumbs per day."""
    said = texts(lang, "admin")
    figure = _figure(9, 5.5)
    routes, thumbs = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    labels = [d["day"][5:] for d in days] or ["—"]
    bottom = [0] * len(labels)
    for key, colour in zip(ROUTES, ("#2b8a3e", "#74b816", "#1c7ed6", "#e8590c"), strict=True):
        values = [d[key] for d in days] or [0]
        routes.bar(labels, values, bottom=bottom, label=said[f"plot_{key}"], color=colour)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    routes.set_ylabel(said["plot_questions"])
    routes.legend(loc="upper left", fontsize=8, ncols=4)
    routes.set_title(said["plot_title"])
    thumbs.bar(labels, [d["up"] for d in days] or [0], color="#2b8a3e", label=said["plot_up"])
    thumbs.bar(labels, [-d["down"] for d in days] or [0], color="#c92a2a",
               label=said["plot_down"])
    thumbs.axhline(0, color="#444", linewidth=0.8)
    thumbs.set_ylabel(said["plot_thumbs"])
    thumbs.legend(loc="upper left", fontsize=8, ncols=2)
    thumbs.tick_params(axis="x", labelrotation=45)
    _style(routes)
    _style(thumbs)
    return figure


def service_figure(report: ServiceReport, lang: Lang = "en") -> Figure:
    """Conversations per day: resolved by kefu alone, handed to a person or a ticket, the
    rest (a thumbs-down or a return)."""
    said = texts(lang, "admin")
    figure = _figure(9, 3.2)
    axes = figure.subplots()
    labels = [d["day"][5:] for d in report.days] or ["—"]
    resolved = [d["resolved"] for d in report.days] or [0]
    handed = [d["handoffs"] for d in report.days] or [0]
    rest = [d["conversations"] - r - h for d, r, h in zip(report.days, resolved, handed,
                                                           strict=False)] or [0]
    axes.bar(labels, resolved, color="#2b8a3e", label=said["plot_resolved"])
    axes.bar(labels, handed, bottom=resolved, color="#1c7ed6", label=said["plot_handed"])
    axes.bar(labels, rest, bottom=[a + b for a, b in zip(resolved, handed, strict=True)],
             color="#e8590c", label=said["plot_rest"])
    axes.set_ylabel(said["plot_conversations"])
    axes.legend(loc="lower left", bbox_to_anchor=(0, 1.02), fontsize=8, ncols=3,
                frameon=False)
    axes.tick_params(axis="x", labelrotation=45)
    _style(axes)
    return figure


def summary(days: list[dict[str, Any]], lang: Lang = "en") -> str:
    said = texts(lang, "admin")
    total = sum(d[k] for d in days for k in ROUTES)
    if not total:
        return str(said["no_questions"])
    share = {k: sum(d[k] for d in days) / total for k in ROUTES}
    up, down = sum(d["up"] for d in days), sum(d["down"] for d in days)
    thumbs = said["thumbs"].format(helpful=up / (up + down), n=up + down) if up + down else \
        said["no_thumbs"]
    return str(said["summary"].format(total=total, days=DAYS, thumbs=thumbs, **share))


def dashboard_tab(desk: SupportDesk, tab: gr.Tab) -> None:
    def dashboard(request: gr.Request) -> tuple[Figure, str, str, Figure, str]:
        lang = language(request)
        days = desk.conversations.daily()
        start = time.time() - DAYS * 86400
        report = service_report([c for c in desk.conversations.export(start)
                                 if c["created"] >= start])  # whole days: begun since
        return (dashboard_figure(days, lang), summary(days, lang),
                texts(lang, "admin")["service_heading"].format(days=DAYS),
                service_figure(report, lang),
                "\n".join(f"- {line.strip()}" for line in report.lines(lang)))

    headline = gr.Markdown()
    plot = gr.Plot(show_label=False)
    heading = gr.Markdown()
    service = gr.Markdown(elem_id="admin-service")
    service_plot = gr.Plot(show_label=False)
    tab.select(dashboard, None, [plot, headline, heading, service_plot, service])
