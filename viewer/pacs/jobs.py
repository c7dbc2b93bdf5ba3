"""What retrievals and sends report: progress per instance and a result per job.

Callbacks: ``progress(Progress)`` is called once per instance, from whichever thread received
it (pynetdicom's reactor or the Storage SCP's threads): a GUI forwards it with a signal.
``cancel`` is a :class:`threading.Event`; it is checked between instances.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Progress:
    """``done`` of ``total`` instances (``total`` is None when the archive did not say);
    ``path`` is the file just written (None for a send or a skipped instance)."""

    done: int
    total: int | None
    path: Path | None = None
    sop_instance_uid: str = ""


ProgressCallback = Callable[[Progress], None]


@dataclass
class RetrieveResult:
    """How a retrieval ended. ``state`` is ``complete``, ``partial`` (cancelled, failed or
    some instances refused: what arrived is kept) or ``failed`` (nothing new arrived)."""

    study_uid: str
    method: str  # "C-GET", "C-MOVE" or "WADO-RS"
    state: str = "complete"
    received: int = 0
    skipped: int = 0  # already in the cache (resume)
    failed: int = 0
    total: int | None = None
    cancelled: bool = False
    message: str = ""
    first_instance_s: float | None = None  # seconds from start to the first file on disk
    elapsed_s: float = 0.0
    paths: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class SendOutcome:
    """One instance sent: its file, SOP Instance UID, status (0 = success; PS3.7 C.4.2
    C-STORE status, or the HTTP-derived failure of STOW-RS)."""

    path: Path
    sop_instance_uid: str
    status: int
    message: str = ""
    study_uid: str = ""  # for the audit trail (hashed there)

    @property
    def ok(self) -> bool:
        # 0xB000, 0xB007, 0xB006: warnings (coercion, mismatch, elements discarded): stored.
        return self.status == 0 or self.status in (0xB000, 0xB006, 0xB007)


class Counter:
    """A thread-safe done-counter shared by a job's callbacks."""

    def __init__(self, start: int = 0) -> None:
        self._lock = threading.Lock()
        self.value = start

    def add(self, n: int = 1) -> int:
        with self._lock:
            self.value += n
            return self.value
