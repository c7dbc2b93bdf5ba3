"""DIMSE with pynetdicom: associations, C-ECHO, C-FIND (Patient or Study Root) and C-STORE.

C-GET and C-MOVE are in :mod:`viewer.pacs.retrieve`; the Storage SCP in :mod:`viewer.pacs.scp`.
Every call opens its own association and releases it; nothing here blocks beyond the
timeouts below, so run these off a GUI thread.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE, _config
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelFind,
    Verification,
)

from viewer.pacs.errors import AssociationRejected, PacsError
from viewer.pacs.jobs import Progress, ProgressCallback, SendOutcome
from viewer.pacs.nodes import DimseNode

log = logging.getLogger("radviewer.pacs")
# pynetdicom logs C-FIND identifiers (patient names) at DEBUG: keep it to warnings.
logging.getLogger("pynetdicom").setLevel(logging.WARNING)
# ... and builds those DEBUG lines (a summary of every PDU and DIMSE message, identifiers
# pretty-printed) whatever the logger's level: with its standard handlers unbound, a C-GET
# of 275 CT slices costs a quarter less CPU. Nothing of it was ever shown; no PHI is built.
_config.LOG_HANDLER_LEVEL = "none"
_config.LOG_REQUEST_IDENTIFIERS = False
_config.LOG_RESPONSE_IDENTIFIERS = False

ACSE_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 5.0
DIMSE_TIMEOUT_S = 60.0

LEVELS = ("PATIENT", "STUDY", "SERIES", "IMAGE")
# What a query asks back at each level when the caller gives no keys (PS3.4 C.6.1.1).
RETURN_KEYS: dict[str, tuple[str, ...]] = {
    "PATIENT": ("PatientName", "PatientID", "PatientBirthDate", "PatientSex",
                "NumberOfPatientRelatedStudies"),
    "STUDY": ("StudyInstanceUID", "StudyDate", "StudyTime", "AccessionNumber", "PatientName",
              "PatientID", "StudyDescription", "ModalitiesInStudy",
              "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances"),
    "SERIES": ("StudyInstanceUID", "SeriesInstanceUID", "Modality", "SeriesNumber",
               "SeriesDescription", "NumberOfSeriesRelatedInstances"),
    "IMAGE": ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID",
              "InstanceNumber"),
}


def ssl_context(node: DimseNode) -> ssl.SSLContext:
    """The client-side TLS context of ``node``: verify the archive with ``ca_file`` (else the
    system's CAs), present ``cert_file``/``key_file`` when given."""
    try:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=node.ca_file or None)
        if node.cert_file:
            ctx.load_cert_chain(node.cert_file, node.key_file or None)
    except (OSError, ssl.SSLError) as exc:
        raise PacsError(f"{node.name}: TLS certificate files cannot be used "
                        f"({type(exc).__name__}: {getattr(exc, 'strerror', None) or exc}); "
                        "check the CA, certificate and key paths (PEM)") from None
    return ctx


def new_ae(node: DimseNode) -> AE:
    ae = AE(ae_title=node.our_ae_title)
    ae.acse_timeout = ACSE_TIMEOUT_S
    ae.connection_timeout = CONNECT_TIMEOUT_S
    ae.dimse_timeout = DIMSE_TIMEOUT_S
    ae.network_timeout = DIMSE_TIMEOUT_S
    # 0 = no limit on the PDUs the archive sends us: fewer, larger PDUs on a retrieval.
    ae.maximum_pdu_size = 0
    return ae


def nodelay(assoc) -> None:
    """Turn Nagle's algorithm off on an association's socket (pynetdicom leaves it on): each
    C-STORE response is one small PDU that the archive waits for before its next instance."""
    import socket

    try:
        assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (AttributeError, OSError):  # already closed, or not a TCP socket
        pass


