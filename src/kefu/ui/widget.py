"""The embeddable widget: /widget.js (one dependency-free file, cached by browsers) and
/widget/demo, a plain page that carries nothing but the snippet."""

from __future__ import annotations

import hashlib
import html
import json
from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from kefu.agent.prompts import prompts
from kefu.config import ServerSettings

CACHE_SECONDS = 3600
_PLACEHOLDER = "/*KEFU_DEFAULTS*/{}"


def widget_script(server: ServerSettings, kb: str, shop: str) -> str:
    """widget.js with this server's defaults (colours, title, texts in both languages)."""
    text = {lang: prompts(lang)["widget"] | {
        "greeting": prompts(lang)["greeting"], "human": prompts(lang)["human_button"],
        "sources": prompts(lang)["sources_label"],
        "translated": prompts(lang)["translated_label"]} for lang in ("en", "zh")}
    defaults = {"kb": kb, "color": server.widget_color, "position": server.widget_position,
                "title": server.widget_title or shop, "text": text}
    source = resources.files("kefu.ui").joinpath("static/widget.js").read_text("utf-8")
    return compact(source).replace(_PLACEHOLDER, json.dumps(defaults, ensure_ascii=False))


def compact(script: str) -> str:
    """The script as served: without its indentation and its whole-line // comments (the
    widget.js file keeps them for people to read); about a sixth smaller."""
    lines = (line.strip() for line in script.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("//")) + "\n"


def snippet(base_url: str, kb: str) -> str:
    return f'<script src="{base_url}/widget.js" data-kb="{kb}" data-lang="auto" async></script>'


def build_widget_router(server: ServerSettings, kb: str, shop: str) -> APIRouter:
    router = APIRouter(tags=["widget"])
    body = widget_script(server, kb, shop).encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'

    @router.get("/widget.js", response_class=Response,
                responses={200: {"content": {"text/javascript": {}}}})
    def widget_js(request: Request) -> Response:
        """The widget, with this server's defaults; revalidated by ETag after an hour."""
        headers = {"Cache-Control": f"public, max-age={CACHE_SECONDS}", "ETag": etag}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)

    @router.get("/widget/demo", response_class=HTMLResponse)
    def widget_demo(request: Request) -> HTMLResponse:
        """A plain page with just the snippet: what a shop's own page looks like with it."""
        base = str(request.base_url).rstrip("/")
        name = html.escape(shop)
        return HTMLResponse(f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport"
content="width=device-width, initial-scale=1"><title>{name} · widget demo</title></head>
<body style="font-family: Georgia, serif; max-width: 40em; margin: 3em auto">
<h1>{name}</h1><p>A page of the shop's own site. The chat bubble in the corner comes from
this one line:</p><pre style="white-space: pre-wrap">{html.escape(snippet(base, kb))}</pre>
{snippet(base, kb)}
</body></html>""")

    return router
