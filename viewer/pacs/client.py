"""One object per archive for the window and the command line: :class:`PacsClient`.

Every method blocks (run it on a worker thread); long ones take ``progress`` (called once per
instance with a :class:`~viewer.pacs.jobs.Progress`, from any thread) and ``cancel`` (a
``threading.Event``, checked between instances). Each retrieval and send is recorded in
the audit trail (:mod:`viewer.audit`: the study UID hashed, the node's name, counts).
Errors are :class:`PacsError` with a message that names the node and says what to do.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable

from viewer import audit
from viewer.pacs import dimse, retrieve, web
from viewer.pacs.cache import StudyCache
from viewer.pacs.errors import PacsError
from viewer.pacs.jobs import ProgressCallback, RetrieveResult, SendOutcome
from viewer.pacs.nodes import DicomWebNode, DimseNode, Node

METHODS = ("get", "move", "wado")


class PacsClient:
    """Talk to ``node`` (DIMSE or DICOMweb), retrieving into ``cache``.

    ``scp``: a running :class:`~viewer.pacs.scp.StorageSCP` for C-MOVE (the window's, when
    the user keeps one enabled); without it C-MOVE starts one for the transfer.
    """

    def __init__(self, node: Node, cache: StudyCache | None = None, scp=None) -> None:
        self.node = node
        self.cache = cache if cache is not None else StudyCache()
        self.scp = scp

    @property
    def is_dicomweb(self) -> bool:
        return isinstance(self.node, DicomWebNode)

    def verify(self) -> float:
        """C-ECHO, or a one-result QIDO request; returns the round trip in seconds."""
        return web.verify(self.node) if self.is_dicomweb else dimse.echo(self.node)

    def find(self, level: str = "STUDY", query: dict[str, str] | None = None, *,
             study_uid: str | None = None, limit: int | None = None, offset: int = 0,
             cancel: threading.Event | None = None) -> list[dict[str, str]]:
        """Search at ``level`` (PATIENT, STUDY, SERIES, IMAGE); each match is keyword -> text.

        DICOMweb answers STUDY, SERIES and IMAGE (``study_uid`` needed below STUDY) and pages
        with ``limit``/``offset``; DIMSE has no offset (the first ``limit`` matches)."""
        level = level.upper()
        if not self.is_dicomweb:
            q = dict(query or {})
            if study_uid:
                q["StudyInstanceUID"] = study_uid
            return dimse.find(self.node, level, q, limit=limit, cancel=cancel)
        if level == "STUDY":
            return web.search_studies(self.node, query, limit=limit, offset=offset or None)
        if not study_uid:
            raise PacsError(f"a {level.lower()} search on DICOMweb needs the study UID")
        if level == "SERIES":
            return web.search_series(self.node, study_uid, query)
        if level == "IMAGE":
            return web.search_instances(self.node, study_uid, (query or {}).get(
                "SeriesInstanceUID"))
        raise PacsError(f"{level} searches are DIMSE only (DICOMweb has no patient level)")

    def retrieve(self, study_uid: str, series_uids: Iterable[str] | None = None, *,
                 method: str | None = None, progress: ProgressCallback | None = None,
                 cancel: threading.Event | None = None) -> RetrieveResult:
        """Retrieve into the cache (resuming: cached instances are skipped). ``method``:
        ``get`` (default for DIMSE), ``move`` or ``wado`` (DICOMweb's only one)."""
        method = method or ("wado" if self.is_dicomweb else "get")
        if method not in METHODS:
            raise PacsError(f"retrieve method {method!r} is not one of {', '.join(METHODS)}")
        if (method == "wado") != self.is_dicomweb:
            raise PacsError(f"{self.node.describe()}: {method} needs a "
                            f"{'DICOMweb' if method == 'wado' else 'DIMSE'} node")
        try:
            if method == "wado":
                r = web.retrieve(self.node, self.cache, study_uid, series_uids,
                                 progress=progress, cancel=cancel)
            elif method == "move":
                assert isinstance(self.node, DimseNode)
                r = retrieve.move(self.node, self.cache, study_uid, series_uids, scp=self.scp,
                                  progress=progress, cancel=cancel)
            else:
                assert isinstance(self.node, DimseNode)
                r = retrieve.get(self.node, self.cache, study_uid, series_uids,
                                 progress=progress, cancel=cancel)
        except PacsError:  # refused or unreachable: the attempt is recorded too
            audit.record("retrieve", study_uid, self.node.name, "failed")
            raise
        audit.record("retrieve", study_uid, self.node.name, r.state, received=r.received,
                     skipped=r.skipped, failed=r.failed)
        return r

    def send(self, paths: Iterable[str | os.PathLike], *,
             progress: ProgressCallback | None = None,
             cancel: threading.Event | None = None) -> list[SendOutcome]:
        """C-STORE or STOW-RS files or folders; an outcome per instance."""
        try:
            if self.is_dicomweb:
                out = web.store(self.node, paths, progress=progress, cancel=cancel)
            else:
                out = dimse.store(self.node, paths, progress=progress, cancel=cancel)
        except PacsError:  # nothing sent (no study known yet): the attempt is recorded
            audit.record("send", None, self.node.name, "failed")
            raise
        for study in dict.fromkeys(o.study_uid for o in out):  # one entry per study
            mine = [o for o in out if o.study_uid == study]
            bad = sum(not o.ok for o in mine)
            audit.record("send", study or None, self.node.name, "failed" if bad else "ok",
                         sent=len(mine) - bad, failed=bad)
        return out