def _refused(node: DimseNode, assoc) -> PacsError:
    if assoc.is_rejected:
        return AssociationRejected(
            f"{node.describe()} refused the association: check that the archive knows this "
            f"station as {node.our_ae_title} at this computer's address, and that its AE "
            f"title is {node.ae_title}")
    if assoc.is_aborted and _reachable(node):
        return AssociationRejected(
            f"{node.describe()} aborted the association: "
            + ("the TLS handshake failed? check the CA, certificate and key files; "
               if node.tls else "does the archive require TLS? ")
            + "check the AE titles and the archive's log")
    return PacsError(f"{node.describe()}: no answer (nothing listening at that host and port, "
                     f"a firewall{', or a TLS mismatch' if node.tls else ''}); check the "
                     "host, port and network")


def _reachable(node: DimseNode) -> bool:
    """Whether anything listens at the node's host and port (pynetdicom reports a refused
    TCP connection as an aborted association; the message should say which it was)."""
    import socket

    try:
        with socket.create_connection((node.host, node.port), timeout=CONNECT_TIMEOUT_S):
            return True
    except OSError:
        return False


@contextmanager
def associate(node: DimseNode, ae: AE, **kwargs: Any) -> Iterator[Any]:
    """An established association with ``node`` (released on exit), or :class:`PacsError`."""
    if node.tls:
        kwargs["tls_args"] = (ssl_context(node), node.host)
    try:
        assoc = ae.associate(node.host, node.port, ae_title=node.ae_title, **kwargs)
    except (OSError, ssl.SSLError) as exc:
        raise PacsError(f"{node.describe()}: cannot connect ({type(exc).__name__}); check "
                        "the host, port and TLS settings") from None
    if not assoc.is_established:
        raise _refused(node, assoc)
    nodelay(assoc)
    try:
        yield assoc
    except BaseException:
        # Failed or interrupted (Ctrl+C, cancel) mid-exchange: a release would wait for the
        # archive to finish; abort at once.
        if assoc.is_established:
            assoc.abort()
        raise
    if assoc.is_established:
        assoc.release()


def echo(node: DimseNode) -> float:
    """C-ECHO ``node``; returns the round trip in seconds (association included)."""
    import time

    ae = new_ae(node)
    ae.add_requested_context(Verification)
    t0 = time.perf_counter()
    with associate(node, ae) as assoc:
        status = assoc.send_c_echo()
    if not status or status.Status != 0:
        raise PacsError(f"{node.describe()}: C-ECHO failed "
                        f"(status {_status_hex(status)})")
    return time.perf_counter() - t0


def _status_hex(status: Dataset | None) -> str:
    return "none: the association was aborted" if not status else f"0x{status.Status:04X}"


def query_dataset(level: str, query: dict[str, str] | None = None,
                  keys: Iterable[str] | None = None) -> Dataset:
    """The C-FIND identifier: ``query`` (keyword -> matching value, ``*`` wildcards, date
    ranges ``20240101-20241231``) plus empty return keys."""
    level = level.upper()
    if level not in LEVELS:
        raise PacsError(f"query level {level!r} is not one of {', '.join(LEVELS)}")
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for k in keys or RETURN_KEYS[level]:
        setattr(ds, k, "")
    for k, v in (query or {}).items():
        try:
            setattr(ds, k, v)
        except (ValueError, TypeError):
            raise PacsError(f"query key {k!r}: not a DICOM keyword or a bad value") from None
    return ds


def _plain(ds: Dataset) -> dict[str, str]:
    """A C-FIND answer as keyword -> text (multi-valued as ``A\\B``)."""
    out = {}
    for el in ds:
        if el.keyword in ("QueryRetrieveLevel", "RetrieveAETitle", "SpecificCharacterSet"):
            continue
        v = el.value
        if v is None or el.VR == "SQ":
            continue
        out[el.keyword] = "\\".join(map(str, v)) if el.VM > 1 else str(v)
    return out


