"""What the LLM writes for `kefu tune` to test a knowledge base with: customer-style
questions about each FAQ entry or document chunk, cached in the knowledge base by the
entry's content, the model and the prompt, so a second run asks the LLM nothing."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Sequence
from typing import TypeVar

from tqdm import tqdm

from kefu.agent.prompts import render
from kefu.config import LLMSettings
from kefu.knowledge_base.text import detect_lang, normalize
from kefu.types import ChatModel, Entry, Message

T = TypeVar("T")
PROMPTS = "kefu.calibration.prompts"
PARAPHRASES = "tune.paraphrases"  # knowledge base setting: the cached rewordings
DEFAULT_PROMPTS = ("paraphrase", "passage_questions")  # for FAQ entries, document chunks
SAVE_EVERY = 20
PROMPT_VERSION = 3  # part of the cache key: a changed prompt rewords again (3: replies cached)
REWORD_TEMPERATURE = 0.8  # answers want 0.1; at that a small model writes one line 8 times
REWORD_SEED = 20261201  # the same knowledge base gets the same rewordings
PER_ENTRY = 2  # rewordings per entry of a knowledge base with MIN_PROBES / 2 entries or more
MIN_PROBES = 200  # a small FAQ gets more rewordings per entry, up to MAX_PER_ENTRY ...
MAX_PER_ENTRY = 8  # ... so that a 2 % wrong rate is more than a probe or two


def _key(entry: Entry, model_id: str, n: int, prompts: tuple[str, str]) -> str:
    parts = [PROMPT_VERSION, entry.question, entry.answer, model_id, n]
    prompt = prompts[entry.kind != "faq"]
    if prompt not in DEFAULT_PROMPTS:
        parts.append(prompt)  # (the first prompts' replies were cached without it)
    text = json.dumps(parts, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def paraphrase_prompt(entry: Entry, n: int, prompts: tuple[str, str] = DEFAULT_PROMPTS) -> str:
    """The prompt for n questions about an entry: prompts[0] for an FAQ entry
    ("paraphrase": rewordings of its question; "customer_questions": what other customers
    who need its answer would ask), prompts[1] for a document chunk ("passage_questions":
    questions it answers; "passage_facts": one of its facts each)."""
    if entry.kind == "faq":
        return render(entry.lang, prompts[0], PROMPTS, question=entry.question,
                      answer=entry.answer[:600], n=n)
    return render(entry.lang, prompts[1], PROMPTS, n=n,
                  passage=f"{entry.question}\n{entry.answer[:600]}")


def parse_paraphrases(reply: str, entry: Entry, n: int) -> list[str]:
    """The model's lines that are plausible customer questions in the entry's language; a
    line that only lengthens an earlier one (a small model's runaway "... and was released
    in 2005 and was released in 2006") is left out."""
    seen = {normalize(entry.question), *(normalize(a) for a in entry.alt_questions)}
    kept: list[str] = []
    out = []
    for line in reply.splitlines():
        text = re.sub(r"^\s*(?:[-*•·]|\d+[.)、．]|[（(]?\d+[)）])\s*", "", line)
        text = re.sub(r"^(?:Q|问)\s*[:：]\s*", "", text)  # a label the model copies
        text = re.sub(r"\s*[（(][^）)]*[）)]\s*$", "", text).strip(" \"'“”「」")  # a remark
        norm = normalize(text)
        folded = norm.rstrip("?？.。!！")
        if not 3 <= len(text) <= 150 or norm in seen:
            continue
        if detect_lang(text) != entry.lang or any(folded.startswith(k) for k in kept):
            continue
        seen.add(norm)
        kept.append(folded)
        out.append(text)
    return out[:n]


def spread(items: Sequence[T], limit: int | None) -> list[T]:
    """Up to limit of the items (entries, probes), evenly spread over them (all when
    None)."""
    if limit is None:
        return list(items)
    return list(items[:: max(1, len(items) // limit)][:limit])


def rewording_llm(llm: LLMSettings) -> LLMSettings:
    """The LLM settings to reword with: sampled, for varied rewordings, with a fixed seed."""
    return llm.model_copy(update={"temperature": REWORD_TEMPERATURE, "seed": REWORD_SEED})


def per_entry_for(entries: int) -> int:
    """Rewordings to ask per entry: PER_ENTRY, more for a small knowledge base."""
    return min(max(PER_ENTRY, math.ceil(MIN_PROBES / max(entries, 1))), MAX_PER_ENTRY)


def rewordings(entries: Sequence[Entry], kb_setting, save_setting,
               model: ChatModel, model_id: str, n: int | None = None,
               progress: bool = True, prompts: tuple[str, str] = DEFAULT_PROMPTS,
               setting: str = PARAPHRASES,
               desc: str = "rewording the knowledge base's questions") -> dict[str, list[str]]:
    """n rewordings per entry from the LLM (default: per_entry_for; prompts: see
    paraphrase_prompt); its replies are cached in the knowledge base setting by entry
    content, model and prompt (and parsed on every run, so a better parser needs no new
    replies); desc: what its progress bar says."""
    n = n or per_entry_for(len(entries))
    cache: dict[str, dict[str, str]] = dict(kb_setting(setting) or {})
    out: dict[str, list[str]] = {}
    fresh = 0
    for entry in tqdm(entries, desc=desc, unit="entry", disable=not progress):
        key = _key(entry, model_id, n, prompts)
        hit = cache.get(entry.id)
        if not (hit and hit.get("key") == key):
            hit = cache[entry.id] = {"key": key,
                                     "reply": _reworded(model, entry, n, prompts)}
            fresh += 1
            if fresh % SAVE_EVERY == 0:  # an interrupted run keeps what it wrote
                save_setting(setting, cache)
        out[entry.id] = parse_paraphrases(hit["reply"], entry, n)
    if fresh:
        save_setting(setting, cache)
    return out


def _reworded(model: ChatModel, entry: Entry, n: int, prompts: tuple[str, str]) -> str:
    """The model's reply, cut off once its finished lines hold n usable rewordings (a
    sampling model goes on writing more, which would only be dropped)."""
    reply = ""
    for chunk in model.stream([Message("user", paraphrase_prompt(entry, n, prompts))]):
        reply += chunk
        if "\n" in chunk and len(parse_paraphrases(reply.rsplit("\n", 1)[0], entry, n)) >= n:
            break  # the generator, released here, stops the model
    return reply
