"""Chat model backends behind the ChatModel Protocol, built in build_chat_model()."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import httpx
import numpy as np

from kefu.agent.budget import estimated_tokens
from kefu.agent.model_files import resolve_model
from kefu.config import LLMSettings
from kefu.errors import BackendUnavailable, ConfigError, LLMError
from kefu.types import ChatModel, Message

if TYPE_CHECKING:
    from llama_cpp.llama_types import (
        ChatCompletionRequestMessage,
        CreateChatCompletionStreamResponse,
    )


class LlamaCppChatModel:
    """A GGUF model in this process. One long-lived Llama object: a prompt that starts like
    the previous one (the same system prompt) reuses its KV cache, so only the new tokens
    are processed."""

    def __init__(self, path: Path, cfg: LLMSettings) -> None:
        try:
            from llama_cpp import Llama
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError as exc:
            raise BackendUnavailable(
                "llama-cpp-python is not installed: pip install 'kefu[llama]', or use an LLM "
                "server (llm.backend = \"openai\")"
            ) from exc
        self.path = path
        self._cfg = cfg
        self.prompt_tokens = cfg.n_ctx - cfg.max_tokens
        self._lock = threading.Lock()
        try:
            self._llm = Llama(
                model_path=str(path), n_ctx=cfg.n_ctx, n_threads=cfg.n_threads,
                n_batch=cfg.n_batch, n_gpu_layers=cfg.n_gpu_layers, verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise LLMError(f"llama.cpp could not load {path}: {exc}") from exc
        # The model's own chat template (ChatML without one), compiled once: label_probs
        # renders its prompt with it, ending where the assistant's reply starts.
        self._chat_template = Jinja2ChatFormatter(
            template=self._llm.metadata.get("tokenizer.chat_template") or CHATML,
            eos_token="", bos_token="")

    def stream(self, messages: Sequence[Message]) -> Iterator[str]:
        """The reply's text as it is generated. llama.cpp's errors (a prompt longer than
        llm.n_ctx, a failed decode) are LLMError, before or during the stream."""
        with self._lock:
            try:
                chunks = self._llm.create_chat_completion(
                    messages=_llama_messages(messages), max_tokens=self._cfg.max_tokens,
                    temperature=self._cfg.temperature, seed=self._cfg.seed, stream=True,
                )
                for chunk in cast("Iterator[CreateChatCompletionStreamResponse]", chunks):
                    delta = chunk["choices"][0]["delta"].get("content")
                    if isinstance(delta, str) and delta:
                        yield delta
            except (ValueError, RuntimeError) as exc:
                self._llm.n_tokens = 0  # whatever was evaluated is not to be trusted
                raise LLMError(f"llama.cpp could not generate a reply: {exc}") from exc

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode(), add_bos=False, special=False))

    def label_probs(self, messages: Sequence[Message], labels: Sequence[str]) -> list[float]:
        """The next-token distribution after the reply's opening "[", over the labels. Only
        the tokens after the prefix this prompt shares with the last evaluated one are
        evaluated: the choosing prompt's system part stays cached from one question to the
        next, until a writing task (another system prompt) replaces it."""
        with self._lock:
            prompt = self._chat_template(messages=_llama_messages(messages)).prompt + "["
            logits = self._next_token_logits(self._llm.tokenize(prompt.encode(), special=True))
            ids = [self._llm.tokenize(label.encode(), add_bos=False, special=False)
                   for label in labels]
        return label_distribution(logits, ids)

    def _next_token_logits(self, tokens: list[int]) -> np.ndarray:
        llm = self._llm
        if len(tokens) >= llm.n_ctx():
            raise LLMError(f"a prompt of {len(tokens)} tokens does not fit llm.n_ctx "
                           f"({llm.n_ctx()})")
        keep = 0
        for cached, wanted in zip(llm.input_ids[: llm.n_tokens], tokens[:-1], strict=False):
            if cached != wanted:
                break
            keep += 1
        llm.n_tokens = keep  # eval() drops the KV cache from here on
        try:
            llm.eval(tokens[keep:])
        except (RuntimeError, ValueError) as exc:
            llm.n_tokens = 0  # whatever was evaluated is not to be trusted
            raise LLMError(f"llama.cpp could not evaluate the prompt: {exc}") from exc
        # Only the last position has logits (the library keeps none without logits_all).
        last = llm._ctx.get_logits_ith(-1)
        return np.ctypeslib.as_array(last, shape=(llm.n_vocab(),)).copy()

    def reset_cache(self) -> None:
        """Forget the evaluated prompt, so the next one is processed from its first token."""
        with self._lock:
            self._llm.reset()  # type: ignore[no-untyped-call]  # (unannotated in llama_cpp)


def _llama_messages(messages: Sequence[Message]) -> list[ChatCompletionRequestMessage]:
    """kefu's messages as llama-cpp-python's typed dicts."""
    return [cast("ChatCompletionRequestMessage", {"role": m.role, "content": m.content})
            for m in messages]


class LazyChatModel:
    """Loads the real model on first use (or on warm()), so start-up stays fast."""

    def __init__(self, cfg: LLMSettings, models_dir: Path) -> None:
        self._cfg = cfg
        self._models_dir = models_dir
        self._model: LlamaCppChatModel | None = None
        self._lock = threading.Lock()

    def warm(self) -> LlamaCppChatModel:
        with self._lock:
            if self._model is None:
                self._model = LlamaCppChatModel(resolve_model(self._cfg, self._models_dir),
                                                self._cfg)
            return self._model

    @property
    def prompt_tokens(self) -> int:
        return self._cfg.n_ctx - self._cfg.max_tokens

    def stream(self, messages: Sequence[Message]) -> Iterator[str]:
        return self.warm().stream(messages)

    def count_tokens(self, text: str) -> int:
        return self.warm().count_tokens(text)

    def label_probs(self, messages: Sequence[Message], labels: Sequence[str]) -> list[float]:
        return self.warm().label_probs(messages, labels)


class OpenAIChatModel:
    """Any server with an OpenAI-compatible POST /chat/completions (llama.cpp's llama-server,
    `python -m llama_cpp.server`, vLLM, a hosted API), streamed over server-sent events."""

    def __init__(self, cfg: LLMSettings, transport: httpx.BaseTransport | None = None) -> None:
        if not cfg.base_url:
            raise ConfigError("llm.backend 'openai' needs llm.base_url, e.g. "
                              "KEFU_LLM__BASE_URL=http://127.0.0.1:8080/v1")
        self._cfg = cfg
        headers = {"Authorization": f"Bearer {cfg.api_key}"} if cfg.api_key else {}
        self._http = httpx.Client(base_url=cfg.base_url.rstrip("/"), headers=headers,
                                  timeout=cfg.timeout_s, transport=transport)
        self._logprobs = True  # until the server refuses them
        # The server's context is taken to be llm.n_ctx, as the in-process model's.
        self.prompt_tokens = cfg.n_ctx - cfg.max_tokens

    def count_tokens(self, text: str) -> int:
        return estimated_tokens(text)  # the server's tokenizer is not ours to ask

    def stream(self, messages: Sequence[Message]) -> Iterator[str]:
        body = {"model": self._cfg.model, "stream": True,
                "max_tokens": self._cfg.max_tokens, "temperature": self._cfg.temperature,
                "messages": [{"role": m.role, "content": m.content} for m in messages]}
        if self._cfg.seed is not None:
            body["seed"] = self._cfg.seed
        try:
            with self._http.stream("POST", "/chat/completions", json=body) as response:
                if response.status_code >= 400:
                    detail = response.read().decode("utf-8", "replace")[:200]
                    raise LLMError(f"the LLM server at {self._cfg.base_url} answered "
                                   f"{response.status_code}: {detail}")
                for line in response.iter_lines():
                    delta = _sse_delta(line)
                    if delta is None:
                        break
                    if delta:
                        yield delta
        except httpx.HTTPError as exc:
            raise LLMError(f"cannot reach the LLM server at {self._cfg.base_url}: {exc}") \
                from exc

    def label_probs(self, messages: Sequence[Message], labels: Sequence[str]) -> list[float]:
        """From the top log-probabilities of the first reply token that is a label ("2",
        " 2" and "[2" count together). A server that sends none, or refuses to (`python -m
        llama_cpp.server` without --logits_all; not asked again), gives the label its reply
        names (or [0]) all the mass: then the choice is as sure as the model's word."""
        body: dict[str, object] = {
            "model": self._cfg.model, "stream": False, "max_tokens": 4, "temperature": 0.0,
            "messages": [{"role": m.role, "content": m.content} for m in messages]}
        choice = self._complete(body | {"logprobs": True, "top_logprobs": 20}) \
            if self._logprobs else None
        if choice is None:
            self._logprobs = False
            choice = self._complete(body, strict=True)
        assert choice is not None
        for position in (choice.get("logprobs") or {}).get("content") or []:
            if str(position.get("token", "")).strip(" [") in labels:
                weights = dict.fromkeys(labels, 0.0)
                for top in position.get("top_logprobs") or []:
                    label = str(top.get("token", "")).strip(" [")
                    if label in weights:
                        weights[label] += float(np.exp(top.get("logprob", -np.inf)))
                total = sum(weights.values())
                if total > 0:
                    return [weights[label] / total for label in labels]
        text = (choice.get("message") or {}).get("content") or ""
        named = next((label for label in labels if f"[{label}]" in text), labels[0])
        return [float(label == named) for label in labels]

    def _complete(self, body: dict[str, object],
                  strict: bool = False) -> dict[str, Any] | None:
        """The first choice of a non-streamed completion; None when the server refuses the
        request (strict: an LLMError instead)."""
        try:
            response = self._http.post("/chat/completions", json=body)
        except httpx.HTTPError as exc:
            raise LLMError(f"cannot reach the LLM server at {self._cfg.base_url}: {exc}") \
                from exc
        if response.status_code >= 400:
            if not strict:
                return None
            raise LLMError(f"the LLM server at {self._cfg.base_url} answered "
                           f"{response.status_code}: {response.text[:200]}")
        try:
            choice = response.json()["choices"][0]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise LLMError(f"the LLM server sent an unreadable reply: {response.text[:120]}") \
                from exc
        if not isinstance(choice, dict):
            raise LLMError(f"the LLM server sent an unreadable reply: {response.text[:120]}")
        return choice


