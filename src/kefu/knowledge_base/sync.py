"""`kefu ingest` as a sync: files in, entries added/updated/unchanged, stale entries found."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kefu.errors import KefuError
from kefu.knowledge_base.loaders import iter_files, load_path
from kefu.knowledge_base.store import KnowledgeBase


@dataclass
class FileReport:
    name: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    error: str = ""


@dataclass
class SyncReport:
    files: list[FileReport] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)  # entry ids no longer in their files
    removed: int = 0

    @property
    def failed(self) -> bool:
        return any(f.error for f in self.files)


def sync(kb: KnowledgeBase, paths: Sequence[Path], prune: bool = False,
         progress: bool = True) -> SyncReport:
    """Import every file under paths; find (and with prune, remove) entries gone from them.

    An entry is stale when it came from a file that was read this time but no longer holds
    it, or from a file that is no longer inside a folder given in paths. Entries of a file
    that could not be read are kept: a broken export must not empty the knowledge base.
    """
    report = SyncReport()
    seen_ids: set[str] = set()
    read_sources: set[str] = set()
    kept_sources: set[str] = set()
    for path in iter_files(paths):
        file_report = FileReport(path.name)
        report.files.append(file_report)
        kept_sources.add(path.name)
        try:
            loaded = load_path(path)
            result = kb.ingest(loaded.entries, progress=progress)
        except KefuError as exc:
            file_report.error = str(exc)
            continue
        read_sources.add(path.name)
        seen_ids.update(e.id for e in loaded.entries)
        file_report.added, file_report.updated = result.added, result.updated
        file_report.unchanged, file_report.skipped = result.unchanged, len(loaded.problems)
        report.problems += loaded.problems
    folders = [p for p in paths if p.is_dir()]
    for entry in kb.entries().values():
        if entry.id in seen_ids or not entry.source:
            continue
        if entry.source in read_sources or (folders and entry.source not in kept_sources):
            report.stale.append(entry.id)
    if prune and report.stale:
        report.removed = kb.delete(report.stale)
    return report