def find(node: DimseNode, level: str, query: dict[str, str] | None = None, *,
         keys: Iterable[str] | None = None, limit: int | None = None,
         cancel: threading.Event | None = None) -> list[dict[str, str]]:
    """C-FIND at ``level`` (PATIENT with Patient Root, the others with Study Root).

    Returns one dict per match (keyword -> text). With ``limit``, or when ``cancel`` is set,
    a C-CANCEL ends the query early (what arrived is returned)."""
    level = level.upper()
    model = (PatientRootQueryRetrieveInformationModelFind if level == "PATIENT"
             else StudyRootQueryRetrieveInformationModelFind)
    ident = query_dataset(level, query, keys)
    ae = new_ae(node)
    ae.add_requested_context(model)
    out: list[dict[str, str]] = []
    with associate(node, ae) as assoc:
        cancelled = False
        for status, answer in assoc.send_c_find(ident, model):
            if not status:
                raise AssociationRejected(
                    f"{node.describe()} aborted the query: it may not accept queries from "
                    f"{node.our_ae_title}; add this station to the archive's modalities")
            if status.Status in (0xFF00, 0xFF01) and answer is not None:
                out.append(_plain(answer))
                stop = (limit is not None and len(out) >= limit) or (cancel and cancel.is_set())
                if stop and not cancelled:
                    assoc.send_c_cancel(1, query_model=model)
                    cancelled = True
            elif status.Status not in (0x0000, 0xFE00):
                raise PacsError(f"{node.describe()}: C-FIND failed (status "
                                f"0x{status.Status:04X}); the archive may not support this "
                                "query level or key")
    return out[:limit] if limit is not None else out


def _header(path: Path) -> tuple[str, str, str, str]:
    """(SOP Class UID, SOP Instance UID, Transfer Syntax UID, Study Instance UID) of a
    file."""
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True,
                             specific_tags=["SOPClassUID", "SOPInstanceUID",
                                            "StudyInstanceUID"])
        return (str(ds.SOPClassUID), str(ds.SOPInstanceUID),
                str(ds.file_meta.TransferSyntaxUID), str(ds.get("StudyInstanceUID", "")))
    except Exception:  # noqa: BLE001 (any unreadable file is refused by name)
        raise PacsError(f"{path}: not a DICOM file with SOP Class/Instance UIDs and file meta; "
                        "leave it out") from None


def dicom_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Files under ``paths`` (folders are walked, hidden files skipped), sorted."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file()
                              and not f.name.startswith(".")))
        elif p.is_file():
            out.append(p)
        else:
            raise PacsError(f"{p}: no such file or folder")
    return out


def store(node: DimseNode, paths: Iterable[str | os.PathLike], *,
          progress: ProgressCallback | None = None,
          cancel: threading.Event | None = None,
          on_outcome: Callable[[SendOutcome], None] | None = None) -> list[SendOutcome]:
    """C-STORE files (SEG, SR, secondary captures, whole series) to ``node``, one
    association; returns an outcome per file sent. Files that are not DICOM are refused up
    front (:class:`PacsError` names the first). Cancel stops between instances."""
    from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
    from pynetdicom.presentation import build_context

    files = dicom_files(paths)
    heads = [_header(f) for f in files]
    syntaxes: dict[str, set[str]] = {}
    for cls, _, ts, _ in heads:
        syntaxes.setdefault(cls, {ExplicitVRLittleEndian, ImplicitVRLittleEndian}).add(ts)
    if len(syntaxes) > 127:
        raise PacsError(f"{len(syntaxes)} kinds of object in one send; send them in parts "
                        "(at most 127 per association)")
    ae = new_ae(node)
    ae.requested_contexts = [build_context(c, sorted(ts)) for c, ts in syntaxes.items()]
    out: list[SendOutcome] = []
    with associate(node, ae) as assoc:
        for i, (f, (_, sop, _, study)) in enumerate(zip(files, heads, strict=True)):
            if cancel is not None and cancel.is_set():
                break
            try:
                status = assoc.send_c_store(f, msg_id=(i % 65535) + 1)
            except (ValueError, RuntimeError) as exc:  # no context for its syntax
                outcome = SendOutcome(f, sop, 0xA900, f"not sent: {exc}", study)
            else:
                if not status:
                    outcome = SendOutcome(f, sop, -1, "the association was aborted", study)
                else:
                    outcome = SendOutcome(f, sop, int(status.Status), "", study)
            out.append(outcome)
            if on_outcome:
                on_outcome(outcome)
            if progress:
                progress(Progress(len(out), len(files), None, sop))
            if outcome.status == -1:
                break
    log.info("C-STORE to %s: %d of %d stored", node.describe(),
             sum(o.ok for o in out), len(files))
    return out