CHATML = ("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n"
          "{% endfor %}<|im_start|>assistant\n")


def label_distribution(logits: np.ndarray, label_tokens: Sequence[list[int]]) -> list[float]:
    """Softmax of the logits restricted to the labels that are one token each (a label the
    tokenizer splits gets 0)."""
    single = [ids[0] if len(ids) == 1 else -1 for ids in label_tokens]
    picked = np.array([logits[i] if i >= 0 else -np.inf for i in single], dtype=np.float64)
    if not np.isfinite(picked).any():
        return [0.0] * len(single)
    weights = np.exp(picked - picked[np.isfinite(picked)].max())
    return [float(w) for w in weights / weights.sum()]


def _sse_delta(line: str) -> str | None:
    """The text of one server-sent event line; '' for anything else; None at [DONE]."""
    if not line.startswith("data:"):
        return ""
    data = line[len("data:"):].strip()
    if data == "[DONE]":
        return None
    try:
        choice = json.loads(data)["choices"][0]
    except (json.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
        raise LLMError(f"the LLM server sent an unreadable event: {data[:120]}") from exc
    return (choice.get("delta") or {}).get("content") or ""


def build_chat_model(cfg: LLMSettings, models_dir: Path,
                     transport: httpx.BaseTransport | None = None) -> ChatModel | None:
    """The configured chat model, or None when the LLM is switched off."""
    if cfg.backend == "none":
        return None
    if cfg.backend == "llama-cpp":
        return LazyChatModel(cfg, models_dir)
    if cfg.backend == "openai":
        return OpenAIChatModel(cfg, transport)
    raise ConfigError(f"unknown llm backend {cfg.backend!r}; choose llama-cpp, openai or none")
