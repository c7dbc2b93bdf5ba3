"""Retrieve a study (or some of its series) into the cache with C-GET or C-MOVE.

Both first plan: a whole study that nothing of is cached needs only its instance count and
SOP classes (one STUDY-level C-FIND answer, when the archive gives them: the listing below
cost a sixth of a 275-slice C-GET); otherwise the study's instances are listed (C-FIND at
IMAGE level: the total for progress, the SOP classes to negotiate for C-GET, and what is
already cached, which a resume skips). Then they ask for the missing ones: a whole study or
series by its UID, or, on a resume, the missing SOP Instance UIDs per series. Every
instance is written as it arrives, with a progress call; ``cancel`` (a threading.Event) is
checked between instances and sends C-CANCEL; the study is marked ``complete`` or, when
cancelled, failed or short, ``partial`` (what arrived is kept).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pynetdicom import ALL_TRANSFER_SYNTAXES, build_role, evt
from pynetdicom.presentation import build_context
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)

from viewer.pacs.cache import StudyCache, is_uid
from viewer.pacs.dimse import associate, find, new_ae
from viewer.pacs.errors import AssociationRejected, PacsError
from viewer.pacs.jobs import Counter, Progress, ProgressCallback, RetrieveResult
from viewer.pacs.nodes import DimseNode
from viewer.pacs.receive import Received

log = logging.getLogger("radviewer.pacs")
CANCEL_GRACE_S = 1.0  # after C-CANCEL, how long the archive may take before we abort


@dataclass(frozen=True)
class Plan:
    """The instances of a retrieval: all of them (series, SOP instance, SOP class) and the
    identifiers (C-GET/C-MOVE requests) that ask for the missing ones. ``instances`` is
    empty when only the study's ``total`` and SOP ``classes`` were asked (a whole study with
    nothing cached)."""

    instances: list[tuple[str, str, str]]
    present: set[str]
    requests: list[Dataset]
    total: int = 0
    classes: tuple[str, ...] = ()

    @property
    def missing(self) -> int:
        if not self.instances:
            return self.total - len(self.present)
        return sum(1 for _, sop, _ in self.instances if sop not in self.present)

    def complete(self, have: set[str], failed: int) -> bool:
        """Whether the cache (``have``: its SOP Instance UIDs of the study) holds them all."""
        if not self.instances:
            return failed == 0 and len(have) >= self.total
        return all(sop in have for _, sop, _ in self.instances)


def _summary(node: DimseNode, study_uid: str) -> tuple[int, tuple[str, ...]] | None:
    """(instances, SOP classes) of a study from one STUDY-level C-FIND answer; None when
    the archive does not return both (they are optional keys): then the plan lists them."""
    try:
        rows = find(node, "STUDY", {"StudyInstanceUID": study_uid},
                    keys=("StudyInstanceUID", "NumberOfStudyRelatedInstances",
                          "SOPClassesInStudy"))
    except AssociationRejected:
        raise
    except PacsError:  # e.g. an archive that answers an unknown key with a failure status
        return None
    if len(rows) != 1 or rows[0].get("StudyInstanceUID") != study_uid:
        return None
    count, classes = rows[0].get("NumberOfStudyRelatedInstances", ""), \
        tuple(c for c in rows[0].get("SOPClassesInStudy", "").split("\\") if c)
    if not count.isdigit() or int(count) < 1 or not classes or \
            not all(is_uid(c) for c in classes):
        return None
    return int(count), classes


def plan(node: DimseNode, cache: StudyCache, study_uid: str,
         series_uids: Iterable[str] | None = None) -> Plan:
    """C-FIND the instances and build the requests for the ones not cached yet."""
    if not is_uid(study_uid):
        raise PacsError(f"{study_uid!r} is not a Study Instance UID")
    wanted = list(series_uids) if series_uids else None
    present = cache.present(study_uid)
    if not wanted and not present:
        quick = _summary(node, study_uid)
        if quick:
            return Plan([], present, [_ident("STUDY", study_uid)], *quick)
    rows = []
    for se in wanted or [None]:
        q = {"StudyInstanceUID": study_uid}
        if se:
            q["SeriesInstanceUID"] = se
        rows.extend(find(node, "IMAGE", q, keys=("StudyInstanceUID", "SeriesInstanceUID",
                                                 "SOPInstanceUID", "SOPClassUID")))
    instances = [(r.get("SeriesInstanceUID", ""), r.get("SOPInstanceUID", ""),
                  r.get("SOPClassUID", "")) for r in rows if r.get("SOPInstanceUID")]
    if not instances:
        raise PacsError(f"{node.describe()} has no instances of that study"
                        f"{' and series' if wanted else ''}; search again")
    requests: list[Dataset] = []
    by_series: dict[str, list[str]] = {}
    for se, sop, _ in instances:
        by_series.setdefault(se, []).append(sop)
    if not present and not wanted:
        requests.append(_ident("STUDY", study_uid))
    else:
        whole = [se for se, sops in by_series.items() if not present.intersection(sops)]
        if whole:
            requests.append(_ident("SERIES", study_uid, series=whole))
        for se, sops in by_series.items():
            todo = [s for s in sops if s not in present]
            if todo and se not in whole:
                requests.append(_ident("IMAGE", study_uid, series=[se], sops=todo))
    return Plan(instances, present, requests, len(instances),
                tuple(sorted({c for _, _, c in instances if is_uid(c)})))


def _ident(level: str, study: str, series: list[str] | None = None,
           sops: list[str] | None = None) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    ds.StudyInstanceUID = study
    if series:
        ds.SeriesInstanceUID = series if len(series) > 1 else series[0]
    if sops:
        ds.SOPInstanceUID = sops if len(sops) > 1 else sops[0]
    return ds


class _Job:
    """What one retrieval shares between the receiving thread and the requesting one."""

    def __init__(self, cache: StudyCache, result: RetrieveResult, pl: Plan,
                 progress: ProgressCallback | None, cancel: threading.Event | None,
                 source: str) -> None:
        self.cache, self.result, self.progress, self.source = cache, result, progress, source
        self.cancel = cancel or threading.Event()
        self.done = Counter(len(pl.present))
        self.t0 = time.perf_counter()
        self.lock = threading.Lock()

    def arrived(self, path, sop: str) -> None:
        with self.lock:
            if self.result.first_instance_s is None:
                self.result.first_instance_s = time.perf_counter() - self.t0
            self.result.received += 1
            self.result.paths.append(path)
        n = self.done.add()
        if self.progress:
            self.progress(Progress(n, self.result.total, path, sop))

    def on_store(self, event) -> int:
        """C-STORE sub-operation of a C-GET (pynetdicom's reactor thread; never raises)."""
        if self.cancel.is_set():
            return 0xA700  # refuse the rest at once; C-CANCEL follows
        try:
            got = Received(event)
            sop = got.sop_instance
            if got.check() or str(got.header.get("StudyInstanceUID", "")) != \
                    self.result.study_uid:
                log.warning("C-GET: an instance that was not asked for was refused")
                return 0xA900
            path = self.cache.store(got.header, data=got.chunks, source=self.source)
        except Exception as exc:  # noqa: BLE001 (the archive's data must not crash us)
            log.warning("C-GET: an instance could not be stored (%s)", type(exc).__name__)
            with self.lock:
                self.result.failed += 1
            return 0xC000
        self.arrived(path, sop)
        return 0x0000


def _run(assoc, requests: list[Dataset], send, model, job: _Job, what: str,
         hint: str = "") -> None:
    """Send each request and follow its responses; C-CANCEL when ``job.cancel`` is set.
    ``hint`` ends the message of a failure status for which the standard gives no reason
    (Orthanc answers an unknown move destination with 0xC000, not 0xA801)."""
    for msg_id, ident in enumerate(requests, start=1):
        if job.cancel.is_set():
            break
        cancel_sent = None
        for status, _ in send(ident, msg_id):
            if not status:  # aborted, or the archive went away mid-transfer
                raise PacsError(f"{what}: the archive stopped answering mid-transfer; what "
                                "arrived is kept (retrieve again to resume)")
            code = int(status.Status)
            if code in (0xFF00, 0xFF01):
                if job.cancel.is_set():
                    if cancel_sent is None:
                        assoc.send_c_cancel(msg_id, query_model=model)
                        cancel_sent = time.perf_counter()
                    elif time.perf_counter() - cancel_sent > CANCEL_GRACE_S:
                        assoc.abort()
                        return
                continue
            failed = int(status.get("NumberOfFailedSuboperations", 0) or 0)
            with job.lock:
                job.result.failed = max(job.result.failed, failed)
            if code == 0xFE00:
                return
            if code not in (0x0000, 0xB000):
                detail = {0xA801: "the move destination (this station's AE title) is unknown "
                                  "to the archive: add it there with this computer's address "
                                  "and Storage SCP port",
                          0xA701: "the archive is out of resources",
                          0xA702: "the archive is out of resources"}.get(code, hint)
                raise PacsError(f"{what} failed (status 0x{code:04X})"
                                f"{': ' + detail if detail else ''}")


def _finish(job: _Job, pl: Plan, error: Exception | None) -> RetrieveResult:
    r = job.result
    r.elapsed_s = time.perf_counter() - job.t0
    r.cancelled = job.cancel.is_set()
    r.skipped = len(pl.present & {sop for _, sop, _ in pl.instances})
    complete = pl.complete(job.cache.present(r.study_uid), r.failed)
    if complete and error is None and not r.cancelled:
        r.state = "complete"
    else:
        r.state = "partial" if (r.received or r.skipped) else "failed"
        r.message = str(error) if error else ("cancelled; what arrived is kept"
                                              if r.cancelled else
                                              f"{pl.missing - r.received} instances did not "
                                              "arrive; retrieve again to resume")
    job.cache.set_state(r.study_uid, "complete" if r.state == "complete" else "partial")
    log.info("%s of a study from %s: %s, %d received, %d already cached, %d failed",
             r.method, job.source, r.state, r.received, r.skipped, r.failed)
    return r


def get(node: DimseNode, cache: StudyCache, study_uid: str,
        series_uids: Iterable[str] | None = None, *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None) -> RetrieveResult:
    """C-GET a study (or series) into ``cache``; the archive sends each instance on our
    association (SCP role negotiated for each SOP class the study holds)."""
    pl = plan(node, cache, study_uid, series_uids)
    result = RetrieveResult(study_uid, "C-GET", total=pl.total)
    job = _Job(cache, result, pl, progress, cancel, node.name)
    if not pl.requests:
        return _finish(job, pl, None)
    classes = pl.classes
    if len(classes) > 127:
        raise PacsError("the study holds more than 127 kinds of object; retrieve it by "
                        "series")
    ae = new_ae(node)
    ae.requested_contexts = [build_context(StudyRootQueryRetrieveInformationModelGet)] + [
        build_context(c, ALL_TRANSFER_SYNTAXES) for c in classes]
    roles = [build_role(c, scp_role=True) for c in classes]
    cache.set_state(study_uid, "retrieving", node.name)
    error: Exception | None = None
    try:
        with associate(node, ae, ext_neg=roles,
                       evt_handlers=[(evt.EVT_C_STORE, job.on_store)]) as assoc:
            _run(assoc, pl.requests,
                 lambda ident, i: assoc.send_c_get(
                     ident, StudyRootQueryRetrieveInformationModelGet, msg_id=i),
                 StudyRootQueryRetrieveInformationModelGet, job, f"C-GET from {node.name}")
    except PacsError as exc:
        error = exc
    return _finish(job, pl, error)


def move(node: DimseNode, cache: StudyCache, study_uid: str,
         series_uids: Iterable[str] | None = None, *, scp=None,
         progress: ProgressCallback | None = None,
         cancel: threading.Event | None = None) -> RetrieveResult:
    """C-MOVE a study (or series) to this station (``node.our_ae_title``): the archive opens
    its own association to our Storage SCP, which writes into ``cache``. ``scp``: a running
    :class:`~viewer.pacs.scp.StorageSCP`; without one, one is started on ``node.scp_port``
    for the transfer and stopped after it."""
    from viewer.pacs.scp import StorageSCP

    pl = plan(node, cache, study_uid, series_uids)
    result = RetrieveResult(study_uid, "C-MOVE", total=pl.total)
    job = _Job(cache, result, pl, progress, cancel, node.name)
    if not pl.requests:
        return _finish(job, pl, None)
    own = scp is None
    if own:
        scp = StorageSCP(cache, node.our_ae_title, node.scp_port, peers=[node]).start()
    else:
        scp.allow(node)
    stop_expecting = scp.expect(study_uid, lambda path, sop: (
        None if job.cancel.is_set() else job.arrived(path, sop)))
    ae = new_ae(node)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
    cache.set_state(study_uid, "retrieving", node.name)
    error: Exception | None = None
    try:
        with associate(node, ae) as assoc:
            _run(assoc, pl.requests,
                 lambda ident, i: assoc.send_c_move(
                     ident, node.our_ae_title, StudyRootQueryRetrieveInformationModelMove,
                     msg_id=i),
                 StudyRootQueryRetrieveInformationModelMove, job, f"C-MOVE from {node.name}",
                 hint=f"does the archive know the move destination {node.our_ae_title}? "
                 "add it there with this computer's address and Storage SCP port "
                 f"{scp.port}")
    except PacsError as exc:
        error = exc
    finally:
        stop_expecting()
        if own:
            scp.stop()
    return _finish(job, pl, error)
