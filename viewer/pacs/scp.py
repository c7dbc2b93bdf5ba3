"""radviewer's Storage SCP: receives C-STORE (C-MOVE destinations, archives pushing studies)
into the study cache.

It accepts associations only from configured nodes: an unknown calling AE title is rejected
at negotiation (A-ASSOCIATE-RJ, "calling AE title not recognised"); a known title from an
address that is not its node's host is aborted as soon as it is established. Each instance is
checked (it decodes, its SOP Class/Instance UIDs match the C-STORE request, its UIDs are UIDs,
and its study is one a retrieval expects, unless unsolicited pushes are enabled) and written
atomically by :meth:`StudyCache.store`; anything else gets a failure status and one log line
naming the peer and the reason, never a value from the data set. Handlers never raise.

Run it only while needed (:func:`viewer.pacs.retrieve.move` starts one for the transfer when
none runs) or keep one running when the user enables it::

    with StorageSCP(cache, "RADVIEWER", 11112, peers=[node]) as scp:
        ...
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification

from viewer.pacs.cache import StudyCache, is_uid
from viewer.pacs.dimse import nodelay
from viewer.pacs.errors import PacsError
from viewer.pacs.nodes import DimseNode, check_ae_title
from viewer.pacs.receive import Received

log = logging.getLogger("radviewer.pacs.scp")

# C-STORE failure statuses (PS3.4 B.2.3, PS3.7 C.4.2.1.4)
REFUSED_OUT_OF_RESOURCES = 0xA700
REFUSED_NOT_AUTHORIZED = 0x0124
ERROR_DATASET_MISMATCH = 0xA900
ERROR_CANNOT_UNDERSTAND = 0xC000

InstanceListener = Callable[[Path, str], None]  # (path written, SOP Instance UID)


def storage_contexts() -> list:
    """Every storage SOP class pynetdicom knows, with every transfer syntax (compressed
    ones too: the file is written as received; decoding is the viewer's job)."""
    from pynetdicom.presentation import build_context

    return [build_context(c.abstract_syntax, ALL_TRANSFER_SYNTAXES)
            for c in AllStoragePresentationContexts]


def _addresses(host: str) -> set[str]:
    try:
        _, aliases, addrs = socket.gethostbyname_ex(host)
    except OSError:
        return {host}
    return {host, *addrs}


class StorageSCP:
    """A non-blocking Storage SCP writing into ``cache``.

    ``peers``: the nodes allowed to send (their AE title at their host); ``bind``: the
    interface to listen on ("" = all: a remote archive must reach it); ``accept_unsolicited``:
    keep instances of studies no retrieval asked for (else they are refused).
    """

    def __init__(self, cache: StudyCache, ae_title: str, port: int,
                 peers: Iterable[DimseNode] = (), *, bind: str = "",
                 ssl_context: ssl.SSLContext | None = None,
                 accept_unsolicited: bool = False) -> None:
        self.cache = cache
        self.ae_title = check_ae_title(ae_title, "the Storage SCP's")
        self.port = int(port)
        self.bind = bind
        self.ssl_context = ssl_context
        self.accept_unsolicited = accept_unsolicited
        self._allowed: dict[str, set[str]] = {}
        self._names: dict[str, str] = {}
        self._lock = threading.Lock()
        self._expected: dict[str, list[InstanceListener]] = {}
        self._server = None
        self._ae: AE | None = None
        for node in peers:
            self.allow(node)
        self.refused = 0  # instances refused since start (tests, status line)

    def allow(self, node: DimseNode) -> None:
        """Accept associations from ``node`` (its AE title at its host's addresses)."""
        self._allowed.setdefault(node.ae_title, set()).update(_addresses(node.host))
        self._names[node.ae_title] = node.name
        if self._ae is not None:  # running: takes effect for the next association
            self._ae.require_calling_aet = sorted(self._allowed)

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> StorageSCP:
        """Start listening (returns at once); :class:`PacsError` when the port is taken."""
        if self._server is not None:
            return self
        ae = AE(ae_title=self.ae_title)
        ae.supported_contexts = storage_contexts()
        ae.add_supported_context(Verification)
        # No peer configured: nobody may send (an empty list would let everyone in).
        ae.require_calling_aet = sorted(self._allowed) or ["NO-PEER-ALLOWED"]
        ae.maximum_pdu_size = 0
        ae.network_timeout = 30
        ae.dimse_timeout = 60
        handlers = [(evt.EVT_C_STORE, self._on_store), (evt.EVT_ESTABLISHED, self._on_established)]
        try:
            self._server = ae.start_server((self.bind, self.port), block=False,
                                           evt_handlers=handlers, ssl_context=self.ssl_context)
        except OSError as exc:
            raise PacsError(f"the Storage SCP cannot listen on port {self.port} "
                            f"({exc.strerror}); choose another port in the node's settings "
                            "(and tell the archive)") from None
        self._ae = ae
        log.info("Storage SCP %s listening on port %d", self.ae_title, self.port)
        return self

    def stop(self) -> None:
        if self._server is not None:
            server = self._server
            # pynetdicom's serve_forever() checks for a shutdown every 0.5 s (its select
            # timeout): shutdown() waited ~0.45 s, a fifth of a C-MOVE of 275 CT slices.
            # Raise socketserver's flag, then a connection wakes the select at once; the
            # loop sees the flag before it accepts (if the flag's name ever changes, the
            # wake-up is just an early poll and shutdown() waits as before).
            server._BaseServer__shutdown_request = True
            self._wake(server)
            server.shutdown()
            self._server = None
            self._ae = None
            log.info("Storage SCP %s stopped", self.ae_title)

    @staticmethod
    def _wake(server) -> None:
        host, port = server.server_address[:2]
        try:
            with socket.create_connection((host if host not in ("", "0.0.0.0") else
                                           "127.0.0.1", port), timeout=0.5):
                pass
        except OSError:  # not reachable that way: shutdown() just waits for the poll
            pass

    def __enter__(self) -> StorageSCP:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- retrievals register what they expect --------------------------------------------
    def expect(self, study_uid: str, listener: InstanceListener) -> Callable[[], None]:
        """Accept instances of ``study_uid`` and call ``listener(path, sop_uid)`` for each
        (from the SCP's thread); returns the function that stops expecting them."""
        with self._lock:
            self._expected.setdefault(study_uid, []).append(listener)

        def done() -> None:
            with self._lock:
                ls = self._expected.get(study_uid, [])
                if listener in ls:
                    ls.remove(listener)
                if not ls:
                    self._expected.pop(study_uid, None)

        return done

    # -- handlers (pynetdicom's threads; never raise) ------------------------------------
    def _peer_ok(self, assoc) -> bool:
        title = assoc.requestor.ae_title.strip()
        return assoc.requestor.address in self._allowed.get(title, ())

    def _on_established(self, event) -> None:
        nodelay(event.assoc)
        if not self._peer_ok(event.assoc):
            log.warning("Storage SCP: association from AE %s at %s refused: that AE title is "
                        "configured for another address", event.assoc.requestor.ae_title,
                        event.assoc.requestor.address)
            event.assoc.abort()

    def _refuse(self, event, status: int, reason: str) -> int:
        self.refused += 1
        log.warning("Storage SCP: instance from AE %s at %s refused (0x%04X): %s",
                    event.assoc.requestor.ae_title, event.assoc.requestor.address, status,
                    reason)
        return status

    def _on_store(self, event) -> int:
        try:
            return self._store(event)
        except Exception as exc:  # noqa: BLE001 (a peer's data must never crash the app)
            return self._refuse(event, REFUSED_OUT_OF_RESOURCES,
                                f"could not be written ({type(exc).__name__})")

    def _store(self, event) -> int:
        if not self._peer_ok(event.assoc):
            return self._refuse(event, REFUSED_NOT_AUTHORIZED, "peer not configured")
        try:
            got = Received(event)
            ds = got.header
            study, sop = str(ds.StudyInstanceUID), str(ds.SOPInstanceUID)
            series = str(ds.SeriesInstanceUID)
        except Exception as exc:  # noqa: BLE001 (malformed data from the network)
            return self._refuse(event, ERROR_CANNOT_UNDERSTAND,
                                f"malformed data set ({type(exc).__name__})")
        mismatch = got.check()
        if mismatch:
            return self._refuse(event, ERROR_DATASET_MISMATCH, mismatch)
        if not (is_uid(study) and is_uid(series) and is_uid(sop)):
            return self._refuse(event, ERROR_CANNOT_UNDERSTAND, "a UID is not a valid UID")
        with self._lock:
            listeners = list(self._expected.get(study, ()))
        if not listeners and not self.accept_unsolicited:
            return self._refuse(event, REFUSED_NOT_AUTHORIZED,
                                "no retrieval asked for this study (unsolicited pushes are "
                                "off)")
        title = event.assoc.requestor.ae_title.strip()
        path = self.cache.store(ds, data=got.chunks, source=self._names.get(title, title))
        if not listeners:
            self.cache.set_state(study, "received")
        for fn in listeners:
            fn(path, sop)
        return 0x0000
