"""Every error kefu raises on purpose.

    KefuError
    ├── ConfigError            bad kefu.toml / KEFU_* value, unknown choice
    ├── BackendUnavailable     optional package missing; says the pip command
    ├── IngestError            a file cannot be imported at all (an evaluation dataset's bad
    │                          row: BadRow, reported and skipped)
    ├── KnowledgeBaseError     unknown knowledge base, a vector store (Chroma) failure
    │   └── EmbedderMismatch   collection built by another embedder
    ├── StorageError           a database (SQLite, PostgreSQL) locked, full, damaged,
    │   │                      unreachable or unreadable
    │   └── StorageConflict    two writers wanted the same row at once (try again)
    ├── ModelFileError         model weights missing, corrupt, or not assemblable
    ├── LLMError               the LLM backend failed (server down, bad reply, a prompt
    │                          too long for its context)
    ├── QueueTimeout           a question waited longer than llm.queue_wait_s for the LLM
    ├── TicketError            no such ticket, or a change it cannot take
    │   └── TicketClosed       the ticket is closed already
    └── HandoverError          a move a conversation cannot take now (claimed by another
                               person, not held by the one releasing it), or no such
                               conversation or person

Each message says what happened and what to do next.
"""


class KefuError(Exception):
    """Base of all kefu errors."""


class ConfigError(KefuError):
    """A setting is invalid or names an unknown choice."""


class BackendUnavailable(KefuError):
    """An optional dependency for the chosen backend is not installed."""


class IngestError(KefuError):
    """A file could not be imported at all (bad rows are reported, not raised)."""


class KnowledgeBaseError(KefuError):
    """The knowledge base cannot be opened, queried or written."""


class EmbedderMismatch(KnowledgeBaseError):
    """The collection was built with another embedder than the one configured."""


class StorageError(KefuError):
    """A database could not be read or written (locked, full, damaged)."""


class StorageConflict(StorageError):
    """Two writers wanted the same row at once (a message's number): try again."""


class ModelFileError(KefuError):
    """A model file is missing, has a wrong checksum, or cannot be assembled."""


class LLMError(KefuError):
    """The chat model could not produce a reply (an unreachable server, an error status)."""


class QueueTimeout(KefuError):
    """A question waited longer than the limit for the LLM."""


class TicketError(KefuError):
    """No such ticket, or a change it cannot take."""


class TicketClosed(TicketError):
    """The ticket is closed already."""


class HandoverError(KefuError):
    """A conversation cannot make this move now (agent/handover.py), or is not there. why:
    which refusal ('taken', 'held', 'state', '' for any other), for pages that say it in
    the person's words; details: the refusal's fields (holder, state, move)."""

    def __init__(self, message: str, why: str = "", **details: str) -> None:
        super().__init__(message)
        self.why = why
        self.details = details
