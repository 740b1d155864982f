"""Chat model backends behind the ChatModel Protocol, built in build_chat_model()."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from kefu.agent.model_files import resolve_model
from kefu.config import LLMSettings
from kefu.errors import BackendUnavailable, ConfigError
from kefu.types import ChatModel, Message


class LlamaCppChatModel:
    """A GGUF model in this process; one generation at a time, the system prompt's KV reused."""

    def __init__(self, path: Path, cfg: LLMSettings) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise BackendUnavailable(
                "llama-cpp-python is not installed: pip install llama-cpp-python==0.3.36"
            ) from exc
        self.path = path
        self._cfg = cfg
        self._lock = threading.Lock()
        self._llm = Llama(
            model_path=str(path), n_ctx=cfg.n_ctx, n_threads=cfg.n_threads,
            n_batch=cfg.n_batch, n_gpu_layers=cfg.n_gpu_layers, verbose=False,
        )

    def stream(self, messages: Sequence[Message]) -> Iterator[str]:
        with self._lock:
            chunks = self._llm.create_chat_completion(
                messages=[{"role": m.role, "content": m.content} for m in messages],
                max_tokens=self._cfg.max_tokens, temperature=self._cfg.temperature,
                stream=True,
            )
            for chunk in chunks:
                delta = chunk["choices"][0]["delta"].get("content")  # type: ignore[index]
                if delta:
                    yield delta


class LazyChatModel:
    """Loads the real model on first use (or on warm()), so start-up stays fast."""

    def __init__(self, cfg: LLMSettings, models_dir: Path) -> None:
        self._cfg = cfg
        self._models_dir = models_dir
        self._model: ChatModel | None = None
        self._lock = threading.Lock()

    def warm(self) -> ChatModel:
        with self._lock:
            if self._model is None:
                self._model = LlamaCppChatModel(resolve_model(self._cfg, self._models_dir),
                                                self._cfg)
            return self._model

    def stream(self, messages: Sequence[Message]) -> Iterator[str]:
        return self.warm().stream(messages)


def build_chat_model(cfg: LLMSettings, models_dir: Path) -> ChatModel | None:
    """The configured chat model, or None when the LLM is switched off."""
    if cfg.backend == "none":
        return None
    if cfg.backend == "llama-cpp":
        return LazyChatModel(cfg, models_dir)
    raise ConfigError(f"unknown llm backend {cfg.backend!r}; choose llama-cpp or none")
